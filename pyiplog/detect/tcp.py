"""TCP (docs/contract.md P2): stealth scans, bogus flags, SYN and port scans, attempts.

``ClassicTcp`` counts as 2.2.3 did.  ``DefaultTcp`` (docs/contract.md D3) lets answers
matter: a SYN-ACK marks the port served, a RST refuses the probe, the
monitored side's own segments are state and never lines; ECN (RFC 3168) is
not bogus.  Both share ``TcpDetector.handle``; they differ only in the three
steps they override.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

from ..constants import IP_DF, TH_ACK, TH_CWR, TH_ECE, TH_FIN, TH_PUSH, TH_RST, TH_SYN, TH_URG
from ..decode import Datagram
from ..foolnmap import PROBE_FLAGS
from ..options import Options
from .context import Context, DetectorBase, Ours, SynFloodGuard

BOGUS_BITS = TH_ECE | TH_CWR  # 2.2.3: the two top flag bits are always bogus
RESERVED = 0x0F  # the low half of byte 12: reserved (and the old NS/AE bit)
SYN_KINDS = ("syn_scan", "portscan")
PROBE_BITS = TH_FIN | TH_SYN | TH_RST | TH_ACK
MAX_ACKED = 4096  # SYN-ACK and FIN+ACK segments remembered for the bare RSTs
HALF_OPEN = 0  # a remembered SYN-ACK, its connection counted as half open already

# Flag sets (top bits cleared) that count toward the Xmas scan.
XMAS = frozenset(
    {
        TH_FIN | TH_URG | TH_PUSH,
        TH_URG,
        TH_PUSH,
        TH_FIN | TH_URG,
        TH_FIN | TH_PUSH,
        TH_URG | TH_PUSH,
    }
)

_ports = struct.Struct("!HH")
# source port, destination port, data offset + reserved bits, flags, urgent pointer
_head = struct.Struct("!HH8xBB4xH")


def odd_header(seg: bytes, flags: int) -> bool:
    """Reserved bits set, or an urgent pointer without URG, in a segment
    that may be cut short after its flags byte."""
    if seg[12] & RESERVED:
        return True
    return not flags & TH_URG and seg[18:20] not in (b"", b"\0\0", b"\0")


def ecn_bogus(flags: int) -> bool:
    """ECE/CWR where RFC 3168 never puts them (the SYN's negotiation)."""
    if flags & TH_SYN:
        if flags & TH_ACK:
            return bool(flags & TH_CWR)
        return bool(flags & TH_ECE) != bool(flags & TH_CWR)
    return False


def stealth_kinds(opts: Options) -> dict[int, str]:
    """Flags (top bits cleared) -> the stealth scan they count toward, for
    the scans switched on."""
    kinds: dict[int, str] = {}
    if opts.null_scan:
        kinds[0] = "null_scan"
    if opts.xmas_scan:
        kinds.update(dict.fromkeys(XMAS, "xmas_scan"))
    if opts.fin_scan:
        kinds[TH_FIN] = "fin_scan"
    return kinds


class TcpDetector(DetectorBase):
    """One TCP segment at a time; what differs between the countings is
    which segments are answers (``answer_flags``, ``answered``), whose
    segments are state only (``ours``), the bogus tables and ``count_syn``."""

    RULES = "tcp"
    answer_flags = 0  # flags that make a segment an answer to a probe
    # A SYN to our (dst, dport) toward a distributed flood: (ts, dst, dport,
    # src, nbytes) -> True when folded into one (sweeps.FloodCounter.packet).
    fold_flood: Callable[[float, bytes, int, bytes, int], bool] | None = None

    def __init__(
        self, ctx: Context, opts: Options, guard: SynFloodGuard, previous: TcpDetector | None = None
    ):
        super().__init__(ctx)
        # The per-packet line's parts (a configuration's, like the detector).
        self.attempt = ctx.lines.forms["tcp_attempt"]
        self.services = ctx.names.tcp_services
        self.stealth = stealth_kinds(opts)
        self.bogus_on = opts.bogus
        # bogus[odd][flags]: whether a segment is bogus (see the subclasses)
        self.bogus = (
            tuple(map(self.bogus_flags, range(256))),
            tuple(map(self.bogus_odd, range(256))),
        )
        self.guard = guard if opts.syn_flood else None  # the guard matters only to lookups
        self.scans_only = opts.scans_only
        self.last_bogus_src = previous.last_bogus_src if previous is not None else None
        self.fool = ctx.fool
        self.local = ctx.ours  # this host's own addresses, whatever the counting
        self.ident = ctx.ident

    # --- what the countings decide ------------------------------------------------

    def answered(self, ts: float, ip: Datagram, sport: int, dport: int, flags: int) -> None:
        """A segment with one of ``answer_flags``: it may answer a probe."""

    def bogus_flags(self, flags: int) -> bool:
        """Whether ``flags`` are bogus in a segment with an ordinary header."""
        raise NotImplementedError

    def bogus_odd(self, flags: int) -> bool:
        """The same, with reserved bits or an urgent pointer without URG."""
        raise NotImplementedError

    # The kind a SYN counts toward, by its DF bit (clear, set); None: not counted.
    syn_kinds: tuple[str | None, str | None] = (None, None)

    def count_syn(
        self, kind: str, ts: float, src: bytes, dst: bytes, nbytes: int, sport: int, dport: int
    ) -> bool:
        """A SYN toward ``kind`` (of ``syn_kinds``); True when it stops here."""
        raise NotImplementedError

    # --- the segment ----------------------------------------------------------------

    def handle(self, ts: float, ip: Datagram) -> None:  # noqa: C901 - docs/contract.md P2, in its order
        seg = ip.payload
        if len(seg) >= 20:
            sport, dport, offset, flags, urgent = _head.unpack_from(seg)
            odd = offset & RESERVED or (urgent and not flags & TH_URG)
        elif len(seg) >= 14:  # cut short by the snap length (the flags byte is there)
            sport, dport = _ports.unpack_from(seg)
            flags = seg[13]
            odd = odd_header(seg, flags)
        else:  # no flags byte: nothing iplog could say
            return
        if self.hides is not None and self.hides(ip, sport, dport):
            return
        if self.fool is not None and PROBE_FLAGS[flags]:
            # Only for this host, never to itself (docs/wire.md W5).
            local = self.local.addresses
            if ip.dst in local and ip.src not in local:
                self.fool(ts, ip, seg)
        if flags & self.answer_flags:
            self.answered(ts, ip, sport, dport, flags)
        if self.ours.known and self.ours.outgoing(ip.src, ip.dst):
            return  # the monitored side's own segment: state only
        low = flags & 0x3F
        if low != TH_SYN:  # the common case is none of the stealth kinds
            kind = self.stealth.get(low)
            if kind is not None and self.scans.count(
                kind, ts, ip.src, ip.dst, ip.data_len, sport, dport
            ):
                return
        if self.bogus_on and self.bogus[1 if odd else 0][flags]:
            if self.last_bogus_src != ip.src:
                self.last_bogus_src = ip.src
                names = self.names
                self.lines.emit(
                    ts,
                    "tcp_bogus",
                    S=names.alarm(ip.src, "tcp"),
                    sport=sport,
                    D=names.dst(ip.dst, "tcp"),
                    dport=dport,
                    src=ip.src,
                    dst=ip.dst,
                    flags=flags,
                )
            return
        if low & (TH_SYN | TH_ACK) != TH_SYN:
            return
        if self.fold_flood is not None and self.fold_flood(ts, ip.dst, dport, ip.src, ip.data_len):
            return  # the flood's alarm says it, not a line per SYN
        kind = self.syn_kinds[1 if ip.flags_off & IP_DF else 0]
        if kind is not None and self.count_syn(kind, ts, ip.src, ip.dst, ip.data_len, sport, dport):
            return
        if self.guard is not None:
            self.guard.seen(ts)
        if self.scans_only:
            return
        if (
            self.ident is not None
            and self.ident.listening(dport)
            and self.ident.start(
                ts, ip.src, sport, ip.dst, dport, partial(self.attempt_line, ts, ip, sport, dport)
            )
        ):
            return  # the line comes with the answer (Engine.tick)
        names = self.names
        service = self.services.get(dport) or f"port {dport}"
        src = self.texts.get(ip.src) or names.host(ip.src, "tcp")
        dst = names.dst(ip.dst, "tcp") if names.dest else ""
        if self.waiting:  # a name being looked up: the line waits for it
            fields = {"service": service, "S": src, "sport": sport, "D": dst, "ip": ip}
            self.hold(ts, self.attempt, fields)
            return
        self.queue((ts, self.attempt(service=service, S=src, sport=sport, D=dst, ip=ip)))

    def attempt_line(
        self, ts: float, ip: Datagram, sport: int, dport: int, user: str | None
    ) -> tuple[float, str]:
        """A connection attempt's line, with the ident user if there is one."""
        names = self.names
        host = names.host(ip.src, "tcp")
        dst = names.dst(ip.dst, "tcp") if names.dest else ""
        self.waiting.clear()  # printed now: the ident answer was waited for already
        return (
            ts,
            self.attempt(
                service=self.services.get(dport) or f"port {dport}",
                S=f"{user}@{host}" if user else host,
                sport=sport,
                D=dst,
                ip=ip,
                user=user,
            ),
        )


class ClassicTcp(TcpDetector):
    """2.2.3's counting."""

    def __init__(
        self, ctx: Context, opts: Options, guard: SynFloodGuard, previous: TcpDetector | None = None
    ):
        super().__init__(ctx, opts, guard, previous)
        self.ours = Ours()  # 2.2.3 treated every segment alike
        self.portscan = opts.portscan
        counted = "portscan" if opts.portscan else None  # one of the two at least
        self.syn_kinds = ("syn_scan" if opts.syn_scan else counted, counted)

    def bogus_flags(self, flags: int) -> bool:
        return bool(flags & BOGUS_BITS)

    bogus_odd = bogus_flags  # 2.2.3 never looked at the rest of the header

    def count_syn(
        self, kind: str, ts: float, src: bytes, dst: bytes, nbytes: int, sport: int, dport: int
    ) -> bool:
        # 2.2.3 counts a DF-clear SYN toward the SYN scan and, while that is
        # still under its threshold, toward the port scan as well.
        count = self.scans.count
        if kind == "syn_scan" and count(kind, ts, src, dst, nbytes, sport, dport):
            return True
        return self.portscan and count("portscan", ts, src, dst, nbytes, sport, dport)


class DefaultTcp(TcpDetector):
    """The default counting (docs/contract.md D3)."""

    def __init__(
        self, ctx: Context, opts: Options, guard: SynFloodGuard, previous: TcpDetector | None = None
    ):
        super().__init__(ctx, opts, guard, previous)
        portscan = "portscan" if opts.portscan else None
        # One kind per probe: raw SYNs (DF clear) make SYN scans, the
        # kernel's connect() SYNs (DF set) port scans.
        self.syn_kinds = ("syn_scan" if opts.syn_scan else portscan, portscan)
        self.count_syn = self.scans.probes.packet  # the default counting of a probe
        if opts.distributed_flood:
            self.fold_flood = self.scans.sweeps.counters["distributed_flood"].packet
        self.reset_scans = opts.ack_scan
        self.reply_wait = self.scans.probes.reply_wait
        self.confirming = self.scans.probes.confirming  # SYN-ACKs sent again, undecided
        # SYN-ACK and FIN+ACK segments lately seen: (src, dst, dport, sport)
        # -> (time, flags).
        self.acked: dict[tuple[bytes, bytes, int, int], tuple[float, int]] = (
            previous.acked if isinstance(previous, DefaultTcp) else {}
        )

    answer_flags = TH_ACK | TH_RST

    def answered(self, ts: float, ip: Datagram, sport: int, dport: int, flags: int) -> None:
        # A SYN-ACK serves the port (once: sent again, the handshake is half
        # open); a RST refuses the probe, unless it is the prober's own,
        # resetting the SYN-ACK it got (a half-open probe).  The client's FIN
        # or RST+ACK: it had the connection.
        if self.confirming and flags & (TH_FIN | TH_RST) and flags & TH_ACK:
            self.scans.completed(SYN_KINDS, ip.src, ip.dst, dport, sport)
        if flags & (TH_SYN | TH_ACK) == TH_SYN | TH_ACK:
            self._syn_ack(ts, ip, sport, dport)
        elif flags & TH_RST:
            self.scans.answered(SYN_KINDS, ts, ip.dst, ip.src, sport, refused=True)
            if not flags & TH_ACK:
                self._bare_reset(ts, ip, sport, dport)
        elif self.reset_scans and flags & PROBE_BITS == TH_FIN | TH_ACK:
            # What a bare RST may answer besides a SYN-ACK: a Maimon probe,
            # or a connection's end.
            self._remember((ip.src, ip.dst, dport, sport), ts, TH_FIN | TH_ACK)

    def _remember(self, key: tuple[bytes, bytes, int, int], ts: float, flags: int) -> None:
        acked = self.acked
        acked[key] = (ts, flags)
        if len(acked) > MAX_ACKED:
            del acked[next(iter(acked))]

    def _syn_ack(self, ts: float, ip: Datagram, sport: int, dport: int) -> None:
        """``ip.src`` accepts ``ip.dst``'s SYN to ``sport``.  The same SYN-ACK
        again within ``window reply``: no ACK reached it (the sender's clock
        ran out), so the connection was left half open, once, unless the
        client shows it had it (``Scans.unacked``)."""
        key = (ip.src, ip.dst, dport, sport)
        seen = self.acked.get(key)
        if seen is not None and seen[1] == TH_SYN | TH_ACK and ts - seen[0] <= self.reply_wait:
            self.acked[key] = (seen[0], HALF_OPEN)
            self.scans.unacked(SYN_KINDS, ts, ip.dst, ip.src, sport, dport)
            return
        if seen is None or seen[1] != HALF_OPEN or ts - seen[0] > self.reply_wait:
            self.scans.answered(SYN_KINDS, ts, ip.dst, ip.src, sport, refused=False)
            self._remember(key, ts, TH_SYN | TH_ACK)

    def _bare_reset(self, ts: float, ip: Datagram, sport: int, dport: int) -> None:
        """A RST without ACK (RFC 793: the answer to a segment of no
        connection).  Sent to the host that sent us a SYN-ACK lately: the
        prober resets the connection our host accepted, never completing it
        (nmap -sS, masscan, hping3 -S: a half-open probe of ``dport``).
        From our host: a step of an ACK, window or Maimon scan of
        ``ip.dst``, unless it resets ``ip.dst``'s SYN-ACK (what a SYN
        scanner's kernel does); Maimon's when that segment was a FIN+ACK."""
        seen = self.acked.pop((ip.dst, ip.src, sport, dport), None)
        kind = "ack_scan"
        if seen is not None and ts - seen[0] <= self.reply_wait:
            if seen[1] == TH_SYN | TH_ACK:
                self.scans.half_open(SYN_KINDS, ts, ip.src, ip.dst, dport)
                return
            if seen[1] != TH_FIN | TH_ACK:
                return  # counted when the SYN-ACK came again
            kind = "maimon_scan"
        elif seen is not None:
            return  # a connection seen accepted or closed: a late segment of it
        own = self.acked.get((ip.src, ip.dst, dport, sport))
        if own is not None and own[1] == TH_FIN | TH_ACK:
            return  # its sender had closed this connection (a client that gave up)
        if self.reset_scans and self.ours.has(ip.src):
            self.scans.sweep(kind, ts, (ip.dst, ip.src), sport, src=ip.dst, dst=ip.src, sport=dport)

    def bogus_flags(self, flags: int) -> bool:
        return bool(flags & BOGUS_BITS) and ecn_bogus(flags)

    def bogus_odd(self, flags: int) -> bool:
        return True
