"""The scan and flood state the protocol detectors share (docs/contract.md D3).

Two countings use it: 2.2.3's (``count``: every packet of a pair counts
toward a threshold, ``scans.ScanTable``) and the default one (``probes``:
failed probes and rates, ``probes.ProbeTable``; ``sweeps``: the kinds
2.2.3 never named; ``flows``: which conversations were seen in which
direction).  Which one a detector calls is fixed when the detectors are
built; the stealth scans (null, FIN, Xmas) count as 2.2.3 did in both.
The tables live as long as the engine, so a reload (SIGHUP) keeps every
scan in progress.

``Scans`` is the tables' ``Report``: it hears of each detection and failed
probe as it happens, decides what follows (a decoy's scan is folded into
its group's, a failed probe is a step of a horizontal scan) and has
``report.ScanLines`` write the lines.
"""

from __future__ import annotations

from collections import Counter

from ..kinds import HOSTS, KINDS
from ..resolve import address_text
from .flows import FlowTable
from .lines import Lines, Names
from .neighbours import Solicitations
from .probes import ProbeTable
from .report import DETECTED, ENDED, SUMMARY, ScanLines
from .scans import ScanTable
from .sweeps import Sweep, SweepTable
from .tuning import Detection

MAX_SINCE = 4096  # detection times remembered for --status (the oldest go first)

# The order of events at the same time, as ``expire`` writes them.
_FOUND, _ENDED, _SWEEP_ENDED, _SUMMARY = range(4)


def smurf_source(src: bytes) -> bytes:
    """Smurf state is per source /24 (docs/contract.md D4): UDP and ICMP
    count into it; an IPv6 source per /64 (a link's prefix)."""
    return src[:3] + b"\0" if len(src) == 4 else src[:8] + bytes(8)


class Scans:
    def __init__(self):
        detection = Detection()  # the numbers are set by configure
        self.table = ScanTable(self, detection.kinds)
        self.probes = ProbeTable(self, detection.modern, detection.reply_wait)
        self.flows = FlowTable()
        self.sweeps = SweepTable(self, detection.sweeps)
        self.solicitations = Solicitations()
        # count(key, ts, src, dst, nbytes, sport=None, dport=None): a packet
        # toward a scan (2.2.3's counting); true (DETECTED, SWALLOWED) when
        # the packet stops there.  The table's own method: no call between
        # it and the detectors on the hot path.
        self.count = self.table.count
        self.horizontal = False  # failed probes are steps of horizontal scans
        self.decoys = False  # lockstep scans are grouped
        self.failed_probes = False
        self.write: ScanLines | None = None
        # When each open scan was detected, for --status: (kind, src, dst[, port]).
        self.since: dict[tuple, float] = {}

    def configure(
        self,
        detection: Detection,
        names: Names,
        lines: Lines,
        horizontal: bool = False,
        decoys: bool = False,
        failed_probes: bool = False,
    ) -> None:
        """New numbers, names and switches (start, SIGHUP); the state is kept."""
        self.table.kinds = detection.kinds
        self.probes.tuning = detection.modern
        self.probes.reply_wait = detection.reply_wait
        self.sweeps.configure(detection.sweeps)
        self.horizontal = horizontal
        self.decoys = decoys
        self.failed_probes = failed_probes  # each failed probe a line of its own (JSON lines)
        self.write = ScanLines(names, lines)

    # --- the tables' Report ---------------------------------------------------------

    def detected(self, when: float, key: str, entry) -> None:
        """A pair reached its threshold (either counting)."""
        self._since((key, entry.src, entry.dst), when)
        if self.decoys and self.sweeps.group(when, key, entry.src, entry.dst, entry.dports):
            return  # a decoy (or the real source) of a scan detected just before
        self.write.detected(when, key, entry)

    def probe_failed(
        self, when: float, key: str, src: bytes, dst: bytes, port: int, why: str, alarmed: bool
    ) -> None:
        """A failed probe is also a step of a horizontal scan of its port;
        in JSON lines, one of its own until its pair's alarm (what a fleet's
        collector counts across sensors: docs/contract.md L9)."""
        if self.failed_probes and not alarmed:
            self.write.probe_failed(when, key, src, dst, port, why)
        if self.horizontal:
            kind = "horizontal_udp" if key == "udp_scan" else "horizontal_tcp"
            self.sweep(kind, when, (src, port), dst, src=src, port=port)

    def sweep_detected(self, when: float, entry: Sweep) -> None:
        """A sweep (or distributed flood) became a detection."""
        self._since((entry.kind, entry.src, entry.dst, entry.port), when)
        self.write.sweep(when, entry, DETECTED)

    # --- the default counting ---------------------------------------------------------
    # ``probes.packet(key, ts, src, dst, nbytes, sport, dport, probe, flood)`` is
    # called directly by the detectors.

    def answered(
        self, keys: tuple[str, ...], ts: float, src: bytes, dst: bytes, port: int, refused: bool
    ) -> None:
        """``dst`` answered ``src``'s probe to ``port`` (served or refused)."""
        for key in keys:
            self.probes.answered(key, ts, src, dst, port, refused)

    def half_open(
        self, keys: tuple[str, ...], ts: float, src: bytes, dst: bytes, port: int
    ) -> None:
        """``src`` left its connection to ``dst``'s ``port`` half open: a
        probe of the first of ``keys`` whose pair was probing it."""
        for key in keys:
            if self.probes.half_open(key, ts, src, dst, port):
                return

    def unacked(
        self, keys: tuple[str, ...], ts: float, src: bytes, dst: bytes, port: int, sport: int
    ) -> None:
        """``dst`` sent its SYN-ACK to ``src``'s connection from ``sport`` again:
        half open unless ``src`` shows it completed (``ProbeTable.unacked``)."""
        for key in keys:
            if self.probes.unacked(key, ts, src, dst, port, sport):
                return

    def completed(
        self, keys: tuple[str, ...], src: bytes, dst: bytes, port: int, sport: int
    ) -> None:
        """``src`` ended its connection from ``sport`` to ``dst``'s ``port``."""
        for key in keys:
            self.probes.completed(key, src, dst, port, sport)

    def solicited(self, ts: float, src: bytes, target: bytes) -> None:
        """``src`` asks the link for ``target`` (a neighbour solicitation)."""
        if self.solicitations.solicited(ts, src, target, self.probes.reply_wait):
            self.sweep("nd_sweep", ts, src, target, src=src)

    def advertised(self, dst: bytes, target: bytes) -> None:
        """``target`` answered ``dst``'s solicitation."""
        self.solicitations.advertised(dst, target)

    def sweep(
        self,
        kind: str,
        ts: float,
        key,
        item,
        src: bytes | None = None,
        dst: bytes | None = None,
        port: int | None = None,
        nbytes: int = 0,
        sport: int | None = None,
        counted: bool = True,
    ) -> None:
        """A probe (or our answer to one) of a sweep kind; see ``SweepTable.note``."""
        entry = self.sweeps.note(kind, ts, key, item, src, dst, port, nbytes, sport, counted)
        if entry is not None:
            self.sweep_detected(ts, entry)

    @property
    def floods_open(self) -> int:
        """Flood alarms open now (default counting): while any is, no name
        lookup starts (docs/wire.md W4)."""
        return self.probes.floods_open + self.sweeps.floods_open

    def flood_targets(self) -> list[tuple[str, bytes, int | None, int]]:
        """The distributed floods open now, each (protocol, our address,
        port (ICMP: None), packets so far): what the daemon's flood lane
        takes (docs/contract.md C3)."""
        return [
            (KINDS[kind].proto, key[0], key[1], entry.count)
            for (kind, key), entry in self.sweeps.floods.items()
        ]

    # --- time -----------------------------------------------------------------------

    def expire(self, ts: float) -> None:
        """Write what ended by ``ts`` (and the probes found unanswered), in time order."""
        if ts < self.table.next_due and ts < self.probes.next_due and ts < self.sweeps.next_due:
            return
        ended = self.table.expire(ts) + self.probes.expire(ts)
        found = self.probes.take_detections()
        swept = self.sweeps.expire(ts)  # may grow while probes fail above
        events = [(when, _ENDED, key, entry) for when, key, entry in ended]
        events += [(when, _FOUND, key, entry) for when, key, entry in found]
        events += [(when, _SWEEP_ENDED, key, entry) for when, key, entry in swept]
        events += [(when, _SUMMARY, None, entry) for when, entry in self.sweeps.summaries(ts)]
        events.sort(key=_time_and_order)
        write = self.write
        for when, event, key, entry in events:
            self._close_groups(when)  # a detection below may still join a group
            if event == _FOUND:
                self.detected(when, key, entry)
            elif event == _ENDED:
                write.ended(when, key, entry)
            elif event == _SWEEP_ENDED:
                write.sweep(when, entry, ENDED)
            else:
                write.sweep(when, entry, SUMMARY)
        self._close_groups(ts)

    def end_open(self, now: float) -> None:
        """The daemon stops: what is due ends as usual, then every scan and
        flood still open ends now, with its end line, so that each start
        (scan_start, flood_start) has its end (docs/contract.md L1)."""
        self.expire(now)
        for group in self.sweeps.close_groups(float("inf")):
            if len(group.sources) > 1:
                self.write.decoys(now, group)
        for table in (self.table, self.probes):
            for key, entry in table.still_open():
                self.write.ended(now, key, entry)
        for _key, entry in self.sweeps.still_open():
            self.write.sweep(now, entry, ENDED)

    def _since(self, key: tuple, when: float) -> None:
        since = self.since
        since[key] = when
        if len(since) > MAX_SINCE:
            del since[next(iter(since))]

    def open_now(self, shown: int) -> dict:
        """The scans and floods open now (--status, the metrics): how many,
        by kind, and the first ``shown`` of them."""
        items: list[dict] = []
        by_kind: Counter = Counter()
        for key, entry, describe in self._open():
            by_kind[key] += 1
            if len(items) < shown:
                items.append({"kind": key, "name": KINDS[key].name, **describe(key, entry)})
        return {"count": sum(by_kind.values()), "by_kind": dict(by_kind), "items": items}

    def _open(self):
        """(kind, entry, how to describe it) of every detection not ended."""
        for table in (self.table, self.probes):
            for key, kind_table in table.tables.items():
                for entry in kind_table.entries():
                    if entry.detected:
                        yield key, entry, self._pair_item
        for key, kind_table in self.sweeps.tables.items():
            for entry in kind_table.entries():
                if entry.detected:
                    yield key, entry, self._sweep_item

    def _pair_item(self, key: str, entry) -> dict:
        return {
            "source": address_text(entry.src),
            "target": address_text(entry.dst),
            "ports": list(entry.dports),
            "packets": entry.count,
            "since": self.since.get((key, entry.src, entry.dst)),
            "expires": entry.expiry,
        }

    def _sweep_item(self, key: str, entry: Sweep) -> dict:
        hosts = list(entry.items)[:10] if KINDS[key].lines == HOSTS else []
        return {
            "source": None if entry.src is None else address_text(entry.src),
            "target": None if entry.dst is None else address_text(entry.dst),
            "port": entry.port,
            "hosts": [address_text(h) for h in hosts],
            "packets": entry.count,
            "since": self.since.get((key, entry.src, entry.dst, entry.port)),
            "expires": entry.expiry,
        }

    def _close_groups(self, ts: float) -> None:
        if ts >= self.sweeps.decoys.next_due:
            for group in self.sweeps.close_groups(ts):
                if len(group.sources) > 1:
                    self.write.decoys(min(group.closes, ts), group)

    def __len__(self) -> int:
        return len(self.table) + len(self.probes) + len(self.sweeps)


def _time_and_order(event: tuple) -> tuple[float, int]:
    return event[0], event[1]
