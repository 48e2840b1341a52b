"""Frames -> IPv4 packet views, with iplog's IP header checks (spec A4.1).

Link types: Ethernet (with VLAN tags), Linux cooked SLL and SLL2, raw IP,
BSD null/loopback.  Only the fixed headers a packet's path needs are read
(``struct`` on the raw bytes); dpkt's object decoders cost 5-15 us a packet,
which the engine cannot afford on every frame.  Nothing here raises on bad
input: a frame is either a packet, a header error, or nothing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

DLT_NULL = 0
DLT_EN10MB = 1
DLT_RAW = 12
DLT_RAW_OPENBSD = 14
DLT_LOOP = 108
DLT_LINUX_SLL = 113
DLT_LINUX_SLL2 = 276
LINKTYPE_RAW = 101
DLT_IPV4 = 228

LINK_TYPES = frozenset({DLT_NULL, DLT_EN10MB, DLT_RAW, DLT_RAW_OPENBSD, DLT_LOOP,
                        DLT_LINUX_SLL, DLT_LINUX_SLL2, LINKTYPE_RAW, DLT_IPV4})

ETH_IP = 0x0800
ETH_VLAN = (0x8100, 0x88A8, 0x9100)

IP_RF = 0x8000
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

_u16 = struct.Struct("!H")
# version+IHL, total length, id, flags+offset, TTL, protocol, source, destination
IP_HEAD = struct.Struct("!BxHHHBBxx4s4s")

# Any offset, MF, or the reserved bit: a fragment (as 2.2.3 had it).
FRAGMENT_BITS = IP_RF | IP_MF | IP_OFFMASK

ETHERTYPE_IP = 0x0800
ETHER_IP_HEAD = struct.Struct("!H" + IP_HEAD.format[1:])  # from the EtherType on


class IPv4:
    """The parts of an IPv4 datagram that iplog looks at."""

    __slots__ = ("src", "dst", "proto", "ttl", "ident", "flags_off", "data_len", "payload")

    def __init__(self, src: bytes, dst: bytes, proto: int, ttl: int, ident: int,
                 flags_off: int, data_len: int, payload: bytes):
        self.src = src
        self.dst = dst
        self.proto = proto
        self.ttl = ttl
        self.ident = ident
        self.flags_off = flags_off  # the 16-bit flags + fragment offset field
        self.data_len = data_len  # IP length minus IP header: the byte count iplog reports
        self.payload = payload  # after the header, at most up to the IP length

    def __repr__(self) -> str:
        return (f"IPv4({self.src!r}, {self.dst!r}, proto={self.proto}, ttl={self.ttl},"
                f" ident={self.ident}, flags_off={self.flags_off:#06x},"
                f" data_len={self.data_len}, payload={self.payload!r})")


@dataclass(slots=True, frozen=True)
class HeaderError:
    """A datagram that fails the checks: 'short' or 'checksum'."""

    kind: str
    src: bytes
    dst: bytes


def ip_of_frame(dlt: int, frame: bytes) -> bytes | None:
    """The IPv4 datagram inside a link-layer frame, or None."""
    if dlt == DLT_EN10MB:
        if len(frame) < 14:
            return None
        etype = _u16.unpack_from(frame, 12)[0]
        off = 14
        while etype in ETH_VLAN and len(frame) >= off + 4:
            etype = _u16.unpack_from(frame, off + 2)[0]
            off += 4
        return frame[off:] if etype == ETH_IP else None
    if dlt == DLT_LINUX_SLL:
        if len(frame) < 16 or _u16.unpack_from(frame, 14)[0] != ETH_IP:
            return None
        return frame[16:]
    if dlt == DLT_LINUX_SLL2:
        if len(frame) < 20 or _u16.unpack_from(frame, 0)[0] != ETH_IP:
            return None
        return frame[20:]
    if dlt in (DLT_RAW, DLT_RAW_OPENBSD, LINKTYPE_RAW, DLT_IPV4):
        return frame if frame and frame[0] >> 4 == 4 else None
    if dlt in (DLT_NULL, DLT_LOOP):
        if len(frame) < 4:
            return None
        family = frame[:4]
        # AF_INET is 2 everywhere; DLT_NULL is in the writer's byte order.
        if family in (b"\x02\x00\x00\x00", b"\x00\x00\x00\x02"):
            return frame[4:]
        return None
    return None


def header_checksum_ok(header: bytes) -> bool:
    """The one's complement sum of the header's 16-bit words is 0xFFFF.

    Since 2**16 = 1 (mod 0xFFFF), the header read as one big number has the
    same remainder mod 0xFFFF as the sum of its words; the sum is never 0 (the
    version nibble is 4), so a remainder of 0 means a folded sum of 0xFFFF.
    """
    return int.from_bytes(header, "big") % 0xFFFF == 0


def parse_ipv4(data: bytes, off: int = 0) -> IPv4 | HeaderError | None:
    """Check and split the IPv4 datagram at ``data[off:]`` (spec A4.1).

    Returns None when not even the addresses can be read.
    """
    size = len(data) - off
    if size < 20:
        if size >= 16 and data[off] >> 4 == 4:
            return HeaderError("short", data[off + 12:off + 16],
                               data[off + 16:off + 20].ljust(4, b"\0"))
        return None
    vhl, total, ident, flags_off, ttl, proto, src, dst = IP_HEAD.unpack_from(data, off)
    if vhl == 0x45:  # no options: nearly every packet
        hdr_len = 20
    elif vhl >> 4 != 4:
        return None
    else:
        hdr_len = (vhl & 0x0F) * 4
        if hdr_len < 20 or size < hdr_len:
            return HeaderError("short", src, dst)
    if total < hdr_len:
        return HeaderError("short", src, dst)
    if not header_checksum_ok(data[off:off + hdr_len]):
        return HeaderError("checksum", src, dst)
    return IPv4(src, dst, proto, ttl, ident, flags_off, total - hdr_len,
                data[off + hdr_len:off + total])


def fast_records(dlt: int, batch) -> list[tuple]:
    """``(ts, frame)`` pairs as records for ``Engine.feed_records``.

    A frame that takes the engine's fast path (untagged Ethernet, a 20-byte
    IPv4 header, not a fragment, checksum right) becomes ``(ts, proto, src,
    dst, ttl, ident, flags_off, data_len, payload)``; any other stays
    ``(ts, frame)``.  Pure and stateless: ``iplog -r``'s reading child runs
    it, so the analysing process gets its datagrams decoded.
    """
    if dlt != DLT_EN10MB:
        return list(batch)
    head = ETHER_IP_HEAD.unpack_from
    out = []
    add = out.append
    for ts, frame in batch:
        if len(frame) >= 34:
            etype, vhl, total, ident, flags_off, ttl, proto, src, dst = head(frame, 12)
            if (etype == ETHERTYPE_IP and vhl == 0x45 and total >= 20
                    and not flags_off & FRAGMENT_BITS
                    and not int.from_bytes(frame[14:34], "big") % 0xFFFF):  # checksum
                add((ts, proto, src, dst, ttl, ident, flags_off, total - 20,
                     frame[34:14 + total]))
                continue
        add((ts, frame))
    return out
