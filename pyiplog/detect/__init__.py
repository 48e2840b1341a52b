"""Detectors: one class per protocol, built once per configuration.

``build`` picks each protocol's counting (2.2.3's with classic_detection,
the default one otherwise) and hands every detector its ``Context``; no
handler ever asks which counting is in force.
"""

from __future__ import annotations

from typing import Protocol

from ..constants import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP
from ..decode import Datagram
from ..options import Options
from .context import Context, SynFloodGuard
from .icmp import ClassicIcmp, DefaultIcmp, IcmpDetector
from .icmp6 import ClassicIcmp6, DefaultIcmp6
from .other import OtherProtocols
from .tcp import ClassicTcp, DefaultTcp, TcpDetector
from .udp import ClassicUdp, DefaultUdp, UdpDetector


class Detector(Protocol):
    def handle(self, ts: float, ip: Datagram) -> None:
        """One datagram of the detector's protocol, at packet time ``ts``."""


def build(
    opts: Options, ctx: Context, guard: SynFloodGuard, previous: dict[int, Detector] | None = None
) -> dict[int, Detector]:
    """Protocol number -> detector, for the protocols switched on.

    ``previous`` (a reload) hands over the little state detectors keep of
    their own (the last bogus source, the last traceroute).
    """
    previous = previous or {}
    classic = opts.classic_detection
    detectors: dict[int, Detector] = {}
    if opts.tcp:
        old = previous.get(IPPROTO_TCP)
        detectors[IPPROTO_TCP] = (ClassicTcp if classic else DefaultTcp)(
            ctx, opts, guard, old if isinstance(old, TcpDetector) else None
        )
    if opts.udp:
        old = previous.get(IPPROTO_UDP)
        detectors[IPPROTO_UDP] = (ClassicUdp if classic else DefaultUdp)(
            ctx, opts, old if isinstance(old, UdpDetector) else None
        )
    if opts.icmp:
        detectors[IPPROTO_ICMP] = (ClassicIcmp if classic else DefaultIcmp)(ctx, opts)
        detectors[IPPROTO_ICMPV6] = (ClassicIcmp6 if classic else DefaultIcmp6)(ctx, opts)
    if opts.proto_scan and not classic:
        other = OtherProtocols(ctx)
        for proto in range(256):
            if proto not in (IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6):
                detectors[proto] = other
    return detectors


__all__ = ["Context", "Detector", "IcmpDetector", "SynFloodGuard", "build"]
