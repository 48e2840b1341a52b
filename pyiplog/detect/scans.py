"""The scan and flood table (docs/contract.md D2): state per (source, destination).

Classic counting, as 2.2.3: every packet of a pair and kind counts and
pushes the pair's expiry to now + timeout; the pair is a scan once its count
reaches the threshold.  Tables are ordered by last activity, so expiry and
eviction both take from the front (least recently active first) and state
is bounded by ``max_entries`` per kind, whatever the traffic (docs/contract.md D6).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ..kinds import KINDS as DECLARED
from .limits import MAX_DPORTS, MAX_PAIRS, MAX_SPORTS
from .pairs import KindTables, Report


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


class Verdict(IntEnum):
    """What ``ScanTable.count`` says about the packet (true: it stops there)."""

    COUNTED = 0  # below the threshold: the packet goes on
    DETECTED = 1  # this packet reached the threshold: the detection line is written
    SWALLOWED = 2  # the pair is a detected scan: the packet is swallowed


COUNTED, DETECTED, SWALLOWED = Verdict


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


class ScanTable(KindTables):
    def __init__(self, report: Report, kinds: dict[str, ScanKind] = KINDS):
        super().__init__(kinds, MAX_PAIRS)
        self.kinds = kinds
        self.report = report  # told of each pair as it reaches its threshold

    def count(
        self,
        key: str,
        ts: float,
        src: bytes,
        dst: bytes,
        nbytes: int,
        sport: int | None = None,
        dport: int | None = None,
    ) -> Verdict:
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
            self.end(entry.expiry, key, entry)
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
        if evicted is not None:  # its scan, if any, ends now (docs/contract.md D6)
            self.end(ts, key, evicted)
        if entry.detected:
            return SWALLOWED
        if entry.count >= kind.threshold:
            entry.detected = True
            self.pin(ts, key, pair)
            self.report.detected(ts, key, entry)
            return DETECTED
        return COUNTED

    def expire(self, ts: float) -> list[tuple[float, str, Entry]]:
        """Remove pairs silent past their timeout; the detected ones that ended."""
        if ts < self.next_due:
            return []
        ended = self.take_ended(ts)
        self.next_due = self.tables_due()
        return ended

    def close(self) -> list[tuple[float, str, Entry]]:
        """End of input: every detected scan ends at its expiry time."""
        return self.expire(float("inf"))
