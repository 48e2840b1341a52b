"""Filter rules as plain data, and the matcher (docs/contract.md C2, F7, F14).

A rule is frozen data made by the config parser; ``Filters.ignored`` is the
pure function the engine calls for every TCP, UDP and ICMP packet.
Addresses are compared as integers (``int.from_bytes`` of the packet's
address), so one rule type serves IPv4 and IPv6 alike.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..resolve import address_text

if TYPE_CHECKING:
    from ..decode import Datagram

ANY_PORT = (0, 65535)

# ICMPv6 types (docs/contract.md P5) by their names in <netinet/icmp6.h>; numbers from
# 128 on are ICMPv6's too.  A rule's ICMPv6 type matches ICMPv6 messages
# only.  A rule's ICMP type (2.2.3's numbers and names) matches ICMP
# messages, and the ICMPv6 messages of the same meaning (ICMP6_COUNTERPART):
# a configuration written for IPv4 (``ignore icmp type !echo``) means the
# same for IPv6.
ICMP6_TYPES: dict[str, int] = {
    "ICMP6_DST_UNREACH": 1,
    "ICMP6_PACKET_TOO_BIG": 2,
    "ICMP6_TIME_EXCEEDED": 3,
    "ICMP6_PARAM_PROB": 4,
    "ICMP6_ECHO_REQUEST": 128,
    "ICMP6_ECHO_REPLY": 129,
    "MLD_LISTENER_QUERY": 130,
    "MLD_LISTENER_REPORT": 131,
    "MLD_LISTENER_REDUCTION": 132,
    "ND_ROUTER_SOLICIT": 133,
    "ND_ROUTER_ADVERT": 134,
    "ND_NEIGHBOR_SOLICIT": 135,
    "ND_NEIGHBOR_ADVERT": 136,
    "ND_REDIRECT": 137,
}
ICMP6_FIRST_NUMBER = 128
ICMP6_COUNTERPART = {0: 129, 3: 1, 5: 137, 8: 128, 9: 134, 10: 133, 11: 3, 12: 4}


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
            addr = address_text(self.net.to_bytes(16, "big"))  # RFC 5952, as the lines
        return f"{bang}{addr}" if prefix == bits else f"{bang}{addr}/{prefix}"


@dataclass(frozen=True)
class PortSpec:
    """``[!]p``, ``[!]p:q``, ``[!]p:``, ``[!]:q``; ``*`` and ``0`` match all."""

    low: int = 0
    high: int = 65535
    negate: bool = False

    def matches(self, port: int) -> bool:
        # F7: 2.2.3 applied '!' to the port number; here it inverts the match.
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
    """ICMP type ``[!]T``: of ICMP (``version`` 4, which also matches its
    ICMPv6 counterpart) or of ICMPv6 only (6)."""

    type: int
    negate: bool = False
    version: int = 4

    @property
    def types6(self) -> tuple[int, ...]:
        """The ICMPv6 types it matches."""
        if self.version == 6:
            return (self.type,)
        counterpart = ICMP6_COUNTERPART.get(self.type)
        return () if counterpart is None else (counterpart,)

    def matches(self, icmp_type: int, version: int = 4) -> bool:
        if version == 4:
            hit = self.version == 4 and icmp_type == self.type
        else:
            hit = icmp_type in self.types6
        return hit != self.negate

    def __str__(self) -> str:
        text = str(self.type)
        if self.version == 6 and self.type < 128:  # a number below 128 is ICMP's
            text = next(name for name, t in ICMP6_TYPES.items() if t == self.type).lower()
        return ("!" if self.negate else "") + text


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
            and (self.icmp_type is None or self.icmp_type.matches(icmp_type, version))
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
    """docs/contract.md C2: the ``ignore_dns`` rules, then every ``log`` rule, then every
    ``ignore`` rule; the first that matches decides."""
    rules = tuple(rules)
    return (
        list(dns_rules)
        + [r for r in rules if r.action == "log"]
        + [r for r in rules if r.action == "ignore"]
    )


def _exact(spec: PortSpec | TypeSpec | None) -> int | None:
    """The one port (or ICMP type) a qualifier matches, if it matches one only."""
    if spec is None or spec.negate:
        return None
    if isinstance(spec, TypeSpec):
        return spec.type
    return spec.low if spec.low == spec.high else None


def _prefix(spec: AddrSpec | None) -> tuple[int, int, int] | None:
    """(version, mask, net) of an address qualifier that matches one prefix only."""
    if spec is None or spec.negate or spec.any:
        return None
    return spec.version, spec.mask, spec.net


class RuleIndex:
    """One protocol's rules, indexed so that a packet is tried against the
    rules that can match it, not all of them (a 10,000-rule config costs a
    few dictionary lookups a packet), in evaluation order: the same first
    match as trying every rule in turn.

    Each rule is filed under one qualifier that pins it down (a single
    destination port, a source or destination prefix, a single source port
    or ICMP type), or else with the rules every packet is tried against.
    A packet's address of 0.0.0.0 matches every address (docs/contract.md C2): then the
    rules filed by that address are all candidates.
    """

    def __init__(self, rules: tuple[FilterRule, ...]):
        self.rules = rules
        self.general: list[int] = []
        self.dport: dict[int, list[int]] = {}
        self.sport: dict[int, list[int]] = {}
        self.icmp_type: dict[int, list[int]] = {}
        # (version, mask) -> {net: positions}; and every position filed there
        self.src: dict[tuple[int, int], dict[int, list[int]]] = {}
        self.dst: dict[tuple[int, int], dict[int, list[int]]] = {}
        self.all_src: list[int] = []
        self.all_dst: list[int] = []
        for pos, rule in enumerate(rules):
            self._file(pos, rule)
        self.addressed = bool(self.src or self.dst)  # rules filed by a prefix
        # every rule filed by its destination port: a packet is one lookup
        self.by_dport_only = not (self.general or self.sport or self.icmp_type or self.addressed)

    def _file(self, pos: int, rule: FilterRule) -> None:
        if (port := _exact(rule.dport)) is not None:
            self.dport.setdefault(port, []).append(pos)
        elif (prefix := _prefix(rule.src)) is not None:
            self.src.setdefault(prefix[:2], {}).setdefault(prefix[2], []).append(pos)
            self.all_src.append(pos)
        elif (prefix := _prefix(rule.dst)) is not None:
            self.dst.setdefault(prefix[:2], {}).setdefault(prefix[2], []).append(pos)
            self.all_dst.append(pos)
        elif (port := _exact(rule.sport)) is not None:
            self.sport.setdefault(port, []).append(pos)
        elif (itype := _exact(rule.icmp_type)) is not None:
            # filed under its ICMP type and its ICMPv6 ones (a set: the same
            # number twice would make the rule a candidate twice)
            for number in {itype, *rule.icmp_type.types6}:
                self.icmp_type.setdefault(number, []).append(pos)
        else:
            self.general.append(pos)

    def _keyed(self, sport: int, dport: int, icmp_type: int) -> list[list[int]]:
        """The positions filed under no qualifier or under the packet's ports
        or ICMP type: what needs no address to find."""
        parts = [self.general] if self.general else []
        if self.dport and (hit := self.dport.get(dport)):
            parts.append(hit)
        if self.sport and (hit := self.sport.get(sport)):
            parts.append(hit)
        if self.icmp_type and (hit := self.icmp_type.get(icmp_type)):
            parts.append(hit)
        return parts

    def _by_address(self, parts: list[list[int]], src: int, dst: int, version: int) -> None:
        """Add the positions filed under the packet's addresses to ``parts``."""
        for by_prefix, addr, every in (
            (self.src, src, self.all_src),
            (self.dst, dst, self.all_dst),
        ):
            if not by_prefix:
                continue
            if addr == 0:
                parts.append(every)
                continue
            for (v, mask), nets in by_prefix.items():
                if v == version and (hit := nets.get(addr & mask)):
                    parts.append(hit)

    @staticmethod
    def _merged(parts: list[list[int]]) -> list[int]:
        """One list of positions in evaluation order (no position is filed twice)."""
        if len(parts) == 1:
            return parts[0]
        return sorted(pos for part in parts for pos in part)

    def candidates(
        self, src: int, dst: int, sport: int, dport: int, icmp_type: int, version: int
    ) -> list[int]:
        """Positions of the rules that may match, in evaluation order."""
        parts = self._keyed(sport, dport, icmp_type)
        self._by_address(parts, src, dst, version)
        return list(self._merged(parts)) if parts else []

    def first(
        self, src: int, dst: int, sport: int, dport: int, icmp_type: int, version: int
    ) -> FilterRule | None:
        positions = self.candidates(src, dst, sport, dport, icmp_type, version)
        return self._first(positions, src, dst, sport, dport, icmp_type, version)

    def _first(
        self,
        positions: list[int],
        src: int,
        dst: int,
        sport: int,
        dport: int,
        icmp_type: int,
        version: int,
    ) -> FilterRule | None:
        rules = self.rules
        for pos in positions:
            if rules[pos].matches(src, dst, sport, dport, icmp_type, version):
                return rules[pos]
        return None

    def hides(self, ip: Datagram, sport: int = 0, dport: int = 0, icmp_type: int = -1) -> bool:
        """Whether the first rule that matches a datagram (its addresses as
        they are on the wire) ignores it: the per-packet path, one call.
        The addresses are made numbers only when a rule that may match
        needs them; with rules filed by port alone (10,000 ``ignore tcp
        dport`` lines), a packet costs a dictionary lookup or two."""
        if self.by_dport_only:
            hit = self.dport.get(dport)
            if hit is None:
                return False
            parts = [hit]
        else:
            parts = self._keyed(sport, dport, icmp_type)
            if not parts and not self.addressed:
                return False
        src, dst = int.from_bytes(ip.src, "big"), int.from_bytes(ip.dst, "big")
        version = 4 if len(ip.src) == 4 else 6
        if self.addressed:
            self._by_address(parts, src, dst, version)
        if not parts:
            return False
        rule = self._first(self._merged(parts), src, dst, sport, dport, icmp_type, version)
        return rule is not None and rule.action == "ignore"


class Filters:
    """The rule list in evaluation order, split by protocol and indexed.

    Order (docs/contract.md C2): the ``ignore_dns`` rules, then every ``log`` rule, then
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
        self._index = {p: RuleIndex(rules) for p, rules in self._by_proto.items()}

    def ordered(self, proto: str) -> tuple[FilterRule, ...]:
        return self._by_proto[proto]

    def index(self, proto: str) -> RuleIndex:
        return self._index[proto]

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
        index = self._index.get(proto)
        rule = index and index.first(src, dst, sport, dport, icmp_type, version)
        return rule is not None and rule.action == "ignore"

    def __bool__(self) -> bool:
        return bool(self.rules or self.dns_rules)


# --- addresses, as rules, -a and ``promisc`` give them ------------------------------

_DOTTED = re.compile(r"\d+(?:\.\d+){0,3}\Z")
HostResolver = Callable[[str], list[str]]


class RuleError(Exception):
    """One rule is wrong; the text is 2.2.3's message for it."""


def parse_address(token: str, resolve: HostResolver) -> list[AddrSpec]:
    negate = token.startswith("!")
    body = token[1:] if negate else token
    if body == "*":
        return [AddrSpec(any=True, negate=negate)]
    host, slash, mask = body.partition("/")
    if not host:
        raise RuleError("Missing address parameter")
    addresses: list[ipaddress._BaseAddress] = []
    if _DOTTED.match(host):
        octets = [int(x) for x in host.split(".")]
        if any(o > 255 for o in octets):
            raise RuleError(f"Unknown host: {host}")
        padded = octets + [0] * (4 - len(octets))
        addresses.append(ipaddress.IPv4Address(".".join(map(str, padded))))
    else:
        try:
            addresses.append(ipaddress.ip_address(host))
        except ValueError:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host)]
            if not addresses:
                raise RuleError(f"Unknown host: {host}") from None
    specs = []
    for addr in addresses:
        bits = addr.max_prefixlen
        full = (1 << bits) - 1
        if not slash:
            prefix_mask = full
        elif mask == "*":
            specs.append(AddrSpec(version=addr.version, any=True, negate=negate))
            continue
        elif mask.isdigit():
            n = int(mask)
            if not 1 <= n <= bits:
                raise RuleError(f"Invalid mask: must be in range 1 - {bits}")
            prefix_mask = full ^ ((1 << (bits - n)) - 1)
        else:
            try:
                prefix_mask = int(ipaddress.IPv4Address(mask))
            except ValueError:
                raise RuleError(f"Invalid mask: {mask}") from None
            if addr.version != 4:
                raise RuleError(f"Invalid mask: {mask}")
        net = int(addr) & prefix_mask
        if addr.version == 4 and net == 0 and prefix_mask == full:
            specs.append(AddrSpec(any=True, negate=negate))  # 0.0.0.0 matches all
        else:
            specs.append(AddrSpec(version=addr.version, net=net, mask=prefix_mask, negate=negate))
    return specs


def promisc_network(text: str) -> list[AddrSpec]:
    """A promisc network (-a, ``promisc``): an address or prefix, no host
    names (the capture filter is made from it).  Raises RuleError."""
    try:
        return parse_address(text, lambda _name: [])
    except RuleError as exc:
        raise RuleError(f'Invalid promisc network "{text}": {exc}') from None
