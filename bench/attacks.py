"""The CPU levers an attacker or a big config used to have.

    python bench/attacks.py

Prints the time to take an 8,000-piece IPv4 datagram through reassembly,
the cost per packet of the filter rules with 10,000 rules in the config
against none, and the time to walk an IPv6 packet of 15 extension headers
of 2 KB each.  Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import platform
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyiplog.config.parser import parse_config
from pyiplog.config.rules import Filters
from pyiplog.decode import parse_ipv4, parse_ipv6
from pyiplog.fragments import Reassembler

SRC, DST = bytes([198, 51, 100, 7]), bytes([192, 0, 2, 10])


def fragment(offset: int, more: bool) -> bytes:
    data = b"f" * 8
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 28, 5, (0x2000 if more else 0) | offset // 8, 64, 17, 0, SRC, DST
    )
    total = sum(struct.unpack("!10H", head))
    total = (total & 0xFFFF) + (total >> 16)
    head = head[:10] + struct.pack("!H", ~total & 0xFFFF) + head[12:]
    return head + data


def fragments(pieces: int = 8000) -> float:
    datagrams = [parse_ipv4(1.0, fragment(8 * i, True)) for i in range(pieces)]
    reassembler = Reassembler()
    start = time.perf_counter()
    for i, frag in enumerate(datagrams):
        reassembler.feed(1.0 + i * 1e-6, frag)
    return time.perf_counter() - start


def rules(count: int = 10_000, packets: int = 200_000) -> tuple[float, float]:
    lines = [
        f"ignore tcp from 10.{i // 250}.{i % 250}.0/24 dport {1 + i % 5000}" for i in range(count)
    ]
    config = parse_config("\n".join(lines) + "\n")
    costs = []
    for filters in (Filters(), Filters(config.filters)):
        src = int.from_bytes(SRC, "big")
        dst = int.from_bytes(DST, "big")
        start = time.perf_counter()
        for i in range(packets):
            filters.ignored("tcp", src + (i & 0xFF), dst, 40000, 80 + (i & 0x3FF))
        costs.append((time.perf_counter() - start) / packets)
    return costs[0], costs[1]


def extension_headers(packets: int = 2000) -> float:
    """Seconds per IPv6 packet of 15 destination options headers of 2,048
    bytes (Pad1 options: the most an options parser could be made to do)."""
    chain = b""
    for i in range(15):
        chain += bytes([60 if i < 14 else 6, 255]) + bytes(2046)
    tcp = struct.pack("!HHIIBBHHH", 40000, 22, 1, 0, 0x50, 0x02, 1024, 0, 0)
    payload = chain + tcp
    head = struct.pack("!IHBB16s16s", 0x60000000, len(payload), 60, 64, SRC * 4, DST * 4)
    packet = head + payload
    start = time.perf_counter()
    for _ in range(packets):
        parse_ipv6(1.0, packet)
    return (time.perf_counter() - start) / packets


def main() -> None:
    print(
        f"# {platform.node()} {platform.machine()}, Python {platform.python_version()},"
        f" {time.strftime('%Y-%m-%d')}"
    )
    for _ in range(3):
        print(f"8,000-piece datagram through reassembly: {fragments() * 1000:.1f} ms")
    for _ in range(3):
        none, many = rules()
        print(
            f"filter rules per packet: {none * 1e6:.2f} us with none,"
            f" {many * 1e6:.2f} us with 10,000"
        )
    for _ in range(3):
        print(f"IPv6 packet of 15 2 KB extension headers: {extension_headers() * 1e6:.1f} us")


if __name__ == "__main__":
    main()
