"""Building real frames and capture files with dpkt, for the tests.

Addresses default to the documentation ranges.  Every helper returns the
bytes of an IPv4 datagram (``ip_*``) or a link-layer frame (``ether``,
``sll`` ...); ``write_pcap`` / ``write_pcapng`` put ``(ts, frame)`` lists
into files that the real ``iplog -r`` then reads through libpcap.
"""

from __future__ import annotations

import socket
import struct

import dpkt

ATTACKER = "198.51.100.7"
TARGET = "192.0.2.10"
OTHER = "203.0.113.5"
T0 = 1_700_000_000.0  # Nov 14 22:13:20 2023 UTC
# IPv6 (RFC 3849's documentation prefix), as the lines print them.
ATTACKER6 = "2001:db8::7"
TARGET6 = "2001:db8:1::10"
OTHER6 = "2001:db8:2::5"

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def a(addr: str) -> bytes:
    return socket.inet_aton(addr)


def ip(
    src=ATTACKER,
    dst=TARGET,
    p=6,
    data=b"",
    ttl=64,
    df=False,
    ident=1,
    off=0,
    mf=False,
    rf=False,
    opts=b"",
    total=None,
    bad_sum=False,
) -> bytes:
    """An IPv4 datagram with a correct header checksum (unless ``bad_sum``)."""
    flags = (0x8000 if rf else 0) | (0x4000 if df else 0) | (0x2000 if mf else 0)
    hlen = 20 + len(opts)
    total = hlen + len(data) if total is None else total
    head = (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x40 | hlen // 4,
            0,
            total,
            ident,
            flags | (off // 8),
            ttl,
            p,
            0,
            a(src),
            a(dst),
        )
        + opts
    )
    csum = dpkt.in_cksum(head) ^ (0x5555 if bad_sum else 0)
    return head[:10] + struct.pack("!H", csum) + head[12:] + data


def with_source(datagram: bytes, src: bytes) -> bytes:
    """``datagram`` from ``src``, its header checksum made right again."""
    head = bytearray(datagram[:20])
    head[12:16] = src
    head[10:12] = b"\0\0"
    total = sum(struct.unpack("!10H", head))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    head[10:12] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(head) + datagram[20:]


def tcp_seg(
    sport=40000, dport=80, flags=SYN, payload=b"", urp=0, src=ATTACKER, dst=TARGET
) -> bytes:
    seg = dpkt.tcp.TCP(
        sport=sport, dport=dport, flags=flags, seq=1000, win=1024, urp=urp, data=payload
    )
    return bytes(seg)


def ip_tcp(
    src=ATTACKER,
    dst=TARGET,
    sport=40000,
    dport=80,
    flags=SYN,
    df=False,
    payload=b"",
    ttl=64,
    ident=1,
) -> bytes:
    return ip(src, dst, 6, tcp_seg(sport, dport, flags, payload), ttl=ttl, df=df, ident=ident)


def ip_udp(
    src=ATTACKER, dst=TARGET, sport=40000, dport=53, payload=b"x" * 10, ttl=64, ulen=None
) -> bytes:
    seg = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    seg.ulen = 8 + len(payload) if ulen is None else ulen
    return ip(src, dst, 17, bytes(seg), ttl=ttl)


def icmp_msg(itype, code=0, rest=b"\0\0\0\0", data=b"") -> bytes:
    body = struct.pack("!BBH", itype, code, 0) + rest + data
    csum = dpkt.in_cksum(body)
    return body[:2] + struct.pack("!H", csum) + body[4:]


def ip_icmp(src=ATTACKER, dst=TARGET, itype=8, code=0, rest=b"\0\0\0\0", data=b"", ttl=64) -> bytes:
    return ip(src, dst, 1, icmp_msg(itype, code, rest, data), ttl=ttl)


# --- IPv6 -------------------------------------------------------------------------------

HOP_BY_HOP, ROUTING, FRAGMENT, DEST_OPTS = 0, 43, 44, 60


def a6(addr: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, addr)


def ip6(src=ATTACKER6, dst=TARGET6, nh=6, data=b"", hlim=64, flow=0, ext=(), plen=None) -> bytes:
    """An IPv6 packet; ``ext``: extension headers ``(type, bytes)`` before
    ``data`` (``ext6`` makes them), ``nh`` the upper layer's protocol."""
    chain = b""
    first = nh
    for kind, body in reversed(ext):
        chain = bytes([first]) + body[1:] + chain
        first = kind
    payload = chain + data
    plen = len(payload) if plen is None else plen
    head = struct.pack("!IHBB16s16s", 0x60000000 | flow, plen, first, hlim, a6(src), a6(dst))
    return head + payload


def ext6(kind: int, size: int = 8) -> tuple[int, bytes]:
    """A hop-by-hop, routing or destination options header of ``size``
    bytes (a multiple of 8), padded with PadN; its next header is set by
    ``ip6``."""
    units = size // 8 - 1
    if kind == ROUTING:  # type 0 routing header, segments left 0, no addresses
        return kind, bytes([0, units, 0, 0]) + bytes(size - 4)
    return kind, bytes([0, units, 1, size - 4]) + bytes(size - 4)


def frag6(offset: int, more: bool, ident: int = 0x1234) -> tuple[int, bytes]:
    """A fragment header (offset in bytes, a multiple of 8)."""
    return FRAGMENT, struct.pack("!BBHI", 0, 0, offset | (1 if more else 0), ident)


def _sum6(src: str, dst: str, nh: int, body: bytes) -> int:
    pseudo = a6(src) + a6(dst) + struct.pack("!IxxxB", len(body), nh)
    return dpkt.in_cksum(pseudo + body)


def ip6_tcp(
    src=ATTACKER6, dst=TARGET6, sport=40000, dport=80, flags=SYN, flow=0, hlim=64, ext=()
) -> bytes:
    seg = bytearray(tcp_seg(sport, dport, flags))
    seg[16:18] = b"\0\0"
    seg[16:18] = struct.pack("!H", _sum6(src, dst, 6, bytes(seg)))
    return ip6(src, dst, 6, bytes(seg), hlim=hlim, flow=flow, ext=ext)


def ip6_udp(
    src=ATTACKER6, dst=TARGET6, sport=40000, dport=53, payload=b"x" * 10, hlim=64, ext=()
) -> bytes:
    body = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    body = body[:6] + struct.pack("!H", _sum6(src, dst, 17, body)) + body[8:]
    return ip6(src, dst, 17, body, hlim=hlim, ext=ext)


def icmp6_msg(itype, code=0, rest=b"\0\0\0\0", data=b"", src=ATTACKER6, dst=TARGET6) -> bytes:
    body = struct.pack("!BBH", itype, code, 0) + rest + data
    return body[:2] + struct.pack("!H", _sum6(src, dst, 58, body)) + body[4:]


def ip6_icmp(
    src=ATTACKER6, dst=TARGET6, itype=128, code=0, rest=b"\0\0\0\0", data=b"", hlim=64
) -> bytes:
    return ip6(src, dst, 58, icmp6_msg(itype, code, rest, data, src, dst), hlim=hlim)


# --- link layers -------------------------------------------------------------------------


def _etype(datagram: bytes) -> int:
    return 0x86DD if datagram[:1] and datagram[0] >> 4 == 6 else 0x0800


def ether(datagram: bytes) -> bytes:
    # Plain bytes, not dpkt.ethernet.Ethernet: that decodes the datagram and
    # writes it back with its IP checksum recomputed, mending broken ones.
    head = b"\x02\0\0\0\0\2" + b"\x02\0\0\0\0\1"
    return head + struct.pack("!H", _etype(datagram)) + datagram


def sll(datagram: bytes) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\1\0\0", _etype(datagram)) + datagram


def sll2(datagram: bytes) -> bytes:
    head = struct.pack("!HHIHBB8s", _etype(datagram), 0, 2, 1, 0, 6, b"\x02\0\0\0\0\1\0\0")
    return head + datagram


def null(datagram: bytes) -> bytes:
    # AF_INET, or AF_INET6 as FreeBSD numbers it, in the writer's byte order
    return struct.pack("<I", 28 if _etype(datagram) == 0x86DD else 2) + datagram


def write_pcap(path, frames, linktype=dpkt.pcap.DLT_EN10MB, nano=False) -> str:
    with open(path, "wb") as fh:
        w = dpkt.pcap.Writer(fh, linktype=linktype, nano=nano)
        for ts, frame in frames:
            w.writepkt(frame, ts=ts)
    return str(path)


def write_pcapng(path, frames, linktype=dpkt.pcap.DLT_EN10MB) -> str:
    with open(path, "wb") as fh:
        w = dpkt.pcapng.Writer(fh, linktype=linktype)
        for ts, frame in frames:
            w.writepkt(frame, ts=ts)
    return str(path)


def timed(datagrams, start=T0, step=0.01, link=ether):
    """``[(ts, frame)]`` for datagrams sent ``step`` seconds apart."""
    return [(start + i * step, link(d)) for i, d in enumerate(datagrams)]
