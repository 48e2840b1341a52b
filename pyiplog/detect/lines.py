"""The hosts and services as lines print them, and the queue of lines.

``Names`` follows the options' resolve flags and the wire's limits
(docs/wire.md W2, W3); ``Lines`` formats a message kind in the form in
force (text or JSON, with or without the destination) and queues it with
its packet time; the output drains the queue once a batch.
"""

from __future__ import annotations

from typing import Protocol

from ..forms import json_forms, text_forms
from ..options import Options
from ..resolve import Namer, address_text


class FloodState(Protocol):
    @property
    def floods_open(self) -> int:
        """Flood alarms open now."""
        ...


MAX_TEXTS = 16384  # address texts kept for the per-packet lines (-N)
SYN_FLOOD_LIMIT = 20  # SYNs (decaying one a second) that suspend TCP name lookups


class SynFloodGuard:
    """2.2.3's SYN flood guard (docs/contract.md P2): a counter of SYNs that decays by
    one a second; while it is at ``SYN_FLOOD_LIMIT`` TCP names are not
    looked up.  The TCP detector counts, ``Names`` reads."""

    __slots__ = ("count", "decayed_at")

    def __init__(self):
        self.count = 0
        self.decayed_at = 0.0

    def seen(self, ts: float) -> None:
        elapsed = int(ts - self.decayed_at)
        if elapsed > 0:
            self.count = max(0, self.count - elapsed)
            self.decayed_at += elapsed
        if self.count == 0:
            self.decayed_at = ts
        self.count = min(SYN_FLOOD_LIMIT, self.count + 1)

    @property
    def active(self) -> bool:
        return self.count >= SYN_FLOOD_LIMIT


class Names:
    """Hosts and services as the lines print them (docs/contract.md O1).

    ``host(addr, proto)`` follows that protocol's resolve flag ('ip': the
    header and fragment lines, resolved unless -N); ``dst`` is "" when
    log_dest is off.  Without lookups (-N) an address is always its text:
    those are kept in ``texts`` (bounded), which the per-packet lines try
    first.
    """

    def __init__(
        self, opts: Options, namer: Namer, guard: SynFloodGuard, scans: FloodState | None = None
    ):
        self.namer = namer
        self.guard = guard
        self.dest = opts.log_dest
        self.plain = opts.disable_resolver
        self.tcp_guarded = opts.syn_flood
        # The default counting: no lookup starts while a flood is open, and an
        # alarm names its source's address too (docs/wire.md W2, W4).
        self.floods = None if opts.classic_detection else scans
        self.alarm_address = not opts.classic_detection
        self.resolve = {
            "tcp": opts.tcp_resolve,
            "udp": opts.udp_resolve,
            "icmp": opts.icmp_resolve,
            "ip": True,
        }
        self.texts: dict[bytes, str] = {}  # filled by host() only when plain
        self.tcp_services = namer.service_table("tcp")
        self.udp_services = namer.service_table("udp")

    def host(self, addr: bytes, proto: str | None) -> str:
        if self.plain:
            text = address_text(addr)
            texts = self.texts
            if len(texts) >= MAX_TEXTS:
                texts.clear()
            texts[addr] = text
            return text
        if proto is None:
            return address_text(addr)
        return self._named(addr, proto, False)

    def alarm(self, addr: bytes, proto: str | None) -> str:
        """The source of an alarm (a scan, bogus flags, a fragment attack):
        in the default counting ``name (address)`` whenever a name is
        printed, so that what bans on the line has the address it needs
        (docs/wire.md W2); 2.2.3's form in the classic counting."""
        if self.plain or proto is None:
            return self.host(addr, proto)
        return self._named(addr, proto, self.alarm_address)

    def _named(self, addr: bytes, proto: str, with_address: bool) -> str:
        resolve = self.resolve[proto]
        if proto == "tcp" and resolve and self.tcp_guarded and self.guard.active:
            resolve = False
        floods = self.floods
        start = floods is None or not floods.floods_open
        return self.namer.host(addr, resolve, start, with_address)

    def dst(self, addr: bytes, proto: str | None) -> str:
        """The destination as printed, or "" when log_dest is off (never shown)."""
        return self.host(addr, proto) if self.dest else ""

    def protocol(self, number: int) -> str:
        return self.namer.protocol(number)


class Lines:
    """The queue of ``(time, text)`` lines the output drains once a batch.

    ``emit`` formats a message kind in the form log_dest asks for.  The
    lines a flood writes per packet skip that wrapper (its keyword packing
    costs as much as the formatting): ``queue((ts, forms[kind](...)))``.
    """

    def __init__(self, dest: bool = False, json: bool = False):
        self.out: list[tuple[float, str]] = []
        self.queue = self.out.append
        self.configure(dest, json)

    def configure(self, dest: bool, json: bool = False) -> None:
        """The forms in force: plain or log_dest; text or JSON (docs/contract.md O4)."""
        if json:
            self.forms = json_forms(dest)
        else:
            self.forms = text_forms(dest)

    def emit(self, ts: float, kind: str, **fields) -> None:
        self.out.append((ts, self.forms[kind](**fields)))

    def drain(self) -> list[tuple[float, str]]:
        out = self.out[:]
        self.out.clear()
        return out
