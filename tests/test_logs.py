"""Diagnostics: logging set up once, rate-limited per kind; a
packet that raises is counted and logged, never fatal."""

from __future__ import annotations

import io
import logging
import re
import socket
import subprocess
import sys

import pytest

from pyiplog import logs
from pyiplog.constants import IPPROTO_TCP
from pyiplog.engine import Engine
from pyiplog.options import Options
from pyiplog.resolve import Namer

from live import ENV, needs_root, needs_tools, private_dev
from packets import T0, ip_tcp


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_rate_limit_per_kind_and_what_was_held_back():
    clock = Clock()
    limit = logs.RateLimit(burst=2, period=60.0, clock=clock)
    log = logging.getLogger("pyiplog.test")

    def passes(msg):
        record = log.makeRecord(log.name, logging.WARNING, __file__, 1, msg, (), None)
        return limit.filter(record), record.getMessage()

    assert [passes("a %s")[0] for _ in range(4)] == [True, True, False, False]
    assert passes("b %s")[0]  # another kind has its own budget
    clock.now = 61.0
    assert passes("a %s") == (True, "a %s (2 more like it were not logged)")


@pytest.fixture
def diagnostics():
    """``logs.setup`` into a string; the logger put back afterwards."""
    root = logging.getLogger("pyiplog")
    saved = (list(root.handlers), root.level, root.propagate)
    stream = io.StringIO()
    logs.setup(stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    root.propagate = saved[2]


def test_a_packet_that_raises_is_counted_logged_and_the_rest_goes_on(diagnostics):
    stream = diagnostics
    engine = Engine(Options(disable_resolver=True), None, Namer(None))

    def broken(ts, ip):
        raise RuntimeError("a bug")

    engine.handlers[IPPROTO_TCP] = broken
    for i in range(8):
        engine.feed_ip(T0 + i, ip_tcp(dport=80 + i))
    engine.handlers[IPPROTO_TCP] = engine.detectors[IPPROTO_TCP].handle
    engine.feed_ip(T0 + 9, ip_tcp(dport=21))
    assert engine.errors == 8
    assert engine.drain() == [(T0 + 9, "TCP: ftp connection attempt from 198.51.100.7:40000")]
    text = stream.getvalue()
    assert text.count("iplog: ERROR: packet at ") == logs.BURST  # the rest held back
    assert "RuntimeError: a bug" in text


@needs_root
@needs_tools("unshare")
def test_diagnostics_reach_syslog_once_detached(tmp_path):
    """``logs.to_syslog`` (the detached daemon's diagnostics) through the C
    library's syslog(3) to a real /dev/log: ours, in a private mount
    namespace."""
    sock_path = tmp_path / "devlog"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(10)
    code = (
        "import logging; from pyiplog import logs; logs.to_syslog();"
        " logging.getLogger('pyiplog.test').warning('the disk is %s', 'full')"
    )
    try:
        p = subprocess.run(
            private_dev(tmp_path, f'{sys.executable} -c "{code}"', dev_log=sock_path),
            env=ENV,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert p.returncode == 0, p.stderr
        message = listener.recv(4096).decode()
    finally:
        listener.close()
    found = re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d iplog\[\d+\]: (.*)$", message)
    assert found, message
    assert found.group(1) == str(3 * 8 + 4)  # daemon.warning
    assert found.group(2) == "WARNING: the disk is full"
