"""IP protocols other than TCP, UDP and ICMP (docs/contract.md D5): no line of their
own, as in 2.2.3; in the default counting each counts toward a protocol
scan (nmap -sO) of its source."""

from __future__ import annotations

from ..decode import Datagram
from .context import DetectorBase


class OtherProtocols(DetectorBase):
    def handle(self, ts: float, ip: Datagram) -> None:
        if self.ours.known and self.ours.outgoing(ip.src, ip.dst):
            return
        self.scans.sweep(
            "proto_scan",
            ts,
            (ip.src, ip.dst),
            ip.proto,
            src=ip.src,
            dst=ip.dst,
            nbytes=ip.data_len,
        )
