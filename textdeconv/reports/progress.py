"""A progress line for long jobs over a file: bytes read of its size, sentences explained, rate, ETA.

Keras' ``Progbar`` counts steps on stdout; a streamed job counts bytes of its input and must leave
stdout to the explanations, hence this small class on stderr.
"""
from __future__ import annotations

import sys
import time


def _size(n: float, total: float) -> tuple[str, str]:
    """``n`` bytes in the unit that suits ``total``: (number, unit)."""
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if total >= scale:
            return f"{n / scale:,.1f}", unit
    return f"{n:,.0f}", "B"


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Redrawn in place on a terminal (at most 10 times a second); elsewhere (a log file, a pipe)
    a plain line every ``interval`` seconds. ``close`` draws the last state once more.

    Args:
        total_bytes: the input's size; ``done_bytes`` where this session starts (a resumed job).
        stream: where to draw (default: stderr).
    """

    def __init__(self, total_bytes: int, done_bytes: int = 0, stream=None, interval: float = 10.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total, self.start, self.done, self.sentences = total_bytes, done_bytes, done_bytes, 0
        self.t0 = self.last = time.monotonic()
        self.interval = 0.1 if self.tty else interval
        self.drawn = False

    def update(self, done_bytes: int, sentences: int) -> None:
        """``sentences``: explained so far in this session."""
        self.done, self.sentences = done_bytes, sentences
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._draw()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        pct = 100.0 * self.done / self.total if self.total else 100.0
        byte_rate = (self.done - self.start) / elapsed
        left = f"ETA {_hms((self.total - self.done) / byte_rate)}" if 0 < byte_rate and self.done < self.total \
            else f"elapsed {_hms(elapsed)}"
        (done, unit), (total, _) = _size(self.done, self.total), _size(self.total, self.total)
        return (f"{pct:5.1f}%  {done}/{total} {unit}  {self.sentences:,} sentences  "
                f"{self.sentences / elapsed:,.0f} sentences/s  {left}")

    def write(self, message: str, file=None) -> None:
        """Print a line to ``file`` (default: the bar's stream) without garbling the bar."""
        file = file or self.stream
        redraw = self.tty and self.drawn
        if redraw:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        file.write(message + "\n")
        file.flush()
        if redraw:
            self.stream.write(self.line())
            self.stream.flush()

    def close(self) -> None:
        self._draw()
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self) -> None:
        self.stream.write("\r\x1b[K" + self.line() if self.tty else self.line() + "\n")
        self.stream.flush()
        self.drawn = True
