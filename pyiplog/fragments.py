"""IPv4 fragment reassembly and fragment attacks (docs/contract.md P1, F9).

Datagrams are keyed by (source, destination, id, protocol) and live 60 s
from their first fragment.  A fragment that ends past 65535, repeats an
offset, overlaps another, or would be piece number ``MAX_PIECES + 1`` drops
the whole datagram and is reported.
State is bounded: past ``max_datagrams`` or ``max_bytes`` the oldest
incomplete datagram is dropped (docs/contract.md D6).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict

from .constants import IP_DF, IP_MF, IP_OFFMASK
from .decode import Datagram, make_datagram

FRAG_LIFETIME = 60.0
MAX_DATAGRAMS = 8192
MAX_BYTES = 32 * 1024 * 1024
# Pieces per datagram: 65,535 bytes in the smallest fragments any link makes
# (68-byte MTU: 48 data bytes) is 1,366 pieces; more is an attack.
MAX_PIECES = 2048

OVERSIZED = "frag_oversized"
DUPLICATE = "frag_duplicate"
OVERLAP = "frag_overlap"
TOO_MANY = "frag_too_many"


class _Datagram:
    """One datagram's pieces, kept in offset order: a new piece is checked
    against its two neighbours only (no piece overlaps another, so no other
    can overlap it), and at most ``MAX_PIECES`` are kept."""

    __slots__ = ("covered", "end", "first", "max_end", "pieces", "size", "started", "starts")

    def __init__(self, started: float):
        self.started = started
        self.starts: list[int] = []  # piece offsets, sorted
        self.pieces: list[tuple[int, int, bytes]] = []  # (start, end, data), same order
        self.first: Datagram | None = None  # the fragment at offset 0
        self.end: int | None = None  # set by the last fragment (MF clear)
        self.max_end = 0
        self.covered = 0  # bytes the pieces hold (they never overlap)
        self.size = 0

    def add(self, start: int, end: int, data: bytes, more: bool) -> str | None:
        """Add [start, end); the attack it shows (the datagram is dropped), or None."""
        starts, pieces = self.starts, self.pieces
        i = bisect_left(starts, start)
        if i < len(starts) and starts[i] == start:
            return DUPLICATE
        if (i and pieces[i - 1][1] > start) or (i < len(starts) and starts[i] < end):
            return OVERLAP
        if not more:
            if self.end is not None or self.max_end > end:
                return OVERLAP
            self.end = end
        elif self.end is not None and end > self.end:
            return OVERLAP
        if len(pieces) >= MAX_PIECES:
            return TOO_MANY
        starts.insert(i, start)
        pieces.insert(i, (start, end, data))
        self.covered += end - start
        self.max_end = max(self.max_end, end)
        return None


class Reassembler:
    def __init__(
        self,
        lifetime: float = FRAG_LIFETIME,
        max_datagrams: int = MAX_DATAGRAMS,
        max_bytes: int = MAX_BYTES,
    ):
        self.lifetime = lifetime
        self.max_datagrams = max_datagrams
        self.max_bytes = max_bytes
        self.pending: OrderedDict[tuple, _Datagram] = OrderedDict()
        self.size = 0

    def expire(self, ts: float) -> None:
        while self.pending:
            key, dg = next(iter(self.pending.items()))
            if dg.started + self.lifetime > ts:
                break
            self._drop(key)

    def _drop(self, key: tuple) -> None:
        dg = self.pending.pop(key, None)
        if dg is not None:
            self.size -= dg.size

    def feed(self, ts: float, frag: Datagram) -> tuple[Datagram | None, str | None]:
        """Add a fragment: (the completed datagram or None, attack kind or None)."""
        self.expire(ts)
        key = (frag.src, frag.dst, frag.ident, frag.proto)
        start = (frag.flags_off & IP_OFFMASK) * 8
        data = frag.payload  # what was captured: may be cut short by the snap length
        end = start + frag.data_len  # what the header says the fragment holds
        if end > 65535:
            self._drop(key)
            return None, OVERSIZED
        dg = self.pending.get(key)
        if dg is None:
            dg = self.pending[key] = _Datagram(ts)
        attack = dg.add(start, end, data, bool(frag.flags_off & IP_MF))
        if attack is not None:
            self._drop(key)
            return None, attack
        dg.size += len(data)
        self.size += len(data)
        if start == 0:
            dg.first = frag
        if dg.first is None or dg.end is None or dg.covered < dg.end:
            self._bound()
            return None, None
        self._drop(key)
        return self._whole(ts, dg), None

    @staticmethod
    def _whole(ts: float, dg: _Datagram) -> Datagram:
        whole = bytearray(dg.end)
        for s, _, d in dg.pieces:
            whole[s : s + len(d)] = d
        payload = bytes(whole)
        first = dg.first
        return make_datagram(
            (
                ts,
                first.proto,
                first.src,
                first.dst,
                first.ttl,
                first.ident,
                first.flags_off & IP_DF,
                len(payload),
                payload,
            )
        )

    def _bound(self) -> None:
        while self.pending and (
            len(self.pending) > self.max_datagrams or self.size > self.max_bytes
        ):
            self._drop(next(iter(self.pending)))

    def __len__(self) -> int:
        return len(self.pending)
