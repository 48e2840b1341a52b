"""Text log (file or stdout): ``Mmm dd HH:MM:SS message`` with repeat folding.

Folding follows 2.2.3 exactly (spec A9): an identical message is counted,
not written; ``last message repeated N times`` comes before the next
different message, when an identical one arrives 60 s or more after the
last written line, and on close.
"""

from __future__ import annotations

import time

from ..messages import render

REPEAT_FLUSH_SECONDS = 60.0


def stamp(ts: float) -> str:
    """``Nov  5 09:03:01``: local time, day padded with a space, C locale."""
    t = time.localtime(ts)
    return "%s %2d %02d:%02d:%02d" % (_MONTHS[t.tm_mon - 1], t.tm_mday, t.tm_hour, t.tm_min,
                                      t.tm_sec)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TextLog:
    """Writes stamped lines to a text stream; the stream is the caller's."""

    def __init__(self, stream):
        self.stream = stream
        self.last: str | None = None
        self.last_time = 0.0
        self.repeats = 0

    def started(self, ts: float) -> None:
        self.write(ts, render("started"))

    def write(self, ts: float, message: str) -> None:
        if message == self.last:
            if self.repeats > 0 and ts - self.last_time >= REPEAT_FLUSH_SECONDS:
                self._line(ts, render("repeated", n=self.repeats))
                self.last = None
                self.repeats = 1  # a repeat of nothing: the next line says so
            else:
                self.repeats += 1
            return
        if self.repeats:
            self._line(ts, render("repeated", n=self.repeats))
            self.repeats = 0
        self._line(ts, message)
        self.last = message
        self.last_time = ts

    def flush_repeats(self, ts: float) -> None:
        """On close (HUP, exit): write a pending repeat count."""
        if self.repeats:
            self._line(ts, render("repeated", n=self.repeats))
            self.repeats = 0
        self.last = None

    def flush(self) -> None:
        self.stream.flush()

    def _line(self, ts: float, message: str) -> None:
        self.stream.write(f"{stamp(ts)} {message}\n")
