"""The hosts and services as lines print them, and the queue of lines.

``Names`` follows the options' resolve flags and the wire's limits
(docs/wire.md W2, W3); ``Lines`` formats a message kind in the form in
force (text or JSON, with or without the destination) and queues it with
its packet time; the output drains the queue once a batch.

A host is printed one way in every line (docs/contract.md L4): a line that
printed a host as its address because the host's name lookup is in flight
is held (``Held``), in its place in the queue, until the lookup ends or
``HOLD_WAIT`` seconds pass, then printed with the name if it came; the
lines behind it wait with it, so the log stays in order.  Bounded: at most
``MAX_HELD`` lines held, and a held line goes as it is once ``MAX_BEHIND``
lines wait behind it.  While a flood suspends lookups no lookup starts,
so nothing is held.
"""

from __future__ import annotations

import time
from collections import Counter
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


HOLD_WAIT = 2.0  # seconds a line waits for a host's name lookup
MAX_HELD = 4096  # lines waiting for names at a time
MAX_BEHIND = 65536  # lines queued behind a held one before it goes as it is
_HOSTS = ("S", "D", "T", "H")  # the fields that print a host (H: an ICMP error's sender)


class Held:
    """A line waiting for names: its form and fields, made again when they come."""

    __slots__ = ("deadline", "fields", "form", "namer", "waits")

    def __init__(self, form, fields: dict, namer: Namer, deadline: float):
        self.form = form
        self.fields = fields
        self.namer = namer
        self.waits = namer.waiting[:]
        self.deadline = deadline

    def settled(self) -> bool:
        return all(self.namer.settled(addr) for addr, _, _ in self.waits)

    def text(self) -> str:
        """The line, each waiting host printed as it is known now."""
        fields = dict(self.fields)
        done: set[str] = set()
        for addr, with_address, shown in self.waits:
            key = next((k for k in _HOSTS if k not in done and fields.get(k) == shown), None)
            if key is not None:
                done.add(key)
                fields[key] = self.namer.host(addr, True, False, with_address)
        return self.form(**fields)


class Lines:
    """The queue of ``(time, text)`` lines the output drains once a batch.

    ``emit`` formats a message kind in the form log_dest asks for.  The
    lines a flood writes per packet skip that wrapper (its keyword packing
    costs as much as the formatting): ``queue((ts, forms[kind](...)))``,
    or ``hold`` when the namer is ``waiting`` for a name it printed.
    """

    def __init__(self, dest: bool = False, json: bool = False, clock=time.monotonic):
        self.out: list = []  # (time, text) or (time, Held)
        self.queue = self.out.append
        # Lines made through ``emit`` by message kind (a scan's: "kind:scan"),
        # for --status and the metrics; the per-packet lines are not counted.
        self.counts: Counter = Counter()
        self.held = 0
        self.clock = clock
        self.namer: Namer | None = None
        self.waiting: list = []
        self.configure(dest, json)

    def configure(self, dest: bool, json: bool = False, namer: Namer | None = None) -> None:
        """The forms in force: plain or log_dest; text or JSON (docs/contract.md O4);
        the namer whose lookups lines wait for."""
        if json:
            self.forms = json_forms(dest)
        else:
            self.forms = text_forms(dest)
        if namer is not None:
            self.namer = namer
            self.waiting = namer.waiting

    def emit(self, ts: float, kind: str, **fields) -> None:
        scan = fields.get("scan")
        self.counts[f"{kind}:{scan}" if scan else kind] += 1
        if self.waiting:
            self.hold(ts, self.forms[kind], fields)
        else:
            self.out.append((ts, self.forms[kind](**fields)))

    def hold(self, ts: float, form, fields: dict) -> None:
        """A line that printed a host whose name is being looked up."""
        if self.held >= MAX_HELD:
            self.out.append((ts, form(**fields)))
        else:
            self.out.append((ts, Held(form, fields, self.namer, self.clock() + HOLD_WAIT)))
            self.held += 1
        self.waiting.clear()

    def drain(self, final: bool = False) -> list[tuple[float, str]]:
        """The lines ready: all of them, but a held line and those behind
        it wait for its names (``final``: at most until its deadline)."""
        if not self.held:
            out = self.out[:]
            self.out.clear()
            return out
        out, ready = self.out, []
        i = 0
        while i < len(out):
            ts, line = out[i]
            if type(line) is Held:
                if final:
                    while not line.settled() and self.clock() < line.deadline:
                        time.sleep(0.01)
                elif (
                    not line.settled()
                    and self.clock() < line.deadline
                    and len(out) - i <= MAX_BEHIND
                ):
                    break
                line = line.text()
                self.held -= 1
            ready.append((ts, line))
            i += 1
        del out[:i]
        return ready
