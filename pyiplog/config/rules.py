"""Filter rules as plain data, and the matcher (spec A2, B7, B14).

A rule is frozen data made by the config parser; ``Filters.ignored`` is the
pure function the engine calls for every TCP, UDP and ICMP packet.
Addresses are compared as integers (``int.from_bytes`` of the packet's
address), so one rule type serves IPv4 and IPv6 alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..decode import Datagram

ANY_PORT = (0, 65535)


@dataclass(frozen=True)
class AddrSpec:
    """``[!]addr[/mask]``; ``any`` for ``*``, ``0.0.0.0`` or a ``*`` mask."""

    version: int = 4
    net: int = 0
    mask: int = 0
    negate: bool = False
    any: bool = False

    def matches(self, addr: int, version: int = 4) -> bool:
        if self.any or addr == 0:
            hit = True
        else:
            hit = version == self.version and (addr & self.mask) == self.net
        return hit != self.negate

    def __str__(self) -> str:
        if self.any and not self.negate:
            return "*"
        bang = "!" if self.negate else ""
        if self.any:
            return bang + "*"
        bits = 32 if self.version == 4 else 128
        prefix = bin(self.mask).count("1")
        if self.version == 4:
            addr = str(ipaddress.IPv4Address(self.net))
        else:
            addr = str(ipaddress.IPv6Address(self.net))
        return f"{bang}{addr}" if prefix == bits else f"{bang}{addr}/{prefix}"


@dataclass(frozen=True)
class PortSpec:
    """``[!]p``, ``[!]p:q``, ``[!]p:``, ``[!]:q``; ``*`` and ``0`` match all."""

    low: int = 0
    high: int = 65535
    negate: bool = False

    def matches(self, port: int) -> bool:
        # B7: 2.2.3 applied '!' to the port number; here it inverts the match.
        return (self.low <= port <= self.high) != self.negate

    def __str__(self) -> str:
        bang = "!" if self.negate else ""
        if (self.low, self.high) == ANY_PORT:
            return bang + "*"
        if self.low == self.high:
            return f"{bang}{self.low}"
        return f"{bang}{self.low}:{self.high}"


@dataclass(frozen=True)
class TypeSpec:
    """ICMP type ``[!]T``."""

    type: int
    negate: bool = False

    def matches(self, icmp_type: int) -> bool:
        return (icmp_type == self.type) != self.negate

    def __str__(self) -> str:
        return ("!" if self.negate else "") + str(self.type)


@dataclass(frozen=True)
class FilterRule:
    action: str  # "log" or "ignore"
    proto: str  # "tcp", "udp" or "icmp"
    src: AddrSpec | None = None
    dst: AddrSpec | None = None
    sport: PortSpec | None = None
    dport: PortSpec | None = None
    icmp_type: TypeSpec | None = None
    line: int = 0

    def matches(
        self, src: int, dst: int, sport: int, dport: int, icmp_type: int, version: int = 4
    ) -> bool:
        return (
            (self.src is None or self.src.matches(src, version))
            and (self.dst is None or self.dst.matches(dst, version))
            and (self.sport is None or self.sport.matches(sport))
            and (self.dport is None or self.dport.matches(dport))
            and (self.icmp_type is None or self.icmp_type.matches(icmp_type))
        )

    def __str__(self) -> str:
        parts = [self.action, self.proto]
        if self.icmp_type is not None:
            parts += ["type", str(self.icmp_type)]
        for word, value in (
            ("from", self.src),
            ("to", self.dst),
            ("sport", self.sport),
            ("dport", self.dport),
        ):
            if value is not None:
                parts += [word, str(value)]
        return " ".join(parts)


def evaluation_order(
    rules: Iterable[FilterRule], dns_rules: Iterable[FilterRule] = ()
) -> list[FilterRule]:
    """Spec A2: the ``ignore_dns`` rules, then every ``log`` rule, then every
    ``ignore`` rule; the first that matches decides."""
    rules = tuple(rules)
    return (
        list(dns_rules)
        + [r for r in rules if r.action == "log"]
        + [r for r in rules if r.action == "ignore"]
    )


class Filters:
    """The rule list in evaluation order, split by protocol.

    Order (spec A2): the ``ignore_dns`` rules, then every ``log`` rule, then
    every ``ignore`` rule; the first rule that matches decides; no match
    means the packet is logged.
    """

    def __init__(self, rules: tuple[FilterRule, ...] = (), dns_rules: tuple[FilterRule, ...] = ()):
        self.rules = tuple(rules)
        self.dns_rules = tuple(dns_rules)
        ordered = evaluation_order(self.rules, self.dns_rules)
        self._by_proto = {
            p: tuple(r for r in ordered if r.proto == p) for p in ("tcp", "udp", "icmp")
        }

    def ordered(self, proto: str) -> tuple[FilterRule, ...]:
        return self._by_proto[proto]

    def ignored(
        self,
        proto: str,
        src: int,
        dst: int,
        sport: int = 0,
        dport: int = 0,
        icmp_type: int = -1,
        version: int = 4,
    ) -> bool:
        for rule in self._by_proto.get(proto, ()):
            if rule.matches(src, dst, sport, dport, icmp_type, version):
                return rule.action == "ignore"
        return False

    def hides(
        self, proto: str, ip: Datagram, sport: int = 0, dport: int = 0, icmp_type: int = -1
    ) -> bool:
        """``ignored`` for a datagram, its addresses as they are on the wire."""
        return self.ignored(
            proto,
            int.from_bytes(ip.src, "big"),
            int.from_bytes(ip.dst, "big"),
            sport,
            dport,
            icmp_type,
        )

    def __bool__(self) -> bool:
        return bool(self.rules or self.dns_rules)
