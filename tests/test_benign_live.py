"""The benign suite: ordinary traffic from real servers and
clients between two namespaces (tests/benign.py) gives no alarm with the
default counting, live (without and with the monitored host as promisc
network, -a) and on its recording (iplog -r, without and with -a)."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

import benign

from live import Namespaces, analysed, daemon_in_b, lines_of, needs_root, needs_tools, wait_for

ALARMS = (" detected", "Bogus TCP flags", "IP fragment", "Too many IP fragments")
MONITORED = f"{Namespaces.B_ADDR}/32"


def alarms(lines: list[str]) -> list[str]:
    return [x for x in lines if any(a in x for a in ALARMS)]


offline = analysed


@needs_root
@needs_tools("tcpdump", "ss", *benign.TOOLS)
def test_ordinary_traffic_is_silent_live_and_recorded():
    work = Path(tempfile.mkdtemp(prefix="pyiplog-benign-"))
    try:
        plain, promisc = work / "plain", work / "promisc"
        plain.mkdir()
        promisc.mkdir()
        capture = work / "benign.pcap"
        with Namespaces() as ns:
            dump = ns.popen_b("tcpdump", "-i", ns.b_if, "-s", "256", "-U", "-w", str(capture))
            try:
                assert wait_for(capture.exists, 10)
                with (
                    daemon_in_b(ns, plain) as (log, daemon),
                    daemon_in_b(ns, promisc, "-a", MONITORED) as (promisc_log, promisc_daemon),
                ):
                    played = benign.play(ns, work)
                    time.sleep(4)  # every probe's answer window (3 s) is over
                    for one in (daemon, promisc_daemon):  # their kernel drops, for a failure
                        one.send_signal(signal.SIGUSR1)
                    wait_for(
                        lambda: all(
                            any(x.startswith("Statistics for") for x in lines_of(path))
                            for path in (log, promisc_log)
                        )
                    )
            finally:
                dump.send_signal(signal.SIGTERM)
                dump.wait(10)
        assert played == list(benign.SCENARIOS)
        live, live_promisc = lines_of(log), lines_of(promisc_log)
        recorded = offline(capture)
        recorded_promisc = offline(capture, "-a", MONITORED)
        # The traffic was there, and seen: the servers' connection attempts.
        for lines in (live, live_promisc, recorded, recorded_promisc):
            text = "\n".join(lines)
            for port in ("ftp", "ssh", "3128", "5201"):
                assert f"{port} connection attempt" in text or f"port {port} " in text, port
        # What a failure needs to be told apart: the same traffic read back
        # from tcpdump's capture, and the daemons' own warnings (drops).
        told = (
            alarms(recorded),
            alarms(recorded_promisc),
            [x for x in live + live_promisc if x.startswith(("Warning", "Statistics"))],
        )
        assert (alarms(live), alarms(live_promisc)) == ([], []), told
        assert (alarms(recorded), alarms(recorded_promisc)) == ([], [])
    finally:
        shutil.rmtree(work, ignore_errors=True)
