"""Progress on stderr: a bar on a terminal, plain lines now and then elsewhere (a log, CI, a
notebook), nothing for a short job or with --no-progress."""
import io

import pytest

from textdeconv.reports import progress


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(progress.time, "monotonic", c)
    return c


def test_a_long_job_prints_a_plain_line_now_and_then(clock, monkeypatch):
    log = io.StringIO()
    shown = progress.bar(4, unit="step", desc="evaluating", stream=log, mininterval=0)
    shown.set_postfix_str("deconv", refresh=False)
    shown.update()
    assert log.getvalue() == ""  # the first minute: nothing, so a short job leaves no trace
    clock.now += progress.PLAIN_EVERY
    shown.set_postfix_str("occlusion", refresh=False)
    shown.update()
    shown.update()
    shown.close()  # redraws the last line: not printed twice
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("evaluating: 2/4 step, ") and lines[0].endswith(" elapsed, occlusion")
    assert lines[-1].startswith("evaluating: 3/4 step, ")
    assert len(lines) == len(set(lines)) and "\r" not in log.getvalue()


def test_a_short_job_and_no_progress_print_nothing(clock):
    log = io.StringIO()
    with progress.bar(3, unit="step", desc="evaluating", stream=log) as shown:
        shown.update(3)
    assert log.getvalue() == ""
    clock.now += 10 * progress.PLAIN_EVERY
    with progress.bar(3, unit="step", desc="evaluating", stream=log, enabled=False) as shown:
        shown.update(3)
    assert log.getvalue() == ""
