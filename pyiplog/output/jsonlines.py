"""JSON lines (docs/contract.md O4): one JSON object per line instead of iplog's text.

The detectors' JSON forms (``messages.json_forms``) give each line as a
``JsonBody``: the event's fields and ``message``, the classic line's text.
These targets add ``time`` (ISO 8601 with the zone, from the packet's
clock) and ``host`` (this host's name: a central collection of many
sensors' lines stays self-describing) and write one object a line; a line that is no event (``iplog
started.``, the daemon's own lines) becomes a ``daemon`` event, and repeat
folding a ``repeat`` event with its ``count``.  The schema is in
``conf/iplog.schema.json``.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime

from ..forms import JsonBody
from ..forms import line as log_line
from .logfile import LogFile, TextLog
from .syslog import SyslogLog


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="microseconds")


HOST = socket.gethostname()  # the sensor's name, in every JSON line
_HOST = json.dumps(HOST, ensure_ascii=False)


def json_line(ts: float, message: str) -> str:
    """One JSON object (no newline) for a line at packet time ``ts``."""
    stamp = iso_time(ts)
    if isinstance(message, JsonBody):
        return f'{{"time": "{stamp}", "host": {_HOST}, {message[1:]}'
    return json.dumps(
        {"time": stamp, "host": HOST, "event": "daemon", "message": message}, ensure_ascii=False
    )


class JsonLines:
    """What the text targets do differently for JSON lines."""

    def _text(self, ts: float, message: str) -> str:
        return json_line(ts, message) + "\n"

    def _repeated(self, ts: float, n: int) -> None:
        obj = {
            "time": iso_time(ts),
            "host": HOST,
            "event": "repeat",
            "count": n,
            "message": log_line("repeated", n=n),
        }
        self.lines.append(json.dumps(obj) + "\n")

    def write_all(self, lines) -> None:
        for ts, message in lines:
            self.write(ts, message)


class JsonText(JsonLines, TextLog):
    """JSON lines on a stream (stdout)."""


class JsonFile(JsonLines, LogFile):
    """JSON lines in a log file."""


class JsonSyslog(SyslogLog):
    """JSON lines to syslog (no folding: syslogd does its own)."""

    def _wrap(self, ts: float, message: str) -> str:
        return json_line(ts, message)
