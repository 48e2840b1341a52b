"""What a hostile peer can steer, offline and to the letter (docs/wire.md):
random-source UDP and ICMP floods fold into one alarm with summaries,
lookups stop while a flood is open, alarms carry the address beside a
name, PTR names are forward-confirmed, fool_nmap's answers are no probes
and are rate-limited, ident budgets count from the packet."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import jsonschema
import pytest

from pyiplog import cli, foolnmap
from pyiplog.decode import parse_ipv4
from pyiplog.foolnmap import DEST_BURST, REPLY_RATE, Limiter, is_answer, is_probe, junk_reply
from pyiplog.ident import TIMEOUT, IdentLookups
from pyiplog.resolve import CachedResolver, TokenBucket, confirmed_lookup, trusted_name

from live import wait_for
from packets import (
    SYN,
    T0,
    a,
    ether,
    ip6_icmp,
    ip_icmp,
    ip_tcp,
    ip_udp,
    write_pcap,
)

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "conf" / "iplog.schema.json").read_text()
)


def source(i: int) -> str:
    return f"198.18.{(i >> 8) & 255}.{i & 255}"


def flood(kind: str) -> list:
    """1,600 packets in 0.48 s from as many sources (a flood), then one
    every half second for 129.5 s (it lasts), each from a new source."""
    times = [T0 + i * 0.0003 for i in range(1600)] + [T0 + 0.48 + j * 0.5 for j in range(1, 260)]
    frames = []
    for i, ts in enumerate(times):
        if kind == "udp":
            frames.append((ts, ether(ip_udp(src=source(i), sport=1024 + i, dport=53))))
        else:
            frames.append((ts, ether(ip_icmp(src=source(i)))))
    return frames


UDP_ALARMS = [
    "Nov 14 22:13:20 UDP: distributed flood detected to 192.0.2.10 [port 53]"
    " from 1500 sources (3336 packets/s)",
    "Nov 14 22:14:20 UDP: distributed flood to 192.0.2.10 [port 53] going on"
    " - received 1719 packets (30942 bytes) from 1719 sources so far.",
    "Nov 14 22:15:20 UDP: distributed flood to 192.0.2.10 [port 53] going on"
    " - received 1839 packets (33102 bytes) from 1839 sources so far.",
    "Nov 14 22:15:30 UDP: distributed flood to 192.0.2.10 [port 53] expired"
    " - received a total of 1859 packets (33462 bytes) from 1859 sources.",
]
ICMP_ALARMS = [
    "Nov 14 22:13:20 ICMP: distributed flood detected to 192.0.2.10 from 1500 sources"
    " (3336 packets/s)",
    "Nov 14 22:14:20 ICMP: distributed flood to 192.0.2.10 going on"
    " - received 1719 packets (13752 bytes) from 1719 sources so far.",
    "Nov 14 22:15:20 ICMP: distributed flood to 192.0.2.10 going on"
    " - received 1839 packets (14712 bytes) from 1839 sources so far.",
    "Nov 14 22:15:30 ICMP: distributed flood to 192.0.2.10 expired"
    " - received a total of 1859 packets (14872 bytes) from 1859 sources.",
]
PER_PACKET = {"udp": "UDP: dgram to domain from 198.18.", "icmp": "ICMP: echo from 198.18."}
PER_PACKET_START = {"udp": "UDP: dgram to ", "icmp": "ICMP: echo from 198.18."}


@pytest.mark.parametrize("kind,expected", [("udp", UDP_ALARMS), ("icmp", ICMP_ALARMS)])
@pytest.mark.parametrize("dest", [False, True])
def test_a_random_source_flood_folds_into_one_alarm_with_summaries(iplog_r, kind, expected, dest):
    lines = iplog_r(flood(kind), *(["-D"] if dest else []), classic=False)
    per_packet = [x for x in lines if "198.18." in x]
    assert len(per_packet) == 1499  # until detected; the other 360 are in the totals
    assert all(x[16:].startswith(PER_PACKET_START[kind]) for x in per_packet)
    assert [x for x in lines if "198.18." not in x] == expected


@pytest.mark.parametrize("kind", ["udp", "icmp"])
def test_the_classic_counting_still_writes_a_line_a_packet(iplog_r, kind):
    lines = iplog_r(flood(kind))
    assert len([x for x in lines if PER_PACKET[kind] in x]) == 1859
    assert not [x for x in lines if "distributed" in x]


def test_an_icmpv6_flood_folds_too(iplog_r):
    frames = [(T0 + i * 0.0003, ether(ip6_icmp(src=f"2001:db8:9::{i:x}"))) for i in range(1, 1601)]
    lines = iplog_r(frames, classic=False)
    assert [x for x in lines if "ICMPv6: echo" not in x] == [
        "Nov 14 22:13:20 ICMP: distributed flood detected to 2001:db8:1::10 from 1500 sources"
        " (3336 packets/s)",
        "Nov 14 22:13:21 ICMP: distributed flood to 2001:db8:1::10 expired"
        " - received a total of 1600 packets (12800 bytes) from 1600 sources.",
    ]


@pytest.mark.parametrize("kind", ["udp", "icmp"])
def test_json_flood_events_follow_the_schema(tmp_path, capsys, kind):
    validator = jsonschema.Draft202012Validator(SCHEMA)
    events = []
    capture = write_pcap(tmp_path / "flood.pcap", flood(kind))
    assert cli.main(["-C", "/dev/null", "-N", "--json", "-r", str(capture)]) == 0
    for line in capsys.readouterr().out.splitlines():
        obj = json.loads(line)
        validator.validate(obj)
        if obj.get("scan", "").startswith("distributed"):
            events.append((obj["event"], obj["scan"], obj.get("dport"), obj.get("packets")))
    scan = f"distributed_{kind}"
    port = 53 if kind == "udp" else None
    assert events == [
        ("flood_start", scan, port, None),
        ("flood_update", scan, port, 1719),
        ("flood_update", scan, port, 1839),
        ("flood_end", scan, port, 1859),
    ]


# --- names ---------------------------------------------------------------------------------

SCANNER = a("198.51.100.7")
NAMES = {SCANNER: "scanner.example", a("203.0.113.5"): "ntp.example"}
SCAN = [(T0 + i * 0.01, ether(ip_tcp(dport=1000 + i, flags=SYN))) for i in range(12)]


def test_an_alarm_carries_the_address_beside_a_name(iplog_r):
    lines = iplog_r(SCAN, lookup=NAMES.get, classic=False)
    assert lines[-2:] == [
        "Nov 14 22:13:23 TCP: SYN scan detected [ports 1000,1001,1002,1003,1004,1005,1006,1007,"
        "1008,1009,...] from scanner.example (198.51.100.7) [port 40000]",
        "Nov 14 22:18:20 TCP: SYN scan mode expired for scanner.example"
        " - received a total of 12 packets (240 bytes).",
    ]
    assert (
        lines[0] == "Nov 14 22:13:20 TCP: port 1000 connection attempt from scanner.example:40000"
    )
    # 2.2.3's lines in the classic counting: the name alone (fail2ban needs -w there)
    classic = iplog_r(SCAN, lookup=NAMES.get)
    assert classic[-2] == (
        "Nov 14 22:13:20 TCP: SYN scan detected [ports 1000,1001,1002,1003,1004,1005,1006,1007,"
        "1008,1009,...] from scanner.example [port 40000]"
    )


def test_no_lookup_starts_while_a_flood_is_open(iplog_r):
    asked = []

    def lookup(addr):
        asked.append(addr)
        return NAMES.get(addr)

    ntp = a("203.0.113.5")
    frames = flood("udp")
    during = (T0 + 30, ether(ip_udp(src="203.0.113.5", sport=123, dport=123)))
    after = (T0 + 200, ether(ip_udp(src="203.0.113.5", sport=123, dport=123)))
    lines = iplog_r(sorted([*frames, during, after]), lookup=lookup, classic=False)
    assert "Nov 14 22:13:50 UDP: dgram to ntp from 203.0.113.5:123 (10 data bytes)" in lines
    assert "Nov 14 22:16:40 UDP: dgram to ntp from ntp.example:123 (10 data bytes)" in lines
    assert asked.count(ntp) == 1  # after the flood only
    # The datagrams' sources before the flood was detected; then only our
    # host, named in the flood's end line.
    assert len([x for x in asked if x[:2] == bytes([198, 18])]) == 1499
    assert set(asked) - {x for x in asked if x[:2] == bytes([198, 18])} == {ntp, a("192.0.2.10")}


@pytest.mark.parametrize(
    "ptr,forward,name",
    [
        ("scanner.example", {"198.51.100.7"}, "scanner.example"),
        ("scanner.example.", {"198.51.100.7", "192.0.2.99"}, "scanner.example"),
        ("trusted.example", {"192.0.2.99"}, None),  # names another host
        ("trusted.example", set(), None),  # resolves to nothing
        ("192.0.2.1", {"198.51.100.7"}, None),  # an address, however it resolves
        ("192.0.2.1.", {"198.51.100.7"}, None),
        ("127.1", {"198.51.100.7"}, None),
        ("0x7f.1", {"198.51.100.7"}, None),
        ("10", {"198.51.100.7"}, None),
        ("2001:db8::1", {"198.51.100.7"}, None),
        ("bad name.example", {"198.51.100.7"}, None),
        ("evil.example\x1b[2J", {"198.51.100.7"}, None),
        ("a.-b.example", {"198.51.100.7"}, None),
        (".".join(["x" * 49] * 5), {"198.51.100.7"}, ".".join(["x" * 49] * 5)),  # 249
        (".".join(["x" * 50] * 5) + "x" * 4, {"198.51.100.7"}, None),  # 258: too long
        ("x" * 64 + ".example", {"198.51.100.7"}, None),  # a label over 63
    ],
)
def test_a_name_is_printed_only_when_forward_confirmed(ptr, forward, name):
    asked = []

    def reverse(text):
        asked.append(text)
        return ptr

    def resolve(host, family):
        assert family == socket.AF_INET
        return {a(x) for x in forward}

    assert confirmed_lookup(SCANNER, reverse, resolve) == name
    assert asked == ["198.51.100.7"]


def test_an_ipv6_source_is_confirmed_by_its_aaaa_record():
    addr = socket.inet_pton(socket.AF_INET6, "2001:db8::7")
    families = []

    def resolve(host, family):
        families.append(family)
        return {addr}

    assert confirmed_lookup(addr, lambda text: "six.example", resolve) == "six.example"
    assert families == [socket.AF_INET6]
    assert confirmed_lookup(addr, lambda text: "2001:db8::7", resolve) is None


def test_a_name_that_fails_the_checks_is_never_cached_as_a_name():
    assert trusted_name("ok.example") == "ok.example"
    resolver = CachedResolver(wait=2.0, lookup=lambda addr: "192.0.2.1")
    assert resolver(SCANNER) is None
    assert resolver.cached(SCANNER) is None
    resolver.close()


def test_the_token_bucket():
    bucket = TokenBucket(2, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.take(0.4) is False  # 0.8 of a token
    assert bucket.take(0.5) is True
    assert [bucket.take(100.0) for _ in range(3)] == [True, True, False]  # burst: 2


def test_lookups_start_at_most_at_the_rate():
    now = [0.0]
    asked = []
    resolver = CachedResolver(
        lookup=lambda addr: asked.append(addr) or "x.example", clock=lambda: now[0], rate=5
    )
    for i in range(50):
        resolver(bytes([192, 0, 2, i]))
    now[0] = 1.0
    for i in range(50, 100):
        resolver(bytes([192, 0, 2, i]))
    assert wait_for(lambda: len(asked) == 10)
    assert (resolver.started, resolver.refused) == (10, 90)
    assert resolver.cached(bytes([192, 0, 2, 0])) == "x.example"
    resolver.close()


# --- fool_nmap -------------------------------------------------------------------------------


def test_an_answer_is_never_a_probe_and_is_known_as_an_answer():
    probe = parse_ipv4(0.0, ip_tcp(sport=40000, dport=22, flags=0x03))  # SYN+FIN
    for now in range(1_700_000_000, 1_700_000_000 + 600):
        reply = junk_reply(probe, probe.payload, now)
        assert not is_probe(reply[33])
        assert is_answer(parse_ipv4(0.0, reply), reply[20:])
    assert not is_answer(probe, probe.payload)


def test_answers_are_rate_limited_per_address_and_in_all():
    limiter = Limiter(0.0)
    one = a("198.51.100.7")
    assert [limiter.allow(0.0, one) for _ in range(DEST_BURST + 2)] == [True] * DEST_BURST + [
        False
    ] * 2
    assert limiter.allow(0.5, one) is False and limiter.allow(1.0, one) is True
    # Spoofed sources, a new one each probe: the global rate holds.
    limiter = Limiter(0.0)
    sent = sum(limiter.allow(i / 300, bytes([203, 0, 113, i % 256])) for i in range(600))
    assert sent <= REPLY_RATE + REPLY_RATE * 2 + 1
    assert len(limiter.destinations) <= foolnmap.MAX_DESTINATIONS


# --- ident -----------------------------------------------------------------------------------


def test_an_ident_budget_counts_from_the_packet():
    asked = []
    lookups = IdentLookups(
        asker=lambda *args, timeout: asked.append(round(timeout, 1)) or "alice",
        ports=lambda: frozenset({22}),
    )
    now = time.time()
    finish = lambda user: (now, user)  # noqa: E731
    assert lookups.start(now - 1.0, b"1234", 1, b"5678", 22, finish)  # a second old
    assert lookups.start(now - TIMEOUT - 1, b"1234", 2, b"5678", 22, finish)  # spent
    assert wait_for(lambda: len(lookups._done) == 2)
    assert sorted(user or "" for _, user in lookups.done()) == ["", "alice"]
    assert asked == [round(TIMEOUT - 1.0, 1)]
    assert (lookups.asked, lookups.abandoned) == (1, 1)
    lookups.close()


# --- small ---------------------------------------------------------------------------------


def test_a_directory_given_to_r_says_so(tmp_path, capsys):
    assert cli.main(["-C", "/dev/null", "-N", "-r", str(tmp_path)]) == 255
    assert capsys.readouterr().err == f'Fatal: Unable to read "{tmp_path}": it is a directory\n'


def test_an_unsupported_link_type_is_one_short_line(tmp_path, capsys):
    capture = write_pcap(tmp_path / "ieee.pcap", [(T0, b"\0" * 40)], linktype=147)
    assert cli.main(["-C", "/dev/null", "-N", "-r", str(capture)]) == 0
    assert capsys.readouterr().err == (
        f"iplog: {capture}: link type 147 is not supported: no packet in it can be analysed\n"
    )
