"""The progress display of every long job: a tqdm bar on stderr, shown only on a terminal.

Redirected to a file or a pipe, stderr gets no bar (a log file would fill with carriage returns);
warnings and results written through ``write`` never garble a bar that is drawn.
"""
from __future__ import annotations

import sys

from tqdm.auto import tqdm


def bar(total=None, unit: str = "it", desc: str | None = None, initial: int = 0, enabled: bool = True,
        stream=None, **kw):
    """A tqdm bar on ``stream`` (default stderr), disabled unless that stream is a terminal."""
    stream = stream or sys.stderr
    show = enabled and _isatty(stream)
    return tqdm(total=total, unit=unit, desc=desc, initial=initial, file=stream, disable=not show,
                dynamic_ncols=True, leave=True, **kw)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Bytes read of a file and sentences explained, for a streamed job (``ExplainJob.run``).

    Args:
        total_bytes: the input's size; ``done_bytes`` where this session starts (a resumed job).
        enabled: False for ``--no-progress``; the bar is also off when ``stream`` is no terminal.
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
