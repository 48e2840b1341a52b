"""Scan and flood detection without 2.2.3's false alarms (docs/contract.md D3.

Per (source, destination) and kind, like the classic table, but:

- a **scan** is many distinct destination ports that *failed*: refused (a
  RST or an ICMP unreachable came back), left unanswered for
  ``window reply`` seconds, or (TCP) left half open: the destination
  accepted (SYN-ACK) and the prober reset it or never answered, never
  completing the connection.  A port the destination serves (a completed
  connection, a UDP reply) never counts.  The count lives as long as the
  source keeps probing with gaps shorter than the kind's window, so slow
  scans (nmap -T1, 15 s apart) are caught;
- a **flood** is a rate: ``threshold`` packets within ``window`` seconds
  (a sliding window) of probes to ports not served, and of connections
  left half open; a one-way stream's packets count only toward its own
  rate.

Detection and expiry lines are those of 2.2.3, so a real attack still
reads the same.
"""

from __future__ import annotations

from collections import deque

from ..kinds import Tuning
from .limits import MAX_DPORTS, MAX_PAIRS, MAX_PENDING, MAX_SPORTS, MAX_WAITING
from .pairs import KindTables, Report
from .scans import Entry as ScanEntry
from .sweeps import Window, slide

# Why a probe failed (the failed probes' JSON lines say it: docs/contract.md O4).
REFUSED, UNANSWERED, HALF_OPEN = "refused", "unanswered", "half_open"
INF = float("inf")


class Entry(ScanEntry):
    __slots__ = (
        "cur",
        "failed",
        "flood",
        "pending",
        "prev",
        "provisional",
        "served",
        "start",
        "stream",
        "unconfirmed",
    )

    def __init__(self, src: bytes, dst: bytes, ts: float):
        super().__init__(src, dst)
        # Made when first needed: most pairs of a flood never need them.
        self.pending: dict[int, float] | None = None  # port -> when probed
        self.failed: set[int] | None = None
        self.served: set[int] | None = None
        self.start = ts  # sliding window (sweeps.slide): this window's count, the previous one's
        self.cur = 0
        self.prev = 0
        # A stream's ports and rate: (sport, dport, Window) when the kind has one.
        self.stream: tuple[int, int, Window] | None = None
        # The stream's first packet is counted in the pair's rate too until
        # a second one with its ports shows it is a stream (D3: a flood whose
        # source port changes every packet is counted whole).
        self.provisional = False
        self.flood = False  # detected as a flood (a rate), not a scan
        # Connections whose SYN-ACK came again, half open unless the client
        # shows them: (port, source port) -> when (ProbeTable.unacked).
        self.unconfirmed: dict[tuple[int, int], float] | None = None


class ProbeTable(KindTables):
    """The pairs of every kind.  Scans found while a packet or an answer is
    handled go to ``report`` at once; those found by ``expire`` wait in
    ``detections`` for ``take_detections`` (the caller orders them with the
    scans that ended)."""

    def __init__(self, report: Report, tuning: dict[str, Tuning], reply_wait: float):
        super().__init__(tuning, MAX_PAIRS)
        self.report = report
        self.tuning = tuning
        self.reply_wait = reply_wait
        self.waiting: deque = deque()  # (deadline, key, pair, port, sent)
        # Connections whose SYN-ACK came again: (deadline, key, pair, port, sport, when)
        self.confirming: deque = deque()
        self.detections: list[tuple[float, str, Entry]] = []
        self.floods_open = 0  # pairs detected as floods, not yet ended

    def closing(self, kind: str, entry: Entry) -> None:
        if entry.flood:
            self.floods_open -= 1

    def packet(
        self,
        key: str,
        ts: float,
        src: bytes,
        dst: bytes,
        nbytes: int,
        sport: int | None = None,
        dport: int | None = None,
        probe: bool = True,
        flood: bool = True,
    ) -> bool:
        """A packet of the pair: True when it is swallowed (a detected pair).

        ``probe``: the packet asks for an answer (SYN, a UDP datagram) and
        its port counts toward a scan unless served.  ``flood``: it counts
        toward the rate.  A newly detected pair is reported at once.
        """
        tune = self.tuning[key]
        table = self.tables[key]
        pair = (src, dst)
        entry = table.get(pair)
        if entry is not None and entry.expiry <= ts:
            table.remove(pair)
            self.end(entry.expiry, key, entry)
            entry = None
        if entry is None:  # a new pair: most of a spoofed flood, kept short
            return self._first(key, tune, ts, pair, nbytes, sport, dport, probe, flood)
        entry.count += 1
        entry.bytes += nbytes
        entry.expiry = expiry = ts + tune.hold
        if expiry < self.next_due:
            self.next_due = expiry
        evicted = table.touch(pair, entry)
        if evicted is not None:
            self.end(ts, key, evicted)
        if entry.detected:
            return True
        served = entry.served is not None and dport in entry.served
        if sport is not None:
            sports, dports = entry.sports, entry.dports
            if len(sports) < MAX_SPORTS and sport not in sports:
                sports.append(sport)
            if len(dports) < MAX_DPORTS and not served and dport not in dports:
                dports.append(dport)
        if probe and dport is not None and not served and tune.scan_ports:
            self._probe(ts, key, pair, entry, dport)
        if not flood:
            return False
        # The rate: the stream's, if the packet is the pair's stream (its
        # first ports), else the pair's; a SYN to a served port counts when
        # its connection is left half open (``half_open``).
        stream = entry.stream
        if stream is not None and stream[0] == sport and stream[1] == dport:
            if entry.provisional:
                self._proven(entry)
            if stream[2].add(ts, tune.flood_window) >= tune.stream_packets:
                return self._flooded(ts, key, entry, None)
            return False
        if (
            tune.flood_packets
            and not served
            and slide(entry, ts, tune.flood_window) >= tune.flood_packets
        ):
            return self._flooded(ts, key, entry, dport)
        return False

    def _first(
        self, key: str, tune: Tuning, ts: float, pair, nbytes: int, sport, dport, probe, flood
    ) -> bool:
        """The pair's first packet (or its first since it ended)."""
        table = self.tables[key]
        if not table.admit(pair):
            return False
        entry = Entry(pair[0], pair[1], ts)
        entry.count = 1
        entry.bytes = nbytes
        entry.expiry = expiry = ts + tune.hold
        if expiry < self.next_due:
            self.next_due = expiry
        evicted = table.add(pair, entry)
        if evicted is not None:
            self.end(ts, key, evicted)
        if sport is not None:
            entry.sports.append(sport)
            entry.dports.append(dport)
        if probe and dport is not None and tune.scan_ports:
            entry.pending = {dport: ts}
            self._wait(ts, key, pair, dport)
        swallowed = False
        if tune.stream_packets and sport is not None:
            stream = Window(ts)
            stream.add(ts, tune.flood_window)
            entry.stream = (sport, dport, stream)
            entry.provisional = flood
        if flood and tune.flood_packets:
            entry.cur = 1
            if tune.flood_packets <= 1:
                self._detect(ts, key, entry, flood=True)
                swallowed = True
        if self.detections:
            self._report()
        return swallowed

    def _probe(self, ts: float, key: str, pair, entry: Entry, port: int) -> None:
        """A probe of ``port``, unless one waits for its answer or it failed
        already: it waits for its answer (``window reply``)."""
        pending = entry.pending
        if pending is None:
            pending = entry.pending = {}
        if (
            port not in pending
            and (entry.failed is None or port not in entry.failed)
            and len(pending) < MAX_PENDING
        ):
            pending[port] = ts
            self._wait(ts, key, pair, port)
            if self.detections:  # a flood of probes: the oldest ones failed
                self._report()

    @staticmethod
    def _proven(entry: Entry) -> None:
        """A second packet of the stream: a stream after all, so its first
        packet leaves the pair's rate."""
        entry.provisional = False
        if entry.cur:
            entry.cur -= 1

    def _flooded(self, ts: float, key: str, entry: Entry, dport: int | None) -> bool:
        """The pair's rate made it a flood (``dport``: the flooded port, listed
        first; None for a stream's, whose port is its first already)."""
        self._flood(ts, key, entry, dport)
        self._report()
        return True

    def _flood(self, ts: float, key: str, entry: Entry, dport: int | None) -> None:
        if dport is not None and dport not in entry.dports:
            entry.dports.insert(0, dport)  # the flooded port, served or not
            del entry.dports[MAX_DPORTS:]
        self._detect(ts, key, entry, flood=True)

    def answered(
        self, key: str, ts: float, src: bytes, dst: bytes, port: int, refused: bool
    ) -> None:
        """``dst`` answered ``src``'s probe to ``port``: served, or refused.

        Only pairs already probing are affected: answers to nobody's probe
        cost nothing.
        """
        entry = self.tables[key].get((src, dst))
        if entry is None or entry.expiry <= ts or (entry.pending is None and refused):
            return
        if not refused:
            if entry.served is None:
                entry.served = set()
            entry.served.add(port)
            if entry.pending is not None:
                entry.pending.pop(port, None)
            if entry.failed is not None:
                entry.failed.discard(port)
            if port in entry.dports:
                entry.dports.remove(port)
            return
        if entry.pending.pop(port, None) is not None:
            self._failed(ts, key, entry, port, REFUSED)
            if self.detections:
                self._report()

    def half_open(self, key: str, ts: float, src: bytes, dst: bytes, port: int) -> bool:
        """``src`` left a connection to ``dst``'s served ``port`` half open:
        it reset our SYN-ACK (or never answered it: ``unacked``).  A probe
        of the port after all, toward the scan and the SYN flood
        (docs/contract.md D3); a connection the client completes never comes
        here.  True when the pair of ``key`` was the one probing it."""
        entry = self._serving(key, src, dst, port)
        if entry is None:
            return False
        if entry.expiry > ts and not entry.detected:
            self._half_open(ts, key, entry, port)
            if self.detections:
                self._report()
        return True

    def unacked(self, key: str, ts: float, src: bytes, dst: bytes, port: int, sport: int) -> bool:
        """``dst`` sent its SYN-ACK for ``src``'s connection from ``sport`` to
        the served ``port`` again: no ACK reached it.  Half open, unless
        ``src`` shows the connection within ``window reply`` (``completed``):
        a host whose accept queue is full drops the ACK of a connection the
        client completed, and sends its SYN-ACK again too (a busy server
        under a load test).  True when the pair of ``key`` was probing it."""
        entry = self._serving(key, src, dst, port)
        if entry is None:
            return False
        if entry.expiry <= ts or entry.detected:
            return True
        unconfirmed = entry.unconfirmed
        if unconfirmed is None:
            unconfirmed = entry.unconfirmed = {}
        if len(unconfirmed) >= MAX_PENDING:  # a flood of them: no wait
            self._half_open(ts, key, entry, port)
            if self.detections:
                self._report()
            return True
        unconfirmed[port, sport] = ts
        deadline = ts + self.reply_wait
        confirming = self.confirming
        confirming.append((deadline, key, (src, dst), port, sport, ts))
        if len(confirming) > MAX_WAITING:  # the oldest waits no more
            self._unconfirmed(ts, *confirming.popleft()[1:])
            if self.detections:
                self._report()
        if deadline < self.next_due:
            self.next_due = deadline
        return True

    def completed(self, key: str, src: bytes, dst: bytes, port: int, sport: int) -> None:
        """``src`` ended (FIN) or reset (RST+ACK) its connection from
        ``sport`` to ``dst``'s ``port``: it had completed it."""
        entry = self.tables[key].get((src, dst))
        if entry is not None and entry.unconfirmed:
            entry.unconfirmed.pop((port, sport), None)

    def _unconfirmed(self, when: float, key: str, pair, port: int, sport: int, sent: float) -> None:
        """A connection whose SYN-ACK came again was not shown completed by ``when``."""
        entry = self.tables[key].get(pair)
        if entry is None or not entry.unconfirmed or entry.unconfirmed.get((port, sport)) != sent:
            return
        del entry.unconfirmed[port, sport]
        if entry.expiry > when and not entry.detected:
            self._half_open(when, key, entry, port)

    def _serving(self, key: str, src: bytes, dst: bytes, port: int) -> Entry | None:
        """The pair of ``key`` probing ``dst``'s ``port``, if ``dst`` serves it."""
        entry = self.tables[key].get((src, dst))
        if entry is None or entry.served is None or port not in entry.served:
            return None
        return entry

    def _half_open(self, ts: float, key: str, entry: Entry, port: int) -> None:
        tune = self.tuning[key]
        dports = entry.dports
        if port not in dports and len(dports) < MAX_DPORTS:
            dports.append(port)
        if tune.scan_ports and (entry.failed is None or port not in entry.failed):
            self._failed(ts, key, entry, port, HALF_OPEN)
        if (
            not entry.detected
            and tune.flood_packets
            and slide(entry, ts, tune.flood_window) >= tune.flood_packets
        ):
            self._flood(ts, key, entry, port)

    def _report(self) -> None:
        for when, key, entry in self.take_detections():
            self.report.detected(when, key, entry)

    def _wait(self, ts: float, key: str, pair, port: int) -> None:
        """The probe to ``port`` waits ``reply_wait`` seconds for its answer."""
        deadline = ts + self.reply_wait
        waiting = self.waiting
        waiting.append((deadline, key, pair, port, ts))
        if len(waiting) > MAX_WAITING:  # a flood: the oldest waits no more
            self._unanswered(ts, *waiting.popleft())
        if deadline < self.next_due:
            self.next_due = deadline

    def _unanswered(
        self, when: float, deadline: float, key: str, pair, port: int, sent: float
    ) -> None:
        """A probe got no answer by ``when``: it failed, if it is still waiting."""
        entry = self.tables[key].get(pair)
        if entry is not None and entry.pending is not None and entry.pending.get(port) == sent:
            del entry.pending[port]
            self._failed(when, key, entry, port, UNANSWERED)

    def _failed(self, ts: float, key: str, entry: Entry, port: int, why: str) -> None:
        self.report.probe_failed(ts, key, entry.src, entry.dst, port, why, entry.detected)
        if entry.failed is None:
            entry.failed = set()
        entry.failed.add(port)
        if not entry.detected and len(entry.failed) >= self.tuning[key].scan_ports:
            self._detect(ts, key, entry)

    def _detect(self, ts: float, key: str, entry: Entry, flood: bool = False) -> None:
        entry.detected = True
        if flood:
            entry.flood = True
            self.floods_open += 1
        self.detections.append((ts, key, entry))
        self.pin(ts, key, (entry.src, entry.dst))

    def expire(self, ts: float) -> list[tuple[float, str, Entry]]:
        """Probes left unanswered fail; silent pairs end.  Returns the ended scans."""
        if ts < self.next_due:
            return []
        waiting, confirming = self.waiting, self.confirming
        while True:  # the two queues' deadlines in time order
            if (
                waiting
                and waiting[0][0] <= ts
                and (not confirming or waiting[0][0] <= confirming[0][0])
            ):
                deadline, *probe = waiting.popleft()
                self._unanswered(deadline, deadline, *probe)
            elif confirming and confirming[0][0] <= ts:
                deadline, *connection = confirming.popleft()
                self._unconfirmed(deadline, *connection)
            else:
                break
        ended = self.take_ended(ts)
        self.next_due = min(
            self.tables_due(),
            waiting[0][0] if waiting else INF,
            confirming[0][0] if confirming else INF,
        )
        return ended

    def take_detections(self) -> list[tuple[float, str, Entry]]:
        found, self.detections = self.detections, []
        return found
