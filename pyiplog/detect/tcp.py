"""TCP (spec A5): stealth scans, bogus flags, SYN and port scans, attempts.

With the default counting (spec C3), answers matter: a SYN-ACK marks the
port served, a RST refuses the probe; ECN (RFC 3168) is not bogus.
"""

from __future__ import annotations

import struct

from ..decode import IP_DF

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80
BOGUS_BITS = ECE | CWR  # 2.2.3: the two top flag bits are always bogus
RESERVED = 0x0F  # the low half of byte 12: reserved (and the old NS/AE bit)
SYN_KINDS = ("syn_scan", "portscan")

# Flag sets (top bits cleared) that count toward the Xmas scan.
XMAS = frozenset({FIN | URG | PSH, URG, PSH, FIN | URG, FIN | PSH, URG | PSH})

_ports = struct.Struct("!HH")
# source port, destination port, data offset + reserved bits, flags, urgent pointer
_head = struct.Struct("!HH8xBB4xH")


# With the default counting, bogus means what no RFC 3168 stack sends: an
# odd header (reserved bits, an urgent pointer without URG) or ECN bits
# where they never go (a SYN with only one of ECE/CWR, a SYN-ACK with CWR).


def odd_header(seg: bytes, flags: int) -> bool:
    """Reserved bits set, or an urgent pointer without URG, in a segment
    that may be cut short after its flags byte."""
    if seg[12] & RESERVED:
        return True
    return not flags & URG and seg[18:20] not in (b"", b"\0\0", b"\0")


def ecn_bogus(flags: int) -> bool:
    """ECE/CWR where RFC 3168 never puts them (the SYN's negotiation)."""
    if flags & SYN:
        if flags & ACK:
            return bool(flags & CWR)
        return bool(flags & ECE) != bool(flags & CWR)
    return False


def handle(engine, ts: float, ip) -> None:
    seg = ip.payload
    if len(seg) >= 20:
        sport, dport, offset, flags, urgent = _head.unpack_from(seg)
        odd = offset & RESERVED or (urgent and not flags & URG)
    elif len(seg) >= 14:  # cut short by the snap length (the flags byte is there)
        sport, dport = _ports.unpack_from(seg)
        flags = seg[13]
        odd = odd_header(seg, flags)
    else:  # no flags byte: nothing iplog could say
        return
    if engine.filtering and engine.ignored("tcp", ip, sport, dport):
        return
    opts = engine.opts
    classic = engine.classic
    src, dst = ip.src, ip.dst
    if not classic:
        if flags & (ACK | RST):  # an answer: a SYN-ACK serves the port, a RST refuses it
            if flags & (SYN | ACK) == SYN | ACK:
                engine.answered(SYN_KINDS, ts, dst, src, sport, refused=False)
            elif flags & RST:
                engine.answered(SYN_KINDS, ts, dst, src, sport, refused=True)
        local = engine.local  # engine.outgoing(ip), inline: this is the hot path
        if local and src in local and dst not in local:  # our own answers: state only
            return
    n = ip.data_len
    low = flags & 0x3F
    if low == SYN:  # the common case: none of the stealth kinds
        pass
    elif low == 0:
        if opts.null_scan and engine.count("null_scan", ts, src, dst, n, sport, dport):
            return
    elif low in XMAS:
        if opts.xmas_scan and engine.count("xmas_scan", ts, src, dst, n, sport, dport):
            return
    elif low == FIN:
        if opts.fin_scan and engine.count("fin_scan", ts, src, dst, n, sport, dport):
            return
    if opts.bogus and (flags & BOGUS_BITS if classic
                       else odd or flags & BOGUS_BITS and ecn_bogus(flags)):
        if engine.last_bogus_src != src:
            engine.last_bogus_src = src
            engine.emit(ts, "tcp_bogus", S=engine.host(src, "tcp"), sport=sport,
                        D=engine.dst(dst, "tcp"), dport=dport)
        return
    if low & (SYN | ACK) != SYN:
        return
    if classic:
        # 2.2.3 counts a DF-clear SYN toward the SYN scan and, while that is
        # still under its threshold, toward the port scan as well.
        if opts.syn_scan and not ip.flags_off & IP_DF:
            if engine.count("syn_scan", ts, src, dst, n, sport, dport):
                return
        if opts.portscan and engine.count("portscan", ts, src, dst, n, sport, dport):
            return
    else:
        # One kind per probe: raw SYNs (DF clear) make SYN scans, the
        # kernel's connect() SYNs (DF set) port scans.
        key = ("syn_scan" if opts.syn_scan and not ip.flags_off & IP_DF
               else "portscan" if opts.portscan else None)
        if key:
            probes = engine.probes  # engine.probe, inline: this is the hot path
            swallowed = probes.packet(key, ts, src, dst, n, sport, dport)
            if probes.detections:
                engine.write_detections()
            if swallowed:
                return
    if opts.syn_flood:  # the guard matters only to name lookups
        engine.syn_seen(ts)
    if opts.scans_only:
        return
    engine.queue((ts, engine.forms["tcp_attempt"](
        service=engine.tcp_services.get(dport) or f"port {dport}",
        S=engine.texts.get(src) or engine.host(src, "tcp"),
        sport=sport, D=engine.dst(dst, "tcp") if engine.dest else "")))
