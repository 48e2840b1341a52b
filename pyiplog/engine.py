"""The analysis engine: records in, iplog lines out (docs/contract.md P1-D2).

``Engine.feed(dlt, records)`` runs a batch of records (see ``decode``)
through the link layer, the IP checks and fragment reassembly of frames
that need them, and the protocol detectors, which queue ``(time, text)``
lines; the caller drains them to an output once a batch.  Time is always
the packet's, so a capture file replays exactly as it happened.  The
engine does no I/O: names come from the ``Namer`` it is handed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from . import detect
from .config.rules import Filters, promisc_network
from .constants import DLT_RAW
from .decode import (
    EXT_HEADERS,
    FRAGMENT_BITS,
    Datagram,
    Frame,
    HeaderError,
    Record,
    decode_batch,
    ip_of_frame,
    parse_ip,
    walk_ipv6,
)
from .detect.context import Context, Lines, Names, Ours, SynFloodGuard
from .detect.counting import Scans
from .detect.tuning import Detection
from .fragments import Reassembler
from .options import Options
from .resolve import Namer

if TYPE_CHECKING:
    from collections.abc import Callable

    from .ident import IdentLookups

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        opts: Options,
        filters: Filters | None = None,
        namer: Namer | None = None,
        ident: IdentLookups | None = None,
        fool: Callable[[float, Datagram, bytes], None] | None = None,
    ):
        self.ident = ident  # the live daemon's edges (detect.context.Context)
        self.fool = fool
        self.scans = Scans()
        self.frags = Reassembler()
        self.ours = Ours()
        self.guard = SynFloodGuard()
        self.lines = Lines()
        self.errors = 0  # packets that raised (a bug, never bad input): counted, logged
        self.detectors: dict[int, detect.Detector] = {}
        self.configure(opts, filters or Filters(), namer or Namer())

    def configure(self, opts: Options, filters: Filters, namer: Namer) -> None:
        """Options, rules and names in force (start, SIGHUP).  Scan, flow and
        fragment state are kept; the detectors are built anew."""
        self.namer = namer
        self.names = names = Names(opts, namer, self.guard, self.scans)
        self.ours.set_networks([s for net in opts.promisc for s in promisc_network(net)])
        self.lines.configure(opts.log_dest, opts.json, namer)
        classic = opts.classic_detection
        self.scans.configure(
            Detection(opts.tuning, classic),
            names,
            self.lines,
            horizontal=opts.horizontal_scan and not classic,
            decoys=opts.decoy_scan and not classic,
            failed_probes=opts.json and not opts.scans_only,
        )
        ctx = Context(
            names,
            self.lines,
            filters if filters else None,
            self.ours,
            self.scans,
            self.ident,
            self.fool,
        )
        self.detectors = detect.build(opts, ctx, self.guard, self.detectors)
        self.handlers = {proto: d.handle for proto, d in self.detectors.items()}
        self.verbose = opts.verbose
        self.frag = opts.frag

    def set_ours(self, addresses: Iterable[bytes]) -> None:
        """The monitored host's addresses (live); see ``detect.context.Ours``."""
        self.ours.set_addresses(frozenset(addresses))

    # --- input ------------------------------------------------------------------

    def feed(self, dlt: int, records: Iterable[Record]) -> None:
        """Records of a source of link type ``dlt``, in time order.

        The hot loop of the program: a ``Datagram`` goes straight to its
        protocol's detector; a ``Frame`` takes ``_general``.
        """
        handlers = self.handlers
        table, probes, sweeps = self.scans.table, self.scans.probes, self.scans.sweeps
        for record in records:
            ts = record[0]
            if ts >= table.next_due or ts >= probes.next_due or ts >= sweeps.next_due:
                self.scans.expire(ts)
            try:
                if type(record) is Datagram:
                    handler = handlers.get(record.proto)
                    if handler is not None:
                        handler(ts, record)
                else:
                    self._general(ts, dlt, record[1])
            except Exception:  # a malformed packet is never fatal
                self.errors += 1
                log.exception("packet at %.6f could not be analysed", ts)

    def feed_frames(self, dlt: int, frames: Iterable[Frame]) -> None:
        """Frames as captured (live, or a file read in this process)."""
        self.feed(dlt, decode_batch(dlt, frames))

    def feed_ip(self, ts: float, data: bytes) -> None:
        """One IPv4 datagram or IPv6 packet without its link layer."""
        self.feed(DLT_RAW, ((ts, data),))

    def _general(self, ts: float, dlt: int, frame: bytes) -> None:
        """Any frame: link layer, header checks, fragments, then the detector."""
        data = ip_of_frame(dlt, frame)
        if data is None:
            return
        ip = parse_ip(ts, data)
        if ip is None:
            return
        if isinstance(ip, HeaderError):
            self._header_error(ts, ip)
            return
        if ip.flags_off & FRAGMENT_BITS:
            frag = ip
            ip, attack = self.frags.feed(ts, frag)
            if attack is not None and self.frag:
                names = self.names
                self.lines.emit(
                    ts,
                    attack,
                    S=names.alarm(frag.src, "ip"),
                    D=names.dst(frag.dst, "ip"),
                    src=frag.src,
                    dst=frag.dst,
                    attack=attack.removeprefix("frag_"),
                )
            if ip is None:
                return
            if len(ip.src) == 16 and ip.proto in EXT_HEADERS:
                # IPv6: the headers after the fragment header, now whole
                ip = walk_ipv6(ip)
                if isinstance(ip, HeaderError):
                    self._header_error(ts, ip)
                    return
                if ip.flags_off & FRAGMENT_BITS:  # fragmented twice: no stack does that
                    return
        handler = self.handlers.get(ip.proto)
        if handler is not None:
            handler(ts, ip)

    def _header_error(self, ts: float, error: HeaderError) -> None:
        if self.verbose:
            kind = "ip_short" if error.kind == "short" else "ip_checksum"
            self._ip_line(ts, kind, error.src, error.dst)

    def _ip_line(self, ts: float, kind: str, src: bytes, dst: bytes) -> None:
        """A line about the IP datagram's header."""
        names = self.names
        self.lines.emit(ts, kind, S=names.host(src, "ip"), D=names.dst(dst, "ip"), src=src, dst=dst)

    def tick(self, ts: float) -> None:
        """The clock moved without a packet (live daemon): expire what is due,
        and write the connection attempts whose ident answer came in."""
        self.scans.expire(ts)
        if self.ident is not None:
            for line in self.ident.done():
                self.lines.queue(line)

    def close(self) -> None:
        """End of input: close every detected scan with its expired line."""
        self.scans.expire(float("inf"))

    def stop(self, now: float) -> None:
        """The live daemon stops at ``now``: the scans still open end now."""
        self.scans.end_open(now)

    def drain(self, final: bool = False) -> list[tuple[float, str]]:
        """The lines ready to write (``final``: every line, the held ones
        after waiting for their names at most until their deadline)."""
        return self.lines.drain(final)
