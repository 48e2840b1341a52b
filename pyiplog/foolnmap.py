"""``fool_nmap`` (``-z``; docs/wire.md W5): junk answers to OS-detection probes.

nmap and queso tell operating systems apart by how they answer odd TCP
segments.  With fool_nmap on, iplog answers each such segment itself with a
crafted 40-byte TCP segment whose flags, window and urgent pointer change
every second, as 2.2.3 did, so the fingerprint matches nothing.  It is off
by default and dangerous: iplog then sends packets from a raw socket opened
as root at start.

Odd segments: a top flag bit (0x40, 0x80) set, PSH alone, no flags, SYN,
FIN or RST with URG, or SYN with FIN or RST.

What the wire cannot make it do (2.2.3 could): answer a segment this host
sent, or one to an address that is not this host's (the TCP detector
decides that first); answer a fool_nmap answer (its own, or another
host's: two of them would answer each other forever); answer with a
segment that is itself a probe (its flags are drawn from the segments
that are not); or answer faster than ``REPLY_RATE`` a second in all and
``DEST_RATE`` a second to one address (after a burst of ``DEST_BURST``),
as the kernel limits its ICMP errors: spoofed probes cannot make it a
reflector.  ``sent``, ``limited`` and ``answers`` count what it did and did
not send (the USR1 statistics).
"""

from __future__ import annotations

import logging
import socket
import struct

from .constants import IP_DF, IPPROTO_TCP, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG
from .decode import Datagram
from .resolve import TokenBucket

log = logging.getLogger(__name__)

REPLY_TTL = 255
REPLY_ID = 0xFF
REPLY_RATE = 20  # answers a second, to all addresses together (and at once)
DEST_RATE = 1.0  # answers a second to one address
DEST_BURST = 8  # answers at once to one address (nmap -O sends 7 odd probes)
MAX_DESTINATIONS = 4096  # addresses whose rate is kept (the least recent dropped)


def is_probe(flags: int) -> bool:
    """Whether a segment with these flags (all eight bits) gets a junk answer."""
    return bool(
        flags & 0xC0
        or flags in (TH_PUSH, 0)
        or (flags & (TH_SYN | TH_FIN | TH_RST) and flags & TH_URG)
        or (flags & TH_SYN and flags & (TH_FIN | TH_RST))
    )


PROBE_FLAGS = tuple(is_probe(f) for f in range(256))
# The flags an answer may carry: any that is not itself a probe.
ANSWER_FLAGS = tuple(f for f in range(256) if not PROBE_FLAGS[f])


def is_answer(ip: Datagram, seg: bytes) -> bool:
    """Whether ``seg`` looks like a fool_nmap answer: IP id 255, a bare
    20-byte TCP header and a window of 0 or 1 (``junk_reply``)."""
    return (
        ip.ident == REPLY_ID
        and len(seg) == 20
        and seg[12] >> 4 == 5
        and seg[14] == 0 <= seg[15] <= 1
    )


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def junk_reply(ip: Datagram, seg: bytes, now: int) -> bytes:
    """The answer to the probe ``seg`` (its TCP header, at least 20 bytes)
    of ``ip``, at ``now`` (whole seconds): ports swapped, its sequence and
    acknowledgement numbers kept, flags, window and urgent pointer from the
    clock."""
    sport, dport, seq, ack, offset = struct.unpack_from("!HHIIB", seg)
    tcp = struct.pack(
        "!HHIIBBHHH",
        dport,
        sport,
        seq,
        ack,
        0x50 | (offset & 0x0F),  # a bare header; the probe's reserved bits kept
        ANSWER_FLAGS[(now ^ 0x12345678) % len(ANSWER_FLAGS)],
        now & 1,
        0,
        now & 0xFFFF,
    )
    pseudo = ip.dst + ip.src + struct.pack("!BBH", 0, IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", _checksum(pseudo + tcp)) + tcp[18:]
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(tcp),
        REPLY_ID,
        IP_DF if now & 1 else 0,
        REPLY_TTL,
        IPPROTO_TCP,
        0,
        ip.dst,
        ip.src,
    )
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return head + tcp


class Limiter:
    """The answers' rate limits: ``allow(ts, dst)`` at packet time ``ts``."""

    def __init__(self, now: float = 0.0):
        self.bucket = TokenBucket(REPLY_RATE, now=now)
        self.destinations: dict[bytes, TokenBucket] = {}

    def allow(self, ts: float, dst: bytes) -> bool:
        dests = self.destinations
        bucket = dests.pop(dst, None)  # re-inserted: the dict is least recent first
        if bucket is None:
            bucket = TokenBucket(DEST_RATE, DEST_BURST, now=ts)
            if len(dests) >= MAX_DESTINATIONS:
                del dests[next(iter(dests))]
        dests[dst] = bucket
        # The global bucket only once the address's own allows (a flood of
        # one address does not use up everyone's answers).
        return bucket.take(ts) and self.bucket.take(ts)


class Replier:
    """The raw socket the answers go out on (opened as root, at start)."""

    def __init__(self, clock):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock.setblocking(False)
        self.clock = clock
        self.failed = False
        self.limiter = Limiter(clock())
        self.sent = 0
        self.limited = 0  # held back by the rate limits
        self.answers = 0  # fool_nmap answers not answered

    def __call__(self, ts: float, ip: Datagram, seg: bytes) -> None:
        """Answer the probe ``seg`` of ``ip`` (to this host, from another)."""
        if len(ip.src) != 4 or len(seg) < 20:
            return
        if is_answer(ip, seg):
            self.answers += 1
            return
        if not self.limiter.allow(ts, ip.src):
            self.limited += 1
            return
        try:
            self.sock.sendto(junk_reply(ip, seg, int(self.clock())), (socket.inet_ntoa(ip.src), 0))
            self.sent += 1
        except OSError as exc:
            if not self.failed:  # said once
                self.failed = True
                log.warning("fool_nmap: sending an answer failed: %s", exc.strerror or exc)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
