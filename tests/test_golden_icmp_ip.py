"""Golden tests, ICMP and the IP layer (docs/contract.md P1, P4, F4-F6, F9, F10, F16)."""

from __future__ import annotations

import itertools
import struct

import pytest

from pyiplog.messages import UNREACH_TEXTS

from packets import (
    ATTACKER,
    OTHER,
    SYN,
    T0,
    TARGET,
    a,
    ip,
    ip_icmp,
    ip_tcp,
    ip_udp,
    tcp_seg,
    timed,
)

S = "Nov 14 22:13:20 "
A, D = ATTACKER, TARGET
GW = "192.0.2.1"


def quoted_udp(dst=OTHER, sport=5353, dport=53) -> bytes:
    return ip(TARGET, dst, 17, struct.pack("!HHHH", sport, dport, 18, 0) + b"x" * 10)


def quoted_tcp(dst=OTHER) -> bytes:
    return ip(TARGET, dst, 6, tcp_seg(1059, 25, SYN))


def one(iplog_r, datagram, *args):
    return iplog_r(timed([datagram]), *args)


# --- echo, ping flood, smurf ---------------------------------------------------------------


def test_echo_and_echo_reply(iplog_r):
    frames = timed([ip_icmp(itype=8, data=b"p" * 56), ip_icmp(itype=0, data=b"p" * 20)])
    assert iplog_r(frames) == [
        f"{S}ICMP: echo from {A} (64 bytes)",
        f"{S}ICMP: echo reply from {A} (28 bytes)",
    ]
    assert iplog_r(frames, "-D") == [
        f"{S}ICMP: echo from {A} to {D} (64 bytes)",
        f"{S}ICMP: echo reply from {A} to {D} (28 bytes)",
    ]


def test_ping_flood(iplog_r):
    below = iplog_r(timed([ip_icmp(itype=8, rest=struct.pack("!HH", 1, i)) for i in range(69)]))
    assert below[0] == f"{S}ICMP: echo from {A} (8 bytes)"
    assert below[1] == f"{S}last message repeated 68 times"
    lines = iplog_r(timed([ip_icmp(itype=8) for _ in range(80)], step=0.001), "-m")
    assert lines == [
        f"{S}ICMP: ping flood detected from {A}",
        f"Nov 14 22:14:20 ICMP: ping flood mode expired for {A} - received a total of 80"
        " packets (640 bytes).",
    ]
    assert iplog_r(timed([ip_icmp(itype=8) for _ in range(70)], step=0.001), "-m", "-D") == [
        f"{S}ICMP: ping flood detected to {D} from {A}",
        f"Nov 14 22:14:20 ICMP: ping flood mode to {D} expired for {A} - received a total of"
        " 70 packets (560 bytes).",
    ]


def test_icmp_smurf(iplog_r):
    below = [ip_icmp(src=f"203.0.113.{1 + i % 250}", itype=0) for i in range(89)]
    assert iplog_r(timed(below, step=0.001), "-m") == []
    frames = [ip_icmp(src=f"203.0.113.{1 + i % 250}", itype=0) for i in range(90)]
    lines = iplog_r(timed(frames, step=0.001), "-m")
    assert lines == [
        f"{S}ICMP/UDP: smurf attack detected from 203.0.113.0",
        "Nov 14 22:13:50 ICMP/UDP: smurf attack mode expired for 203.0.113.0 - received a"
        " total of 90 packets (720 bytes).",
    ]


# --- destination unreachable (F4: the text of the real code) ---------------------------------


@pytest.mark.parametrize("code", range(16))
def test_unreachable_codes(iplog_r, code):
    datagram = ip_icmp(src=A, itype=3, code=code, data=quoted_udp(dst=A))
    assert one(iplog_r, datagram) == [
        f"{S}ICMP: {A}: {UNREACH_TEXTS[code]} to (udp: dest port 53, source port 5353)"
    ]


def test_unreachable_forms(iplog_r):
    assert one(iplog_r, ip_icmp(src=GW, itype=3, code=1, data=quoted_tcp())) == [
        f"{S}ICMP: (from {GW}) {OTHER}: host is unreachable to (tcp: dest port 25,"
        " source port 1059)"
    ]
    assert one(iplog_r, ip_icmp(src=GW, itype=3, code=3, data=quoted_tcp()), "-D") == [
        f"{S}ICMP: (from {GW}) {OTHER}: port is unreachable to {D} (tcp: dest port 25,"
        " source port 1059)"
    ]
    assert one(iplog_r, ip_icmp(src=A, itype=3, code=4, data=quoted_udp(dst=A))) == [
        f"{S}ICMP: {A}: fragmentation needed, IP_DF set to (udp: dest port 53, source port 5353)"
    ]
    assert one(iplog_r, ip_icmp(itype=3, code=16, data=quoted_udp())) == [
        f"{S}ICMP: undefined destination unreachable code (16) from {A}"
    ]
    assert one(iplog_r, ip_icmp(itype=3, code=200, data=quoted_udp()), "-D") == [
        f"{S}ICMP: undefined destination unreachable code (200) from {A} to {D}"
    ]


@pytest.mark.parametrize(
    "qtype,qcode,inner",
    [
        (8, 0, "ICMP: ICMP_ECHO"),
        (0, 0, "ICMP: ICMP_ECHO_REPLY"),
        (1, 0, "ICMP: 1"),
        (3, 3, "ICMP: ICMP_DEST_UNREACHABLE code 3"),
        (5, 1, "ICMP: ICMP_REDIRECT code 1"),
        (13, 0, "ICMP: ICMP_TIMESTAMP"),
        (18, 0, "ICMP: ICMP_ADDRESS_REPLY"),
        (19, 0, "ICMP: ICMP_UNDEFINED"),
        (255, 0, "ICMP: ICMP_UNDEFINED"),  # F10
    ],
)
def test_quoted_icmp(iplog_r, qtype, qcode, inner):
    quoted = ip(A, A, 1, struct.pack("!BBHI", qtype, qcode, 0, 0))
    assert one(iplog_r, ip_icmp(itype=11, data=quoted)) == [f"{S}ICMP: {A} time exceeded ({inner})"]


def test_quoted_other_protocol(iplog_r):
    quoted = ip(A, A, 47, b"\0\x01\0\x02")  # GRE: named from /etc/protocols
    assert one(iplog_r, ip_icmp(itype=11, data=quoted)) == [
        f"{S}ICMP: {A} time exceeded (gre: dest port 2, source port 1)"
    ]
    quoted = ip(A, A, 253, b"\0\x01\0\x02")
    assert one(iplog_r, ip_icmp(itype=11, data=quoted), "-D") == [
        f"{S}ICMP: {A} time exceeded to {D} (proto 253: dest port 2, source port 1)"
    ]


# --- the other types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "itype,name",
    [
        (4, "source quench"),
        (10, "router solicitation"),
        (13, "timestamp request"),
        (15, "info request"),
        (16, "info reply"),
        (17, "address mask request"),
    ],
)
def test_named_types(iplog_r, itype, name):
    datagram = ip_icmp(itype=itype, data=b"\0" * 12)
    assert one(iplog_r, datagram) == [f"{S}ICMP: {name} from {A}"]
    assert one(iplog_r, datagram, "-D") == [f"{S}ICMP: {name} to {D} from {A}"]


@pytest.mark.parametrize(
    "code,words",
    [
        (0, "redirect {S} to network"),
        (1, "redirect {S} to host"),
        (2, "redirect-tos {S} to network"),
        (3, "redirect-tos {S} to host"),
    ],
)
def test_redirects(iplog_r, code, words):
    datagram = ip_icmp(itype=5, code=code, rest=a(GW), data=quoted_udp())
    expected = [f"{S}ICMP: ({GW}) {words.format(S=A)} {OTHER}"]
    assert one(iplog_r, datagram) == expected
    assert one(iplog_r, datagram, "-D") == expected  # log_dest does not change these


def test_undefined_redirect(iplog_r):
    datagram = ip_icmp(itype=5, code=4, rest=a(GW), data=quoted_udp())
    assert one(iplog_r, datagram) == [f"{S}ICMP: undefined redirect code 4 from {A}"]
    assert one(iplog_r, datagram, "-D") == [f"{S}ICMP: undefined redirect code 4 to {D} from {A}"]


def router_advert(routers, life):
    rest = struct.pack("!BBH", len(routers), 2, life)
    return ip_icmp(itype=9, rest=rest, data=b"".join(a(r) + b"\0\0\0\0" for r in routers))


def test_router_advertisement(iplog_r):
    assert one(iplog_r, router_advert(["192.0.2.1", "192.0.2.2"], 1800)) == [
        f"{S}ICMP: path of router advertisement from {A}: 192.0.2.1 -> 192.0.2.2"
        " (lifetime 30 min, 0 sec)"
    ]
    assert one(iplog_r, router_advert(["192.0.2.1"], 45), "-D") == [
        f"{S}ICMP: path of router advertisement to {D} from {A}: 192.0.2.1 (lifetime 45 sec)"
    ]
    many = [f"192.0.2.{i}" for i in range(1, 16)]
    assert one(iplog_r, router_advert(many, 90)) == [
        f"{S}ICMP: path of router advertisement from {A}: "
        + " -> ".join(many[:12])
        + " (lifetime 1 min, 30 sec)"
    ]


def test_time_exceeded(iplog_r):
    datagram = ip_icmp(src=GW, itype=11, data=quoted_udp(sport=33434, dport=33435))
    assert one(iplog_r, datagram) == [
        f"{S}ICMP: {GW} time exceeded (udp: dest port 33435, source port 33434)"
    ]
    assert one(iplog_r, datagram, "-D") == [
        f"{S}ICMP: {GW} time exceeded to {D} (udp: dest port 33435, source port 33434)"
    ]


def test_parameter_problem(iplog_r):
    datagram = ip_icmp(itype=12, rest=b"\x14\0\0\0", data=quoted_udp())
    assert one(iplog_r, datagram) == [f"{S}ICMP: parameter problem from {A} (ptr 20)"]
    assert one(iplog_r, datagram, "-D") == [f"{S}ICMP: parameter problem to {D} from {A} (ptr 20)"]


def test_timestamp_reply_is_a_reply_in_utc(iplog_r):  # F5
    millis = ((13 * 60 + 5) * 60 + 9) * 1000 + 250
    datagram = ip_icmp(itype=14, data=struct.pack("!III", 1, 2, millis))
    assert one(iplog_r, datagram) == [f"{S}ICMP: timestamp reply from {A} (13:05:09)"]
    assert one(iplog_r, datagram, "-D") == [f"{S}ICMP: timestamp reply to {D} from {A} (13:05:09)"]


def test_address_mask_reply_in_network_order(iplog_r):  # F6, F16
    datagram = ip_icmp(itype=18, data=a("255.255.255.0"))
    assert one(iplog_r, datagram) == [f"{S}ICMP: address mask reply from {A} (255.255.255.0)"]
    assert one(iplog_r, datagram, "-D") == [
        f"{S}ICMP: address mask reply to {D} from {A} (255.255.255.0)"
    ]


@pytest.mark.parametrize("itype", [1, 2, 6, 7, 19, 40, 255])
def test_undefined_types(iplog_r, itype):
    datagram = ip_icmp(itype=itype)
    assert one(iplog_r, datagram) == [f"{S}ICMP: undefined ICMP type {itype} from {A}"]
    assert one(iplog_r, datagram, "-D") == [f"{S}ICMP: undefined ICMP type {itype} to {D} from {A}"]


def test_icmp_type_filters(iplog_r, tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text("ignore icmp type !echo\n")
    frames = timed([ip_icmp(itype=8), ip_icmp(itype=0), ip_icmp(itype=13)])
    assert iplog_r(frames, "-C", str(conf)) == [f"{S}ICMP: echo from {A} (8 bytes)"]


# --- IP header checks (verbose) -------------------------------------------------------------------


def test_header_checks_only_with_verbose(iplog_r):
    frames = timed(
        [
            ip(p=6, data=tcp_seg(), bad_sum=True),
            ip(p=6, data=tcp_seg(), total=12),
            ip(p=6, data=tcp_seg(), src=OTHER)[:16],
        ]
    )  # cut inside the header
    assert iplog_r(frames) == []
    assert iplog_r(frames, "-V") == [
        f"{S}IP packet with invalid checksum from {A}",
        f"{S}Short IP packet from {A}",
        f"{S}Short IP packet from {OTHER}",
    ]
    assert iplog_r(frames[:2], "-V", "-D") == [
        f"{S}IP packet with invalid checksum to {D} from {A}",
        f"{S}Short IP packet to {D} from {A}",
    ]


def test_short_header_length(iplog_r):
    datagram = bytearray(ip_tcp())
    datagram[0] = 0x44  # header length 16
    assert iplog_r(timed([bytes(datagram)]), "-V") == [f"{S}Short IP packet from {A}"]


# --- fragments (P1, F9) ------------------------------------------------------------------------


def fragments(payload: bytes, cuts, proto=6, ident=77, src=ATTACKER):
    """Split ``payload`` at the byte offsets ``cuts`` (multiples of 8)."""
    bounds = [0, *cuts, len(payload)]
    return [
        ip(src, TARGET, proto, payload[s:e], off=s, mf=e < len(payload), ident=ident)
        for s, e in itertools.pairwise(bounds)
    ]


SYN_SEG = tcp_seg(40000, 80, SYN, payload=b"d" * 20)
ATTEMPT = f"{S}TCP: http connection attempt from {A}:40000"


def test_fragments_in_order_and_reversed(iplog_r):
    parts = fragments(SYN_SEG, [8, 16, 32])
    assert iplog_r(timed(parts)) == [ATTEMPT]
    assert iplog_r(timed(parts[::-1])) == [ATTEMPT]


def test_tiny_tcp_fragment_is_reassembled_before_filters(iplog_r, tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text("ignore tcp dport 80\n")
    parts = fragments(SYN_SEG, [8])  # the flags are in the second fragment
    assert iplog_r(timed(parts)) == [ATTEMPT]
    assert iplog_r(timed(parts), "-C", str(conf)) == []


def test_reserved_bit_makes_a_fragment(iplog_r):
    assert iplog_r(timed([ip(p=6, data=SYN_SEG, rf=True)])) == [ATTEMPT]


def test_duplicate_fragment(iplog_r):
    parts = fragments(SYN_SEG, [16])
    frames = timed([parts[0], parts[0], parts[1]])
    assert iplog_r(frames) == [f"{S}Duplicate IP fragments from {A}"]
    assert iplog_r(frames, "-D") == [f"{S}Duplicate IP fragments to {D} from {A}"]
    assert iplog_r(frames, "--detect-frag=false") == []


def test_overlapping_fragments(iplog_r):
    first = ip(A, D, 6, SYN_SEG[:24], off=0, mf=True, ident=9)
    second = ip(A, D, 6, SYN_SEG[16:], off=16, mf=False, ident=9)
    assert iplog_r(timed([first, second])) == [f"{S}Overlapping IP fragments from {A}"]
    assert iplog_r(timed([second, first]), "-D") == [f"{S}Overlapping IP fragments to {D} from {A}"]
    # A second "last" fragment that ends inside the data is an overlap too.
    last = ip(A, D, 6, SYN_SEG[8:16], off=8, mf=False, ident=9)
    assert iplog_r(timed([first, last])) == [f"{S}Overlapping IP fragments from {A}"]


def test_oversized_fragment(iplog_r):
    frag = ip(A, D, 17, b"o" * 120, off=65480, mf=False, ident=3)
    assert iplog_r(timed([frag])) == [f"{S}Oversized IP fragment from {A}"]
    assert iplog_r(timed([frag]), "-D") == [f"{S}Oversized IP fragment to {D} from {A}"]


def test_too_many_fragments_drop_the_datagram(iplog_r):
    """An 8,000-piece datagram (8 bytes each): the first 2,048
    pieces are kept, the next one drops them all and is reported; what
    follows starts again (and is dropped again at 2,048)."""
    pieces = [ip(A, D, 17, b"f" * 8, off=8 * i, mf=True, ident=5) for i in range(8000)]
    frames = [(T0 + i * 1e-4, _eth(p)) for i, p in enumerate(pieces)]
    assert iplog_r(frames) == [  # every line within the first second
        f"{S}Too many IP fragments from {A}",
        f"{S}last message repeated 2 times",
    ]
    assert iplog_r(frames[:2049], "-D") == [f"{S}Too many IP fragments to {D} from {A}"]
    # 2,048 pieces that make a whole datagram are reassembled.
    payload = struct.pack("!HHHH", 4000, 53, 8 + 2048 * 8 - 8, 0) + b"w" * (2048 * 8 - 8)
    parts = fragments(payload, list(range(8, 2048 * 8, 8)), proto=17)
    assert len(parts) == 2048
    assert iplog_r(timed(parts, step=1e-4)) == [
        f"{S}UDP: dgram to domain from {A}:4000 ({2048 * 8 - 8} data bytes)"
    ]


def test_fragments_live_sixty_seconds(iplog_r):  # F9: 2.2.3 lost them after ~1 s
    parts = fragments(SYN_SEG, [16])
    assert iplog_r([(T0, _eth(parts[0])), (T0 + 30, _eth(parts[1]))]) == [
        "Nov 14 22:13:50 TCP: http connection attempt from 198.51.100.7:40000"
    ]
    assert iplog_r([(T0, _eth(parts[0])), (T0 + 61, _eth(parts[1]))]) == []


def test_fragment_storm_is_bounded():
    from pyiplog.decode import parse_ipv4
    from pyiplog.fragments import Reassembler

    r = Reassembler(max_datagrams=1000)
    for i in range(20000):
        src = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        frag = parse_ipv4(
            T0 + i * 0.001, ip(src, D, 17, b"s" * 16, off=0, mf=True, ident=i % 65536)
        )
        assert r.feed(T0 + i * 0.001, frag) == (None, None)
    assert len(r) == 1000 and r.size == 16000


def _eth(datagram):
    from packets import ether

    return ether(datagram)


def test_other_protocols_ignored(iplog_r):
    assert iplog_r(timed([ip(p=47, data=b"gre!" * 4), ip(p=50, data=b"esp" * 8)])) == []


def test_udp_through_fragments(iplog_r):
    dgram = struct.pack("!HHHH", 4000, 53, 8 + 40, 0) + b"u" * 40
    parts = fragments(dgram, [24], proto=17)
    assert iplog_r(timed(parts)) == [f"{S}UDP: dgram to domain from {A}:4000 (40 data bytes)"]


def test_tcp_udp_icmp_switched_off(iplog_r):
    frames = timed([ip_tcp(), ip_udp(), ip_icmp()])
    assert iplog_r(frames, "--tcp=false", "--icmp=false") == [
        f"{S}UDP: dgram to domain from {A}:40000 (10 data bytes)"
    ]
