"""The live daemon under random-source floods (issue 12), a few seconds of
each kind: bench/soak.py (run by hand for 90 s a kind) with --seconds 4.
Traffic only between the two namespaces the script makes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from live import needs_root, needs_tools

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"


@needs_root
@needs_tools("ip", "nmap")
def test_floods_stay_bounded_and_a_scan_in_them_is_seen_and_kept():
    p = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "4", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["kind"] for r in results] == ["tcp", "udp", "icmp", "frag"]
    for r in results:
        assert r["sent"] == 4 * 20000, r
        assert r["peak_rss_mb"] <= 64, r
        assert r["scan_reported"] and not r["scan_ended_early"], r
