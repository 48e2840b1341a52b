"""Frames -> IPv4 and IPv6 datagrams, with iplog's IP header checks
(docs/contract.md P1, P5).

Link types: Ethernet (with VLAN tags), Linux cooked SLL and SLL2, raw IP,
BSD null/loopback.  Only the fixed headers a packet's path needs are read
(``struct`` on the raw bytes); dpkt's object decoders cost 5-15 us a packet,
which the engine cannot afford on every frame.  Nothing here raises on bad
input: a frame is either a datagram, a header error, or nothing.

A source hands the engine batches of *records*: a ``Frame`` (time and the
link-layer bytes, still to be decoded) or a ``Datagram`` (already decoded by
``decode_batch``, which runs in ``iplog -r``'s reading child).

An IPv6 packet becomes the same ``Datagram``: its addresses are 16 bytes
(how everything after this module tells the families apart), ``ttl`` is
the hop limit, ``proto`` the upper-layer protocol after the extension
headers, and ``flags_off`` carries a fragment header's offset and M flag
in IPv4's layout (so one reassembler serves both).  IPv6 has no DF bit;
its place is taken by the flow label: a host's TCP/IP stack labels its
flows (Linux since 3.17, FreeBSD), a raw-socket scanner (nmap -6 -sS)
does not, so a labelled packet counts as DF set (``detect.tcp``'s SYN
kinds).  A stack that labels nothing makes its connect() scans SYN scans
instead of port scans: still reported, under the other name.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

from .constants import (
    DLT_EN10MB,
    DLT_IPV4,
    DLT_LINUX_SLL,
    DLT_LINUX_SLL2,
    DLT_LOOP,
    DLT_NULL,
    DLT_RAW,
    DLT_RAW_OPENBSD,
    ETH_TYPE_IP,
    ETH_TYPE_IP6,
    ETH_TYPES_VLAN,
    IP_DF,
    IP_MF,
    IP_OFFMASK,
    IP_RF,
    IPPROTO_AH,
    IPPROTO_FRAGMENT,
    LINKTYPE_RAW,
)

LINK_TYPES = frozenset(
    {
        DLT_NULL,
        DLT_EN10MB,
        DLT_RAW,
        DLT_RAW_OPENBSD,
        DLT_LOOP,
        DLT_LINUX_SLL,
        DLT_LINUX_SLL2,
        LINKTYPE_RAW,
        DLT_IPV4,
    }
)
_RAW_TYPES = frozenset({DLT_RAW, DLT_RAW_OPENBSD, LINKTYPE_RAW, DLT_IPV4})

# Any offset, MF, or the reserved bit: a fragment (as 2.2.3 had it).
FRAGMENT_BITS = IP_RF | IP_MF | IP_OFFMASK

_u16 = struct.Struct("!H")
# version+IHL, total length, id, flags+offset, TTL, protocol, source, destination
IP_HEAD = struct.Struct("!BxHHHBBxx4s4s")
ETHER_IP_HEAD = struct.Struct("!H" + IP_HEAD.format[1:])  # from the EtherType on
_ETHER_IP = ETHER_IP_HEAD.unpack_from
# version+class+flow label, payload length, next header, hop limit, source, destination
IP6_HEAD = struct.Struct("!IHBB16s16s")
_IP6 = IP6_HEAD.unpack_from
# An IPv6 fragment header: next header, (reserved), offset << 3 | M, id.
_FRAGMENT6 = struct.Struct("!BxHI").unpack_from
FLOW_LABEL = 0xFFFFF
# Upper layers the fast path hands on as they are (TCP, UDP, ICMPv6); any
# other next header may be an extension header and takes ``parse_ipv6``.
IP6_UPPER = frozenset({6, 17, 58})
# Extension headers walked to the upper layer (RFC 8200 4, RFC 6564's
# uniform format for 135, 139, 140 and the experimental 253, 254); ESP (50)
# ends the walk: what follows it is encrypted.
EXT_HEADERS = frozenset({0, 43, 44, 51, 60, 135, 139, 140, 253, 254})
MAX_EXT_HEADERS = 16  # more in one packet is an attack on the walk, not traffic

# A link-layer frame as captured: (time, bytes).
Frame = tuple[float, bytes]


class Datagram(NamedTuple):
    """The parts of an IPv4 datagram that iplog looks at, with its time."""

    ts: float
    proto: int
    src: bytes
    dst: bytes
    ttl: int
    ident: int
    flags_off: int  # the 16-bit flags + fragment offset field
    data_len: int  # IP length minus IP header: the byte count iplog reports
    payload: bytes  # after the header, at most up to the IP length


# Datagram(*fields) without the Python-level __new__: for the hot loops.
make_datagram = partial(tuple.__new__, Datagram)

Record = Frame | Datagram


@dataclass(slots=True, frozen=True)
class HeaderError:
    """A datagram that fails the checks: 'short' or 'checksum'."""

    kind: str
    src: bytes
    dst: bytes


_ETH_TYPES = (ETH_TYPE_IP, ETH_TYPE_IP6)
# BSD's address families in either byte order (DLT_NULL is in the writer's):
# AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD,
# DragonFly), 30 (macOS) or 10 (Linux).
_FAMILIES = frozenset(
    n.to_bytes(4, order) for n in (2, 10, 24, 28, 30) for order in ("big", "little")
)


def ip_of_frame(dlt: int, frame: bytes) -> bytes | None:
    """The IPv4 or IPv6 packet inside a link-layer frame, or None."""
    if dlt == DLT_EN10MB:
        if len(frame) < 14:
            return None
        etype = _u16.unpack_from(frame, 12)[0]
        off = 14
        while etype in ETH_TYPES_VLAN and len(frame) >= off + 4:
            etype = _u16.unpack_from(frame, off + 2)[0]
            off += 4
        return frame[off:] if etype in _ETH_TYPES else None
    if dlt == DLT_LINUX_SLL:
        if len(frame) < 16 or _u16.unpack_from(frame, 14)[0] not in _ETH_TYPES:
            return None
        return frame[16:]
    if dlt == DLT_LINUX_SLL2:
        if len(frame) < 20 or _u16.unpack_from(frame, 0)[0] not in _ETH_TYPES:
            return None
        return frame[20:]
    if dlt in _RAW_TYPES:
        return frame if frame and frame[0] >> 4 in (4, 6) else None
    if dlt in (DLT_NULL, DLT_LOOP):
        if len(frame) < 4 or frame[:4] not in _FAMILIES:
            return None
        return frame[4:]
    return None


_ETH6 = ETH_TYPE_IP6.to_bytes(2, "big")
_TAGGED = frozenset(t.to_bytes(2, "big") for t in ETH_TYPES_VLAN)


def ipv6_frames(dlt: int, frames: Iterable[Frame]) -> int:
    """How many of ``frames`` carry IPv6 (the USR1 statistics; ``decode_wire``
    counts an untagged Ethernet frame itself)."""
    count = 0
    if dlt == DLT_EN10MB:
        for _, frame in frames:
            etype = frame[12:14]
            if etype == _ETH6:
                count += 1
            elif etype in _TAGGED:
                data = ip_of_frame(dlt, frame)
                count += bool(data) and data[0] >> 4 == 6
        return count
    for _, frame in frames:
        data = ip_of_frame(dlt, frame)
        count += bool(data) and data[0] >> 4 == 6
    return count


def parse_ip(ts: float, data: bytes) -> Datagram | HeaderError | None:
    """``parse_ipv4`` or ``parse_ipv6``, by the version nibble."""
    if data and data[0] >> 4 == 6:
        return parse_ipv6(ts, data)
    return parse_ipv4(ts, data)


def header_checksum_ok(header: bytes) -> bool:
    """The one's complement sum of the header's 16-bit words is 0xFFFF.

    Since 2**16 = 1 (mod 0xFFFF), the header read as one big number has the
    same remainder mod 0xFFFF as the sum of its words; the sum is never 0 (the
    version nibble is 4), so a remainder of 0 means a folded sum of 0xFFFF.
    """
    return int.from_bytes(header, "big") % 0xFFFF == 0


def parse_ipv4(ts: float, data: bytes) -> Datagram | HeaderError | None:
    """Check and split the IPv4 datagram ``data`` (docs/contract.md P1).

    Returns None when not even the addresses can be read.
    """
    size = len(data)
    if size < 20:
        if size >= 16 and data[0] >> 4 == 4:
            return HeaderError("short", data[12:16], data[16:20].ljust(4, b"\0"))
        return None
    vhl, total, ident, flags_off, ttl, proto, src, dst = IP_HEAD.unpack_from(data)
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
    if not header_checksum_ok(data[:hdr_len]):
        return HeaderError("checksum", src, dst)
    return make_datagram(
        (ts, proto, src, dst, ttl, ident, flags_off, total - hdr_len, data[hdr_len:total])
    )


def parse_ipv6(ts: float, data: bytes) -> Datagram | HeaderError | None:
    """Split the IPv6 packet ``data`` (docs/contract.md P5): the fixed header, then its
    extension headers (``walk_ipv6``).  None when the fixed header is not
    all there; a chain cut short is a 'short' header error."""
    if len(data) < 40:
        return None
    vtf, plen, nh, hlim, src, dst = IP6_HEAD.unpack_from(data)
    if vtf >> 28 != 6:
        return None
    end = 40 + plen if plen else len(data)  # 0: a jumbogram (RFC 2675), as captured
    flags = IP_DF if vtf & FLOW_LABEL else 0
    ip = make_datagram((ts, nh, src, dst, hlim, 0, flags, end - 40, data[40:end]))
    return walk_ipv6(ip) if nh in EXT_HEADERS else ip


def walk_ipv6(ip: Datagram) -> Datagram | HeaderError:
    """``ip`` (IPv6, ``proto`` an extension header) with its extension
    headers skipped: the upper layer's protocol and bytes.  A fragment
    header sets ``ident`` and ``flags_off`` (offset and M as IPv4 has
    them; an atomic fragment, RFC 6946, is a whole packet) and ends the
    walk: what follows belongs to the reassembled packet, which comes here
    again.  A header's length is read from its second byte (AH counts
    4-octet units, the rest 8-octet ones, RFC 6564), in constant time
    whatever it holds: options are never parsed (dpkt's option parser took
    3 ms for a crafted 30 KB packet).  The fragment header is read with
    ``struct`` too: importing dpkt in the daemon cost 5 MB of its 64."""
    payload, nh = ip.payload, ip.proto
    off = 0
    ident, flags = ip.ident, ip.flags_off
    for _ in range(MAX_EXT_HEADERS):
        if nh not in EXT_HEADERS:
            break
        if len(payload) < off + 8:  # every extension header is 8 bytes at least
            return HeaderError("short", ip.src, ip.dst)
        if nh == IPPROTO_FRAGMENT:
            nh, offset_m, frag_id = _FRAGMENT6(payload, off)
            off += 8
            if offset_m & 0xFFF9:  # an offset or M: a fragment (else atomic, RFC 6946)
                if flags & FRAGMENT_BITS:  # a second fragment header: no packet has one
                    return HeaderError("short", ip.src, ip.dst)
                ident = frag_id
                flags |= offset_m >> 3 | (IP_MF if offset_m & 1 else 0)
                break
            continue
        kind, nh, units = nh, payload[off], payload[off + 1]
        off += (units + 2) * 4 if kind == IPPROTO_AH else (units + 1) * 8
        if off > len(payload):
            return HeaderError("short", ip.src, ip.dst)
    else:
        if nh in EXT_HEADERS:
            return HeaderError("short", ip.src, ip.dst)
    return make_datagram(
        (ip.ts, nh, ip.src, ip.dst, ip.ttl, ident, flags, ip.data_len - off, payload[off:])
    )


# decode_wire's result: the datagrams' fields, the frames left (with their
# positions), and how many frames carried IPv6 (the USR1 statistics).
Wire = tuple[list[tuple], list[tuple[int, Frame]], int]


def decode_wire(dlt: int, frames: Iterable[Frame]) -> Wire:
    """The fast path of the program, as plain data: (the fields of each
    ``Datagram``, in order; the frames left as they are, each with its
    position among all).  What ``iplog -r``'s reading child pickles: plain
    tuples cost it and the analysing process a third of a named one.

    An untagged Ethernet frame carrying a whole IPv4 datagram with a 20-byte
    header, not a fragment, checksum right, or an IPv6 packet whose next
    header is TCP, UDP or ICMPv6 (nearly every frame) is decoded; any other
    frame stays a ``Frame`` for the engine's general path (link types, VLAN
    tags, options, extension headers, header errors, fragments), which
    ``parse_ip`` serves.  A property test holds the two paths equal.
    The IPv6 frames are counted on the way (an IPv4 frame pays nothing).
    """
    if dlt != DLT_EN10MB:
        frames = list(frames)
        return [], list(enumerate(frames)), ipv6_frames(dlt, frames)
    datagrams: list[tuple] = []
    others: list[tuple[int, Frame]] = []
    add = datagrams.append
    ipv6 = 0
    for i, frame in enumerate(frames):
        data = frame[1]
        if len(data) >= 34:
            etype, vhl, total, ident, flags_off, ttl, proto, src, dst = _ETHER_IP(data, 12)
            if (
                etype == ETH_TYPE_IP
                and vhl == 0x45
                and total >= 20
                and not flags_off & FRAGMENT_BITS
                and not int.from_bytes(data[14:34], "big") % 0xFFFF  # checksum
            ):
                add(
                    (
                        frame[0],
                        proto,
                        src,
                        dst,
                        ttl,
                        ident,
                        flags_off,
                        total - 20,
                        data[34 : 14 + total],
                    )
                )
                continue
            if etype == ETH_TYPE_IP6:
                ipv6 += 1
                if len(data) >= 54:
                    vtf, plen, nh, hlim, src, dst = _IP6(data, 14)
                    if vtf >> 28 == 6 and plen and nh in IP6_UPPER:
                        flags = IP_DF if vtf & FLOW_LABEL else 0
                        add((frame[0], nh, src, dst, hlim, 0, flags, plen, data[54 : 54 + plen]))
                        continue
        others.append((i, frame))
    if others:  # the IPv6 frames not counted above: VLAN-tagged or short ones
        ipv6 += ipv6_frames(dlt, [f for _, f in others if len(f[1]) < 34 or f[1][12:14] in _TAGGED])
    return datagrams, others, ipv6


def assemble(wire: Wire) -> list[Record]:
    """``decode_wire``'s result as records, in the frames' order."""
    datagrams, others, _ = wire
    records: list[Record] = list(map(make_datagram, datagrams))
    for i, frame in others:
        records.insert(i, frame)
    return records


def decode_batch(dlt: int, frames: Iterable[Frame]) -> list[Record]:
    """Frames of link type ``dlt`` as records (``decode_wire``, assembled)."""
    return assemble(decode_wire(dlt, frames))
