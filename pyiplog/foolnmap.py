"""``fool_nmap`` (``-z``; spec A5 step 2): junk answers to OS-detection probes.

nmap and queso tell operating systems apart by how they answer odd TCP
segments.  With fool_nmap on, iplog answers each such segment itself with a
crafted 40-byte TCP segment whose flags, window and urgent pointer change
every second, as 2.2.3 did, so the fingerprint matches nothing.  It is off
by default and dangerous: iplog then sends packets (to any source that
probes, spoofed or not) from a raw socket opened as root at start.

Odd segments: a top flag bit (0x40, 0x80) set, PSH alone, no flags, SYN,
FIN or RST with URG, or SYN with FIN or RST.
"""

from __future__ import annotations

import logging
import socket
import struct

from .constants import IP_DF, IPPROTO_TCP, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG
from .decode import Datagram

log = logging.getLogger(__name__)

REPLY_TTL = 255
REPLY_ID = 0xFF


def is_probe(flags: int) -> bool:
    """Whether a segment with these flags (all eight bits) gets a junk answer."""
    return bool(
        flags & 0xC0
        or flags in (TH_PUSH, 0)
        or (flags & (TH_SYN | TH_FIN | TH_RST) and flags & TH_URG)
        or (flags & TH_SYN and flags & (TH_FIN | TH_RST))
    )


PROBE_FLAGS = tuple(is_probe(f) for f in range(256))


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
        (now ^ 0x12345678) & 0xFF,
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


class Replier:
    """The raw socket the answers go out on (opened as root, at start)."""

    def __init__(self, clock):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        self.sock.setblocking(False)
        self.clock = clock
        self.failed = False

    def __call__(self, ip: Datagram, seg: bytes) -> None:
        if len(ip.src) != 4 or len(seg) < 20:
            return
        try:
            self.sock.sendto(junk_reply(ip, seg, int(self.clock())), (socket.inet_ntoa(ip.src), 0))
        except OSError as exc:
            if not self.failed:  # said once
                self.failed = True
                log.warning("fool_nmap: sending an answer failed: %s", exc.strerror or exc)

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        self.sock.close()
