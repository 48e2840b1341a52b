"""Deterministic benchmark traces, written straight as pcap.

    python bench/gen.py mixed OUT.pcap [PACKETS]
    python bench/gen.py mixed6 OUT.pcap [PACKETS]
    python bench/gen.py synflood OUT.pcap [PACKETS]
    python bench/gen.py udpflood OUT.pcap [PACKETS]
    python bench/gen.py icmpflood OUT.pcap [PACKETS]

mixed: a busy server's inbound traffic: ~90% established TCP segments of 64
flows (ACK, PSH+ACK, payloads 0-1400 bytes), 4% new connections (SYN with DF)
from many clients to 80/443, 4% DNS-like UDP to 53, 1% ICMP echo, 1% SYN-scan
probes from 3 sources.  mixed6: the same traffic over IPv6 (2001:db8::/32;
the stacks' packets with a flow label, the scanners' without, as real ones
send them).  synflood: every packet a SYN to port 80 from a random spoofed
source; udpflood: a datagram to port 9999 from a random source and port;
icmpflood: an echo request from a random source.  Same seed, same file.
"""

from __future__ import annotations

import random
import struct
import sys

SERVER = bytes([192, 0, 2, 10])
SERVER6 = bytes.fromhex("20010db8000100000000000000000010")  # 2001:db8:1::10
ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
ETH6 = ETH[:12] + b"\x86\xdd"
PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
RATE = 20000.0  # packets a second of trace time


def checksum(header: bytes) -> int:
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_header(src: bytes, proto: int, length: int, ident: int, df: bool, ttl=64) -> bytes:
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + length,
        ident & 0xFFFF,
        0x4000 if df else 0,
        ttl,
        proto,
        0,
        src,
        SERVER,
    )
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:]


def ip6_header(src: bytes, proto: int, length: int, ident: int, df: bool, ttl=64) -> bytes:
    """The IPv6 counterpart of ``ip_header``: "DF" (a host's stack) is a
    flow label, as Linux gives its flows."""
    label = (ident * 2654435761) & 0xFFFFF or 1 if df else 0
    if proto == 1:
        proto = 58  # ICMPv6
    return struct.pack("!IHBB16s16s", 0x60000000 | label, length, proto, ttl, src, SERVER6)


def v6(src: bytes) -> bytes:
    """An IPv4 source of the mixed trace as an address of 2001:db8::/32."""
    return bytes.fromhex("20010db8") + bytes(8) + src


def tcp(sport, dport, flags, payload_len):
    return (
        struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, flags, 65535, 0, 0)
        + b"\0" * payload_len
    )


def udp(sport, dport, payload_len):
    return struct.pack("!HHHH", sport, dport, 8 + payload_len, 0) + b"\0" * payload_len


def icmp_echo(ident, seq, itype=8):
    return struct.pack("!BBHHH", itype, 0, 0, ident, seq) + b"\0" * 56


def client(rng) -> bytes:
    return (
        bytes([198, 51, rng.randrange(100, 101), rng.randrange(1, 255)])
        if rng.random() < 0.5
        else bytes([203, 0, 113, rng.randrange(1, 255)])
    )


def mixed6(rng):
    """``mixed`` over IPv6: the same packets, IPv6 headers, ICMPv6 echoes."""
    for packet in mixed(rng, ip=lambda src, proto, *rest: ip6_header(v6(src), proto, *rest)):
        if packet[6] == 58:  # an echo: ICMPv6's type
            packet = packet[:40] + b"\x80" + packet[41:]
        yield packet


def mixed(rng, ip=ip_header):
    flows = [(bytes([198, 51, 100, 1 + i]), 40000 + i, 443 if i % 2 else 80) for i in range(64)]
    scanners = [bytes([203, 0, 113, 200 + i]) for i in range(3)]
    scan_port = [1] * 3
    n = 0
    while True:
        n += 1
        r = rng.random()
        if r < 0.90:
            src, sport, dport = flows[rng.randrange(64)]
            flags = 0x18 if rng.random() < 0.5 else 0x10
            seg = tcp(sport, dport, flags, rng.randrange(0, 1401))
            yield ip(src, 6, len(seg), n, True) + seg
        elif r < 0.94:
            seg = tcp(rng.randrange(1024, 65536), 443 if rng.random() < 0.5 else 80, 0x02, 0)
            yield ip(client(rng), 6, len(seg), n, True) + seg
        elif r < 0.98:
            seg = udp(rng.randrange(1024, 65536), 53, rng.randrange(20, 60))
            yield ip(client(rng), 17, len(seg), n, False) + seg
        elif r < 0.99:
            seg = icmp_echo(rng.randrange(65536), n & 0xFFFF)
            yield ip(client(rng), 1, len(seg), n, False) + seg
        else:
            i = rng.randrange(3)
            scan_port[i] = scan_port[i] % 65535 + 1
            seg = tcp(50000 + i, scan_port[i], 0x02, 0)
            yield ip(scanners[i], 6, len(seg), n, False) + seg


def flood(proto: int, body):
    """Packets of ``body(rng, n)`` (protocol ``proto``), each from a random
    spoofed source."""

    def packets(rng):
        n = 0
        while True:
            n += 1
            payload = body(rng, n)
            src = rng.getrandbits(32).to_bytes(4, "big")
            yield ip_header(src, proto, len(payload), n, False) + payload

    return packets


synflood = flood(6, lambda rng, n: tcp(rng.randrange(1024, 65536), 80, 0x02, 0))
udpflood = flood(17, lambda rng, n: udp(rng.randrange(1024, 65536), 9999, 32))
icmpflood = flood(1, lambda rng, n: icmp_echo(n & 0xFFFF, n & 0xFFFF))


FLOODS = {"synflood": synflood, "udpflood": udpflood, "icmpflood": icmpflood}


def write(kind: str, path: str, count: int) -> None:
    rng = random.Random(2001)
    packets = {"mixed": mixed, "mixed6": mixed6, **FLOODS}[kind](rng)
    eth = ETH6 if kind.endswith("6") else ETH
    t0 = 1_700_000_000.0
    with open(path, "wb", buffering=1 << 20) as fh:
        fh.write(PCAP_HEADER)
        for i in range(count):
            frame = eth + next(packets)
            ts = t0 + i / RATE
            sec = int(ts)
            fh.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)))
            fh.write(frame)


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("mixed", "mixed6", *FLOODS):
        sys.exit(__doc__)
    write(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000)
