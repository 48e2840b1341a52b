"""A bounded table of (source, destination) entries that floods cannot flush.

Segmented LRU (spec B8, C6): a new pair starts on probation; its second
packet promotes it.  When the table is full the least recently active
probationary pair goes first, so a million spoofed one-packet sources churn
the probation segment while a scanner, which always sends more than one
packet, stays.  Both segments are ordered by last activity, which is also
expiry order (every packet pushes a pair's expiry by a fixed timeout), so
expiry takes from the fronts.

Entries need ``count`` and ``expiry`` attributes.
"""

from __future__ import annotations

from collections import OrderedDict

PROTECTED_SHARE = 0.75  # of the entries, at most this many protected


class PairTable:
    __slots__ = ("max_entries", "probation", "protected", "next_due")

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.probation: OrderedDict = OrderedDict()
        self.protected: OrderedDict = OrderedDict()
        self.next_due = float("inf")  # no entry expires before this

    def get(self, pair):
        entry = self.protected.get(pair)
        return entry if entry is not None else self.probation.get(pair)

    def touch(self, pair, entry):
        """The pair's entry got a packet (its expiry already pushed).

        Returns an entry evicted to make room, if any: only when the protected
        segment is over its share does its least recently active pair go.
        """
        evicted = None
        if pair in self.protected:
            self.protected.move_to_end(pair)
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

    def add(self, pair, entry):
        """Insert a new pair; returns the entry evicted to make room, if any."""
        self.probation[pair] = entry
        if entry.expiry < self.next_due:
            self.next_due = entry.expiry
        if len(self.probation) + len(self.protected) > self.max_entries:
            segment = self.probation if len(self.probation) > 1 else self.protected
            return segment.popitem(last=False)[1]
        return None

    def remove(self, pair) -> None:
        if self.protected.pop(pair, None) is None:
            self.probation.pop(pair, None)

    def expired(self, ts: float) -> list:
        """Remove and return the entries whose expiry is at or before ``ts``."""
        if ts < self.next_due:
            return []
        out = []
        for segment in (self.probation, self.protected):
            while segment:
                pair, entry = next(iter(segment.items()))
                if entry.expiry > ts:
                    break
                del segment[pair]
                out.append(entry)
        fronts = [next(iter(s.values())).expiry for s in (self.probation, self.protected) if s]
        self.next_due = min(fronts, default=float("inf"))
        return out

    def __len__(self) -> int:
        return len(self.probation) + len(self.protected)
