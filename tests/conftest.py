"""Shared test set-up: UTC log stamps, and running ``iplog -r`` on frames."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ["TZ"] = "UTC"
time.tzset()

from pyiplog import cli  # noqa: E402

from packets import write_pcap  # noqa: E402

STARTED = "iplog started."


@pytest.fixture
def iplog_r(tmp_path, capsys):
    """Run the real ``iplog -r`` (in-process) on frames; return its lines.

    The first line must be ``iplog started.``; it is checked and dropped.
    ``classic`` (the default here) adds --classic-detection.
    """
    counter = iter(range(10**6))

    def run(frames, *args, lookup=None, expect_status=0, link=None, classic=True):
        path = tmp_path / f"capture{next(counter)}.pcap"
        if link is None:
            write_pcap(path, frames)
        else:
            write_pcap(path, frames, linktype=link)
        argv = ["-C", "/dev/null", *args, "-r", str(path)]
        if classic:  # the 2.2.3 contract suites count as 2.2.3 did
            argv.insert(0, "--classic-detection")
        if lookup is None and "-N" not in args:
            argv.insert(0, "-N")
        if lookup is not None:
            from pyiplog import runner

            status = cli.main(argv, run=lambda o, c, _: runner.run_file(o, c, lookup=lookup))
        else:
            status = cli.main(argv)
        out = capsys.readouterr().out.splitlines()
        assert status == expect_status
        assert out and out[0].endswith(" " + STARTED), out[:1]
        return out[1:]

    return run


# --- which message kinds and forms the golden tests produced ----------------------------
# Every kind in pyiplog.messages must be produced (and so checked to the
# letter) by some golden test, in both its plain and its log_dest form:
# tests/test_messages.py fails otherwise (fail2ban's testFiltersPresent idea).

RENDERED: set[tuple[str, bool]] = set()
GOLDEN_MODULES = (
    "test_golden_tcp_udp",
    "test_golden_icmp_ip",
    "test_golden_run",
    "test_golden_sweeps",
    "test_golden_ipv6",
    "test_golden_wire",
    "test_golden_probes",
)


def _recording(kind, dest, form):
    def wrapper(**fields):
        RENDERED.add((kind, dest))
        return form(**fields)

    return wrapper


@pytest.fixture(autouse=True, scope="session")
def _record_rendered_messages():
    """Every line goes through ``forms.FORMS`` (engines copy it when
    built): wrapped here for the whole session."""
    from pyiplog import forms

    originals = dict(forms.FORMS)
    for kind, pair in originals.items():
        forms.FORMS[kind] = tuple(
            _recording(kind, bool(dest), form) for dest, form in enumerate(pair)
        )
    yield
    forms.FORMS.update(originals)


def pytest_collection_modifyitems(session, config, items):
    """The coverage check runs after every golden test."""
    last = [i for i in items if i.module.__name__ == "test_messages"]
    items[:] = [i for i in items if i not in last] + last
    config.golden_collected = {i.module.__name__ for i in items} >= set(GOLDEN_MODULES)
