"""The lines of the scans and floods: what each event writes (docs/contract.md D5).

``ScanLines`` turns the tables' entries into message kinds and fields, with
the names and line queue of the configuration in force; ``counting.Scans``
decides when (and whether: a decoy's scan is folded into its group's).
Which lines a kind writes is its declared family (``kinds.Kind.lines``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from ..kinds import FLOOD, HOSTS, KINDS, PROTOCOLS, RESETS
from ..messages import port_list
from ..resolve import address_text
from .limits import MAX_DPORTS, MAX_SHOWN, MAX_SPORTS

if TYPE_CHECKING:
    from .lines import Lines, Names
    from .scans import Entry
    from .sweeps import Group, Sweep

# Which protocol's resolve flag names the hosts of a scan kind.
SCAN_PROTO: dict[str, str | None] = {key: kind.resolve for key, kind in KINDS.items()}

DETECTED, SUMMARY, ENDED = "detected", "summary", "ended"  # a sweep's three lines


class ScanLines:
    def __init__(self, names: Names, lines: Lines):
        self.names = names
        self.lines = lines

    # --- the pair tables' kinds (2.2.3's table and the probes) --------------------

    def detected(self, when: float, key: str, entry: Entry) -> None:
        proto = SCAN_PROTO[key]
        names = self.names
        self.lines.emit(
            when,
            "scan_detected",
            name=KINDS[key].name,
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

    def probe_failed(
        self, when: float, key: str, src: bytes, dst: bytes, port: int, why: str
    ) -> None:
        """A failed probe's JSON line.  Its hosts are addresses, never looked
        up (a scan's probes would ask for as many names)."""
        proto = SCAN_PROTO[key]
        self.lines.emit(
            when,
            "probe_failed",
            name=proto.upper(),
            port=port,
            S=address_text(src),
            D=address_text(dst),
            why=why,
            src=src,
            dst=dst,
            proto=proto,
        )

    def ended(self, when: float, key: str, entry: Entry) -> None:
        proto = SCAN_PROTO[key]
        names = self.names
        self.lines.emit(
            when,
            "scan_expired",
            name=KINDS[key].name,
            S=names.host(entry.src, proto),
            D=names.dst(entry.dst, proto),
            count=entry.count,
            bytes=entry.bytes,
            src=entry.src,
            dst=entry.dst,
            scan=key,
        )

    def decoys(self, when: float, group: Group) -> None:
        """Scans of one target in lockstep from several sources: a scanner's
        decoys, or for a reflected kind (smurf) the networks reflecting it."""
        ports = group.ports[:MAX_DPORTS]
        sources = tuple(map(address_text, group.sources))
        reflected = KINDS[group.key].reflected
        self.lines.emit(
            when,
            "reflectors_detected" if reflected else "decoy_detected",
            name=KINDS[group.key].name,
            D=self.names.dst(group.dst, SCAN_PROTO[group.key]),
            dports=port_list(ports, len(ports) >= MAX_DPORTS),
            nsources=len(group.sources),
            source_count=len(group.sources),
            sources=",".join(sources),
            dst=group.dst,
            scan=group.key,
            dport_list=tuple(ports),
            **{"reflector_list" if reflected else "source_list": sources},
        )

    # --- the sweep table's kinds ---------------------------------------------------

    def sweep(self, when: float, entry: Sweep, stage: str) -> None:
        """A sweep's start, summary (floods only) or end line."""
        key = entry.kind
        family = KINDS[key].lines
        proto = SCAN_PROTO[key]
        names = self.names
        ended = stage == ENDED
        fields: dict = {"name": KINDS[key].name, "src": entry.src, "dst": entry.dst, "scan": key}
        if entry.src is not None:
            fields["S"] = names.host(entry.src, proto) if ended else names.alarm(entry.src, proto)
        if ended:
            fields["count"] = entry.count
        if family in (RESETS, PROTOCOLS):
            fields["D"] = names.dst(entry.dst, proto)
        message = self._families[family](self, entry, stage, fields)
        self.lines.emit(when, message, **fields)

    def _protocols(self, entry: Sweep, stage: str, fields: dict) -> str:
        if stage == ENDED:
            fields["bytes"] = entry.bytes
            return "scan_expired"
        shown, more = entry.shown, len(entry.items) > MAX_SHOWN
        fields["protocols"] = ",".join(map(str, shown)) + (",..." if more else "")
        fields["protocol_list"] = tuple(shown)
        return "proto_scan_detected"

    def _resets(self, entry: Sweep, stage: str, fields: dict) -> str:
        if stage == ENDED:
            return "reset_expired"
        shown, more = entry.shown, len(entry.items) > MAX_SHOWN
        sports = entry.sports
        fields.update(
            dports=port_list(shown, more),
            sports=port_list(sports, len(sports) >= MAX_SPORTS),
            dport_list=tuple(shown),
            sport_list=tuple(sports),
        )
        return "scan_detected"

    def _flood(self, entry: Sweep, stage: str, fields: dict) -> str:
        fields.update(
            T=self.names.host(entry.dst, SCAN_PROTO[entry.kind]),
            port=entry.port,
            ports="" if entry.port is None else f" [port {entry.port}]",
            sources=entry.distinct,
            source_count=len(entry.items),
        )
        if stage == DETECTED:
            fields["rate"] = entry.rate
            return "flood_detected"
        fields["count"] = entry.count
        fields["bytes"] = entry.bytes
        return "flood_summary" if stage == SUMMARY else "flood_expired"

    def _hosts(self, entry: Sweep, stage: str, fields: dict) -> str:
        """A horizontal scan or ping sweep: our hosts are the items."""
        fields["port"] = entry.port
        if stage == ENDED:
            fields.update(hosts=entry.distinct, host_count=len(entry.items))
            return "sweep_expired"
        shown, more = entry.shown, len(entry.items) > MAX_SHOWN
        # Addresses, never names: the list stays one word (fail2ban's "to D").
        hosts = list(map(address_text, shown))
        fields.update(
            H=",".join(hosts) + (",..." if more else ""),
            ports="" if entry.port is None else f" [port {entry.port}]",
            host_list=tuple(hosts),
        )
        return "sweep_detected"

    _families: ClassVar[dict] = {
        PROTOCOLS: _protocols,
        RESETS: _resets,
        FLOOD: _flood,
        HOSTS: _hosts,
    }
