"""The scan and flood state the protocol detectors share, and its lines.

Two countings use it (spec A8, C3): 2.2.3's (``count``: every packet of a
pair counts toward a threshold, ``scans.ScanTable``) and the default one
(``probe`` and ``answered``: failed probes and rates, ``probes.ProbeTable``;
``flows``: which conversations were seen in which direction).  Which one a
detector calls is fixed when the detectors are built; the stealth scans
(null, FIN, Xmas) count as 2.2.3 did in both.  Both tables live as long as
the engine, so a reload (SIGHUP) keeps every scan in progress.

``Scans`` writes the ``detected`` and ``mode expired`` lines itself, with
the names and line queue of the configuration in force.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..kinds import FLOOD, KINDS, PROTOCOLS, RESETS
from ..messages import SCAN_NAMES, port_list
from ..resolve import address_text
from .flows import FlowTable
from .probes import ProbeTable
from .scans import MAX_DPORTS, MAX_SPORTS, ScanTable
from .sweeps import MAX_SHOWN, Group, Sweep, SweepTable
from .tuning import Detection

if TYPE_CHECKING:
    from .context import Lines, Names
    from .scans import Entry

# Which protocol's resolve flag names the hosts of a scan kind.
SCAN_PROTO: dict[str, str | None] = {key: kind.resolve for key, kind in KINDS.items()}


def smurf_source(src: bytes) -> bytes:
    """Smurf state is per source /24 (spec A8): UDP and ICMP count into it;
    an IPv6 source per /64 (a link's prefix, spec C4)."""
    return src[:3] + b"\0" if len(src) == 4 else src[:8] + bytes(8)


class Scans:
    def __init__(self):
        detection = Detection()  # the numbers are set by configure
        self.table = ScanTable(detection.kinds)
        self.probes = ProbeTable(
            detection.kinds, detection.modern, detection.reply_wait, report=self._write_detections
        )
        self.flows = FlowTable()
        self.sweeps = SweepTable(detection.sweeps)
        self.horizontal = False  # horizontal scans are counted (set by the engine)
        self.decoys = False  # lockstep scans are grouped (set by the engine)
        self.probes.on_failed = self._probe_failed
        for counter in self.sweeps.counters.values():  # a flood's start line
            counter.on_detected = self._sweep_detected
        # count(key, ts, src, dst, nbytes, sport=None, dport=None): a packet
        # toward a scan (2.2.3's counting); true (DETECTED, SWALLOWED) when
        # the packet stops there.  The table's own method: no call between
        # it and the detectors on the hot path.
        self.count = self.table.count
        self.table.on_detected = self._detected
        self.names: Names | None = None
        self.lines: Lines | None = None

    def configure(self, detection: Detection, names: Names, lines: Lines) -> None:
        """New numbers and names (start, SIGHUP); the state is kept."""
        self.table.kinds = detection.kinds
        self.probes.kinds = detection.kinds
        self.probes.tuning = detection.modern
        self.probes.reply_wait = detection.reply_wait
        self.sweeps.configure(detection.sweeps)
        self.names = names
        self.lines = lines

    # --- 2.2.3's counting -------------------------------------------------------
    # ``count`` (set in ``__init__``) is ``ScanTable.count`` itself; its
    # detections come back through ``_detected``.

    # --- the default counting ---------------------------------------------------------
    # ``probes.packet(key, ts, src, dst, nbytes, sport, dport, probe, flood)`` and
    # ``probes.answered(...)`` are called directly; their detections come back
    # through ``_write_detections``.

    def answered(
        self, keys: tuple[str, ...], ts: float, src: bytes, dst: bytes, port: int, refused: bool
    ) -> None:
        """``dst`` answered ``src``'s probe to ``port`` (served or refused)."""
        for key in keys:
            self.probes.answered(key, ts, src, dst, port, refused)

    # --- the scans 2.2.3 never named (sweeps.py) ----------------------------------------

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
            self._sweep_detected(ts, entry)

    def _probe_failed(self, ts: float, key: str, src: bytes, dst: bytes, port: int) -> None:
        """A failed probe is also a step of a horizontal scan of its port."""
        if self.horizontal:
            kind = "horizontal_udp" if key == "udp_scan" else "horizontal_tcp"
            self.sweep(kind, ts, (src, port), dst, src=src, port=port)

    @property
    def floods_open(self) -> int:
        """Flood alarms open now (default counting): while any is, no name
        lookup starts (docs/wire.md W4)."""
        return self.probes.floods_open + self.sweeps.floods_open

    def _sweep_detected(self, when: float, entry: Sweep) -> None:
        self._sweep_line(when, entry, ended=False)

    def _sweep_ended(self, when: float, entry: Sweep) -> None:
        self._sweep_line(when, entry, ended=True)

    def _sweep_line(self, when: float, entry: Sweep, ended: bool, summary: bool = False) -> None:
        """A sweep kind's start, summary or end line (iplog(8) lists them)."""
        kind, names = entry.kind, self.names
        proto, lines = SCAN_PROTO[kind], KINDS[kind].lines
        shown, more = entry.shown, len(entry.items) > MAX_SHOWN
        fields: dict = {"name": SCAN_NAMES[kind], "src": entry.src, "dst": entry.dst, "scan": kind}
        if entry.src is not None:
            fields["S"] = names.host(entry.src, proto) if ended else names.alarm(entry.src, proto)
        if ended:
            fields["count"] = entry.count
        if lines in (RESETS, PROTOCOLS):
            fields["D"] = names.dst(entry.dst, proto)
        if lines == PROTOCOLS:
            if ended:
                message = "scan_expired"
                fields["bytes"] = entry.bytes
            else:
                message = "proto_scan_detected"
                fields["protocols"] = ",".join(map(str, shown)) + (",..." if more else "")
                fields["protocol_list"] = tuple(shown)
        elif lines == RESETS:
            message = "reset_expired" if ended else "scan_detected"
            if not ended:
                sports = entry.sports
                fields.update(
                    dports=port_list(shown, more),
                    sports=port_list(sports, len(sports) >= MAX_SPORTS),
                    dport_list=tuple(shown),
                    sport_list=tuple(sports),
                )
        elif lines == FLOOD:
            message = "flood_summary" if summary else "flood_expired" if ended else "flood_detected"
            fields.update(
                T=names.host(entry.dst, proto),
                port=entry.port,
                ports="" if entry.port is None else f" [port {entry.port}]",
                sources=entry.distinct,
                source_count=len(entry.items),
            )
            if ended or summary:
                fields["count"] = entry.count
                fields["bytes"] = entry.bytes
            else:
                fields["rate"] = entry.rate
        else:  # a horizontal scan or ping sweep: our hosts are the items
            fields["port"] = entry.port
            if ended:
                message = "sweep_expired"
                fields.update(hosts=entry.distinct, host_count=len(entry.items))
            else:
                message = "sweep_detected"
                # Addresses, never names: the list stays one word (fail2ban's "to D").
                hosts = list(map(address_text, shown))
                fields.update(
                    H=",".join(hosts) + (",..." if more else ""),
                    ports="" if entry.port is None else f" [port {entry.port}]",
                    host_list=tuple(hosts),
                )
        self.lines.emit(when, message, **fields)

    # --- lines ------------------------------------------------------------------------

    def _write_detections(self, found) -> None:
        for when, key, entry in found:
            self._detected(when, key, entry)

    def _decoys_detected(self, when: float, group: Group) -> None:
        ports = group.ports[:MAX_DPORTS]
        self.lines.emit(
            when,
            "decoy_detected",
            name=self.table.kinds[group.key].name,
            D=self.names.dst(group.dst, SCAN_PROTO[group.key]),
            dports=port_list(ports, len(ports) >= MAX_DPORTS),
            nsources=len(group.sources),
            source_count=len(group.sources),
            sources=",".join(map(address_text, group.sources)),
            dst=group.dst,
            scan=group.key,
            dport_list=tuple(ports),
            source_list=tuple(map(address_text, group.sources)),
        )

    def _detected(self, when: float, key: str, entry: Entry) -> None:
        if self.decoys and self.sweeps.group(when, key, entry.src, entry.dst, entry.dports):
            return  # a decoy (or the real source) of a scan detected just before
        proto = SCAN_PROTO[key]
        names = self.names
        self.lines.emit(
            when,
            "scan_detected",
            name=self.table.kinds[key].name,
            S=names.alarm(entry.src, proto),
            D=names.dst(entry.dst, proto),
            dports=port_list(entry.dports, len(entry.dports) >= MAX_DPORTS),
            sports=port_list(entry.sports, len(entry.sports) >= MAX_SPORTS),
            src=entry.src,
            dst=entry.dst,
            scan=key,
            dport_list=tuple(entry.dports),
            sport_list=tuple(entry.sports),
        )

    def expire(self, ts: float) -> None:
        """Write what ended by ``ts`` (and the probes found unanswered), in time order."""
        if ts < self.table.next_due and ts < self.probes.next_due and ts < self.sweeps.next_due:
            return
        ended = self.table.expire(ts) + self.probes.expire(ts)
        found = self.probes.take_detections()
        swept = self.sweeps.expire(ts)  # may grow while probes fail above
        events = [(e.when, 1, e) for e in ended] + [(w, 0, (k, en)) for w, k, en in found]
        events += [(when, 2, entry) for when, entry in swept]
        events += [(when, 3, entry) for when, entry in self.sweeps.summaries(ts)]
        events.sort(key=lambda ev: (ev[0], ev[1]))
        names = self.names
        for when, is_end, item in events:
            self._close_groups(when)  # a detection below may still join a group
            if is_end == 3:
                self._sweep_line(when, item, ended=False, summary=True)
            elif is_end == 2:
                self._sweep_ended(when, item)
            elif is_end:
                proto = SCAN_PROTO.get(item.kind.key)
                self.lines.emit(
                    item.when,
                    "scan_expired",
                    name=item.kind.name,
                    S=names.host(item.entry.src, proto),
                    D=names.dst(item.entry.dst, proto),
                    count=item.entry.count,
                    bytes=item.entry.bytes,
                    src=item.entry.src,
                    dst=item.entry.dst,
                    scan=item.kind.key,
                )
            else:
                self._detected(when, *item)
        self._close_groups(ts)

    def _close_groups(self, ts: float) -> None:
        if ts >= self.sweeps.decoys.next_due:
            for group in self.sweeps.close_groups(ts):
                if len(group.sources) > 1:
                    self._decoys_detected(min(group.closes, ts), group)

    def __len__(self) -> int:
        return len(self.table) + len(self.probes) + len(self.sweeps)
