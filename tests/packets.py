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


def ether(datagram: bytes) -> bytes:
    # Plain bytes, not dpkt.ethernet.Ethernet: that decodes the datagram and
    # writes it back with its IP checksum recomputed, mending broken ones.
    return b"\x02\0\0\0\0\2" + b"\x02\0\0\0\0\1" + b"\x08\x00" + datagram


def sll(datagram: bytes) -> bytes:
    return struct.pack("!HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\1\0\0", 0x0800) + datagram


def sll2(datagram: bytes) -> bytes:
    return struct.pack("!HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02\0\0\0\0\1\0\0") + datagram


def null(datagram: bytes) -> bytes:
    return struct.pack("<I", 2) + datagram


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
