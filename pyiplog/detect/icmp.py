"""ICMP (spec A7): smurf, ping flood, and one line per message type."""

from __future__ import annotations

import struct

from ..messages import (
    ICMP_NAMED, QUOTED_ICMP_NAMES, REDIRECT_FORMS, UNREACH_TEXTS, lifetime,
)
from ..resolve import address_text
from .udp import smurf_source

ECHO_REPLY, UNREACH, REDIRECT, ECHO, ROUTER_ADVERT = 0, 3, 5, 8, 9
TIME_EXCEEDED, PARAM_PROBLEM, TSTAMP_REPLY, MASK_REPLY = 11, 12, 14, 18
MAX_ROUTERS = 12

_u16 = struct.Struct("!H")
_u32 = struct.Struct("!I")


def handle(engine, ts: float, ip) -> None:
    msg = ip.payload
    if len(msg) < 4:
        return
    itype, code = msg[0], msg[1]
    opts = engine.opts
    if engine.filtering and engine.ignored("icmp", ip, icmp_type=itype):
        return
    n = ip.data_len
    if not engine.classic:
        if _modern(engine, ts, ip, itype, msg, n):
            return
    elif itype == ECHO_REPLY and opts.smurf:
        if engine.count("smurf", ts, smurf_source(ip.src), ip.dst, n):
            return
    elif itype == ECHO and opts.ping_flood:
        if engine.count("ping_flood", ts, ip.src, ip.dst, n):
            return
    if opts.scans_only:
        return
    _FORMATTERS.get(itype, _undefined)(engine, ts, ip, itype, code, msg)


def _modern(engine, ts: float, ip, itype: int, msg: bytes, n: int) -> bool:
    """Default counting (spec C3); True when the packet stops here."""
    opts = engine.opts
    if itype == UNREACH and len(msg) >= 8 + 20 + 4:
        _refusal(engine, ts, msg[8:])
    reply = False
    if itype in (ECHO, ECHO_REPLY) and len(msg) >= 6:
        ident = _u16.unpack_from(msg, 4)[0]
        if itype == ECHO:
            reply = engine.flows.note(ts, 1, ip.src, ident, ip.dst, 0)
        else:
            reply = engine.flows.note(ts, 1, ip.src, 0, ip.dst, ident)
    if engine.outgoing(ip):
        return True
    if itype == ECHO_REPLY and opts.smurf and not reply:
        return engine.probe("smurf", ts, smurf_source(ip.src), ip.dst, n, probe=False)
    if itype == ECHO and opts.ping_flood:
        return engine.probe("ping_flood", ts, ip.src, ip.dst, n, probe=False)
    return False


def _refusal(engine, ts: float, quoted: bytes) -> None:
    """An unreachable quoting a probe: the probe to that port was refused."""
    hlen = max((quoted[0] & 0x0F) * 4, 20)
    if len(quoted) < hlen + 4:
        return
    proto, src, dst = quoted[9], quoted[12:16], quoted[16:20]
    dport = _u16.unpack_from(quoted, hlen + 2)[0]
    if proto == 17:
        engine.answered(("udp_scan",), ts, src, dst, dport, refused=True)
    elif proto == 6:
        engine.answered(("syn_scan", "portscan"), ts, src, dst, dport, refused=True)


def describe_quoted(engine, quoted: bytes) -> str:
    """INNER: the packet an error message quotes."""
    if len(quoted) < 20:
        return "truncated"
    hlen = max((quoted[0] & 0x0F) * 4, 20)
    proto = quoted[9]
    body = quoted[hlen:]
    if proto == 1:
        if not body:
            return "ICMP"
        qtype = body[0]
        name = QUOTED_ICMP_NAMES[qtype] if qtype < len(QUOTED_ICMP_NAMES) else "ICMP_UNDEFINED"
        if qtype in (UNREACH, REDIRECT) and len(body) > 1:
            name += f" code {body[1]}"
        return f"ICMP: {name}"
    name = engine.namer.protocol(proto)
    if len(body) < 4:
        return name
    sport, dport = struct.unpack_from("!HH", body)
    return f"{name}: dest port {dport}, source port {sport}"


def _quoted_dst(msg: bytes) -> bytes | None:
    return msg[24:28] if len(msg) >= 28 else None


def _echo(engine, ts, ip, itype, code, msg):
    kind = "icmp_echo_reply" if itype == ECHO_REPLY else "icmp_echo"
    engine.queue((ts, engine.forms[kind](
        S=engine.texts.get(ip.src) or engine.host(ip.src, "icmp"),
        D=engine.dst(ip.dst, "icmp") if engine.dest else "", n=ip.data_len)))


def _unreach(engine, ts, ip, itype, code, msg):
    src = engine.host(ip.src, "icmp")
    if code >= len(UNREACH_TEXTS):
        engine.emit(ts, "icmp_unreach_undefined", code=code, S=src,
                    D=engine.dst(ip.dst, "icmp"))
        return
    qdst = _quoted_dst(msg)
    head = src if qdst is None or qdst == ip.src else f"(from {src}) {engine.host(qdst, 'icmp')}"
    engine.emit(ts, "icmp_unreach", H=head, text=UNREACH_TEXTS[code],
                D=engine.dst(ip.dst, "icmp"), inner=describe_quoted(engine, msg[8:]))


def _named(engine, ts, ip, itype, code, msg):
    engine.emit(ts, "icmp_named", name=ICMP_NAMED[itype], S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"))


def _redirect(engine, ts, ip, itype, code, msg):
    if code >= len(REDIRECT_FORMS) or len(msg) < 8:
        engine.emit(ts, "icmp_redirect_undefined", code=code, S=engine.host(ip.src, "icmp"),
                    D=engine.dst(ip.dst, "icmp"))
        return
    redirect, target = REDIRECT_FORMS[code]
    qdst = _quoted_dst(msg) or bytes(4)
    engine.emit(ts, "icmp_redirect", gw=engine.host(msg[4:8], "icmp"), redirect=redirect,
                S=engine.host(ip.src, "icmp"), target=target, X=engine.host(qdst, "icmp"))


def _router_advert(engine, ts, ip, itype, code, msg):
    if len(msg) < 8:
        return _undefined(engine, ts, ip, itype, code, msg)
    count, size = msg[4], max(msg[5], 2) * 4
    routers = []
    for i in range(min(count, MAX_ROUTERS)):
        at = 8 + i * size
        if at + 4 > len(msg):
            break
        routers.append(address_text(msg[at:at + 4]))
    engine.emit(ts, "icmp_router_advert", S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"), routers=" -> ".join(routers),
                lifetime=lifetime(_u16.unpack_from(msg, 6)[0]))


def _time_exceeded(engine, ts, ip, itype, code, msg):
    engine.emit(ts, "icmp_time_exceeded", S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"), inner=describe_quoted(engine, msg[8:]))


def _param_problem(engine, ts, ip, itype, code, msg):
    engine.emit(ts, "icmp_param_problem", S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"), ptr=msg[4] if len(msg) > 4 else 0)


def _timestamp_reply(engine, ts, ip, itype, code, msg):
    # B5: a reply, and the transmit time is milliseconds since midnight UT.
    millis = _u32.unpack_from(msg, 16)[0] if len(msg) >= 20 else 0
    secs = (millis // 1000) % 86400
    engine.emit(ts, "icmp_timestamp_reply", S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"),
                time=f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}")


def _mask_reply(engine, ts, ip, itype, code, msg):
    # B6, B16: network byte order, printed as a dotted quad, never resolved.
    mask = address_text(msg[8:12]) if len(msg) >= 12 else "0.0.0.0"
    engine.emit(ts, "icmp_mask_reply", S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"), mask=mask)


def _undefined(engine, ts, ip, itype, code, msg):
    engine.emit(ts, "icmp_undefined", type=itype, S=engine.host(ip.src, "icmp"),
                D=engine.dst(ip.dst, "icmp"))


_FORMATTERS = {
    ECHO_REPLY: _echo, ECHO: _echo, UNREACH: _unreach, REDIRECT: _redirect,
    ROUTER_ADVERT: _router_advert, TIME_EXCEEDED: _time_exceeded,
    PARAM_PROBLEM: _param_problem, TSTAMP_REPLY: _timestamp_reply, MASK_REPLY: _mask_reply,
    **{t: _named for t in ICMP_NAMED},
}
