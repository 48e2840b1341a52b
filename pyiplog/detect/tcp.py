"""TCP (spec A5): stealth scans, bogus flags, SYN and port scans, attempts."""

from __future__ import annotations

import struct

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
BOGUS_BITS = 0xC0  # the two top flag bits (ECE, CWR today)

# Flag sets (top bits cleared) that count toward the Xmas scan.
XMAS = frozenset({FIN | URG | PSH, URG, PSH, FIN | URG, FIN | PSH, URG | PSH})

_ports = struct.Struct("!HH")


def handle(engine, ts: float, ip) -> None:
    seg = ip.payload
    if len(seg) < 14:  # no flags byte: nothing iplog could say
        return
    sport, dport = _ports.unpack_from(seg)
    flags = seg[13]
    opts = engine.opts
    if engine.filters and engine.filters.ignored(
            "tcp", int.from_bytes(ip.src, "big"), int.from_bytes(ip.dst, "big"), sport, dport):
        return
    n = ip.data_len
    low = flags & 0x3F
    if low == 0:
        if opts.null_scan and engine.count("null_scan", ts, ip.src, ip.dst, n, sport, dport):
            return
    elif low in XMAS:
        if opts.xmas_scan and engine.count("xmas_scan", ts, ip.src, ip.dst, n, sport, dport):
            return
    elif low == FIN:
        if opts.fin_scan and engine.count("fin_scan", ts, ip.src, ip.dst, n, sport, dport):
            return
    if flags & BOGUS_BITS and opts.bogus:
        if engine.last_bogus_src != ip.src:
            engine.last_bogus_src = ip.src
            engine.emit(ts, "tcp_bogus", S=engine.host(ip.src, "tcp"), sport=sport,
                        D=engine.host(ip.dst, "tcp"), dport=dport)
        return
    if not (flags & SYN) or flags & ACK:
        return
    # 2.2.3 counts a DF-clear SYN toward the SYN scan and, while that is
    # still under its threshold, toward the port scan as well.
    if opts.syn_scan and not ip.df:
        if engine.count("syn_scan", ts, ip.src, ip.dst, n, sport, dport):
            return
    if opts.portscan and engine.count("portscan", ts, ip.src, ip.dst, n, sport, dport):
        return
    engine.syn_seen(ts)
    if opts.scans_only:
        return
    engine.emit(ts, "tcp_attempt", service=engine.namer.service(dport, "tcp"),
                S=engine.host(ip.src, "tcp"), sport=sport, D=engine.host(ip.dst, "tcp"))
