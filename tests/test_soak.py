"""The live daemon under random-source floods, a few seconds of
each kind, IPv4 and IPv6: bench/soak.py (run by hand for 90 s a kind) with
--seconds 4.
Traffic only between the two namespaces the script makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from live import needs_root, needs_tools

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


@needs_root
@needs_tools("ip", "nmap")
@pytest.mark.parametrize("family", ["", "6"], ids=["ipv4", "ipv6"])
def test_floods_stay_bounded_and_a_scan_in_them_is_seen_and_kept(family):
    kinds = [k + family for k in ("tcp", "udp", "icmp", "frag")]
    p = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "4", "--json", "--kinds", ",".join(kinds)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["kind"] for r in results] == kinds
    for r in results:
        assert r["sent"] == 4 * 20000, r
        assert r["peak_rss_mb"] <= 64, r
        assert r["scan_reported"] and not r["scan_ended_early"], r
