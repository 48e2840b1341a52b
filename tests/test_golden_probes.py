"""What counts as a probe (docs/contract.md D3, D5), on real captures
(tests/data/record-probes.sh and record-routed.sh: nmap 7.93, masscan,
ab, hping3, nping and radvd between network namespaces): a connection
left half open is a probe of a served port, completed connections are
not, a UDP flood counts whole, nmap's IPv6 host discovery is a neighbour
sweep, smurf reflectors are named as such.  2.2.3's counting reads these
captures as it always did."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import jsonschema
import pytest

from live import analysed
from packets import T0, a6, ether, ip6_icmp, ip_udp, write_pcap

DATA = Path(__file__).resolve().parent / "data"
SCHEMA = json.loads((DATA.parent.parent / "conf" / "iplog.schema.json").read_text())
PER_PACKET = (
    "connection attempt",
    "dgram to",
    "echo",
    "is unreachable",
    "last message repeated",
    "started.",
)
H4 = ",".join(f"203.0.113.{i}" for i in range(2, 12))  # the first hosts nmap probed
H6 = ",".join(f"2001:db8:1::{i}" for i in range(2, 12))
MASSCAN = ",".join(
    f"203.0.113.{i}" for i in (24, 22, 44, 19, 57, 26, 15, 54, 9, 13)
)  # its own order
ND = "2001:db8::3,2001:db8::4,2001:db8::5,2001:db8::6,2001:db8::7,2001:db8::8,2001:db8::9,"
ND += "2001:db8::a,2001:db8::b,2001:db8::e,..."  # ::2 and ::10 answered


def horizontal(at: str, ends: str, hosts: str, src: str) -> tuple[list[str], list[str]]:
    """A horizontal scan of port 22 over 60 hosts: (plain lines, log_dest lines)."""
    end = (
        f"Dec  5 {ends} TCP: horizontal scan mode expired for {src}"
        " - probed a total of 60 hosts (60 packets)."
    )
    return (
        [f"Dec  5 {at} TCP: horizontal scan detected [port 22] from {src}", end],
        [f"Dec  5 {at} TCP: horizontal scan detected to {hosts} [port 22] from {src}", end],
    )


# capture -> (-a networks of the monitored side, alarms plain, alarms log_dest)
EXPECTED = {
    # every host serves port 22; nmap resets each SYN-ACK
    "halfopen-nmap-p22.pcap": (
        "203.0.113.0/24",
        *horizontal("05:17:58", "05:22:58", H4, "198.51.100.1"),
    ),
    "halfopen-nmap6-p22.pcap": (
        "2001:db8:1::/64",
        *horizontal("05:18:01", "05:23:01", H6, "2001:db8::1"),
    ),
    "halfopen-masscan-p22.pcap": (
        "203.0.113.0/24",
        *horizontal("05:18:04", "05:23:04", MASSCAN, "198.51.100.1"),
    ),
    # 2000 completed connections to one port in 5 s: no alarm at all
    "load-ab.pcap": ("198.51.100.2/32", [], []),
    # The same against a server that cannot keep up: clients that gave up
    # (their FIN) reset the answers that came later; no ACK scan by the server
    "load-ab-slow.pcap": ("198.51.100.2/32", [], []),
    # 200 datagrams, each from the next source port: every one counts
    "udp-hping-flood200.pcap": (
        "198.51.100.2/32",
        [
            "Dec  5 05:18:17 UDP: scan/flood detected [port 9999] from 198.51.100.1"
            " [ports 1116,1117,1118,1119,1120,...]",
            "Dec  5 05:23:17 UDP: scan/flood mode expired for 198.51.100.1"
            " - received a total of 200 packets (1600 bytes).",
        ],
        [
            "Dec  5 05:18:17 UDP: scan/flood detected to 198.51.100.2 [port 9999]"
            " from 198.51.100.1 [ports 1116,1117,1118,1119,1120,...]",
            "Dec  5 05:23:17 UDP: scan/flood mode to 198.51.100.2 expired for 198.51.100.1"
            " - received a total of 200 packets (1600 bytes).",
        ],
    ),
    # nmap -6 -sn over 64 addresses of the link, four of them there
    "nd-nmap6-sn.pcap": (
        "2001:db8::/64",
        [
            "Dec  5 05:18:22 ICMPv6: neighbour sweep detected from 2001:db8::1",
            "Dec  5 05:18:33 ICMPv6: neighbour sweep mode expired for 2001:db8::1"
            " - probed a total of 59 hosts (59 packets).",
        ],
        [
            f"Dec  5 05:18:22 ICMPv6: neighbour sweep detected to {ND} from 2001:db8::1",
            "Dec  5 05:18:33 ICMPv6: neighbour sweep mode expired for 2001:db8::1"
            " - probed a total of 59 hosts (59 packets).",
        ],
    ),
    # a router resolving forty real neighbours, radvd, DAD, MLD, sessions
    "router-neighbours.pcap": ("2001:db8:b::/64", [], []),
    # echo replies to the victim from two networks at once
    "smurf-two-networks.pcap": (
        "198.51.100.64/26",
        [
            "Dec  5 05:18:41 ICMP/UDP: smurf attack detected from 192.0.2.0",
            "Dec  5 05:18:51 ICMP/UDP: smurf attack detected from 2 reflecting networks:"
            " 192.0.2.0,203.0.113.0",
            "Dec  5 05:19:11 ICMP/UDP: smurf attack mode expired for 192.0.2.0"
            " - received a total of 118 packets (944 bytes).",
            "Dec  5 05:19:11 ICMP/UDP: smurf attack mode expired for 203.0.113.0"
            " - received a total of 122 packets (976 bytes).",
        ],
        [
            "Dec  5 05:18:41 ICMP/UDP: smurf attack detected to 198.51.100.66 from 192.0.2.0",
            "Dec  5 05:18:51 ICMP/UDP: smurf attack detected to 198.51.100.66"
            " from 2 reflecting networks: 192.0.2.0,203.0.113.0",
            "Dec  5 05:19:11 ICMP/UDP: smurf attack mode to 198.51.100.66 expired for 192.0.2.0"
            " - received a total of 118 packets (944 bytes).",
            "Dec  5 05:19:11 ICMP/UDP: smurf attack mode to 198.51.100.66 expired for 203.0.113.0"
            " - received a total of 122 packets (976 bytes).",
        ],
    ),
}

# 2.2.3's counting: the load test is its false alarm, the rest as it was.
CLASSIC = {
    "load-ab.pcap": [
        "Dec  5 05:18:11 TCP: port scan detected [port 8080] from 198.51.100.1"
        " [ports 44072,44082,44090,44102,44114,...]",
        "Dec  5 05:19:04 TCP: port scan mode expired for 198.51.100.1"
        " - received a total of 2013 packets (80520 bytes).",
    ],
    "load-ab-slow.pcap": [
        "Dec  5 11:27:06 TCP: port scan detected [port 8081] from 198.51.100.1"
        " [ports 53148,53156,53164,53176,53190,...]",
        "Dec  5 11:28:02 TCP: port scan mode expired for 198.51.100.1"
        " - received a total of 1980 packets (79200 bytes).",
    ],
    "udp-hping-flood200.pcap": [
        "Dec  5 05:18:17 UDP: scan/flood detected [port 9999] from 198.51.100.1"
        " [ports 1116,1117,1118,1119,1120,...]",
        "Dec  5 05:19:07 UDP: scan/flood mode expired for 198.51.100.1"
        " - received a total of 200 packets (1600 bytes).",
    ],
    "smurf-two-networks.pcap": [
        "Dec  5 05:18:41 ICMP/UDP: smurf attack detected from 192.0.2.0",
        "Dec  5 05:18:41 ICMP/UDP: smurf attack detected from 203.0.113.0",
        "Dec  5 05:19:11 ICMP/UDP: smurf attack mode expired for 192.0.2.0"
        " - received a total of 118 packets (944 bytes).",
        "Dec  5 05:19:11 ICMP/UDP: smurf attack mode expired for 203.0.113.0"
        " - received a total of 122 packets (976 bytes).",
    ],
}


iplog = analysed


def alarms(lines: list[str]) -> list[str]:
    return [x for x in lines if not any(p in x for p in PER_PACKET)]


@pytest.mark.parametrize("capture", EXPECTED)
def test_real_captures_in_both_forms_and_with_promisc_networks(capture):
    network, plain, dest = EXPECTED[capture]
    path = DATA / capture
    assert alarms(iplog(path)) == plain
    assert alarms(iplog(path, "-D")) == dest
    assert alarms(iplog(path, "-a", network)) == dest  # -a sets -D


@pytest.mark.parametrize("capture", EXPECTED)
def test_the_classic_counting_reads_them_as_2_2_3(capture):
    assert alarms(iplog(DATA / capture, "--classic-detection")) == CLASSIC.get(capture, [])


def test_the_probes_are_logged_and_the_answers_and_resets_are_not():
    """Each of nmap's 60 SYNs is a connection attempt line; the SYN-ACKs
    (the monitored side's) and nmap's resets are state, never lines."""
    lines = iplog(DATA / "halfopen-nmap-p22.pcap", "-D")
    attempts = [x[16:] for x in lines if "connection attempt" in x]
    assert sorted(attempts) == sorted(
        f"TCP: ssh connection attempt to 203.0.113.{i} from 198.51.100.1:35969"
        for i in range(1, 61)
    )
    assert len(lines) == 1 + 60 + 2  # started, the attempts, the scan's two lines


def test_json_of_the_new_lines():
    validator = jsonschema.Draft202012Validator(SCHEMA)
    starts = {}
    for capture in ("nd-nmap6-sn.pcap", "smurf-two-networks.pcap"):
        for line in iplog(DATA / capture, "--json"):
            obj = json.loads(line)
            validator.validate(obj)
            if obj["event"] in ("scan_start", "flood_start"):
                starts[obj["message"]] = obj
    sweep = starts["ICMPv6: neighbour sweep detected from 2001:db8::1"]
    assert (sweep["event"], sweep["scan"], sweep["proto"], sweep["family"], sweep["src"]) == (
        "scan_start",
        "nd_sweep",
        "icmp",
        "ipv6",
        "2001:db8::1",
    )
    assert sweep["hosts"][:2] == ["2001:db8::3", "2001:db8::4"]
    smurf = starts[
        "ICMP/UDP: smurf attack detected from 2 reflecting networks: 192.0.2.0,203.0.113.0"
    ]
    assert smurf["host"] == socket.gethostname()
    assert {k: v for k, v in smurf.items() if k not in ("time", "host", "message")} == {
        "event": "flood_start",
        "proto": "icmp",
        "scan": "smurf",
        "family": "ipv4",
        "dst": "198.51.100.66",
        "dports": [],
        "reflectors": ["192.0.2.0", "203.0.113.0"],
        "sources": 2,
    }


def test_a_stream_is_not_counted_toward_the_flood_but_every_other_datagram_is(tmp_path):
    """udp_flood: 200 datagrams within 2 s.  A real stream (one source and
    destination port) counts only toward its own rate, its first datagram
    too once the second shows it is one; 199 other datagrams beside it are
    no flood, 200 are."""

    def capture(others: int) -> Path:
        frames = [(T0 + i * 0.001, ether(ip_udp(sport=5000, dport=5004))) for i in range(50)]
        frames += [
            (T0 + 0.0005 + i * 0.001, ether(ip_udp(sport=20000 + i, dport=9999)))
            for i in range(others)
        ]
        return write_pcap(tmp_path / f"stream{others}.pcap", sorted(frames, key=lambda f: f[0]))

    assert alarms(iplog(capture(199))) == []
    assert alarms(iplog(capture(200)))[0] == (
        "Nov 14 22:13:20 UDP: scan/flood detected [ports 5004,9999] from 198.51.100.7"
        " [ports 5000,20000,20001,20002,20003,...]"
    )


def test_duplicate_address_detection_and_answered_solicitations_are_no_sweep(tmp_path):
    """Forty addresses each asked for twice a second apart: from the
    unspecified address (DAD), silent; by a host whose neighbours answer,
    silent; by a host nobody answers, a sweep (docs/contract.md D5)."""
    targets = [f"2001:db8::{0x100 + i:x}" for i in range(40)]

    def ns(src: str, target: str) -> bytes:
        return ip6_icmp(src, "ff02::1:ff00:1", 135, hlim=255, data=a6(target))

    def asked(src: str, answered: bool) -> list:
        frames = []
        for i, target in enumerate(targets):
            for t in (T0 + i * 0.01, T0 + 1 + i * 0.01):
                frames.append((t, ether(ns(src, target))))
                if answered:
                    advert = ip6_icmp(target, src, 136, rest=b"\x60\0\0\0", data=a6(target))
                    frames.append((t + 0.0001, ether(advert)))
        return sorted(frames, key=lambda f: f[0])

    for src, answered in (("::", False), ("2001:db8::1", True)):
        capture = write_pcap(tmp_path / "nd.pcap", asked(src, answered))
        assert alarms(iplog(capture)) == []
    lines = alarms(iplog(write_pcap(tmp_path / "sweep.pcap", asked("2001:db8::5", False))))
    assert lines[0] == "Nov 14 22:13:21 ICMPv6: neighbour sweep detected from 2001:db8::5"
    # with promisc networks, only solicitations for addresses in them count
    assert (
        alarms(
            iplog(
                write_pcap(tmp_path / "other.pcap", asked("2001:db8::5", False)),
                "-a",
                "2001:db8:9::/64",
            )
        )
        == []
    )


def test_json_gives_each_failed_probe_a_line_of_its_own():
    """JSON lines only: each of nmap's 60 half-open probes is a
    probe_failed event (none in the text log), in both forms."""
    validator = jsonschema.Draft202012Validator(SCHEMA)
    capture = DATA / "halfopen-nmap-p22.pcap"
    for extra, message in (
        ((), "TCP: probe of port 22 from 198.51.100.1 failed (half_open)"),
        (("-D",), "TCP: probe of port 22 of 203.0.113.2 from 198.51.100.1 failed (half_open)"),
    ):
        objs = [json.loads(x) for x in iplog(capture, "--json", *extra)]
        failed = [o for o in objs if o["event"] == "probe_failed"]
        for obj in failed:
            validator.validate(obj)
        assert len(failed) == 60
        assert {k: v for k, v in failed[0].items() if k not in ("host",)} == {
            "time": "2026-12-05T05:17:58.470630+00:00",
            "event": "probe_failed",
            "proto": "tcp",
            "family": "ipv4",
            "src": "198.51.100.1",
            "dst": "203.0.113.2",
            "dport": 22,
            "reason": "half_open",
            "message": message,
        }
        assert not any("probe of port" in x for x in iplog(capture, *extra))
