"""JSON lines (docs/contract.md O4): every event kind to the letter, the
message always the classic line, every line valid against the shipped
schema, and the README's jq example run for real."""

from __future__ import annotations

import json
import os
import re
import socket
import struct
import subprocess
from datetime import datetime
from pathlib import Path

import jsonschema
import pytest

from pyiplog import cli, runner
from pyiplog.output.jsonlines import JsonSyslog
from pyiplog.resolve import read_services

from live import ENV, IPLOG, analysed
from packets import (
    ATTACKER,
    ATTACKER6,
    OTHER,
    T0,
    TARGET,
    TARGET6,
    ether,
    ip,
    ip6_icmp,
    ip6_tcp,
    ip6_udp,
    ip_icmp,
    ip_tcp,
    ip_udp,
    tcp_seg,
    write_pcap,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
SCHEMA = json.loads((ROOT / "conf" / "iplog.schema.json").read_text())
jsonschema.Draft202012Validator.check_schema(SCHEMA)
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)  # the schema checked once, not per line
EVENTS = SCHEMA["properties"]["event"]["enum"]


def every_event_capture(path: Path) -> str:
    """One capture with a line of every event kind."""
    frames, t = [], T0

    def add(datagram, dt=0.5):
        nonlocal t
        frames.append((t, ether(datagram)))
        t += dt

    add(ip_tcp(dport=80))
    add(ip_udp(dport=53))
    add(ip_udp(dport=53))  # the same line again: folded
    add(ip_udp(dport=5353))
    add(ip_icmp(itype=8, rest=b"\x00\x01\x00\x01"))
    add(ip_icmp(itype=3, code=3, data=ip(TARGET, OTHER, 17, struct.pack("!HHHH", 53, 9999, 8, 0))))
    add(ip_tcp(flags=0x42, dport=81))  # SYN with ECE alone: bogus
    add(ip_udp(ttl=1, dport=33434))
    add(ip(ATTACKER, TARGET, 6, tcp_seg()[:24], off=0, mf=True, ident=9))
    add(ip(ATTACKER, TARGET, 6, tcp_seg()[16:], off=16, ident=9))  # overlaps
    add(ip(ATTACKER, TARGET, 6, tcp_seg(dport=82), bad_sum=True))
    for i in range(12):  # a SYN scan nobody answers
        add(ip_tcp(src=OTHER, dport=1000 + i, sport=45000), 0.01)
    for i in range(80):  # a ping flood
        add(ip_icmp(src="198.51.100.9", itype=8, rest=struct.pack("!HH", 7, i)), 0.02)
    return write_pcap(path, frames)


def iplog_json(*args: str) -> list[dict]:
    p = subprocess.run(
        IPLOG + ["-C", "/dev/null", *args], capture_output=True, text=True, env={**ENV, "TZ": "UTC"}
    )
    assert p.returncode == 0, p.stderr
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    assert all(obj["host"] == socket.gethostname() for obj in objs)  # every line names it
    return objs


def bare(objs: list[dict]) -> list[dict]:
    """The objects without ``host`` (checked by ``iplog_json``), to compare."""
    return [{k: v for k, v in obj.items() if k != "host"} for obj in objs]


def first_of_each(objs: list[dict]) -> dict[str, dict]:
    firsts: dict[str, dict] = {}
    for obj in objs:
        firsts.setdefault(obj["event"], obj)
    return firsts


def test_every_event_kind(tmp_path):
    objs = bare(iplog_json("-N", "-V", "--json", "-r", every_event_capture(tmp_path / "all.pcap")))
    first = first_of_each(objs)
    # flood_update (a distributed flood's summary, a minute in): test_golden_wire
    assert sorted(first) == sorted(set(EVENTS) - {"flood_update"})
    hosts = {"family": "ipv4", "src": ATTACKER, "dst": TARGET}
    assert first == {
        "daemon": {
            "time": "2023-11-14T22:13:20.000000+00:00",
            "event": "daemon",
            "message": "iplog started.",
        },
        "connection_attempt": {
            "time": "2023-11-14T22:13:20.000000+00:00",
            "event": "connection_attempt",
            "proto": "tcp",
            **hosts,
            "sport": 40000,
            "dport": 80,
            "service": "http",
            "message": "TCP: http connection attempt from 198.51.100.7:40000",
        },
        # JSON lines only: nobody answered that SYN within 3 s
        "probe_failed": {
            "time": "2023-11-14T22:13:23.000000+00:00",
            "event": "probe_failed",
            "proto": "tcp",
            **hosts,
            "dport": 80,
            "reason": "unanswered",
            "message": "TCP: probe of port 80 from 198.51.100.7 failed (unanswered)",
        },
        "dgram": {
            "time": "2023-11-14T22:13:20.500000+00:00",
            "event": "dgram",
            "proto": "udp",
            **hosts,
            "sport": 40000,
            "dport": 53,
            "service": "domain",
            "bytes": 10,
            "message": "UDP: dgram to domain from 198.51.100.7:40000 (10 data bytes)",
        },
        "repeat": {
            "time": "2023-11-14T22:13:21.500000+00:00",
            "event": "repeat",
            "count": 1,
            "message": "last message repeated 1 times",
        },
        "icmp": {
            "time": "2023-11-14T22:13:22.000000+00:00",
            "event": "icmp",
            "proto": "icmp",
            **hosts,
            "icmp_type": 8,
            "icmp_code": 0,
            "bytes": 8,
            "message": "ICMP: echo from 198.51.100.7 (8 bytes)",
        },
        "bogus_flags": {
            "time": "2023-11-14T22:13:23.000000+00:00",
            "event": "bogus_flags",
            "proto": "tcp",
            **hosts,
            "sport": 40000,
            "dport": 81,
            "tcp_flags": 0x42,
            "message": "TCP: Bogus TCP flags set by 198.51.100.7:40000 (dest port 81)",
        },
        "traceroute": {
            "time": "2023-11-14T22:13:23.500000+00:00",
            "event": "traceroute",
            "proto": "udp",
            **hosts,
            "message": "UDP: traceroute from 198.51.100.7",
        },
        "fragment": {
            "time": "2023-11-14T22:13:24.500000+00:00",
            "event": "fragment",
            "proto": "ip",
            **hosts,
            "attack": "overlap",
            "message": "Overlapping IP fragments from 198.51.100.7",
        },
        "bad_packet": {
            "time": "2023-11-14T22:13:25.000000+00:00",
            "event": "bad_packet",
            "proto": "ip",
            **hosts,
            "message": "IP packet with invalid checksum from 198.51.100.7",
        },
        "flood_start": {
            "time": "2023-11-14T22:13:26.999999+00:00",
            "event": "flood_start",
            "proto": "icmp",
            "scan": "ping_flood",
            "family": "ipv4",
            "src": "198.51.100.9",
            "dst": TARGET,
            "dports": [],
            "sports": [],
            "message": "ICMP: ping flood detected from 198.51.100.9",
        },
        "scan_start": {
            "time": "2023-11-14T22:13:28.590000+00:00",
            "event": "scan_start",
            "proto": "tcp",
            "scan": "syn_scan",
            "family": "ipv4",
            "src": OTHER,
            "dst": TARGET,
            "dports": list(range(1000, 1010)),
            "sports": [45000],
            "message": "TCP: SYN scan detected [ports 1000,1001,1002,1003,1004,1005,1006,1007,"
            "1008,1009,...] from 203.0.113.5 [port 45000]",
        },
        "flood_end": {
            "time": "2023-11-14T22:14:27.199998+00:00",
            "event": "flood_end",
            "proto": "icmp",
            "scan": "ping_flood",
            "family": "ipv4",
            "src": "198.51.100.9",
            "dst": TARGET,
            "packets": 80,
            "bytes": 640,
            "message": "ICMP: ping flood mode expired for 198.51.100.9 - received a total of 80"
            " packets (640 bytes).",
        },
        "scan_end": {
            "time": "2023-11-14T22:18:25.610000+00:00",
            "event": "scan_end",
            "proto": "tcp",
            "scan": "syn_scan",
            "family": "ipv4",
            "src": OTHER,
            "dst": TARGET,
            "packets": 12,
            "bytes": 240,
            "message": "TCP: SYN scan mode expired for 203.0.113.5 - received a total of 12"
            " packets (240 bytes).",
        },
    }
    unreach = [o for o in objs if o["event"] == "icmp" and o["icmp_type"] == 3]
    assert unreach == [
        {
            "time": "2023-11-14T22:13:22.500000+00:00",
            "event": "icmp",
            "proto": "icmp",
            **hosts,
            "icmp_type": 3,
            "icmp_code": 3,
            "message": "ICMP: (from 198.51.100.7) 203.0.113.5: port is unreachable to"
            " (udp: dest port 9999, source port 53)",
        }
    ]


REPEATED = re.compile(r"\w{3} [ \d]\d \d\d:\d\d:\d\d last message repeated (\d+) times$")


def captures(tmp_path) -> list[str]:
    return [
        every_event_capture(tmp_path / "all.pcap"),
        *sorted(str(p) for p in DATA.glob("*.pcap")),
    ]


def test_a_port_without_a_name_has_no_service(tmp_path):
    """The text says ``port N`` for a port the services database does not
    name; JSON gives no ``service`` for it (never the text's ``port N``)."""
    named = {port for (port, _), name in read_services().items() if name}
    port = next(p for p in range(40000, 50000) if p not in named)
    pcap = write_pcap(
        tmp_path / "unnamed.pcap",
        [(T0, ether(ip_tcp(dport=port))), (T0 + 1, ether(ip_udp(dport=port)))],
    )
    objs = iplog_json("-N", "--json", "-r", pcap)
    attempt, dgram = (o for o in objs if o["event"] in ("connection_attempt", "dgram"))
    assert "service" not in attempt and "service" not in dgram
    assert (attempt["dport"], dgram["dport"]) == (port, port)
    assert attempt["message"] == f"TCP: port {port} connection attempt from {ATTACKER}:40000"
    assert dgram["message"] == f"UDP: dgram to port {port} from {ATTACKER}:40000 (10 data bytes)"
    for obj in (attempt, dgram):
        VALIDATOR.validate(obj)


@pytest.mark.parametrize("options", [(), ("-D",), ("--classic-detection",), ("-D", "-m")])
def test_the_message_is_the_classic_line_and_every_line_fits_the_schema(tmp_path, options):
    stamp = re.compile(r"\w{3} [ \d]\d \d\d:\d\d:\d\d ")
    for capture in captures(tmp_path):  # in this process: 45 captures, 4 option sets
        args = ("-V", *options)
        lines = analysed(capture, *args)
        objs = [json.loads(x) for x in analysed(capture, *args, "--json")]
        # Both logs fold a line that comes again ("last message repeated N
        # times"); a JSON line names its destination, so where only the text
        # line is the same (-D off), only the text log folds.
        i = 0
        previous = None
        own = False  # the last object was one of JSON's own (and so are its repeats)
        for obj in objs:
            VALIDATOR.validate(obj)
            if obj["event"] == "probe_failed" or (own and obj["event"] == "repeat"):
                own = True  # a failed probe's line is JSON's only
                continue
            own = False
            line = lines[i]
            folded = REPEATED.match(line)
            if folded and obj["event"] != "repeat":
                assert obj["message"] == previous  # one of the N repeats
                left = int(folded.group(1)) - 1
                lines[i] = line.replace(f"repeated {left + 1} times", f"repeated {left} times")
                if not left:
                    i += 1
                continue
            when = datetime.fromisoformat(obj["time"])
            assert line == f"{when:%b} {when.day:2d} {when:%H:%M:%S} {obj['message']}"
            assert stamp.match(line)
            previous = obj["message"]
            i += 1
        assert i == len(lines), capture


def test_names_when_resolved(tmp_path, capsys):
    """Resolved hosts: ``src_name``/``dst_name``, also in the log_ip form."""
    names = {bytes([198, 51, 100, 7]): "scanner.example", bytes([192, 0, 2, 10]): "www.example"}
    capture = write_pcap(tmp_path / "c.pcap", [(T0, ether(ip_tcp(dport=22)))])
    for extra, shown in (((), "scanner.example"), (("-w",), "scanner.example (198.51.100.7)")):
        argv = ["-C", "/dev/null", "--json", "-D", *extra, "-r", capture]
        assert cli.main(argv, run=lambda o, c, _: runner.run_file(o, c, lookup=names.get)) == 0
        obj = json.loads(capsys.readouterr().out.splitlines()[1])
        assert (obj["src"], obj["src_name"], obj["dst"], obj["dst_name"]) == (
            ATTACKER,
            "scanner.example",
            TARGET,
            "www.example",
        )
        dst = "www.example (192.0.2.10)" if extra else "www.example"
        assert obj["message"] == f"TCP: ssh connection attempt to {dst} from {shown}:40000"


def test_readme_jq_example(tmp_path):
    """The jq line of the README, on a real JSON log."""
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^jq (.+) /var/log/iplog$", readme, re.M)
    assert command, "the README shows a jq filter"
    log = tmp_path / "iplog.json"
    p = subprocess.run(
        IPLOG
        + [
            "-C",
            "/dev/null",
            "-N",
            "--json",
            "-r",
            every_event_capture(tmp_path / "all.pcap"),
            "-l",
            str(log),
        ],
        capture_output=True,
        text=True,
        env={**ENV, "TZ": "UTC"},
    )
    assert p.returncode == 0, p.stderr
    out = subprocess.run(
        f"jq {command.group(1)} {log}", shell=True, capture_output=True, text=True, check=True
    ).stdout
    assert out == (
        "2023-11-14T22:13:26.999999+00:00 ping_flood 198.51.100.9\n"
        "2023-11-14T22:13:28.590000+00:00 syn_scan 203.0.113.5\n"
    )


def test_json_to_syslog(tmp_path):
    path = str(tmp_path / "log")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(5)
    try:
        out = JsonSyslog("daemon", "notice", path=path)
        out.started(T0)
        out.flush()
        got = listener.recv(4096).decode()
    finally:
        listener.close()
    head, _, body = got.partition(f"iplog[{os.getpid()}]: ")
    assert head.startswith("<29>")  # daemon.notice
    assert json.loads(body) == {
        "time": datetime.fromtimestamp(T0).astimezone().isoformat(timespec="microseconds"),
        "host": socket.gethostname(),
        "event": "daemon",
        "message": "iplog started.",
    }


def test_ipv6_lines(tmp_path):
    """IPv6 (docs/contract.md P5): family ipv6, RFC 5952 addresses, ICMPv6 as icmp6."""
    gw = "2001:db8:ffff::1"
    quoted = ip6_udp(src=TARGET6, dst="2001:db8:2::5", sport=5353, dport=53)
    packets = [
        ip6_tcp(dport=22),
        ip6_icmp(itype=128),
        ip6_icmp(src=gw, itype=2, rest=struct.pack("!I", 1400), data=quoted),
    ]
    path = write_pcap(tmp_path / "v6.pcap", [(T0, ether(p)) for p in packets])
    objs = iplog_json("-N", "-D", "--json", "-r", path)[1:]
    for obj in objs:
        VALIDATOR.validate(obj)
    assert [(o["event"], o["proto"], o["family"], o["src"], o["dst"]) for o in objs] == [
        ("connection_attempt", "tcp", "ipv6", ATTACKER6, TARGET6),
        ("icmp", "icmp6", "ipv6", ATTACKER6, TARGET6),
        ("icmp", "icmp6", "ipv6", gw, TARGET6),
        ("probe_failed", "tcp", "ipv6", ATTACKER6, TARGET6),  # the SYN unanswered
    ]
    assert objs[0]["dport"] == 22
    assert (objs[1]["icmp_type"], objs[1]["icmp_code"]) == (128, 0)
    assert objs[2]["mtu"] == 1400
    assert objs[2]["message"] == (
        f"ICMPv6: packet too big to {TARGET6} from {gw} (mtu 1400) (udp: dest port 53,"
        " source port 5353)"
    )
