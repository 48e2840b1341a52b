"""Where iplog lines go: a log file or stdout (with repeat folding), or syslog.

Every target is a ``LogTarget``; the daemon and ``iplog -r`` are handed one
and never ask which it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from .logfile import LogFile, TextLog, stamp
from .syslog import SyslogLog


class LogTarget(Protocol):
    def started(self, ts: float) -> None:
        """Write ``iplog started.`` (the log was opened or reopened)."""

    def write(self, ts: float, message: str) -> None:
        """One line at packet time ``ts``."""

    def write_all(self, lines: Iterable[tuple[float, str]]) -> None:
        """``write`` each ``(time, message)``."""

    def flush_repeats(self, ts: float) -> None:
        """A pending ``last message repeated N times`` (HUP, exit)."""

    def flush(self) -> None:
        """Hand what is buffered to the system."""

    def reopen(self) -> str | None:
        """Open the target anew (SIGHUP); the error text when that fails."""

    def close(self) -> None: ...

    def give_to(self, uid: int | None, gid: int | None) -> None:
        """What this process created as root goes to the user it will run as."""

    def fds(self) -> list[int]:
        """File descriptors to keep open when the process detaches."""

    @property
    def waiting(self) -> int:
        """Bytes that could not be written yet."""


__all__ = ["LogFile", "LogTarget", "SyslogLog", "TextLog", "stamp"]
