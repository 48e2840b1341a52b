"""pyiplog's own diagnostics (not iplog lines): ``logging``, set up once.

In the foreground they go to stderr; once the daemon detaches, to syslog
(ident ``iplog``, facility daemon).  Each kind of message (a logger and a
message template) is let through at most ``BURST`` times a minute, so a bug
that a flood triggers on every packet cannot flood the logs; what was held
back is counted and said with the next one let through.
"""

from __future__ import annotations

import logging
import sys
import syslog
import time

BURST = 5  # messages of one kind a minute
PERIOD = 60.0

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


class Syslog(logging.Handler):
    """Records to syslog(3) (ident ``iplog``, pid, facility daemon), through
    the C library as the daemon's own warnings go: logging.handlers would
    cost a detached daemon 1.8 MB for it."""

    def __init__(self):
        super().__init__()
        syslog.openlog("iplog", syslog.LOG_PID, syslog.LOG_DAEMON)
        self.priorities = {
            "CRITICAL": syslog.LOG_CRIT,
            "ERROR": syslog.LOG_ERR,
            "WARNING": syslog.LOG_WARNING,
        }

    def emit(self, record: logging.LogRecord) -> None:
        try:
            priority = self.priorities.get(record.levelname, syslog.LOG_INFO)
            syslog.syslog(syslog.LOG_DAEMON | priority, self.format(record))
        except Exception:  # logging's own rule: never raise from emit
            self.handleError(record)


def to_syslog() -> logging.Handler:
    """Once detached: diagnostics to syslog (stderr is gone)."""
    return _install(Syslog(), "%(levelname)s: %(message)s")


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
