"""Syslog target: ident ``iplog`` with the pid, configured facility and priority.

No repeat folding here: syslogd does its own (docs/contract.md O1).  Lines go to the
local syslog socket (``/dev/log``) the way glibc's syslog(3) writes them
(``<PRI>Mmm dd HH:MM:SS iplog[PID]: message``), but never blocking and never
silently: when the socket cannot be reached (no syslog daemon yet, a
restart, a full queue) the lines wait, at most ``MAX_KEPT`` of them (the
oldest go first), and are delivered once it can, after a line that says how
many were lost.  That the socket cannot be reached is reported once
through ``on_error`` (on stderr at start), and again when it works.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import syslog as _syslog
import time
from collections import deque
from collections.abc import Callable, Iterable

from ..forms import line as log_line
from ..messages import render
from .logfile import stamp
from .trouble import Trouble

SOCKET = "/dev/log"
RETRY_SECONDS = 1.0  # between two attempts to reach the socket


def _const(name: str) -> int:
    return getattr(_syslog, f"LOG_{name.upper()}")


class SyslogLog:
    MAX_KEPT = 10000

    def __init__(
        self,
        facility: str = "daemon",
        priority: str = "notice",
        path: str = SOCKET,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.pri = _const(facility) | _const(priority)
        self.path = path
        self.trouble = Trouble(path, on_error, "syslog_unreachable", "syslog_works")
        self.clock = clock
        self.sock: socket.socket | None = None
        self.kept: deque[str] = deque()
        self.lost = 0  # lines dropped while waiting, not said yet
        self.next_try = 0.0
        self._connect()

    def _connect(self) -> bool:
        self.next_try = self.clock() + RETRY_SECONDS
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(socket.AF_UNIX, kind | socket.SOCK_CLOEXEC)
            try:
                sock.connect(self.path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EPROTOTYPE:  # a stream socket: try that
                    continue
                self.trouble.failed(exc)
                return False
            sock.setblocking(False)  # a full syslog queue must not stall capture
            self.sock = sock
            return True
        return False

    def started(self, ts: float) -> None:
        self.write(ts, log_line("started"))

    def _wrap(self, ts: float, message: str) -> str:
        """The message as it is sent (JSON lines: ``jsonlines.JsonSyslog``)."""
        return message

    def write(self, ts: float, message: str) -> None:
        self.kept.append(self._wrap(ts, message))
        if len(self.kept) > self.MAX_KEPT:
            self.kept.popleft()
            self.lost += 1

    def write_all(self, lines: Iterable[tuple[float, str]]) -> None:
        for ts, message in lines:
            self.write(ts, message)

    def flush(self) -> None:
        if not self.kept and not self.lost:
            return
        if self.sock is None and (self.clock() < self.next_try or not self._connect()):
            return
        if self.lost:
            if not self._send(self._wrap(time.time(), render("syslog_lost", n=self.lost))):
                return
            self.lost = 0
        while self.kept:
            if not self._send(self.kept[0]):
                return
            self.kept.popleft()
        self.trouble.works()

    def _send(self, message: str) -> bool:
        now = time.time()
        data = f"<{self.pri}>{stamp(now)} iplog[{os.getpid()}]: {message}".encode(
            "utf-8", "replace"
        )
        if self.sock.type == socket.SOCK_STREAM:
            data += b"\0"
        try:
            self.sock.send(data)
        except BlockingIOError:  # the queue is full: the next flush
            return False
        except OSError as exc:  # the daemon went away: connect again later
            self.trouble.failed(exc)
            self.sock.close()
            self.sock = None
            return False
        return True

    def flush_repeats(self, ts: float) -> None:
        pass

    def reopen(self) -> str | None:
        """SIGHUP: reach the socket anew (syslogd may have been restarted)."""
        self.flush()
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._connect()
        return None

    def give_to(self, uid: int | None, gid: int | None) -> None:
        pass

    def fds(self) -> list[int]:
        return [self.sock.fileno()] if self.sock is not None else []

    @property
    def waiting(self) -> int:
        return len(self.kept)

    def close(self) -> None:
        self.flush()
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
