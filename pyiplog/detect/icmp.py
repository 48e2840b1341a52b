"""ICMP (docs/contract.md P4): smurf, ping flood, and one line per message type.

``ClassicIcmp`` counts as 2.2.3 did; ``DefaultIcmp`` (docs/contract.md D3) also reads
the answers: an unreachable refuses the probe it quotes, an echo reply to
an echo seen the other way is no smurf, and the monitored side's own
messages are state only.  The line of each type comes from a table of
formatters.
"""

from __future__ import annotations

import struct

from ..constants import IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP
from ..decode import Datagram
from ..messages import ICMP_NAMED, QUOTED_ICMP_NAMES, REDIRECT_FORMS, UNREACH_TEXTS, lifetime
from ..options import Options
from ..resolve import address_text
from .context import Context, DetectorBase, Lines, Names
from .counting import smurf_source

ECHO_REPLY, UNREACH, REDIRECT, ECHO, ROUTER_ADVERT = 0, 3, 5, 8, 9
TIME_EXCEEDED, PARAM_PROBLEM, TSTAMP_REPLY, MASK_REPLY = 11, 12, 14, 18
PROTO_UNREACH = 2  # destination unreachable's code
MAX_ROUTERS = 12

_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")
_ports = struct.Struct("!HH")


class IcmpDetector(DetectorBase):
    """One ICMP message at a time; the countings differ in ``count``
    (ICMPv6's too: its messages are the ``icmp`` rules')."""

    RULES = "icmp"

    def __init__(self, ctx: Context, opts: Options):
        super().__init__(ctx)
        self.smurf = opts.smurf
        self.ping_flood = opts.ping_flood
        self.scans_only = opts.scans_only

    def count(self, ts: float, ip: Datagram, itype: int, msg: bytes) -> bool:
        """Smurf and ping flood; True when the message stops here."""
        raise NotImplementedError

    def handle(self, ts: float, ip: Datagram) -> None:
        msg = ip.payload
        if len(msg) < 4:
            return
        itype, code = msg[0], msg[1]
        if self.hides is not None and self.hides(ip, icmp_type=itype):
            return
        if self.count(ts, ip, itype, msg):
            return
        if self.scans_only:
            return
        _FORMATTERS.get(itype, _undefined)(self.names, self.lines, ts, ip, code, msg)


class ClassicIcmp(IcmpDetector):
    """2.2.3's counting."""

    def count(self, ts: float, ip: Datagram, itype: int, msg: bytes) -> bool:
        if itype == ECHO_REPLY and self.smurf:
            return self.scans.count("smurf", ts, smurf_source(ip.src), ip.dst, ip.data_len)
        if itype == ECHO and self.ping_flood:
            return self.scans.count("ping_flood", ts, ip.src, ip.dst, ip.data_len)
        return False


class DefaultIcmp(IcmpDetector):
    """The default counting (docs/contract.md D3), and ping sweeps (D5)."""

    def __init__(self, ctx: Context, opts: Options):
        super().__init__(ctx, opts)
        self.ping_sweep = opts.ping_sweep
        self.proto_scan = opts.proto_scan
        flood = self.scans.sweeps.counters["distributed_icmp"]
        self.fold_flood = flood.packet if opts.distributed_flood else None

    def count(self, ts: float, ip: Datagram, itype: int, msg: bytes) -> bool:
        if itype == UNREACH and len(msg) >= 8 + 20:
            self._refusal(ts, ip, msg[1], msg[8:])
        reply = False
        if itype in (ECHO, ECHO_REPLY) and len(msg) >= 6:
            ident = _u16.unpack_from(msg, 4)[0]
            note = self.scans.flows.note
            if itype == ECHO:
                reply = note(ts, IPPROTO_ICMP, ip.src, ident, ip.dst, 0)
            else:
                reply = note(ts, IPPROTO_ICMP, ip.src, 0, ip.dst, ident)
        if self.ours.known and self.ours.outgoing(ip.src, ip.dst):
            return True
        if (
            not reply
            and self.fold_flood is not None
            and self.fold_flood(ts, ip.dst, None, ip.src, ip.data_len)
        ):
            return True  # the flood's alarm says it, not a line per message
        probe = self.scans.probes.packet
        if itype == ECHO_REPLY and self.smurf and not reply:
            return probe("smurf", ts, smurf_source(ip.src), ip.dst, ip.data_len, None, None, False)
        if itype == ECHO and self.ping_sweep and not reply:
            self.scans.sweep("ping_sweep", ts, ip.src, ip.dst, src=ip.src, nbytes=ip.data_len)
        if itype == ECHO and self.ping_flood:
            return probe("ping_flood", ts, ip.src, ip.dst, ip.data_len, None, None, False)
        return False

    def _refusal(self, ts: float, ip: Datagram, code: int, quoted: bytes) -> None:
        """An unreachable quoting a probe: the probe to that port was refused
        (a protocol unreachable from us: a step of a protocol scan)."""
        hlen = max((quoted[0] & 0x0F) * 4, 20)
        proto, src, dst = quoted[9], quoted[12:16], quoted[16:20]
        if (
            code == PROTO_UNREACH
            and self.proto_scan
            and proto not in (IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP)
            and self.ours.has(ip.src)
        ):
            self.scans.sweep("proto_scan", ts, (src, dst), proto, src=src, dst=dst, counted=False)
        if len(quoted) < hlen + 4:
            return
        dport = _u16.unpack_from(quoted, hlen + 2)[0]
        if proto == IPPROTO_UDP:
            self.scans.answered(("udp_scan",), ts, src, dst, dport, refused=True)
        elif proto == IPPROTO_TCP:
            self.scans.answered(("syn_scan", "portscan"), ts, src, dst, dport, refused=True)


# --- one line per type -------------------------------------------------------------------
# Each formatter: (names, lines, ts, ip, code, msg).


def describe_quoted(names: Names, quoted: bytes) -> str:
    """INNER: the packet an error message quotes."""
    if len(quoted) < 20:
        return "truncated"
    hlen = max((quoted[0] & 0x0F) * 4, 20)
    proto = quoted[9]
    body = quoted[hlen:]
    if proto == IPPROTO_ICMP:
        if not body:
            return "ICMP"
        qtype = body[0]
        name = QUOTED_ICMP_NAMES[qtype] if qtype < len(QUOTED_ICMP_NAMES) else "ICMP_UNDEFINED"
        if qtype in (UNREACH, REDIRECT) and len(body) > 1:
            name += f" code {body[1]}"
        return f"ICMP: {name}"
    name = names.protocol(proto)
    if len(body) < 4:
        return name
    sport, dport = _ports.unpack_from(body)
    return f"{name}: dest port {dport}, source port {sport}"


def emit(lines: Lines, ip: Datagram, msg: bytes, ts: float, kind: str, **fields) -> None:
    """A line of an ICMP message, with what the JSON lines need besides."""
    fields.setdefault("code", msg[1])
    lines.emit(ts, kind, src=ip.src, dst=ip.dst, itype=msg[0], **fields)


def line(names: Names, lines: Lines, ts: float, ip: Datagram, msg: bytes, kind: str, **fields):
    """A line of an ICMP or ICMPv6 message to its destination (D); from its
    sender (S) unless the line names it otherwise (H, or S given)."""
    if "S" not in fields and "H" not in fields:
        fields["S"] = names.host(ip.src, "icmp")
    emit(lines, ip, msg, ts, kind, D=names.dst(ip.dst, "icmp"), **fields)


def _quoted_dst(msg: bytes) -> bytes | None:
    return msg[24:28] if len(msg) >= 28 else None


def echo_line(names: Names, lines: Lines, ts: float, ip: Datagram, kind: str) -> None:
    """An echo's or echo reply's line (ICMP's and ICMPv6's): a flood writes
    one a packet, so the form is called directly."""
    src = names.texts.get(ip.src) or names.host(ip.src, "icmp")
    dst = names.dst(ip.dst, "icmp") if names.dest else ""
    form = lines.forms[kind]
    if lines.waiting:  # a name being looked up: the line waits for it
        lines.hold(ts, form, {"S": src, "D": dst, "n": ip.data_len, "ip": ip})
        return
    lines.queue((ts, form(S=src, D=dst, n=ip.data_len, ip=ip)))


def unreach_head(names: Names, src: str, ip: Datagram, qdst: bytes | None) -> str:
    """H of an unreachable's line: the sender, or ``(from SENDER) HOST`` when
    it speaks for the quoted packet's destination HOST (a router)."""
    if qdst is None or qdst == ip.src:
        return src
    return f"(from {src}) {names.host(qdst, 'icmp')}"


def _echo(names, lines, ts, ip, code, msg):
    echo_line(names, lines, ts, ip, "icmp_echo_reply" if msg[0] == ECHO_REPLY else "icmp_echo")


def _unreach(names, lines, ts, ip, code, msg):
    src = names.host(ip.src, "icmp")
    if code >= len(UNREACH_TEXTS):
        line(names, lines, ts, ip, msg, "icmp_unreach_undefined", code=code, S=src)
        return
    head = unreach_head(names, src, ip, _quoted_dst(msg))
    inner = describe_quoted(names, msg[8:])
    line(names, lines, ts, ip, msg, "icmp_unreach", H=head, text=UNREACH_TEXTS[code], inner=inner)


def _named(names, lines, ts, ip, code, msg):
    line(names, lines, ts, ip, msg, "icmp_named", name=ICMP_NAMED[msg[0]])


def _redirect(names, lines, ts, ip, code, msg):
    if code >= len(REDIRECT_FORMS) or len(msg) < 8:
        line(names, lines, ts, ip, msg, "icmp_redirect_undefined", code=code)
        return
    redirect, target = REDIRECT_FORMS[code]
    qdst = _quoted_dst(msg) or bytes(4)
    # No destination in this line, in either form.
    emit(
        lines,
        ip,
        msg,
        ts,
        "icmp_redirect",
        gw=names.host(msg[4:8], "icmp"),
        redirect=redirect,
        S=names.host(ip.src, "icmp"),
        target=target,
        X=names.host(qdst, "icmp"),
    )


def _router_advert(names, lines, ts, ip, code, msg):
    if len(msg) < 8:
        return _undefined(names, lines, ts, ip, code, msg)
    count, size = msg[4], max(msg[5], 2) * 4
    routers = []
    for i in range(min(count, MAX_ROUTERS)):
        at = 8 + i * size
        if at + 4 > len(msg):
            break
        routers.append(address_text(msg[at : at + 4]))
    lifetime_text = lifetime(_u16.unpack_from(msg, 6)[0])
    line(
        names, lines, ts, ip, msg, "icmp_router_advert",
        routers=" -> ".join(routers), lifetime=lifetime_text,
    )  # fmt: skip


def _time_exceeded(names, lines, ts, ip, code, msg):
    line(names, lines, ts, ip, msg, "icmp_time_exceeded", inner=describe_quoted(names, msg[8:]))


def _param_problem(names, lines, ts, ip, code, msg):
    line(names, lines, ts, ip, msg, "icmp_param_problem", ptr=msg[4] if len(msg) > 4 else 0)


def _timestamp_reply(names, lines, ts, ip, code, msg):
    # F5: a reply, and the transmit time is milliseconds since midnight UT.
    millis = _u32.unpack_from(msg, 16)[0] if len(msg) >= 20 else 0
    secs = (millis // 1000) % 86400
    time = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    line(names, lines, ts, ip, msg, "icmp_timestamp_reply", time=time)


def _mask_reply(names, lines, ts, ip, code, msg):
    # F6, F16: network byte order, printed as a dotted quad, never resolved.
    mask = address_text(msg[8:12]) if len(msg) >= 12 else "0.0.0.0"
    line(names, lines, ts, ip, msg, "icmp_mask_reply", mask=mask)


def _undefined(names, lines, ts, ip, code, msg):
    line(names, lines, ts, ip, msg, "icmp_undefined", type=msg[0])


_FORMATTERS = {
    ECHO_REPLY: _echo,
    ECHO: _echo,
    UNREACH: _unreach,
    REDIRECT: _redirect,
    ROUTER_ADVERT: _router_advert,
    TIME_EXCEEDED: _time_exceeded,
    PARAM_PROBLEM: _param_problem,
    TSTAMP_REPLY: _timestamp_reply,
    MASK_REPLY: _mask_reply,
    **dict.fromkeys(ICMP_NAMED, _named),
}
