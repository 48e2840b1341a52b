"""The scans and floods 2.2.3 never named (docs/contract.md D5): default
counting only.

Each is counted in a *sweep*: an entry per key that collects distinct
*items* and is a detection once it holds ``threshold`` of them; it lives
while packets keep coming with gaps shorter than ``window`` seconds, like
the scans of ``probes.py``.  What a kind counts:

- ``ack_scan``, ``maimon_scan``: per (scanner, our host), the ports our
  host answered with a bare RST.  RFC 793 answers a segment that carries an
  ACK and belongs to no connection with a RST *without* ACK; a SYN, FIN,
  null or Xmas probe gets RST+ACK.  So a bare RST is the host saying "that
  ACK was not for me": an ACK or window scan (nmap -sA, -sW: the same
  probes), or a Maimon scan (-sM) when the probe was FIN+ACK.  The probes
  themselves are mostly not captured (the kernel filter drops established
  segments), so these lines count the host's resets;
- ``proto_scan``: per (source, our host), the IP protocols other than TCP,
  UDP and ICMP it sent us, and those our host refused with a protocol
  unreachable;
- ``horizontal_tcp``, ``horizontal_udp``: per (source, protocol, port), the
  hosts of ours whose probe failed (refused or unanswered, as
  ``probes.py`` decides): one port over many hosts;
- ``ping_sweep``: per source, the hosts of ours it sent an echo request;
- ``distributed_flood``, ``distributed_udp``, ``distributed_icmp``: per
  (our host, port; ICMP: our host), SYNs, UDP datagrams or ICMP messages
  from any source at a rate (``threshold`` within ``window`` seconds) from
  at least ``MIN_SOURCES`` sources; while it lasts, the packets' per-packet
  lines are folded into it (``FloodCounter``) and counted, a summary line is
  written every ``FLOOD_SUMMARY`` seconds, and no name lookup is started
  (docs/wire.md W4): a random-source flood writes three kinds of line, not
  a line a packet.

State is bounded as the other tables' (``pairs.PairTable``): a spoofed
flood churns the probation segment, a detected sweep stays until it ends.
The distributed flood's SYN rates (``Rate``) are a plain dict of at most
``MAX_SWEEPS`` ports of ours, the oldest dropped first; its ``Sweep``
exists only once a flood is detected.

``Decoys`` groups the scans of one target and kind that are detected
within ``DECOY_WINDOW`` seconds of each other over mostly the same ports:
nmap -D sends every probe from each decoy and the real source in turn.
"""

from __future__ import annotations

from typing import Protocol

from ..kinds import FLOOD, KINDS, SweepTuning
from .limits import (
    DECOY_WINDOW,
    FLOOD_SUMMARY,
    MAX_GROUPS,
    MAX_ITEMS,
    MAX_SHOWN,
    MAX_SPORTS,
    MAX_SWEEPS,
    MIN_SOURCES,
    SWEEP_SKETCH_BITS,
)
from .pairs import KindTables

# The distributed floods: SYNs, UDP datagrams, ICMP messages to one port of ours.
FLOODS = tuple(k.key for k in KINDS.values() if k.lines == FLOOD)


def slide(counter, ts: float, window: float) -> float:
    """Count a packet at ``ts`` on ``counter`` (any object with ``start``,
    ``cur`` and ``prev``: a ``Window``, or a probe entry, which carries its
    own to spare an object per pair); the packets within the last
    ``window`` seconds, estimated from this window's count and the previous
    one's (a sliding window)."""
    elapsed = ts - counter.start
    if elapsed >= window:
        counter.prev = counter.cur if elapsed < 2 * window else 0
        counter.start += window * (elapsed // window)
        counter.cur = 0
        elapsed = ts - counter.start
    counter.cur += 1
    return counter.prev * (1 - elapsed / window) + counter.cur


class Window:
    """Packets of the last ``window`` seconds (``slide``)."""

    __slots__ = ("cur", "prev", "start")

    def __init__(self, ts: float):
        self.start = ts
        self.cur = 0
        self.prev = 0

    add = slide  # (ts, window) -> the packets within the last window


class Rate(Window):
    """SYNs to one port of ours, counted until they are a flood."""

    __slots__ = ("bytes", "count", "first", "last", "sources", "sweep")

    def __init__(self, ts: float):
        self.reset(ts)

    def reset(self, ts: float) -> None:
        Window.__init__(self, ts)
        self.first = self.last = ts
        self.count = self.bytes = 0
        self.sources: set[bytes] = set()
        self.sweep: Sweep | None = None  # the flood, once detected


class Sweep:
    """One key's state: its items (ordered, the first ``MAX_SHOWN`` shown)."""

    __slots__ = (
        "bytes",
        "count",
        "detected",
        "dst",
        "expiry",
        "items",
        "kind",
        "port",
        "rate",
        "sports",
        "src",
        "summary_at",
    )

    def __init__(self, kind: str, src, dst, port, ts: float):
        self.kind = kind
        self.src = src  # the scanner (None for a distributed flood)
        self.dst = dst  # our host (None for a horizontal scan or ping sweep)
        self.port = port  # the port of a horizontal scan or flood
        self.items: dict = {}
        self.sports: list[int] = []
        self.count = 0  # packets (or answers) counted
        self.bytes = 0
        self.expiry = ts
        self.detected = False
        self.rate = 0  # a flood's packets a second until it was detected
        self.summary_at = float("inf")  # an open flood's next summary

    @property
    def shown(self) -> list:
        return list(self.items)[:MAX_SHOWN]

    @property
    def distinct(self) -> str:
        n = len(self.items)
        return f"at least {n}" if n >= MAX_ITEMS else str(n)


class Group:
    """A detected scan and the lockstep scans that joined it (its decoys)."""

    __slots__ = ("closes", "dst", "key", "ports", "sources")

    def __init__(self, when: float, key: str, src: bytes, dst: bytes, ports: list[int]):
        self.closes = when + DECOY_WINDOW
        self.key = key
        self.dst = dst
        self.ports = list(ports)
        self.sources = [src]


class Decoys:
    def __init__(self):
        self.groups: dict[tuple[bytes, str], Group] = {}

    def joins(self, when: float, key: str, src: bytes, dst: bytes, ports: list[int]) -> bool:
        """A scan of ``key`` was detected: True when it joins a lockstep group
        (its own line is folded into the group's); else it starts one."""
        group = self.groups.get((dst, key))
        if group is not None and when <= group.closes:
            common = len(set(group.ports) & set(ports))
            if src not in group.sources and common * 2 >= min(len(group.ports), len(ports)):
                group.sources.append(src)
                return True
            return False
        if len(self.groups) >= MAX_GROUPS:
            del self.groups[next(iter(self.groups))]
        self.groups[(dst, key)] = Group(when, key, src, dst, ports)
        return False

    @property
    def next_due(self) -> float:
        return next(iter(self.groups.values())).closes if self.groups else float("inf")

    def closing(self, ts: float) -> list[Group]:
        """The groups whose window ended by ``ts``, removed (oldest first)."""
        out = []
        groups = self.groups
        while groups:
            first = next(iter(groups))
            if groups[first].closes > ts:
                break
            out.append(groups.pop(first))
        return out


class SweepReport(Protocol):
    def sweep_detected(self, when: float, entry: Sweep) -> None:
        """A distributed flood was detected (``counting.Scans`` writes it)."""


class FloodCounter:
    """One distributed flood kind (``FLOODS``): a ``Rate`` per port of ours
    (ICMP: per host of ours) until a flood is detected, then its ``Sweep``
    in the sweep table.  ``packet`` is bound straight into a detector:
    every SYN, datagram or message to us comes here."""

    def __init__(self, kind: str, sweeps: SweepTable, report: SweepReport):
        self.kind = kind
        self.sweeps = sweeps
        self.report = report  # told of a flood as it is detected, before its packet is folded
        self.rates: dict[tuple[bytes, int | None], Rate] = {}
        self.threshold, self.window = 0, 0.0  # SweepTable.configure sets them

    def packet(self, ts: float, dst: bytes, port: int | None, src: bytes, nbytes: int) -> bool:
        """A packet to our ``dst``:``port`` (ICMP: no port); True when it is
        folded into a flood (its own line is not written)."""
        key = (dst, port)
        rates = self.rates
        rate = rates.get(key)
        if rate is None:
            if len(rates) >= MAX_SWEEPS:
                del rates[next(iter(rates))]
            rate = rates[key] = Rate(ts)
        elif rate.sweep is not None:
            return self._flooded(ts, key, rate, src, nbytes)
        # Inline, not Window.add: every SYN of the host comes here.
        window = self.window
        elapsed = ts - rate.start
        if ts - rate.last >= window:  # a pause: a new count
            rate.reset(ts)
            elapsed = 0.0
        elif elapsed >= window:
            rate.prev = rate.cur if elapsed < 2 * window else 0
            rate.start += window * (elapsed // window)
            rate.cur = 0
            elapsed = ts - rate.start
        rate.last = ts
        rate.cur += 1
        rate.count += 1
        rate.bytes += nbytes
        sources = rate.sources
        if len(sources) < MAX_ITEMS:
            sources.add(src)
        if (
            rate.prev * (1 - elapsed / window) + rate.cur < self.threshold
            or len(sources) < MIN_SOURCES
        ):
            return False
        kind, sweeps = self.kind, self.sweeps
        entry = sweeps._entry(kind, ts, key, None, dst, port)
        if entry is None:
            return False
        entry.count, entry.bytes = rate.count, rate.bytes
        entry.items = dict.fromkeys(sources)
        # Its rate so far: the packets since its first, over that time.
        entry.rate = round(rate.count / max(ts - rate.first, 1 / self.threshold))
        sweeps._detect(ts, kind, key, entry)
        rate.sweep = entry
        self.report.sweep_detected(ts, entry)
        return True

    def _flooded(self, ts: float, key, rate: Rate, src: bytes, nbytes: int) -> bool:
        """A packet while the flood lasts: into its totals; or it ended: count afresh."""
        kind, sweeps = self.kind, self.sweeps
        entry = sweeps._entry(kind, ts, key, None, key[0], key[1])
        if entry is rate.sweep:
            entry.count += 1
            entry.bytes += nbytes
            if len(entry.items) < MAX_ITEMS:
                entry.items[src] = None
            return True
        if entry is not None:
            sweeps.tables[kind].remove(key)
        rate.reset(ts)
        return self.packet(ts, key[0], key[1], src, nbytes)


class SweepTable(KindTables):
    def __init__(self, report: SweepReport, tuning: dict[str, SweepTuning]):
        """``tuning``: every kind's numbers (``tuning.SWEEPS``)."""
        super().__init__(tuning, MAX_SWEEPS, SWEEP_SKETCH_BITS)
        self.decoys = Decoys()
        self.counters = {kind: FloodCounter(kind, self, report) for kind in FLOODS}
        self.floods: dict[tuple[str, object], Sweep] = {}  # the open floods, by (kind, key)
        self.configure(tuning)

    def configure(self, tuning: dict[str, SweepTuning]) -> None:
        """New numbers (start, SIGHUP); the state is kept."""
        self.tuning = dict(tuning)
        for kind, counter in self.counters.items():
            counter.threshold, counter.window = tuning[kind].threshold, tuning[kind].window

    @property
    def floods_open(self) -> int:
        """Distributed floods detected and not yet ended."""
        return len(self.floods)

    def group(self, when: float, key: str, src: bytes, dst: bytes, ports: list[int]) -> bool:
        """``Decoys.joins``, keeping ``next_due``."""
        joined = self.decoys.joins(when, key, src, dst, ports)
        self.next_due = min(self.next_due, self.decoys.next_due)
        return joined

    def closing(self, kind: str, entry: Sweep) -> None:
        """A detected sweep ended: no more summaries of it, if a flood."""
        if kind in FLOODS:
            key = (kind, (entry.dst, entry.port))
            if self.floods.get(key) is entry:
                del self.floods[key]

    def _entry(self, kind: str, ts: float, key, src, dst, port) -> Sweep | None:
        table = self.tables[kind]
        entry = table.get(key)
        if entry is not None and entry.expiry <= ts:
            table.remove(key)
            self.end(entry.expiry, kind, entry)
            entry = None
        window = self.tuning[kind].window
        if entry is None:
            if not table.admit(key):
                return None
            entry = Sweep(kind, src, dst, port, ts)
            entry.expiry = ts + window
            evicted = table.add(key, entry)
        else:
            entry.expiry = ts + window
            evicted = table.touch(key, entry)
        if evicted is not None:
            self.end(ts, kind, evicted)
        self.next_due = min(self.next_due, entry.expiry)
        return entry

    def note(
        self,
        kind: str,
        ts: float,
        key,
        item,
        src=None,
        dst=None,
        port: int | None = None,
        nbytes: int = 0,
        sport: int | None = None,
        counted: bool = True,
    ) -> Sweep | None:
        """One probe of ``key`` toward ``item`` (``counted``: a packet of the
        scanner's, counted in the totals; else an answer of ours); the entry
        when this made it a detection."""
        entry = self._entry(kind, ts, key, src, dst, port)
        if entry is None:
            return None
        if counted:
            entry.count += 1
            entry.bytes += nbytes
        items = entry.items
        if item not in items and len(items) < MAX_ITEMS:
            items[item] = None
        if sport is not None and sport not in entry.sports and len(entry.sports) < MAX_SPORTS:
            entry.sports.append(sport)
        if not entry.detected and len(items) >= self.tuning[kind].threshold:
            self._detect(ts, kind, key, entry)
            return entry
        return None

    def summaries(self, ts: float) -> list[tuple[float, Sweep]]:
        """The open floods whose summary is due by ``ts``: (when, entry),
        each once (its next one ``FLOOD_SUMMARY`` seconds on)."""
        due = []
        for entry in self.floods.values():
            while entry.summary_at <= ts and entry.summary_at < entry.expiry:
                due.append((entry.summary_at, entry))
                entry.summary_at += FLOOD_SUMMARY
        if due:
            self._due()
        return due

    def _detect(self, ts: float, kind: str, key, entry: Sweep) -> None:
        entry.detected = True
        if kind in FLOODS:
            entry.summary_at = ts + FLOOD_SUMMARY
            self.floods[(kind, key)] = entry
            self.next_due = min(self.next_due, entry.summary_at)
        self.pin(ts, kind, key)

    def expire(self, ts: float) -> list[tuple[float, str, Sweep]]:
        """The detected sweeps that ended by ``ts``.  Decoy groups are closed
        by the caller (``close_groups``), in time order with the scans it
        writes."""
        if ts < self.next_due:
            return []
        ended = self.take_ended(ts)
        self._due()
        return ended

    def close_groups(self, ts: float) -> list[Group]:
        """The decoy groups whose window ended by ``ts``."""
        groups = self.decoys.closing(ts)
        if groups:
            self._due()
        return groups

    def _due(self) -> None:
        summaries = min((e.summary_at for e in self.floods.values()), default=float("inf"))
        self.next_due = min(self.tables_due(), self.decoys.next_due, summaries)
