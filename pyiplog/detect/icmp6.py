"""ICMPv6 (docs/contract.md P5, RFC 4443): ICMP's detectors and lines for IPv6.

Echo requests and replies count toward the ping flood and the smurf attack
(replies grouped by the source's /64) as ICMP's do, in either counting; in
the default counting an unreachable refuses the probe it quotes, and a
parameter problem about an unrecognised next header (IPv6's protocol
unreachable) is a step of a protocol scan.  Neighbour and multicast
listener discovery are on every link all the time: a line only with
``set icmp6_nd true``; in the default counting, solicitations for many
addresses left unanswered are a neighbour sweep (``neighbours``).
"""

from __future__ import annotations

import struct

from ..constants import IP_OFFMASK, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP
from ..decode import EXT_HEADERS, Datagram, HeaderError, make_datagram, walk_ipv6
from ..messages import (
    ICMP6_NAMED,
    ICMP6_ND,
    PARAM_PROBLEM6_TEXTS,
    QUOTED_ICMP6_NAMES,
    TIME_EXCEEDED6_TEXTS,
    UNREACH6_TEXTS,
)
from ..options import Options
from .context import Context, Names
from .icmp import (
    ECHO,
    ECHO_REPLY,
    ClassicIcmp,
    DefaultIcmp,
    IcmpDetector,
    echo_line,
    line,
    unreach_head,
)

UNREACH6, TOO_BIG, TIME_EXCEEDED6, PARAM_PROBLEM6, ECHO6, ECHO_REPLY6 = 1, 2, 3, 4, 128, 129
NEIGHBOUR_SOLICIT, NEIGHBOUR_ADVERT = 135, 136
NEIGHBOUR = (NEIGHBOUR_SOLICIT, NEIGHBOUR_ADVERT)
UNSPECIFIED = bytes(16)  # the source of duplicate address detection's solicitations
UNRECOGNIZED_NEXT_HEADER = 1  # parameter problem's code

# ICMPv6 types counted as ICMP's (ping flood, smurf, flows); -1: never.
AS_ICMP = {ECHO6: ECHO, ECHO_REPLY6: ECHO_REPLY}

_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")
_ports = struct.Struct("!HH")


def quoted_ipv6(quoted: bytes) -> Datagram | None:
    """The IPv6 packet an error message quotes (``msg[8:]``), its extension
    headers skipped (a later fragment's payload left out: it holds no
    ports); None when its fixed header is not all there."""
    if len(quoted) < 40 or quoted[0] >> 4 != 6:
        return None
    nh, hlim, src, dst = quoted[6], quoted[7], quoted[8:24], quoted[24:40]
    ip = make_datagram((0.0, nh, src, dst, hlim, 0, 0, len(quoted) - 40, quoted[40:]))
    if ip.proto in EXT_HEADERS:
        ip = walk_ipv6(ip)
        if isinstance(ip, HeaderError):
            return None
        if ip.flags_off & IP_OFFMASK:  # a later fragment: no upper-layer header in it
            ip = ip._replace(payload=b"")
    return ip


class Icmp6Detector(IcmpDetector):
    """One ICMPv6 message at a time; the counting is that of the ICMP
    detector class it is mixed with (``ClassicIcmp6``, ``DefaultIcmp6``)."""

    neighbours = False  # solicitations and advertisements feed the neighbour sweep

    def __init__(self, ctx: Context, opts: Options):
        super().__init__(ctx, opts)
        self.nd = opts.icmp6_nd

    def handle(self, ts: float, ip: Datagram) -> None:
        msg = ip.payload
        if len(msg) < 4 or len(ip.src) != 16:  # ICMPv6 inside IPv4 is no message
            return
        itype, code = msg[0], msg[1]
        if self.hides is not None and self.hides(ip, icmp_type=itype):
            return
        if itype in ICMP6_ND:
            if self.nd and not self.scans_only:
                _named(self.names, self.lines, ts, ip, code, msg)
            if (
                self.neighbours
                and itype in (NEIGHBOUR_SOLICIT, NEIGHBOUR_ADVERT)
                and len(msg) >= 24
            ):
                self._neighbour(ts, ip, itype, msg[8:24])
            return
        if self.count6(ts, ip, itype, msg):
            return
        if self.scans_only:
            return
        _FORMATTERS.get(itype, _named if itype in ICMP6_NAMED else _undefined)(
            self.names, self.lines, ts, ip, code, msg
        )

    def count6(self, ts: float, ip: Datagram, itype: int, msg: bytes) -> bool:
        """Ping flood and smurf, with ICMP's counting."""
        return self.count(ts, ip, AS_ICMP.get(itype, -1), msg)

    def _neighbour(self, ts: float, ip: Datagram, itype: int, target: bytes) -> None:
        """A solicitation (duplicate address detection's and our own host's
        aside; with promisc networks, for an address in them) or the
        advertisement that answers one."""
        if itype == NEIGHBOUR_ADVERT:
            self.scans.advertised(ip.dst, target)
            return
        ours = self.ours
        if (
            ip.src != UNSPECIFIED
            and ip.src not in ours.addresses
            and (not ours.networks or ours.has(target))
        ):
            self.scans.solicited(ts, ip.src, target)


class ClassicIcmp6(Icmp6Detector, ClassicIcmp):
    """2.2.3's counting (which never saw IPv6) for the echo messages."""


class DefaultIcmp6(Icmp6Detector, DefaultIcmp):
    """The default counting: ICMP's, the errors' refusals, neighbour sweeps."""

    def __init__(self, ctx: Context, opts: Options):
        super().__init__(ctx, opts)
        self.neighbours = opts.ping_sweep

    def count6(self, ts: float, ip: Datagram, itype: int, msg: bytes) -> bool:
        if itype == UNREACH6 or (
            itype == PARAM_PROBLEM6 and msg[1] == UNRECOGNIZED_NEXT_HEADER and self.proto_scan
        ):
            quoted = quoted_ipv6(msg[8:])
            if quoted is not None:
                self._refused(ts, ip, itype, quoted)
        return self.count(ts, ip, AS_ICMP.get(itype, -1), msg)

    def _refused(self, ts: float, ip: Datagram, itype: int, quoted: Datagram) -> None:
        """An error about a probe ``quoted``: an unreachable refuses its port;
        an unrecognised next header from our host is a protocol scan's step."""
        src, dst, proto = quoted.src, quoted.dst, quoted.proto
        if itype == PARAM_PROBLEM6:
            if proto not in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6) and self.ours.has(ip.src):
                self.scans.sweep(
                    "proto_scan", ts, (src, dst), proto, src=src, dst=dst, counted=False
                )
            return
        if len(quoted.payload) < 4:
            return
        dport = _u16.unpack_from(quoted.payload, 2)[0]
        if proto == IPPROTO_UDP:
            self.scans.answered(("udp_scan",), ts, src, dst, dport, refused=True)
        elif proto == IPPROTO_TCP:
            self.scans.answered(("syn_scan", "portscan"), ts, src, dst, dport, refused=True)


# --- one line per type -------------------------------------------------------------------
# Each formatter: (names, lines, ts, ip, code, msg), as ICMP's.


def describe_quoted6(names: Names, quoted: bytes) -> str:
    """INNER: the IPv6 packet an error message quotes, as ICMP's lines
    describe an IPv4 one (``tcp: dest port P, source port Q``)."""
    ip = quoted_ipv6(quoted)
    if ip is None:
        return "truncated"
    body = ip.payload
    if ip.proto == IPPROTO_ICMPV6:
        if not body:
            return "ICMPv6"
        name = QUOTED_ICMP6_NAMES.get(body[0]) or ICMP6_NAMED.get(body[0]) or f"type {body[0]}"
        return f"ICMPv6: {name}"
    name = names.protocol(ip.proto)
    if len(body) < 4:
        return name
    sport, dport = _ports.unpack_from(body)
    return f"{name}: dest port {dport}, source port {sport}"


def _text(texts: tuple[str, ...], code: int) -> str:
    return texts[code] if code < len(texts) else f"code {code}"


def _echo(names, lines, ts, ip, code, msg):
    echo_line(names, lines, ts, ip, "icmp6_echo_reply" if msg[0] == ECHO_REPLY6 else "icmp6_echo")


def _unreach(names, lines, ts, ip, code, msg):
    src = names.host(ip.src, "icmp")
    if code >= len(UNREACH6_TEXTS):
        line(names, lines, ts, ip, msg, "icmp6_unreach_undefined", S=src)
        return
    quoted = quoted_ipv6(msg[8:])
    line(
        names,
        lines,
        ts,
        ip,
        msg,
        "icmp6_unreach",
        H=unreach_head(names, src, ip, quoted.dst if quoted is not None else None),
        text=UNREACH6_TEXTS[code],
        inner=describe_quoted6(names, msg[8:]),
    )


def _too_big(names, lines, ts, ip, code, msg):
    mtu = _u32.unpack_from(msg, 4)[0] if len(msg) >= 8 else 0
    inner = describe_quoted6(names, msg[8:])
    line(names, lines, ts, ip, msg, "icmp6_too_big", mtu=mtu, inner=inner)


def _time_exceeded(names, lines, ts, ip, code, msg):
    text = f"time exceeded: {_text(TIME_EXCEEDED6_TEXTS, code)}"
    inner = describe_quoted6(names, msg[8:])
    line(names, lines, ts, ip, msg, "icmp6_time_exceeded", text=text, inner=inner)


def _param_problem(names, lines, ts, ip, code, msg):
    ptr = _u32.unpack_from(msg, 4)[0] if len(msg) >= 8 else 0
    text, inner = _text(PARAM_PROBLEM6_TEXTS, code), describe_quoted6(names, msg[8:])
    line(names, lines, ts, ip, msg, "icmp6_param_problem", text=text, ptr=ptr, inner=inner)


def _named(names, lines, ts, ip, code, msg):
    line(names, lines, ts, ip, msg, "icmp6_named", name=ICMP6_NAMED[msg[0]])


def _undefined(names, lines, ts, ip, code, msg):
    line(names, lines, ts, ip, msg, "icmp6_undefined", type=msg[0])


_FORMATTERS = {
    ECHO6: _echo,
    ECHO_REPLY6: _echo,
    UNREACH6: _unreach,
    TOO_BIG: _too_big,
    TIME_EXCEEDED6: _time_exceeded,
    PARAM_PROBLEM6: _param_problem,
}
