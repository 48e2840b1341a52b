"""pyiplog's own diagnostics (not iplog lines): ``logging``, set up once.

In the foreground they go to stderr; once the daemon detaches, to syslog
(ident ``iplog``, facility daemon).  Each kind of message (a logger and a
message template) is let through at most ``BURST`` times a minute, so a bug
that a flood triggers on every packet cannot flood the logs; what was held
back is counted and said with the next one let through.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import time

BURST = 5  # messages of one kind a minute
PERIOD = 60.0
SYSLOG_SOCKET = "/dev/log"

_FORMAT = "iplog: %(levelname)s: %(message)s"


class RateLimit(logging.Filter):
    """At most ``burst`` records of one kind per ``period`` seconds."""

    def __init__(self, burst: int = BURST, period: float = PERIOD, clock=time.monotonic):
        super().__init__()
        self.burst = burst
        self.period = period
        self.clock = clock
        self.kinds: dict[tuple[str, str], list] = {}  # kind -> [window start, let through, held]

    def filter(self, record: logging.LogRecord) -> bool:
        now = self.clock()
        kind = (record.name, str(record.msg))
        state = self.kinds.get(kind)
        if state is None or now - state[0] >= self.period:
            held = state[2] if state is not None else 0
            if len(self.kinds) > 1000:
                self.kinds.clear()
            self.kinds[kind] = [now, 1, 0]
            if held:
                record.msg = f"{record.msg} ({held} more like it were not logged)"
            return True
        if state[1] < self.burst:
            state[1] += 1
            return True
        state[2] += 1
        return False


def setup(stream=None) -> logging.Handler:
    """Diagnostics to ``stream`` (stderr); returns the handler in place."""
    return _install(logging.StreamHandler(stream or sys.stderr))


def to_syslog() -> logging.Handler:
    """Once detached: diagnostics to syslog (stderr is gone)."""
    try:
        handler: logging.Handler = logging.handlers.SysLogHandler(
            SYSLOG_SOCKET, facility=logging.handlers.SysLogHandler.LOG_DAEMON
        )
        handler.ident = "iplog: "
    except OSError:  # no syslog daemon: nowhere to say anything
        handler = logging.NullHandler()
    return _install(handler, "%(levelname)s: %(message)s")


def _install(handler: logging.Handler, form: str = _FORMAT) -> logging.Handler:
    root = logging.getLogger("pyiplog")
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    handler.setFormatter(logging.Formatter(form))
    handler.addFilter(RateLimit())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    return handler
