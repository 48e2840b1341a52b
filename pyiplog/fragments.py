"""IPv4 fragment reassembly and fragment attacks (spec A4.2, B9).

Datagrams are keyed by (source, destination, id, protocol) and live 60 s
from their first fragment.  A fragment that ends past 65535, repeats an
offset, or overlaps another drops the whole datagram and is reported.
State is bounded: past ``max_datagrams`` or ``max_bytes`` the oldest
incomplete datagram is dropped (spec C6).
"""

from __future__ import annotations

from collections import OrderedDict

from .constants import IP_DF, IP_MF, IP_OFFMASK
from .decode import Datagram, make_datagram

FRAG_LIFETIME = 60.0
MAX_DATAGRAMS = 8192
MAX_BYTES = 32 * 1024 * 1024

OVERSIZED = "frag_oversized"
DUPLICATE = "frag_duplicate"
OVERLAP = "frag_overlap"


class _Datagram:
    __slots__ = ("end", "first", "pieces", "size", "started")

    def __init__(self, started: float):
        self.started = started
        self.pieces: list[tuple[int, int, bytes]] = []
        self.first: Datagram | None = None  # the fragment at offset 0
        self.end: int | None = None  # set by the last fragment (MF clear)
        self.size = 0


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
        for s, e, _ in dg.pieces:
            if s == start:
                self._drop(key)
                return None, DUPLICATE
            if s < end and start < e:
                self._drop(key)
                return None, OVERLAP
        if not frag.flags_off & IP_MF:
            if dg.end is not None or any(e > end for _, e, _ in dg.pieces):
                self._drop(key)
                return None, OVERLAP
            dg.end = end
        elif dg.end is not None and end > dg.end:
            self._drop(key)
            return None, OVERLAP
        dg.pieces.append((start, end, data))
        dg.size += len(data)
        self.size += len(data)
        if start == 0:
            dg.first = frag
        done = self._complete(ts, key, dg)
        if done is None:
            self._bound()
        return done, None

    def _complete(self, ts: float, key: tuple, dg: _Datagram) -> Datagram | None:
        if dg.end is None or dg.first is None:
            return None
        covered = 0
        for s, e, _ in sorted(dg.pieces):
            if s > covered:
                return None
            covered = max(covered, e)
        if covered < dg.end:
            return None
        self._drop(key)
        whole = bytearray(dg.end)
        for s, _, d in sorted(dg.pieces):
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
