"""Scan and flood detection without 2.2.3's false alarms (spec C3, issue 5).

Per (source, destination) and kind, like the classic table, but:

- a **scan** is many distinct destination ports that *failed*: refused (a
  RST or an ICMP unreachable came back) or left unanswered for
  ``window reply`` seconds.  A port the destination answers (SYN-ACK, a UDP
  reply) is a served port and never counts.  The count lives as long as the
  source keeps probing with gaps shorter than the kind's window, so slow
  scans (nmap -T1, 15 s apart) are caught;
- a **flood** is a rate: ``threshold`` packets within ``window`` seconds
  (a sliding window; served and reply traffic excluded where the kind says).

Detection and expiry lines are those of 2.2.3, so a real attack still
reads the same.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from .scans import MAX_DPORTS, MAX_SPORTS, Ended, ScanKind

MAX_ENTRIES = 65536
MAX_PENDING = 256  # unanswered probes remembered per pair


@dataclass(frozen=True)
class Tuning:
    """The modern counting's numbers for one kind (all configurable)."""

    scan_ports: int  # distinct failed ports that make a scan (0: no scan rule)
    scan_gap: float  # seconds of silence that end the pair
    flood_packets: int  # packets within flood_window that make a flood (0: none)
    flood_window: float
    flood_served: bool = False  # served traffic counts toward the flood (SYN floods)


class Entry:
    __slots__ = ("src", "dst", "count", "bytes", "sports", "dports", "expiry", "detected",
                 "pending", "failed", "served", "win_start", "cur", "prev")

    def __init__(self, src: bytes, dst: bytes):
        self.src = src
        self.dst = dst
        self.count = 0
        self.bytes = 0
        self.sports: list[int] = []
        self.dports: list[int] = []
        self.expiry = 0.0
        self.detected = False
        self.pending: dict[int, float] = {}
        self.failed: set[int] = set()
        self.served: set[int] = set()
        self.win_start = 0.0
        self.cur = 0
        self.prev = 0

    def rate(self, ts: float, window: float) -> float:
        """Count this packet; the packets in the last ``window`` seconds (estimate)."""
        elapsed = ts - self.win_start
        if elapsed >= window:
            self.prev = self.cur if elapsed < 2 * window else 0
            self.win_start += window * (elapsed // window)
            self.cur = 0
            elapsed = ts - self.win_start
        self.cur += 1
        return self.prev * max(0.0, 1 - elapsed / window) + self.cur


class ProbeTable:
    def __init__(self, kinds: dict[str, ScanKind], tuning: dict[str, Tuning],
                 reply_wait: float, max_entries: int = MAX_ENTRIES):
        self.kinds = kinds
        self.tuning = tuning
        self.reply_wait = reply_wait
        self.max_entries = max_entries
        self.tables: dict[str, OrderedDict] = {k: OrderedDict() for k in tuning}
        self.waiting: deque = deque()  # (deadline, key, pair, port, sent)
        self.ended: list[Ended] = []
        self.detections: list[tuple[float, str, Entry]] = []

    def _entry(self, key: str, ts: float, src: bytes, dst: bytes) -> Entry:
        table = self.tables[key]
        pair = (src, dst)
        entry = table.get(pair)
        if entry is None or entry.expiry <= ts:
            if entry is not None:
                del table[pair]
                if entry.detected:
                    self.ended.append(Ended(entry.expiry, self.kinds[key], entry))
            entry = table[pair] = Entry(src, dst)
            entry.win_start = ts
            if len(table) > self.max_entries:
                _, old = table.popitem(last=False)
                if old.detected:
                    self.ended.append(Ended(ts, self.kinds[key], old))
        else:
            table.move_to_end(pair)
        return entry

    def packet(self, key: str, ts: float, src: bytes, dst: bytes, nbytes: int,
               sport: int | None = None, dport: int | None = None,
               probe: bool = True, flood: bool = True) -> bool:
        """A packet of the pair: True when it is swallowed (a detected pair).

        ``probe``: the packet asks for an answer (SYN, a UDP datagram) and
        its port counts toward a scan unless served.  ``flood``: it counts
        toward the rate.  A newly detected pair is queued in ``detections``.
        """
        tune = self.tuning[key]
        entry = self._entry(key, ts, src, dst)
        entry.count += 1
        entry.bytes += nbytes
        entry.expiry = ts + max(tune.scan_gap, tune.flood_window)
        if entry.detected:
            return True
        served = dport is not None and dport in entry.served
        if sport is not None:
            if sport not in entry.sports and len(entry.sports) < MAX_SPORTS:
                entry.sports.append(sport)
            if not served and dport not in entry.dports and len(entry.dports) < MAX_DPORTS:
                entry.dports.append(dport)
        if probe and dport is not None and not served and tune.scan_ports:
            if dport not in entry.failed and dport not in entry.pending \
                    and len(entry.pending) < MAX_PENDING:
                entry.pending[dport] = ts
                self.waiting.append((ts + self.reply_wait, key, (src, dst), dport, ts))
        if flood and tune.flood_packets and (tune.flood_served or not served):
            if entry.rate(ts, tune.flood_window) >= tune.flood_packets:
                if dport is not None and dport not in entry.dports:
                    entry.dports.insert(0, dport)  # the flooded port, served or not
                    del entry.dports[MAX_DPORTS:]
                self._detect(ts, key, entry)
                return True
        return False

    def answered(self, key: str, ts: float, src: bytes, dst: bytes, port: int,
                 refused: bool) -> None:
        """``dst`` answered ``src``'s probe to ``port``: served, or refused."""
        entry = self.tables[key].get((src, dst))
        if entry is None or entry.expiry <= ts:
            if refused:
                return
            entry = self._entry(key, ts, src, dst)
            entry.expiry = ts + max(self.tuning[key].scan_gap, self.tuning[key].flood_window)
        if not refused:
            entry.served.add(port)
            entry.pending.pop(port, None)
            entry.failed.discard(port)
            if port in entry.dports:
                entry.dports.remove(port)
            return
        if entry.pending.pop(port, None) is not None:
            self._failed(ts, key, entry, port)

    def _failed(self, ts: float, key: str, entry: Entry, port: int) -> None:
        entry.failed.add(port)
        if not entry.detected and len(entry.failed) >= self.tuning[key].scan_ports:
            self._detect(ts, key, entry)

    def _detect(self, ts: float, key: str, entry: Entry) -> None:
        entry.detected = True
        self.detections.append((ts, key, entry))

    def expire(self, ts: float) -> list[Ended]:
        """Probes left unanswered fail; silent pairs end.  Returns the ended scans."""
        waiting = self.waiting
        while waiting and waiting[0][0] <= ts:
            deadline, key, pair, port, sent = waiting.popleft()
            entry = self.tables[key].get(pair)
            if entry is not None and entry.pending.get(port) == sent:
                del entry.pending[port]
                self._failed(deadline, key, entry, port)
        ended, self.ended = self.ended, []
        for key, table in self.tables.items():
            while table:
                pair, entry = next(iter(table.items()))
                if entry.expiry > ts:
                    break
                del table[pair]
                if entry.detected:
                    ended.append(Ended(entry.expiry, self.kinds[key], entry))
        ended.sort(key=lambda e: e.when)
        return ended

    def take_detections(self) -> list[tuple[float, str, Entry]]:
        found, self.detections = self.detections, []
        return found

    def __len__(self) -> int:
        return sum(len(t) for t in self.tables.values())
