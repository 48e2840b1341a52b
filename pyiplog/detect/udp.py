"""UDP (spec A6): smurf (echo port), traceroute, scan/flood, datagrams.

With the default counting (spec C3), a datagram that answers one seen the
other way is a reply, never a probe, and a port the destination answers
from is served: neither counts toward a scan or a flood.
"""

from __future__ import annotations

import struct

ECHO_PORT = 7
TRACEROUTE_QUIET = 15.0  # seconds between two traceroute lines for one source
UDP_KINDS = ("udp_scan",)

_head = struct.Struct("!HHH")


def smurf_source(src: bytes) -> bytes:
    """Smurf state is per source /24 (spec A8)."""
    return src[:3] + b"\0" if len(src) == 4 else src


def handle(engine, ts: float, ip) -> None:
    seg = ip.payload
    if len(seg) < 8:
        return
    sport, dport, length = _head.unpack_from(seg)
    opts = engine.opts
    if engine.filtering and engine.ignored("udp", ip, sport, dport):
        return
    n = ip.data_len
    classic = engine.classic
    reply = False
    if not classic:
        reply = engine.flows.note(ts, 17, ip.src, sport, ip.dst, dport)
        if reply:  # the source serves its port to the destination
            engine.answered(UDP_KINDS, ts, ip.dst, ip.src, sport, refused=False)
        local = engine.local  # engine.outgoing(ip), inline: this is a hot path
        if local and ip.src in local and ip.dst not in local:  # our own answers: state only
            return
    if sport == ECHO_PORT and opts.smurf and not reply:
        if classic:
            if engine.count("smurf", ts, smurf_source(ip.src), ip.dst, n, sport, dport):
                return
        elif engine.probe("smurf", ts, smurf_source(ip.src), ip.dst, n, sport, dport,
                          probe=False):
            return
    if ip.ttl == 1 and opts.traceroute:
        last = engine.last_traceroute
        if last is None or last[0] != ip.src or ts - last[1] >= TRACEROUTE_QUIET:
            engine.last_traceroute = (ip.src, ts)
            engine.emit(ts, "udp_traceroute", S=engine.host(ip.src, "udp"),
                        D=engine.dst(ip.dst, "udp"))
        return
    if opts.udp_scan and not reply:
        if classic:
            if engine.count("udp_scan", ts, ip.src, ip.dst, n, sport, dport):
                return
        else:
            probes = engine.probes  # engine.probe, inline: this is a hot path
            swallowed = probes.packet("udp_scan", ts, ip.src, ip.dst, n, sport, dport)
            if probes.detections:
                engine.write_detections()
            if swallowed:
                return
    if opts.scans_only:
        return
    engine.queue((ts, engine.forms["udp_dgram"](
        service=engine.udp_services.get(dport) or f"port {dport}",
        S=engine.texts.get(ip.src) or engine.host(ip.src, "udp"),
        sport=sport, D=engine.dst(ip.dst, "udp") if engine.dest else "",
        n=length - 8 if length > 8 else 0)))
