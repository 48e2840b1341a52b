"""Text log (file or stdout): ``Mmm dd HH:MM:SS message`` with repeat folding.

Folding follows 2.2.3 exactly (docs/contract.md O1): an identical message is counted,
not written; ``last message repeated N times`` comes before the next
different message, when an identical one arrives 60 s or more after the
last written line, and on close.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Callable

from ..forms import line as log_line
from ..messages import render
from .trouble import Trouble

REPEAT_FLUSH_SECONDS = 60.0


def stamp(ts: float) -> str:
    """``Nov  5 09:03:01``: local time, day padded with a space, C locale."""
    t = time.localtime(ts)
    return f"{MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"


class _Stamps:
    """``stamp`` for the current second, computed once per second."""

    __slots__ = ("end", "second", "text")

    def __init__(self):
        self.second = self.end = 0.0  # the text is good for second <= ts < end
        self.text = ""

    def __call__(self, ts: float) -> str:
        if not self.second <= ts < self.end:
            second = int(ts // 1)
            self.second, self.end = second, second + 1
            self.text = stamp(second)
        return self.text


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TextLog:
    """Writes stamped lines to a text stream (the caller's) at each ``flush``."""

    def __init__(self, stream):
        self.stream = stream
        self.stamp = _Stamps()
        self.lines: list[str] = []  # written at the next flush
        self.last: str | None = None
        self.last_time = 0.0
        self.repeats = 0

    def started(self, ts: float) -> None:
        self.write(ts, log_line("started"))

    def write_all(self, lines) -> None:
        """``write`` each ``(time, message)``; a line that folds nothing inline."""
        pending = self.lines
        stamp = self.stamp
        for ts, message in lines:
            if message == self.last or self.repeats:
                self.write(ts, message)
            else:
                if not stamp.second <= ts < stamp.end:  # stamp(ts), inline
                    stamp(ts)
                pending.append(f"{stamp.text} {message}\n")
                self.last = message
                self.last_time = ts

    def write(self, ts: float, message: str) -> None:
        if message == self.last:
            if self.repeats > 0 and ts - self.last_time >= REPEAT_FLUSH_SECONDS:
                self._repeated(ts, self.repeats)
                self.last = None
                self.repeats = 1  # a repeat of nothing: the next line says so
            else:
                self.repeats += 1
            return
        if self.repeats:
            self._repeated(ts, self.repeats)
            self.repeats = 0
        self._line(ts, message)
        self.last = message
        self.last_time = ts

    def flush_repeats(self, ts: float) -> None:
        """On close (HUP, exit): write a pending repeat count."""
        if self.repeats:
            self._repeated(ts, self.repeats)
            self.repeats = 0
        self.last = None

    def flush(self) -> None:
        if self.lines:
            self.stream.write("".join(self.lines))
            self.lines = []
        self.stream.flush()

    def reopen(self) -> str | None:
        return None

    def close(self) -> None:
        self.flush()

    def give_to(self, uid: int | None, gid: int | None) -> None:
        pass

    def fds(self) -> list[int]:
        return []  # the caller's stream (stdout): the caller keeps it

    @property
    def waiting(self) -> int:
        return 0

    def _line(self, ts: float, message: str) -> None:
        self.lines.append(self._text(ts, message))

    def _text(self, ts: float, message: str) -> str:
        """A line as written: ``Mmm dd HH:MM:SS message`` (JSON: ``jsonlines``)."""
        return f"{self.stamp(ts)} {message}\n"

    def _repeated(self, ts: float, n: int) -> None:
        self._line(ts, log_line("repeated", n=n))


class LogFile(TextLog):
    """A log file by path: appended to, and reopened on HUP (after logrotate).

    Opened as root in a directory others may write (docs/contract.md L6): never
    through a symbolic link (``O_NOFOLLOW``, at start and at every reopen),
    only a regular file, a new one made with ``O_EXCL`` and mode 0640 (the
    logrotate snippet's ``create``); only a file this process made is handed
    to the user it runs as.

    Lines are written with write(2) at each ``flush``, whole lines only.
    When writing fails (disk full, file system gone read-only) the lines
    wait, up to ``MAX_WAITING`` bytes (the oldest go first), and go out at a
    later flush once writing works again, after a line that says how many
    were lost; the failure and the recovery are reported once each through
    ``on_error``.  A failed reopen keeps the file that is open.
    """

    MAX_WAITING = 8 * 1024 * 1024
    MODE = 0o640

    def __init__(self, path: str, on_error: Callable[[str], None] | None = None):
        self.path = path
        self.trouble = Trouble(path, on_error, "log_unwritable", "log_writable")
        self.unwritten = b""  # what a failed write left
        self.dropped = 0  # lines lost while writing failed, not said in the log yet
        self.created = False
        fd, self.created = self._open()
        super().__init__(os.fdopen(fd, "ab", buffering=0))

    def _open(self) -> tuple[int, bool]:
        """(descriptor, created); raises OSError with a reason a person reads."""
        flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
        try:
            try:
                fd, created = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, self.MODE), True
            except FileExistsError:
                fd, created = os.open(self.path, flags), False
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(exc.errno, "it is a symbolic link") from None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file")
        os.set_blocking(fd, True)
        if created:
            os.fchmod(fd, self.MODE)  # whatever the umask
        return fd, created

    def give_to(self, uid: int | None, gid: int | None) -> None:
        """A log file this process created as root goes to the user it runs
        as, so that it can be reopened after the privileges are dropped."""
        if self.created and (uid is not None or gid is not None):
            os.fchown(self.stream.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)

    def fds(self) -> list[int]:
        return [self.stream.fileno()]

    def flush(self) -> None:
        if self.lines:
            self.unwritten += "".join(self.lines).encode("utf-8", "replace")
            self.lines = []
        if not self.unwritten:
            return
        if self.dropped:  # the gap is said first, once writing works
            line = self._lost_line()
            if self._write(line) < len(line):
                self.unwritten = self._bounded(self.unwritten)
                return
            self.dropped = 0
        done = self._write(self.unwritten)
        self.unwritten = self._bounded(self.unwritten[done:])
        if not self.unwritten:
            self.trouble.works()

    def _lost_line(self) -> bytes:
        return self._text(self.last_time, render("lines_lost", n=self.dropped)).encode()

    def _write(self, data: bytes) -> int:
        """Write whole lines of ``data``; how many bytes went (all, unless
        writing failed: reported through ``trouble``)."""
        fd = self.stream.fileno()
        written = 0
        while written < len(data):
            try:
                done = os.write(fd, data[written:])
                if written + done < len(data):  # the disk filled up in the middle
                    done = self._whole_lines(fd, data[written:], done)
            except OSError as exc:
                self.trouble.failed(exc)
                break
            written += done
        return written

    @staticmethod
    def _whole_lines(fd: int, data: bytes, done: int) -> int:
        """After a short write: cut the file back to the last whole line
        written; how much of ``data`` that is.  Raises ENOSPC when not even
        one line went."""
        kept = data.rfind(b"\n", 0, done) + 1
        if kept < done:
            os.ftruncate(fd, os.fstat(fd).st_size - (done - kept))
        if not kept:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return kept

    def _bounded(self, data: bytes) -> bytes:
        if len(data) <= self.MAX_WAITING:
            return data
        cut = data.index(b"\n", len(data) - self.MAX_WAITING) + 1
        self.dropped += data[:cut].count(b"\n")
        return data[cut:]

    @property
    def waiting(self) -> int:
        """Bytes not written yet."""
        return len(self.unwritten) + sum(len(x) for x in self.lines)

    def reopen(self) -> str | None:
        """Open the path anew; the error text when that fails."""
        self.flush()
        try:
            fd, self.created = self._open()
        except OSError as exc:
            return exc.strerror or str(exc)
        old, self.stream = self.stream, os.fdopen(fd, "ab", buffering=0)
        old.close()
        return None

    def close(self) -> None:
        self.flush()
        self.stream.close()
