"""Syslog target: ident ``iplog`` with the pid, configured facility and priority.

No repeat folding here: syslogd does its own (spec A9).
"""

from __future__ import annotations

import syslog as _syslog

from ..messages import render


def _const(prefix: str, name: str) -> int:
    return getattr(_syslog, f"{prefix}{name.upper()}")


class SyslogLog:
    def __init__(self, facility: str = "daemon", priority: str = "notice"):
        # Facility and priority go with every message: openlog is process-wide.
        self.priority = _const("LOG_", facility) | _const("LOG_", priority)
        _syslog.openlog("iplog", _syslog.LOG_PID)

    def started(self, ts: float) -> None:
        self.write(ts, render("started"))

    def write(self, ts: float, message: str) -> None:
        _syslog.syslog(self.priority, message)

    def write_all(self, lines) -> None:
        for ts, message in lines:
            self.write(ts, message)

    def flush_repeats(self, ts: float) -> None:
        pass

    def flush(self) -> None:
        pass

    def reopen(self) -> str | None:
        return None

    def give_to(self, uid: int | None, gid: int | None) -> None:
        pass

    def fds(self) -> list[int]:
        return []

    @property
    def waiting(self) -> int:
        return 0

    def close(self) -> None:
        _syslog.closelog()
