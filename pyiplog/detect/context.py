"""What a detector may see and do besides its own state (its context).

A detector gets one ``Context``: the host's names and the line queue
(``lines.Names``, ``lines.Lines``), the filter rules, which addresses are
ours (``Ours``) and the scan state shared by the protocols
(``counting.Scans``).  All of it is plain objects; the engine builds it
once per configuration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config.rules import AddrSpec, Filters
from .counting import Scans
from .lines import Lines, Names, SynFloodGuard

if TYPE_CHECKING:
    from ..decode import Datagram
    from ..ident import IdentLookups


class Ours:
    """The monitored side (docs/contract.md D3): the host's own addresses (live, updated
    as they change) and the promisc networks (``-a``, live and ``iplog -r``).
    Knowing neither (``iplog -r`` without ``-a``), every address counts as
    ours: nothing is outgoing, and a host's own outbound probes in a capture
    are analysed as if they came in."""

    __slots__ = ("addresses", "known", "networks")

    def __init__(self, addresses: frozenset[bytes] = frozenset()):
        self.addresses = addresses
        self.networks: tuple[AddrSpec, ...] = ()
        self.known = bool(addresses)

    def set_addresses(self, addresses: frozenset[bytes]) -> None:
        self.addresses = addresses
        self.known = bool(addresses or self.networks)

    def set_networks(self, specs: list[AddrSpec]) -> None:
        """The promisc networks (``config.rules.promisc_network``).  ``-a *``
        adds none: its capture filter is the host's own (``capture``)."""
        self.networks = () if any(spec.any for spec in specs) else tuple(specs)
        self.known = bool(self.addresses or self.networks)

    def has(self, addr: bytes) -> bool:
        """Whether ``addr`` is ours (always, when nothing is known)."""
        if not self.known or addr in self.addresses:
            return True
        number = int.from_bytes(addr, "big")
        if self.networks and number:  # 0.0.0.0 (a DHCP client's) is nobody's
            version = 4 if len(addr) == 4 else 6
            return any(spec.matches(number, version) for spec in self.networks)
        return False

    def outgoing(self, src: bytes, dst: bytes) -> bool:
        """Sent by the monitored side to another: state, never a line."""
        return self.known and self.has(src) and not self.has(dst)


@dataclass(slots=True, eq=False)
class Context:
    names: Names
    lines: Lines
    filters: Filters | None  # None: no rules, nothing to check
    ours: Ours
    scans: Scans
    # The live daemon's edges, when their options are on: ident lookups
    # (``ident.IdentLookups``) and fool_nmap's sender (``foolnmap.Replier``).
    ident: IdentLookups | None = None
    fool: Callable[[float, Datagram, bytes], None] | None = None


class DetectorBase:
    """What every protocol detector keeps of its ``Context``: as its own
    attributes, one lookup each on the per-packet path.  ``RULES`` names
    the rules' protocol a detector checks its packets against: ``hides``
    is that protocol's ``RuleIndex.hides``, or None without rules for it."""

    RULES = ""

    def __init__(self, ctx: Context):
        self.names = ctx.names
        self.lines = ctx.lines
        self.queue = ctx.lines.queue
        self.hold = ctx.lines.hold
        self.waiting = ctx.lines.waiting  # the namer's: hosts printed while their name is looked up
        self.texts = ctx.names.texts
        rules = ctx.filters.index(self.RULES) if ctx.filters and self.RULES else None
        self.hides = rules.hides if rules is not None and rules.rules else None
        self.ours = ctx.ours
        self.scans = ctx.scans


__all__ = ["Context", "DetectorBase", "Lines", "Names", "Ours", "SynFloodGuard"]
