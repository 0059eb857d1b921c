"""The progress display of every long job: a tqdm bar on stderr when it is a terminal.

Redirected to a file or a pipe (a log, CI, a notebook), stderr gets no bar, which would fill it
with carriage returns, but a plain line at most every ``PLAIN_EVERY`` seconds once a job has run
that long (``evaluating: 12/30 steps, 05:10 elapsed, occlusion``), so a long job is never silent;
a short one prints nothing. Warnings and results written through ``write`` never garble a bar.
"""
from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

PLAIN_EVERY = 60.0  # seconds: the first plain line, and the least time between two
PLAIN_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit}, {elapsed} elapsed{postfix}"


def bar(total=None, unit: str = "it", desc: str | None = None, initial: int = 0, enabled: bool = True,
        stream=None, **kw):
    """A tqdm bar on ``stream`` (default stderr) if it is a terminal, else plain lines now and then
    (``_PlainLines``); nothing at all when not ``enabled`` (``--no-progress``)."""
    stream = stream or sys.stderr
    if enabled and not _isatty(stream):
        kw.setdefault("mininterval", PLAIN_EVERY)
        return tqdm(total=total, unit=unit, desc=desc or "working", initial=initial, file=_PlainLines(stream),
                    bar_format=PLAIN_FORMAT if total else "{desc}: {n_fmt} {unit}, {elapsed} elapsed{postfix}",
                    leave=True, **kw)
    return tqdm(total=total, unit=unit, desc=desc, initial=initial, file=stream, disable=not enabled,
                dynamic_ncols=True, leave=True, **kw)


class _PlainLines:
    """A file for tqdm that turns its redraws into whole lines: none during the first
    ``PLAIN_EVERY`` seconds, and never the same line twice."""

    def __init__(self, stream):
        self.stream, self.start, self.last = stream, time.monotonic(), None

    def write(self, text: str) -> None:
        line = text.replace("\r", "").replace("\x1b[A", "").strip()
        if line and line != self.last and time.monotonic() - self.start >= PLAIN_EVERY:
            self.stream.write(line + "\n")
            self.stream.flush()
            self.last = line

    def flush(self) -> None:
        self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Bytes read of a file and sentences explained, for a streamed job (``ExplainJob.run``).

    Args:
        total_bytes: the input's size; ``done_bytes`` where this session starts (a resumed job).
        enabled: False for ``--no-progress``; when ``stream`` is no terminal, plain lines now and then.
    """

    def __init__(self, total_bytes: int, done_bytes: int = 0, stream=None, enabled: bool = True):
        self.bar = bar(total_bytes, unit="B", initial=done_bytes, enabled=enabled, stream=stream,
                       unit_scale=True, unit_divisor=1000, desc="explaining")
        self.done, self.sentences = done_bytes, 0

    def update(self, done_bytes: int, sentences: int) -> None:
        """``sentences``: explained so far in this session."""
        self.bar.update(done_bytes - self.done)
        self.done, self.sentences = done_bytes, sentences
        self.bar.set_postfix_str(f"{sentences:,} sentences", refresh=False)

    def write(self, message: str, file=None) -> None:
        """Print a line to ``file`` (default stderr) without garbling the bar."""
        if self.bar.disable:
            print(message, file=file or sys.stderr, flush=True)
        else:
            self.bar.write(message, file=file or sys.stderr)

    def close(self) -> None:
        self.bar.close()
