"""UDP (docs/contract.md P3): smurf (echo port), traceroute, scan/flood, datagrams.

``ClassicUdp`` counts as 2.2.3 did.  With ``DefaultUdp`` (docs/contract.md D3) a
datagram that answers one seen the other way is a reply, never a probe, and
a port the destination answers from is served: neither counts toward a scan
or a flood.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

from ..constants import IPPROTO_UDP
from ..decode import Datagram
from ..options import Options
from .context import Context, DetectorBase
from .counting import smurf_source

ECHO_PORT = 7
TRACEROUTE_QUIET = 15.0  # seconds between two traceroute lines for one source
# traceroute's probes: to ports from 33434 on (one more per probe), sent with
# TTLs from 1 up, so they arrive with a TTL no ordinary datagram has.
TRACEROUTE_PORTS = range(33434, 33535)
TRACEROUTE_TTL = 32
UDP_KINDS = ("udp_scan",)

# What ``observe`` says of a datagram.
PROBE = 0  # it may count toward a scan or flood
REPLY = 1  # it answers one seen the other way (or is a traceroute probe)
OURS = 2  # the monitored side's own: state only

_head = struct.Struct("!HHH")


class UdpDetector(DetectorBase):
    """One datagram at a time; the countings differ in ``observe``,
    ``count_smurf`` and ``count_scan``."""

    RULES = "udp"

    def __init__(self, ctx: Context, opts: Options, previous: UdpDetector | None = None):
        super().__init__(ctx)
        self.dgram = ctx.lines.forms["udp_dgram"]
        self.services = ctx.names.udp_services
        self.smurf = opts.smurf
        self.traceroute = opts.traceroute
        self.udp_scan = opts.udp_scan
        self.scans_only = opts.scans_only
        # The last traceroute line: (source, time).
        self.last_traceroute = previous.last_traceroute if previous is not None else None

    def observe(self, ts: float, ip: Datagram, sport: int, dport: int) -> int:
        return PROBE

    def count_smurf(self, ts: float, ip: Datagram, sport: int, dport: int) -> bool:
        raise NotImplementedError

    # A datagram toward the UDP scan/flood: (ts, src, dst, nbytes, sport,
    # dport) -> True when it stops here.  The counting's own function,
    # bound to the kind (no call between: this is the per-datagram path).
    count_scan: Callable[[float, bytes, bytes, int, int, int], bool]
    # A datagram to our (dst, dport) toward a distributed flood: (ts, dst,
    # dport, src, nbytes) -> True when folded into one (sweeps.FloodCounter).
    fold_flood: Callable[[float, bytes, int, bytes, int], bool] | None = None

    def handle(self, ts: float, ip: Datagram) -> None:
        seg = ip.payload
        if len(seg) < 8:
            return
        sport, dport, length = _head.unpack_from(seg)
        if self.hides is not None and self.hides(ip, sport, dport):
            return
        seen = self.observe(ts, ip, sport, dport)
        if seen == OURS:
            return
        if (
            sport == ECHO_PORT
            and self.smurf
            and seen == PROBE
            and self.count_smurf(ts, ip, sport, dport)
        ):
            return
        if ip.ttl == 1 and self.traceroute:
            last = self.last_traceroute
            if last is None or last[0] != ip.src or ts - last[1] >= TRACEROUTE_QUIET:
                self.last_traceroute = (ip.src, ts)
                self.lines.emit(
                    ts,
                    "udp_traceroute",
                    S=self.names.host(ip.src, "udp"),
                    D=self.names.dst(ip.dst, "udp"),
                    src=ip.src,
                    dst=ip.dst,
                )
            return
        if (
            seen == PROBE
            and self.fold_flood is not None
            and self.fold_flood(ts, ip.dst, dport, ip.src, ip.data_len)
        ):
            return  # the flood's alarm says it, not a line per datagram
        if (
            self.udp_scan
            and seen == PROBE
            and self.count_scan(ts, ip.src, ip.dst, ip.data_len, sport, dport)
        ):
            return
        if self.scans_only:
            return
        names = self.names
        service = self.services.get(dport) or f"port {dport}"
        src = self.texts.get(ip.src) or names.host(ip.src, "udp")
        dst = names.dst(ip.dst, "udp") if names.dest else ""
        n = length - 8 if length > 8 else 0
        if self.waiting:  # a name being looked up: the line waits for it
            fields = {"service": service, "S": src, "sport": sport, "D": dst, "n": n, "ip": ip}
            self.hold(ts, self.dgram, fields)
            return
        self.queue((ts, self.dgram(service=service, S=src, sport=sport, D=dst, n=n, ip=ip)))


class ClassicUdp(UdpDetector):
    """2.2.3's counting."""

    def count_smurf(self, ts: float, ip: Datagram, sport: int, dport: int) -> bool:
        return self.scans.count(
            "smurf", ts, smurf_source(ip.src), ip.dst, ip.data_len, sport, dport
        )

    def __init__(self, ctx: Context, opts: Options, previous: UdpDetector | None = None):
        super().__init__(ctx, opts, previous)
        self.count_scan = partial(self.scans.count, "udp_scan")


class DefaultUdp(UdpDetector):
    """The default counting (docs/contract.md D3)."""

    def __init__(self, ctx: Context, opts: Options, previous: UdpDetector | None = None):
        super().__init__(ctx, opts, previous)
        self.note_flow = self.scans.flows.note
        self.probe = self.scans.probes.packet
        self.count_scan = partial(self.probe, "udp_scan")
        if opts.distributed_flood:
            self.fold_flood = self.scans.sweeps.counters["distributed_udp"].packet

    def observe(self, ts: float, ip: Datagram, sport: int, dport: int) -> int:
        reply = self.note_flow(ts, IPPROTO_UDP, ip.src, sport, ip.dst, dport)
        if reply:  # the source serves its port to the destination
            self.scans.answered(UDP_KINDS, ts, ip.dst, ip.src, sport, refused=False)
        if self.ours.known and self.ours.outgoing(ip.src, ip.dst):
            return OURS
        if ip.ttl < TRACEROUTE_TTL and dport in TRACEROUTE_PORTS:
            return REPLY  # a traceroute probe: logged, never a scan's
        return REPLY if reply else PROBE

    def count_smurf(self, ts: float, ip: Datagram, sport: int, dport: int) -> bool:
        return self.probe(
            "smurf", ts, smurf_source(ip.src), ip.dst, ip.data_len, sport, dport, False
        )
