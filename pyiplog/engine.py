"""The analysis engine: frames in, iplog lines out (spec A4-A8).

``Engine.feed_batch(dlt, frames)`` (``feed`` for one frame) runs frames
through decode, the IP checks, fragment reassembly and the protocol
detectors, and queues the resulting ``(time, text)`` lines; the caller
drains them to an output (``write_all``) once a batch.  Time
is always the packet's, so a capture file replays exactly as it happened.
The engine does no I/O: names come from the ``Namer`` it is handed.
"""

from __future__ import annotations

import logging
from socket import inet_ntoa

from .config.rules import Filters
from .decode import (
    DLT_EN10MB, DLT_RAW, ETHER_IP_HEAD, ETHERTYPE_IP, FRAGMENT_BITS, HeaderError, IPv4,
    ip_of_frame, parse_ipv4,
)
from .detect import icmp, tcp, udp
from .detect.flows import FlowTable
from .detect.probes import ProbeTable
from .detect.scans import COUNTED, DETECTED, MAX_DPORTS, MAX_SPORTS, ScanTable
from .detect.tuning import Detection
from .fragments import Reassembler
from .messages import FORMS, port_list
from .options import Options
from .resolve import Namer, address_text

log = logging.getLogger(__name__)

MAX_TEXTS = 16384  # address texts kept for the per-packet lines (-N)
SYN_FLOOD_LIMIT = 20  # SYNs (decaying one a second) that suspend TCP name lookups

# Which protocol's resolve flag names the hosts of a scan kind (smurf: none).
_SCAN_PROTO = {"portscan": "tcp", "null_scan": "tcp", "fin_scan": "tcp", "syn_scan": "tcp",
               "xmas_scan": "tcp", "udp_scan": "udp", "ping_flood": "icmp", "smurf": None}

_HANDLERS = {6: ("tcp", tcp.handle), 17: ("udp", udp.handle), 1: ("icmp", icmp.handle)}


class Engine:
    def __init__(self, opts: Options, filters: Filters | None = None, namer: Namer | None = None):
        detection = Detection()  # the tables' numbers are set by reconfigure
        self.scans = ScanTable(detection.kinds)
        self.probes = ProbeTable(detection.kinds, detection.modern, detection.reply_wait)
        self.flows = FlowTable()
        self.frags = Reassembler()
        self.local: frozenset[bytes] = frozenset()  # live: the host's own addresses
        self.reconfigure(opts, filters or Filters(), namer or Namer())
        self.out: list[tuple[float, str]] = []
        # The per-packet lines go straight in: engine.queue((ts, forms[kind](...))).
        self.queue = self.out.append
        self.errors = 0
        # Per-detector state kept between packets.
        self.last_bogus_src: bytes | None = None
        self.last_traceroute: tuple[bytes, float] | None = None
        self.syn_count = 0
        self.syn_decayed_at = 0.0

    def reconfigure(self, opts: Options, filters: Filters, namer: Namer) -> None:
        """New options and rules (SIGHUP); scan and fragment state are kept."""
        self.opts = opts
        self.dest = opts.log_dest
        self.filters = filters
        self.namer = namer
        self.handlers = {num: fn for num, (name, fn) in _HANDLERS.items()
                         if getattr(opts, name)}
        self.classic = opts.classic_detection
        self.filtering = bool(filters)
        self.plain_names = opts.disable_resolver  # -N: every host is its address
        self.texts: dict[bytes, str] = {}  # filled by host() only when plain_names
        # Service names by port, for the lines that print one
        self.tcp_services = namer.service_table("tcp")
        self.udp_services = namer.service_table("udp")
        self.forms = {kind: forms[1 if self.dest else 0] for kind, forms in FORMS.items()}
        detection = Detection(opts.tuning, opts.classic_detection)
        self.scans.kinds = detection.kinds
        self.probes.kinds = detection.kinds
        self.probes.tuning = detection.modern
        self.probes.reply_wait = detection.reply_wait

    # --- input ------------------------------------------------------------------

    def feed(self, ts: float, dlt: int, frame: bytes) -> None:
        self.feed_batch(dlt, ((ts, frame),))

    def feed_batch(self, dlt: int, batch) -> None:
        """Frames of link type ``dlt``: an iterable of ``(time, frame)``.

        The hot loop of the program.  An untagged Ethernet frame carrying a
        whole IPv4 datagram without options (nearly every frame) is checked
        and handed to its protocol's handler right here: the checks of
        ``decode.fast_records``, inline (a property test keeps the two
        equal).  Everything else takes ``_general``.
        """
        ethernet = dlt == DLT_EN10MB
        handlers = self.handlers
        scans, probes = self.scans, self.probes
        head = ETHER_IP_HEAD.unpack_from
        for ts, frame in batch:
            if ts >= scans.next_due or ts >= probes.next_due:
                self._expire(ts)
            try:
                if ethernet and len(frame) >= 34:
                    etype, vhl, total, ident, flags_off, ttl, proto, src, dst = head(frame, 12)
                    if (etype == ETHERTYPE_IP and vhl == 0x45 and total >= 20
                            and not flags_off & FRAGMENT_BITS
                            and not int.from_bytes(frame[14:34], "big") % 0xFFFF):  # checksum
                        handler = handlers.get(proto)
                        if handler is not None:
                            handler(self, ts, IPv4(src, dst, proto, ttl, ident, flags_off,
                                                   total - 20, frame[34:14 + total]))
                        continue
                self._general(ts, dlt, frame)
            except Exception:  # a malformed packet is never fatal
                self.errors += 1
                log.exception("packet at %.6f could not be analysed", ts)

    def feed_records(self, dlt: int, records) -> None:
        """What ``decode.fast_records`` made of frames of link type ``dlt``
        (in ``iplog -r``'s reading child): ``feed_batch`` without its checks."""
        handlers = self.handlers
        scans, probes = self.scans, self.probes
        for record in records:
            ts = record[0]
            if ts >= scans.next_due or ts >= probes.next_due:
                self._expire(ts)
            try:
                if len(record) == 9:
                    _, proto, src, dst, ttl, ident, flags_off, data_len, payload = record
                    handler = handlers.get(proto)
                    if handler is not None:
                        handler(self, ts, IPv4(src, dst, proto, ttl, ident, flags_off,
                                               data_len, payload))
                else:
                    self._general(ts, dlt, record[1])
            except Exception:  # a malformed packet is never fatal
                self.errors += 1
                log.exception("packet at %.6f could not be analysed", ts)

    def _general(self, ts: float, dlt: int, frame: bytes) -> None:
        """Any frame: link layer, header checks, fragments, then the handler."""
        data = ip_of_frame(dlt, frame)
        if data is None:
            return
        ip = parse_ipv4(data)
        if ip is None:
            return
        if isinstance(ip, HeaderError):
            if self.opts.verbose:
                kind = "ip_short" if ip.kind == "short" else "ip_checksum"
                self.emit(ts, kind, S=self.host(ip.src, "ip"), D=self.dst(ip.dst, "ip"))
            return
        if ip.flags_off & FRAGMENT_BITS:
            frag = ip
            ip, attack = self.frags.feed(ts, frag)
            if attack is not None and self.opts.frag:
                self.emit(ts, attack, S=self.host(frag.src, "ip"), D=self.dst(frag.dst, "ip"))
            if ip is None:
                return
        handler = self.handlers.get(ip.proto)
        if handler is not None:
            handler(self, ts, ip)

    def feed_ip(self, ts: float, data: bytes) -> None:
        """One IPv4 datagram without its link layer."""
        self.feed_batch(DLT_RAW, ((ts, data),))

    def tick(self, ts: float) -> None:
        """The clock moved without a packet (live daemon): expire what is due."""
        self._expire(ts)

    def close(self) -> None:
        """End of input: close every detected scan with its expired line."""
        self._expire(float("inf"))

    def drain(self) -> list[tuple[float, str]]:
        out = self.out[:]
        self.out.clear()
        return out

    # --- helpers for the detectors ----------------------------------------------

    def emit(self, ts: float, kind: str, **fields) -> None:
        """Queue a line.  The lines a flood writes per packet skip this
        wrapper (its keyword packing costs as much as the formatting):
        ``engine.queue((ts, engine.forms[kind](...)))``."""
        self.out.append((ts, self.forms[kind](**fields)))

    def dst(self, addr: bytes, proto: str | None) -> str:
        """The destination as printed, or "" when log_dest is off (never shown)."""
        return self.host(addr, proto) if self.dest else ""

    def host(self, addr: bytes, proto: str | None) -> str:
        """A host as the messages of ``proto`` print it ('ip': steps A4.1-2).

        Without lookups an address is always its text: those are kept in
        ``texts`` (bounded), which the per-packet lines try first.
        """
        if self.plain_names:
            text = inet_ntoa(addr) if len(addr) == 4 else address_text(addr)
            texts = self.texts
            if len(texts) >= MAX_TEXTS:
                texts.clear()
            texts[addr] = text
            return text
        if proto is None:
            return address_text(addr)
        o = self.opts
        if proto == "tcp":
            resolve = o.tcp_resolve and not (o.syn_flood and self.syn_count >= SYN_FLOOD_LIMIT)
        elif proto == "udp":
            resolve = o.udp_resolve
        elif proto == "icmp":
            resolve = o.icmp_resolve
        else:
            resolve = True
        return self.namer.host(addr, resolve)

    def ignored(self, proto: str, ip, sport: int = 0, dport: int = 0,
                icmp_type: int = -1) -> bool:
        """Whether the filter rules hide this packet (callers check ``filtering`` first)."""
        return self.filters.ignored(proto, int.from_bytes(ip.src, "big"),
                                    int.from_bytes(ip.dst, "big"), sport, dport, icmp_type)

    def outgoing(self, ip) -> bool:
        """Sent by the monitored host to another (live only): state, no lines."""
        local = self.local
        return ip.src in local and ip.dst not in local

    def syn_seen(self, ts: float) -> None:
        """The SYN flood guard: a counter that decays by one a second."""
        elapsed = int(ts - self.syn_decayed_at)
        if elapsed > 0:
            self.syn_count = max(0, self.syn_count - elapsed)
            self.syn_decayed_at += elapsed
        if self.syn_count == 0:
            self.syn_decayed_at = ts
        self.syn_count = min(SYN_FLOOD_LIMIT, self.syn_count + 1)

    def count(self, key: str, ts: float, src: bytes, dst: bytes, nbytes: int,
              sport: int | None = None, dport: int | None = None) -> bool:
        """Count a packet toward a scan; True when the packet stops here."""
        status = self.scans.count(key, ts, src, dst, nbytes, sport, dport)
        if status == COUNTED:
            return False
        if status == DETECTED:
            self._detected(ts, key, self.scans.entry(key, src, dst))
        return True

    # --- the default (modern) counting ---------------------------------------------

    def probe(self, key: str, ts: float, src: bytes, dst: bytes, nbytes: int,
              sport: int | None = None, dport: int | None = None, probe: bool = True,
              flood: bool = True) -> bool:
        """A packet toward a scan or flood; True when it stops here."""
        probes = self.probes
        swallowed = probes.packet(key, ts, src, dst, nbytes, sport, dport, probe, flood)
        if probes.detections:
            self.write_detections()
        return swallowed

    def write_detections(self) -> None:
        """The scans the probe table found: their lines, now.  Hot paths call
        ``engine.probes.packet`` themselves and this when it found some."""
        self._write_detections(self.probes.take_detections())

    def answered(self, keys: tuple[str, ...], ts: float, src: bytes, dst: bytes, port: int,
                 refused: bool) -> None:
        """``dst`` answered ``src``'s probe to ``port`` (served or refused)."""
        for key in keys:
            self.probes.answered(key, ts, src, dst, port, refused)
        self._write_detections(self.probes.take_detections())

    def _write_detections(self, found) -> None:
        for when, key, entry in found:
            self._detected(when, key, entry)

    def _detected(self, when: float, key: str, entry) -> None:
        proto = _SCAN_PROTO[key]
        self.emit(when, "scan_detected", name=self.scans.kinds[key].name,
                  S=self.host(entry.src, proto), D=self.dst(entry.dst, proto),
                  dports=port_list(entry.dports, len(entry.dports) >= MAX_DPORTS),
                  sports=port_list(entry.sports, len(entry.sports) >= MAX_SPORTS))

    def _expire(self, ts: float) -> None:
        if ts < self.scans.next_due and ts < self.probes.next_due:
            return
        ended = self.scans.expire(ts) + self.probes.expire(ts)
        found = self.probes.take_detections()
        if not ended and not found:
            return
        events = [(e.when, 1, e) for e in ended] + [(w, 0, (k, en)) for w, k, en in found]
        events.sort(key=lambda ev: (ev[0], ev[1]))
        for when, is_end, item in events:
            if is_end:
                e = item
                proto = _SCAN_PROTO.get(e.kind.key)
                self.emit(e.when, "scan_expired", name=e.kind.name,
                          S=self.host(e.entry.src, proto), D=self.dst(e.entry.dst, proto),
                          count=e.entry.count, bytes=e.entry.bytes)
            else:
                self._detected(when, *item)
