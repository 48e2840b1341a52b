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

from ..messages import SCAN_PROTOCOLS, port_list
from .flows import FlowTable
from .probes import ProbeTable
from .scans import COUNTED, DETECTED, MAX_DPORTS, MAX_SPORTS, ScanTable
from .tuning import Detection

if TYPE_CHECKING:
    from .context import Lines, Names
    from .scans import Entry

# Which protocol's resolve flag names the hosts of a scan kind (smurf: none:
# its source is a /24, never looked up).
SCAN_PROTO: dict[str, str | None] = {**SCAN_PROTOCOLS, "smurf": None}


def smurf_source(src: bytes) -> bytes:
    """Smurf state is per source /24 (spec A8): UDP and ICMP count into it."""
    return src[:3] + b"\0" if len(src) == 4 else src


class Scans:
    def __init__(self):
        detection = Detection()  # the numbers are set by configure
        self.table = ScanTable(detection.kinds)
        self.probes = ProbeTable(
            detection.kinds, detection.modern, detection.reply_wait, report=self._write_detections
        )
        self.flows = FlowTable()
        self.names: Names | None = None
        self.lines: Lines | None = None

    def configure(self, detection: Detection, names: Names, lines: Lines) -> None:
        """New numbers and names (start, SIGHUP); the state is kept."""
        self.table.kinds = detection.kinds
        self.probes.kinds = detection.kinds
        self.probes.tuning = detection.modern
        self.probes.reply_wait = detection.reply_wait
        self.names = names
        self.lines = lines

    # --- 2.2.3's counting -------------------------------------------------------

    def count(
        self,
        key: str,
        ts: float,
        src: bytes,
        dst: bytes,
        nbytes: int,
        sport: int | None = None,
        dport: int | None = None,
    ) -> bool:
        """Count a packet toward a scan; True when the packet stops here."""
        status = self.table.count(key, ts, src, dst, nbytes, sport, dport)
        if status == COUNTED:
            return False
        if status == DETECTED:
            self._detected(ts, key, self.table.entry(key, src, dst))
        return True

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

    # --- lines ------------------------------------------------------------------------

    def _write_detections(self, found) -> None:
        for when, key, entry in found:
            self._detected(when, key, entry)

    def _detected(self, when: float, key: str, entry: Entry) -> None:
        proto = SCAN_PROTO[key]
        names = self.names
        self.lines.emit(
            when,
            "scan_detected",
            name=self.table.kinds[key].name,
            S=names.host(entry.src, proto),
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
        if ts < self.table.next_due and ts < self.probes.next_due:
            return
        ended = self.table.expire(ts) + self.probes.expire(ts)
        found = self.probes.take_detections()
        if not ended and not found:
            return
        events = [(e.when, 1, e) for e in ended] + [(w, 0, (k, en)) for w, k, en in found]
        events.sort(key=lambda ev: (ev[0], ev[1]))
        names = self.names
        for when, is_end, item in events:
            if is_end:
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

    def __len__(self) -> int:
        return len(self.table) + len(self.probes)
