"""The scan and flood table (spec A8): state per (source, destination).

Classic counting, as 2.2.3: every packet of a pair and kind counts and
pushes the pair's expiry to now + timeout; the pair is a scan once its count
reaches the threshold.  Tables are ordered by last activity, so expiry and
eviction both take from the front (least recently active first) and state
is bounded by ``max_entries`` per kind, whatever the traffic (spec C6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..kinds import KINDS as DECLARED
from .pairs import PairTable

MAX_DPORTS = 10  # distinct destination ports remembered per pair
MAX_SPORTS = 5  # distinct source ports remembered per pair
MAX_ENTRIES = 8192  # pairs per kind; then the least recently active goes (pairs.py)


@dataclass(frozen=True)
class ScanKind:
    key: str
    name: str  # as in the messages
    threshold: int  # packets
    timeout: float  # seconds of silence that end the pair


# 2.2.3's kinds and numbers (kinds.py declares them).
KINDS: dict[str, ScanKind] = {
    k.key: ScanKind(k.key, k.name, *k.classic) for k in DECLARED.values() if k.classic
}

# What ``count`` says about the packet.
COUNTED = 0  # below the threshold: the packet goes on
DETECTED = 1  # this packet reached the threshold: write the detection line
SWALLOWED = 2  # the pair is a detected scan: the packet is swallowed


class Entry:
    __slots__ = ("bytes", "count", "detected", "dports", "dst", "expiry", "sports", "src")

    def __init__(self, src: bytes, dst: bytes):
        self.src = src
        self.dst = dst
        self.count = 0
        self.bytes = 0
        self.sports: list[int] = []
        self.dports: list[int] = []
        self.expiry = 0.0
        self.detected = False


@dataclass(frozen=True)
class Ended:
    """A detected scan that is over: write its ``mode expired`` line at ``when``."""

    when: float
    kind: ScanKind
    entry: Entry


class ScanTable:
    def __init__(self, kinds: dict[str, ScanKind] = KINDS, max_entries: int = MAX_ENTRIES):
        self.kinds = kinds
        self.tables: dict[str, PairTable] = {k: PairTable(max_entries) for k in kinds}
        self.ended: list[Ended] = []  # evicted scans, drained by ``expire``
        self.next_due = float("inf")  # nothing to expire before this
        # Called with (ts, key, entry) as a pair reaches its threshold.
        self.on_detected: Callable[[float, str, Entry], None] = lambda ts, key, entry: None

    def _end(self, when: float, kind: ScanKind, entry: Entry) -> None:
        if entry.detected:
            self.ended.append(Ended(when, kind, entry))
            if when < self.next_due:
                self.next_due = when

    def count(
        self,
        key: str,
        ts: float,
        src: bytes,
        dst: bytes,
        nbytes: int,
        sport: int | None = None,
        dport: int | None = None,
    ) -> int:
        kind = self.kinds[key]
        table = self.tables[key]
        pair = (src, dst)
        # PairTable.get and .admit, inline: a flood of new pairs ends here,
        # twice a SYN in 2.2.3's counting (each call saved about 2% of it)
        protected, probation = table.protected, table.probation
        entry = protected.get(pair)
        if entry is None:
            entry = probation.get(pair)
            if entry is None and table.pinned:
                entry = table.pinned.get(pair)
        if entry is not None and entry.expiry <= ts:
            table.remove(pair)
            self._end(entry.expiry, kind, entry)
            entry = None
        new = entry is None
        if new:
            if len(probation) + len(protected) >= table.max_entries:
                sightings = table.sightings or table.sighted()
                if not sightings.seen(pair):
                    return COUNTED  # full, and a pair never seen lately: not kept
            entry = Entry(src, dst)
        entry.count += 1
        entry.bytes += nbytes
        entry.expiry = expiry = ts + kind.timeout
        if expiry < self.next_due:
            self.next_due = expiry
        if sport is not None:
            if sport not in entry.sports and len(entry.sports) < MAX_SPORTS:
                entry.sports.append(sport)
            if dport not in entry.dports and len(entry.dports) < MAX_DPORTS:
                entry.dports.append(dport)
        evicted = table.add(pair, entry) if new else table.touch(pair, entry)
        if evicted is not None:  # its scan, if any, ends now (spec A8)
            self._end(ts, kind, evicted)
        if entry.detected:
            return SWALLOWED
        if entry.count >= kind.threshold:
            entry.detected = True
            ended = table.pin(pair)  # kept until its own expiry
            if ended is not None:
                self._end(ts, kind, ended)
            self.on_detected(ts, key, entry)
            return DETECTED
        return COUNTED

    def expire(self, ts: float) -> list[Ended]:
        """Remove pairs silent past their timeout; return the detected ones."""
        if ts < self.next_due:
            return []
        ended, self.ended = self.ended, []
        for key, table in self.tables.items():
            for entry in table.expired(ts):
                if entry.detected:
                    ended.append(Ended(entry.expiry, self.kinds[key], entry))
        self.next_due = min(t.next_due for t in self.tables.values())
        ended.sort(key=lambda e: e.when)
        return ended

    def close(self) -> list[Ended]:
        """End of input: every detected scan ends at its expiry time."""
        return self.expire(float("inf"))

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())
