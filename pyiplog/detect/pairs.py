"""A bounded table of (source, destination) entries that floods cannot flush.

Segmented LRU (docs/contract.md F8, D6): a new pair starts on probation; its second
packet promotes it.  When the table is full the least recently active
probationary pair goes first, so a million spoofed one-packet sources churn
the probation segment while a scanner, which always sends more than one
packet, stays.  Both segments are ordered by last activity, which is also
expiry order (every packet pushes a pair's expiry by a fixed timeout), so
expiry takes from the fronts.

A pair's first packet alone cannot tell a scanner from a spoofed source.
So while the table is full a new pair is only noted in ``Sightings`` and gets
no entry; when it was noted lately, it enters protected at once.  A spoofed
flood then costs one sighting a packet and evicts nothing, and a scan hides
from it only by probing more slowly than about one probe per GENERATION
(131,072) flood packets.

Entries need ``count`` and ``expiry`` attributes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

PROTECTED_SHARE = 0.75  # of the entries, at most this many protected
PINNED_SHARE = 0.25  # reported scans kept besides, as a share of the entries
SKETCH_BITS = 22  # 2**22 one-byte stamps: 4 MiB per full table
GENERATION = 1 << 17  # sightings per generation


class Sightings:
    """Which pairs were seen lately: one-byte generation stamps indexed by
    the pair's hash.  A pair counts as seen when its slot holds this
    generation or the previous one, so "lately" is the last one to two
    GENERATIONs of sightings.  Those occupy at most 2**18 of the 2**22 slots:
    a new pair is taken for a known one at most 1 time in 16.  When the
    stamp wraps (every 255 generations) the table starts empty again.
    """

    __slots__ = ("generation", "left", "mask", "size", "stamps")

    def __init__(self, bits: int = SKETCH_BITS):
        self.stamps = bytearray(1 << bits)
        self.mask = (1 << bits) - 1
        self.generation = 1
        # GENERATION for the full size; a smaller sketch, a generation as
        # small in proportion (the same 1 in 16).
        self.size = self.left = GENERATION >> (SKETCH_BITS - bits)

    def seen(self, key) -> bool:
        """Note ``key``; whether it was noted lately (never a false no)."""
        i = hash(key) & self.mask
        stamps = self.stamps
        old = stamps[i]
        stamps[i] = now = self.generation
        self.left -= 1
        if not self.left:
            self.left = self.size
            if now == 255:
                self.stamps = bytearray(len(stamps))
                self.generation = 1
            else:
                self.generation = now + 1
        return old != 0 and now - old <= 1


class PairTable:
    """The segments: ``probation`` and ``protected`` (the segmented LRU
    above, ``max_entries`` together), and ``pinned``: pairs reported as a
    scan, which no new pair evicts; they stay until their own expiry
    (docs/contract.md D6), at most ``max_entries * PINNED_SHARE`` of them (then the least
    recently active ends early, with its expired line)."""

    __slots__ = (
        "max_entries",
        "next_due",
        "pinned",
        "probation",
        "protected",
        "sightings",
        "sketch_bits",
    )

    def __init__(self, max_entries: int, sketch_bits: int = SKETCH_BITS):
        self.max_entries = max_entries
        self.sketch_bits = sketch_bits
        self.probation: OrderedDict = OrderedDict()
        self.protected: OrderedDict = OrderedDict()
        self.pinned: OrderedDict = OrderedDict()
        self.next_due = float("inf")  # no entry expires before this
        self.sightings: Sightings | None = None  # made when the table first fills

    def get(self, pair):
        entry = self.protected.get(pair)
        if entry is None:
            entry = self.probation.get(pair)
            if entry is None and self.pinned:
                entry = self.pinned.get(pair)
        return entry

    def pin(self, pair):
        """The pair was just reported as a scan: it keeps its entry until it
        expires.  Returns a pinned entry that had to end early, if any."""
        entry = self.protected.pop(pair, None)
        if entry is None:
            entry = self.probation.pop(pair, None)
        if entry is None:
            return None
        self.pinned[pair] = entry
        if len(self.pinned) > self.max_entries * PINNED_SHARE:
            return self.pinned.popitem(last=False)[1]
        return None

    def touch(self, pair, entry):
        """The pair's entry got a packet (its expiry already pushed).

        Returns an entry evicted to make room, if any: only when the protected
        segment is over its share does its least recently active pair go.
        """
        evicted = None
        if pair in self.protected:
            self.protected.move_to_end(pair)
        elif self.pinned and pair in self.pinned:
            self.pinned.move_to_end(pair)
        elif entry.count >= 2:
            del self.probation[pair]
            self.protected[pair] = entry
            if len(self.protected) > self.max_entries * PROTECTED_SHARE:
                evicted = self.protected.popitem(last=False)[1]
        else:
            self.probation.move_to_end(pair)
        if entry.expiry < self.next_due:
            self.next_due = entry.expiry
        return evicted

    def admit(self, pair) -> bool:
        """Whether a new pair gets an entry: while there is room, yes; when
        the table is full, only if the sketch has seen the pair before."""
        if len(self.probation) + len(self.protected) < self.max_entries:
            return True
        return (self.sightings or self.sighted()).seen(pair)

    def sighted(self) -> Sightings:
        """The sketch, made when the table first fills."""
        self.sightings = Sightings(self.sketch_bits)
        return self.sightings

    def add(self, pair, entry):
        """Insert a new pair that ``admit`` let in; returns the entry evicted
        to make room, if any."""
        if entry.expiry < self.next_due:
            self.next_due = entry.expiry
        if len(self.probation) + len(self.protected) < self.max_entries:
            self.probation[pair] = entry
            return None
        self.protected[pair] = entry  # the table is full: a pair seen before
        if len(self.protected) > self.max_entries * PROTECTED_SHARE or not self.probation:
            return self.protected.popitem(last=False)[1]
        return self.probation.popitem(last=False)[1]

    def remove(self, pair) -> None:
        if self.protected.pop(pair, None) is None and self.probation.pop(pair, None) is None:
            self.pinned.pop(pair, None)

    def expired(self, ts: float) -> list:
        """Remove and return the entries whose expiry is at or before ``ts``."""
        if ts < self.next_due:
            return []
        out = []
        segments = (self.probation, self.protected, self.pinned)
        for segment in segments:
            while segment:
                pair, entry = next(iter(segment.items()))
                if entry.expiry > ts:
                    break
                del segment[pair]
                out.append(entry)
        fronts = [next(iter(s.values())).expiry for s in segments if s]
        self.next_due = min(fronts, default=float("inf"))
        return out

    def entries(self) -> list:
        """Every entry, least recently active first in each segment."""
        return [*self.probation.values(), *self.protected.values(), *self.pinned.values()]

    def __len__(self) -> int:
        return len(self.probation) + len(self.protected) + len(self.pinned)


class Report(Protocol):
    """What the tables tell as it happens (``counting.Scans`` listens)."""

    def detected(self, when: float, kind: str, entry) -> None:
        """A pair became a scan or flood of ``kind`` (its line is written)."""

    def probe_failed(
        self, when: float, kind: str, src: bytes, dst: bytes, port: int, why: str, alarmed: bool
    ) -> None:
        """A probe of the default counting was refused, left unanswered or
        left half open (``why``); ``alarmed``: its pair is a scan already."""


class KindTables:
    """A ``PairTable`` per kind and what every table of detections does with
    them (scans.py, probes.py, sweeps.py): a detected entry is pinned until
    its own expiry; one that ends (evicted, expired, or replaced by the
    pair's next packet) is kept in ``ended`` as ``(when, kind, entry)`` if it
    was detected; ``next_due`` is the earliest time anything is due, so the
    engine calls ``expire`` only then.  Entries need ``count``, ``expiry``
    and ``detected``."""

    def __init__(self, kinds, max_entries: int, sketch_bits: int = SKETCH_BITS):
        self.tables: dict[str, PairTable] = {k: PairTable(max_entries, sketch_bits) for k in kinds}
        self.ended: list[tuple[float, str, object]] = []
        self.next_due = float("inf")

    def closing(self, kind: str, entry) -> None:
        """A detected entry ends (a table's own bookkeeping, if any)."""

    def end(self, when: float, kind: str, entry) -> None:
        if entry.detected:
            self.closing(kind, entry)
            self.ended.append((when, kind, entry))
            if when < self.next_due:
                self.next_due = when

    def pin(self, ts: float, kind: str, pair) -> None:
        """``pair`` was just detected: kept until its own expiry (the pinned
        entry that ends early to make room, if any, ends now)."""
        ended = self.tables[kind].pin(pair)
        if ended is not None:
            self.end(ts, kind, ended)

    def take_ended(self, ts: float) -> list[tuple[float, str, object]]:
        """Remove the entries silent past their expiry at ``ts``; the detected
        ones that ended (those too), in time order."""
        ended, self.ended = self.ended, []
        for kind, table in self.tables.items():
            for entry in table.expired(ts):
                if entry.detected:
                    self.closing(kind, entry)
                    ended.append((entry.expiry, kind, entry))
        ended.sort(key=_when)
        return ended

    def still_open(self) -> list[tuple[str, object]]:
        """(kind, entry) of every detection not ended yet; each is then
        taken as ended (the daemon stops: its end line is written now)."""
        found = []
        for kind, table in self.tables.items():
            for entry in table.entries():
                if entry.detected:
                    entry.detected = False
                    found.append((kind, entry))
        return found

    def tables_due(self) -> float:
        return min((t.next_due for t in self.tables.values()), default=float("inf"))

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())


def _when(ended: tuple) -> float:
    return ended[0]
