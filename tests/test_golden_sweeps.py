"""The scans 2.2.3 never named (docs/contract.md D5), on real captures
(tests/data/record-sweeps.sh: nmap 7.93 and hping3 between two network
namespaces): each reported by the default counting with its kind, target
and source, in both forms and with the promisc networks (``-a``) of the
monitored side, whose answers count; none of them by 2.2.3's counting."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import dpkt
import jsonschema
import pytest

from pyiplog import cli
from pyiplog.config.rules import Filters
from pyiplog.engine import Engine
from pyiplog.options import Options
from pyiplog.resolve import Namer

from live import analysed
from packets import ip_udp

DATA = Path(__file__).resolve().parent / "data"
PER_PACKET = (
    "connection attempt",
    "dgram to",
    "ICMP: echo",
    "ICMP: timestamp",
    "is unreachable",
    "last message repeated",
    "started.",
)
H = ",".join(f"203.0.113.{i}" for i in range(2, 12))  # the first hosts the sweeps found

# capture -> (-a network of the monitored side, alarm lines plain, alarm lines log_dest)
EXPECTED = {
    "sweep-nmap-sA.pcap": (
        "198.51.100.2/32",
        [
            "Nov 30 03:52:01 TCP: ACK scan detected [ports 135,25,23,110,22,113,143,111,139,80]"
            " from 198.51.100.1 [port 36144]",
            "Nov 30 03:57:01 TCP: ACK scan mode expired for 198.51.100.1"
            " - 200 probes answered with a reset.",
        ],
        [
            "Nov 30 03:52:01 TCP: ACK scan detected to 198.51.100.2"
            " [ports 135,25,23,110,22,113,143,111,139,80] from 198.51.100.1 [port 36144]",
            "Nov 30 03:57:01 TCP: ACK scan mode to 198.51.100.2 expired for 198.51.100.1"
            " - 200 probes answered with a reset.",
        ],
    ),
    "sweep-nmap-sW.pcap": (  # a window scan sends an ACK scan's probes
        "198.51.100.2/32",
        [
            "Nov 30 03:52:05 TCP: ACK scan detected [ports 23,111,80,113,25,53,139,143,21,22]"
            " from 198.51.100.1 [port 40840]",
            "Nov 30 03:57:05 TCP: ACK scan mode expired for 198.51.100.1"
            " - 200 probes answered with a reset.",
        ],
        [
            "Nov 30 03:52:05 TCP: ACK scan detected to 198.51.100.2"
            " [ports 23,111,80,113,25,53,139,143,21,22] from 198.51.100.1 [port 40840]",
            "Nov 30 03:57:05 TCP: ACK scan mode to 198.51.100.2 expired for 198.51.100.1"
            " - 200 probes answered with a reset.",
        ],
    ),
    "sweep-nmap-sM.pcap": (
        "198.51.100.2/32",
        [
            "Nov 30 03:52:08 TCP: Maimon scan detected [ports 135,110,113,53,80,21,111,25,23,22]"
            " from 198.51.100.1 [port 51100]",
            "Nov 30 03:57:08 TCP: Maimon scan mode expired for 198.51.100.1"
            " - 200 probes answered with a reset.",
        ],
        [
            "Nov 30 03:52:08 TCP: Maimon scan detected to 198.51.100.2"
            " [ports 135,110,113,53,80,21,111,25,23,22] from 198.51.100.1 [port 51100]",
            "Nov 30 03:57:08 TCP: Maimon scan mode to 198.51.100.2 expired for 198.51.100.1"
            " - 200 probes answered with a reset.",
        ],
    ),
    "sweep-nmap-sO.pcap": (
        "198.51.100.2/32",
        [
            "Nov 30 03:52:11 IP: protocol scan detected [protocols 8,38,9,35,24,37,34,36,3,32]"
            " from 198.51.100.1",
            "Nov 30 03:57:34 IP: protocol scan mode expired for 198.51.100.1"
            " - received a total of 226 packets (80 bytes).",
        ],
        [
            "Nov 30 03:52:11 IP: protocol scan detected to 198.51.100.2"
            " [protocols 8,38,9,35,24,37,34,36,3,32] from 198.51.100.1",
            "Nov 30 03:57:34 IP: protocol scan mode to 198.51.100.2 expired for 198.51.100.1"
            " - received a total of 226 packets (80 bytes).",
        ],
    ),
    "sweep-nmap-p22.pcap": (
        "203.0.113.0/24",
        [
            "Nov 30 03:52:37 TCP: horizontal scan detected [port 22] from 198.51.100.1",
            "Nov 30 03:57:37 TCP: horizontal scan mode expired for 198.51.100.1"
            " - probed a total of 100 hosts (100 packets).",
        ],
        [
            f"Nov 30 03:52:37 TCP: horizontal scan detected to {H} [port 22] from 198.51.100.1",
            "Nov 30 03:57:37 TCP: horizontal scan mode expired for 198.51.100.1"
            " - probed a total of 100 hosts (100 packets).",
        ],
    ),
    "sweep-nmap-sn.pcap": (  # nmap -sn also sends a SYN to port 443 of the hosts it
        "203.0.113.0/24",  # has not heard from yet: 20 of them refused it
        [
            "Nov 30 03:52:40 ICMP: ping sweep detected from 198.51.100.1",
            "Nov 30 03:52:40 TCP: horizontal scan detected [port 443] from 198.51.100.1",
            "Nov 30 03:52:50 ICMP: ping sweep mode expired for 198.51.100.1"
            " - probed a total of 100 hosts (100 packets).",
            "Nov 30 03:57:40 TCP: horizontal scan mode expired for 198.51.100.1"
            " - probed a total of 20 hosts (20 packets).",
        ],
        [
            f"Nov 30 03:52:40 ICMP: ping sweep detected to {H},... from 198.51.100.1",
            "Nov 30 03:52:40 TCP: horizontal scan detected to "
            + ",".join(f"203.0.113.{i}" for i in range(78, 88))
            + " [port 443] from 198.51.100.1",
            "Nov 30 03:52:50 ICMP: ping sweep mode expired for 198.51.100.1"
            " - probed a total of 100 hosts (100 packets).",
            "Nov 30 03:57:40 TCP: horizontal scan mode expired for 198.51.100.1"
            " - probed a total of 20 hosts (20 packets).",
        ],
    ),
    "sweep-hping-rand-source.pcap": (
        "198.51.100.2/32",
        [
            "Nov 30 04:09:01 TCP: distributed SYN flood detected to 198.51.100.2 [port 80]"
            " from 1500 sources (7113 packets/s)",
            "Nov 30 04:09:02 TCP: distributed SYN flood to 198.51.100.2 [port 80] expired"
            " - received a total of 4000 packets (80000 bytes) from 4000 sources.",
        ],
        None,  # the same: the line names its target in both forms
    ),
    "sweep-nmap-D.pcap": (  # nmap -D 198.51.100.11,198.51.100.12,ME,198.51.100.13
        "198.51.100.2/32",
        [
            "Nov 30 03:52:48 TCP: SYN scan detected [ports 22,25,53,23,21,80,64,37,45,43,...]"
            " from 198.51.100.1 [port 33151]",
            "Nov 30 03:52:58 TCP: SYN scan with decoys detected"
            " [ports 22,25,53,23,21,80,64,37,45,43,...] from 4 sources:"
            " 198.51.100.1,198.51.100.11,198.51.100.12,198.51.100.13",
        ]
        + [
            f"Nov 30 03:57:48 TCP: SYN scan mode expired for 198.51.100.{i}"
            " - received a total of 100 packets (2400 bytes)."
            for i in (11, 12, 1, 13)
        ],
        [
            "Nov 30 03:52:48 TCP: SYN scan detected to 198.51.100.2"
            " [ports 22,25,53,23,21,80,64,37,45,43,...] from 198.51.100.1 [port 33151]",
            "Nov 30 03:52:58 TCP: SYN scan with decoys detected to 198.51.100.2"
            " [ports 22,25,53,23,21,80,64,37,45,43,...] from 4 sources:"
            " 198.51.100.1,198.51.100.11,198.51.100.12,198.51.100.13",
        ]
        + [
            f"Nov 30 03:57:48 TCP: SYN scan mode to 198.51.100.2 expired for 198.51.100.{i}"
            " - received a total of 100 packets (2400 bytes)."
            for i in (11, 12, 1, 13)
        ],
    ),
}


def iplog(capture: str, *args: str) -> list[str]:
    return analysed(DATA / capture, *args)


def alarms(lines: list[str]) -> list[str]:
    return [x for x in lines if not any(p in x for p in PER_PACKET)]


@pytest.mark.parametrize("capture", EXPECTED)
def test_reported_in_both_forms_and_with_promisc_networks(capture):
    network, plain, dest = EXPECTED[capture]
    dest = plain if dest is None else dest
    assert alarms(iplog(capture)) == plain
    assert alarms(iplog(capture, "-D")) == dest
    # -a: only what goes to the monitored side, and its answers (-a sets -D).
    assert alarms(iplog(capture, "-a", network)) == dest


@pytest.mark.parametrize("capture", EXPECTED)
def test_not_by_the_classic_counting(capture):
    lines = alarms(iplog(capture, "--classic-detection"))
    names = ("ACK scan", "Maimon", "protocol scan", "horizontal", "sweep", "distributed", "decoy")
    assert not [x for x in lines if any(n in x for n in names)]


def test_a_spoofed_flood_writes_a_line_per_packet_only_until_detected():
    lines = iplog("sweep-hping-rand-source.pcap")
    attempts = [x for x in lines if "http connection attempt" in x]
    assert len(attempts) == 1499  # of 4000 SYNs: the rest is in the alarm's total
    classic = iplog("sweep-hping-rand-source.pcap", "--classic-detection")
    assert len([x for x in classic if "http connection attempt" in x]) == 4000


@pytest.mark.parametrize(
    "setting,capture,kind",
    [
        ("ack_scan", "sweep-nmap-sA.pcap", "TCP: ACK scan"),
        ("ack_scan", "sweep-nmap-sM.pcap", "TCP: Maimon scan"),
        ("proto_scan", "sweep-nmap-sO.pcap", "IP: protocol scan"),
        ("horizontal_scan", "sweep-nmap-p22.pcap", "TCP: horizontal scan"),
        ("ping_sweep", "sweep-nmap-sn.pcap", "ICMP: ping sweep"),
        ("distributed_flood", "sweep-hping-rand-source.pcap", "TCP: distributed SYN flood"),
        ("decoy_scan", "sweep-nmap-D.pcap", "with decoys"),
    ],
)
def test_each_detector_can_be_switched_off(setting, capture, kind, tmp_path):
    assert any(kind in x for x in iplog(capture))
    config = tmp_path / "iplog.conf"
    config.write_text(f"set {setting} false\n")
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["-C", str(config), "-N", "-r", str(DATA / capture)]) == 0
    assert not any(kind in x for x in out.getvalue().splitlines())


def test_json_lines_follow_the_schema():
    schema = json.loads((DATA.parent.parent / "conf" / "iplog.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    starts, decoys = {}, []
    for capture in EXPECTED:
        for line in iplog(capture, "--json", "-D"):
            obj = json.loads(line)
            validator.validate(obj)
            if "decoy_sources" in obj:
                decoys.append(obj)
            elif obj["event"] in ("scan_start", "flood_start"):
                starts.setdefault(obj.get("scan"), obj)
    assert starts["ack_scan"]["src"] == "198.51.100.1"
    assert starts["ack_scan"]["dports"][:3] == [135, 25, 23]
    assert starts["proto_scan"]["protocols"][:3] == [8, 38, 9]
    assert starts["horizontal_tcp"]["hosts"][0] == "203.0.113.2"
    assert starts["ping_sweep"]["proto"] == "icmp"
    flood = starts["distributed_flood"]
    assert (flood["event"], flood["dst"], flood["dport"], flood["sources"], flood["rate"]) == (
        "flood_start",
        "198.51.100.2",
        80,
        1500,
        7113,
    )
    assert [(o["scan"], o["dst"], o["sources"], o["decoy_sources"]) for o in decoys] == [
        ("syn_scan", "198.51.100.2", 4, [f"198.51.100.{i}" for i in (1, 11, 12, 13)])
    ]


def test_a_reload_keeps_a_sweep_and_its_end():
    """SIGHUP (Engine.configure) in the middle of a detected ACK scan: the
    scan's end line still comes at its own time, written by the packets
    that come later (not only at the end of the run)."""
    with open(DATA / "sweep-nmap-sA.pcap", "rb") as fh:
        frames = [(ts, bytes(buf)) for ts, buf in dpkt.pcap.Reader(fh)]
    opts = Options(disable_resolver=True)
    engine = Engine(opts, None, Namer(None))
    engine.feed_frames(dpkt.pcap.DLT_EN10MB, frames)
    engine.configure(opts, Filters(), Namer(None))  # the reload
    later = frames[-1][0] + 400  # past the scan's 300 s window
    engine.feed_ip(later, ip_udp(dport=5353))
    ends = [line for _, line in engine.drain() if "ACK scan mode expired" in line]
    assert ends == [
        "TCP: ACK scan mode expired for 198.51.100.1 - 200 probes answered with a reset."
    ]
