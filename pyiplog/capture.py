"""Packet sources: capture files and live interfaces, through libpcap.

Every source is a ``Source``: a name, a link type, and ``read()``, which
gives the next batch of records (``decode.Frame`` or ``decode.Datagram``,
already through ``decode.decode_batch``) or None when the source has ended.
Files are read by libpcap through pypcap, so pcap and pcapng both work,
``-`` reads standard input, and the same BPF filter text serves files and
interfaces.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import signal
import stat
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from itertools import islice
from typing import Protocol

import pcap

from .config.rules import RuleError, promisc_network
from .constants import DLT_EN10MB
from .decode import LINK_TYPES, Frame, Record, assemble, decode_batch, decode_wire
from .resolve import address_text

# First four bytes of a pcap (either byte order, micro or nano) or pcapng file.
CAPTURE_MAGICS = {
    b"\xa1\xb2\xc3\xd4",
    b"\xd4\xc3\xb2\xa1",
    b"\xa1\xb2\x3c\x4d",
    b"\x4d\x3c\xb2\xa1",
    b"\x0a\x0d\x0d\x0a",
}
BATCH = 4096
PIPE_BUFFER = 1 << 20  # the -r reading child's pipe, each side


class CaptureError(Exception):
    """A source that cannot be opened or read; the text says which and why."""


def capture_reason(exc: OSError) -> str:
    """libpcap's reason, as pypcap words it ("Activateing packet capture
    failed. Error returned by packet capture library was b'socket: ...'"),
    with what to do about a missing privilege."""
    text = str(exc)
    quoted = re.search(r"""b(['"])(.*)\1\s*$""", text)
    reason = quoted.group(2) if quoted else text
    reason = reason.removeprefix("socket: ")
    if "not permitted" in reason or "permission" in reason.lower():
        reason += ": iplog needs root or CAP_NET_RAW"
    return reason


class Source(Protocol):
    name: str
    dlt: int

    def read(self) -> list[Record] | None:
        """The records there are now (a file: the next batch; an interface:
        what is waiting, possibly nothing); None when the source ended."""

    def close(self) -> None: ...


def promisc_filter(networks: tuple[str, ...], side: str = "dst") -> str:
    """BPF text keeping packets addressed to the promisc networks (docs/contract.md C3);
    ``side="src"``: sent from them."""
    terms = []
    for net in networks:
        try:
            specs = promisc_network(net)
        except RuleError as exc:
            raise CaptureError(str(exc)) from None
        for spec in specs:
            text = str(spec).lstrip("!")
            if text == "*":
                return ""
            terms.append(f"{side} net {text}" if "/" in text else f"{side} host {text}")
    return " or ".join(terms)


def file_filter(networks: tuple[str, ...], classic: bool, verbose: bool) -> str:
    """BPF text for ``iplog -r``: with promisc networks (``-a``), what goes
    to them and, in the default counting, neighbour solicitations and their
    answers (docs/contract.md D3, D5); then
    ``useful_filter``."""
    inbound = promisc_filter(networks)
    if inbound and not classic:
        inbound = with_answers(f"{inbound} or {SOLICITS6}", [promisc_filter(networks, "src")])
    return combine(inbound, useful_filter(classic, verbose))


def useful_filter(classic: bool, verbose: bool) -> str:
    """BPF text dropping what can never produce a line or change any state.

    That is an established TCP segment: ACK set, no SYN or RST (nor FIN in
    the default counting: a FIN+ACK may be a Maimon probe), not a fragment,
    nothing bogus about it (2.2.3's bogus bits in classic counting; reserved
    bits or an urgent pointer without URG otherwise).  The same for IPv6,
    whose TCP header libpcap reads only right after the fixed header (at
    ``ip6[40]``): a packet with extension headers is always kept.
    With verbose every packet's header checksum matters: nothing is dropped.
    Dropping these in libpcap, in C, spares the engine ~90% of a server's
    traffic.
    """
    if verbose:
        return ""
    if classic:
        bogus = "tcp[13] & 0xc0 != 0"
        bogus6 = "ip6[53] & 0xc0 != 0"
        kept = "0x06"
    else:
        bogus = "tcp[12] & 0x0f != 0 or (tcp[13] & 0x20 = 0 and tcp[18:2] != 0)"
        bogus6 = "ip6[52] & 0x0f != 0 or (ip6[53] & 0x20 = 0 and ip6[58:2] != 0)"
        kept = "0x07"
    return (
        f"(ip and (not tcp or ip[6:2] & 0xbfff != 0 or tcp[13] & {kept} != 0"
        f" or tcp[13] & 0x10 = 0 or {bogus}))"
        f" or (ip6 and (ip6[6] != 6 or ip6[53] & {kept} != 0"
        f" or ip6[53] & 0x10 = 0 or {bogus6}))"
    )


def combine(*filters: str) -> str:
    parts = [f"({f})" for f in filters if f]
    return " and ".join(parts)


class FileSource:
    """A pcap or pcapng file (``-``: standard input) read through libpcap.

    ``start`` chooses how it is read (call it before any thread starts);
    then ``read`` gives batches until end of file.  A cut-off file sets
    ``error`` (libpcap's text); ``count`` is the frames read.
    """

    def __init__(self, path: str, bpf: str = ""):
        self.path = self.name = path
        self.error: str | None = None
        self.count = 0
        self.reader_pid: int | None = None
        self.in_child = False  # read in a child process (see start)
        self._batches: Iterator[list[Record]] | None = None
        label = "standard input" if path == "-" else f'"{path}"'
        if path != "-":
            try:
                magic = None  # a pipe (a FIFO, <(tcpdump -w -)) has no bytes to spare
                mode = os.stat(path).st_mode
                if stat.S_ISDIR(mode):
                    raise CaptureError(f"Unable to read {label}: it is a directory")
                if stat.S_ISREG(mode):
                    with open(path, "rb") as fh:
                        magic = fh.read(4)
            except OSError as exc:
                raise CaptureError(f"Unable to read {label}: {exc.strerror}") from None
            if magic is not None and magic not in CAPTURE_MAGICS:
                raise CaptureError(f"Unable to read {label}: not a pcap or pcapng capture file")
        try:
            self.handle = pcap.pcap(name=path, promisc=False)
        except OSError:
            raise CaptureError(
                f"Unable to read {label}: not a pcap or pcapng capture file (or a truncated header)"
            ) from None
        self.dlt = self.handle.datalink()
        if self.dlt not in LINK_TYPES:
            bpf = ""  # libpcap cannot filter it, and nothing in it is read (the caller says so)
        if bpf and self.dlt == DLT_EN10MB:  # tagged frames too (libpcap's idiom)
            bpf = f"({bpf}) or (vlan and ({bpf}))"
        if bpf:
            try:
                self.handle.setfilter(bpf)
            except OSError as exc:
                raise CaptureError(f"Bad capture filter {bpf!r}: {exc}") from None

    def start(self, reader: bool | None = None) -> None:
        """Choose how the file is read.

        With ``reader`` (the default when more than one CPU is ours) libpcap
        reads and ``decode_batch`` decodes in a child process while this one
        analyses: reading and filtering a big trace costs as much as
        analysing what is left.  The child is started here, before the
        caller starts any thread.
        """
        if reader is None:
            reader = len(os.sched_getaffinity(0)) > 1
        if reader:
            try:
                self._batches = self._from_reader()
                self.in_child = True
                return
            except OSError:  # no process to spare (a ulimit): read here
                pass
        self._batches = (decode_batch(self.dlt, batch) for batch in self._frames())

    def read(self) -> list[Record] | None:
        if self._batches is None:
            self.start()
        return next(self._batches, None)

    def _frames(self) -> Iterator[list[Frame]]:
        """The frames, read here, in batches.

        The handle's ``__next__`` runs in C (libpcap's pcap_next): no Python
        call per frame.  It ends the same way at end of file and at a read
        error, so libpcap's error text tells the two apart.  (Called through
        iter(callable, sentinel): the handle's ``__iter__`` would replace
        Python's SIGINT handler with pypcap's own.)
        """
        handle = self.handle
        frames = iter(handle.__next__, None)
        while True:
            batch: list[Frame] = []
            batch.extend(islice(frames, BATCH))
            if batch:
                self.count += len(batch)
                yield batch
            if len(batch) < BATCH:
                error = handle.geterr()
                if isinstance(error, bytes):
                    error = error.decode(errors="replace")
                self.error = error or None
                return

    def _from_reader(self) -> Iterator[list[Record]]:
        """Start the reading child; the generator yields what it sends.

        The child pickles each batch (``decode_wire``) into a pipe, then
        ``{"count": ..., "error": ...}``.  This process never touches the handle
        meanwhile: the two share the file's offset.
        """
        rfd, wfd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(rfd)
            os.close(wfd)
            raise
        if pid == 0:  # the child: read, send, and leave without Python's exit path
            status = 1
            try:
                os.close(rfd)
                signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C: the parent speaks
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the parent stopped early
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                with open(wfd, "wb", buffering=PIPE_BUFFER) as pipe:
                    for batch in self._frames():
                        pickle.dump(decode_wire(self.dlt, batch), pipe, pickle.HIGHEST_PROTOCOL)
                        pipe.flush()  # a live `-r -` stream: no batch waits for the next
                    end = {"count": self.count, "error": self.error}
                    pickle.dump(end, pipe, pickle.HIGHEST_PROTOCOL)
                status = 0
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(wfd)
        self.reader_pid = pid
        self.reader_pipe = open(rfd, "rb", buffering=PIPE_BUFFER)  # noqa: SIM115 - closed in close()
        return self._received()

    def _received(self) -> Iterator[list[Record]]:
        try:
            while True:
                try:
                    item = pickle.load(self.reader_pipe)
                except (EOFError, pickle.UnpicklingError):  # it died mid-batch
                    self.error = "the reading process ended before the end of the file"
                    return
                if isinstance(item, dict):  # its last word
                    self.count, self.error = item["count"], item["error"]
                    return
                records = assemble(item)
                self.count += len(records)
                yield records
        finally:
            self.close()

    def close(self) -> None:
        """Stop and reap the reading child, if there is one (it may be
        waiting on its input: a stream on standard input)."""
        pid, self.reader_pid = self.reader_pid, None
        if pid is not None:
            self.reader_pipe.close()
            os.kill(pid, signal.SIGTERM)  # harmless once it has sent everything
            os.waitpid(pid, 0)


def _append(ts: float, frame: bytes, batch: list) -> None:
    batch.append((ts, frame))


def _time(frame: Frame) -> float:
    return frame[0]


# The host's own answers that the default counting needs (docs/contract.md D3): SYN-ACK
# and RST segments, UDP replies, ICMP unreachables, echo requests; ICMPv6
# unreachables, parameter problems and echo requests.  libpcap reads IPv6's
# upper layer only right after the fixed header: ``ip6[40]`` on.
ANSWERS = (
    "(tcp and (tcp[13] & 0x12 = 0x12 or tcp[13] & 0x04 != 0)) or udp"
    " or (icmp and (icmp[0] = 3 or icmp[0] = 8))"
)
ANSWERS6 = (
    "(ip6[6] = 6 and (ip6[53] & 0x12 = 0x12 or ip6[53] & 0x04 != 0)) or ip6[6] = 17"
    " or (ip6[6] = 58 and (ip6[40] = 1 or ip6[40] = 4 or ip6[40] = 128 or ip6[40] = 136))"
)
# IPv6 neighbour solicitations (to a solicited-node group, never to an
# address of ours): the neighbour sweep's probes (docs/contract.md D5).
SOLICITS6 = "(ip6 and ip6[6] = 58 and ip6[40] = 135)"
# IPv6 packets whose next header is an extension header (decode.EXT_HEADERS
# that stacks send): what they carry is seen only after the walk.
EXTENDED6 = "ip6[6] = 0 or ip6[6] = 43 or ip6[6] = 44 or ip6[6] = 51 or ip6[6] = 60"


NOTHING = "ip[0] = 0"  # a filter no packet matches (an IPv4 header starts 0x4_)


def live_filter(
    protocols: list[str],
    addresses: list[bytes],
    promisc: tuple[str, ...] = (),
    answers: bool = False,
    others: bool = False,
    nd: bool = False,
    solicits: bool = False,
) -> str:
    """Kernel filter for an interface (docs/contract.md C3, P5): the enabled protocols
    (``icmp``: ICMP and ICMPv6; with ``others``, every protocol but those
    too; IPv6 packets with extension headers always), addressed to the
    interface's own addresses (both families) or to the promisc networks;
    with ``answers``, also what those send back (see ANSWERS); with ``nd``,
    ICMPv6 to multicast groups (neighbour discovery); with ``solicits``,
    neighbour solicitations (SOLICITS6)."""
    proto4 = " or ".join(protocols + (["not (tcp or udp or icmp)"] if others else []))
    proto6 = " or ".join(
        ["icmp6" if p == "icmp" else p for p in protocols]
        + [EXTENDED6]
        + (["not (tcp or udp or icmp6)"] if others else [])
    )
    promisc_bpf = promisc_filter(promisc)
    if promisc_bpf:
        inbound = f"({promisc_bpf})"
    elif addresses:
        inbound = "(" + " or ".join(f"dst host {address_text(a)}" for a in addresses) + ")"
    else:
        inbound = NOTHING  # no address (yet): nothing is addressed to us
    if nd and "icmp" in protocols:
        inbound = f"({inbound} or (ip6 multicast and icmp6))"
    elif solicits and "icmp" in protocols:
        inbound = f"({inbound} or {SOLICITS6})"
    text = f"((ip and ({proto4})) or (ip6 and ({proto6}))) and {inbound}"
    if answers:
        ours = [f"src host {address_text(a)}" for a in addresses]
        promisc_src = promisc_filter(promisc, "src")  # "" for "-a *"
        if promisc_src:
            ours.append(promisc_src)
        if ours:
            text = with_answers(text, ours)
    return text


def with_answers(text: str, sources: list[str]) -> str:
    """BPF ``text``, or the ANSWERS sent from any of ``sources`` (BPF terms)."""
    return (
        f"({text}) or (({' or '.join(sources)})"
        f" and ((ip and ({ANSWERS})) or (ip6 and ({ANSWERS6}))))"
    )


# Live capture keeps the headers only: every line iplog writes comes from the
# IP, TCP/UDP/ICMP and quoted headers, and lengths come from the headers, not
# from what was captured.  Small frames let the kernel ring hold ~25,000
# packets for a burst, where 64 KiB frames held 32 (and dropped under load).
LIVE_SNAPLEN = 256
LIVE_BUFFER = 8 * 1024 * 1024  # the default of capture_buffer (iplog.conf(5))
# Packets taken from the ring at a time: the rest waits there (poll() says so
# at once).  A whole ring at once (about 30,000 packets of a flood) made each
# batch's frames, datagrams and lines take 20 MB more at the peak.
MAX_BATCH = 4096

# The flood lane (docs/contract.md C3): while floods are open, their packets
# come through a capture of their own, read only when the rest is read, so
# that a flood beyond the daemon's speed overflows its own ring and not the
# one the scans and everything else come through.
MIN_LANE_BUFFER = 1024 * 1024  # the lane's ring: half the main one's, at least this
# Packets read out of the main ring when the lane changes (about 5 MB at
# most, for a moment): more than the default ring holds (~28,000).
MAX_HELD = 16 * MAX_BATCH
MAX_LANE_FLOODS = 8  # floods named one by one in the lane's filter; more: by host


def flood_terms(floods: list[tuple[str, bytes, int | None, int]]) -> tuple[str, ...]:
    """The BPF terms of the packets of open floods, each ``(proto, dst,
    port, packets so far)``, proto ``tcp``/``udp``/``icmp`` (ICMP: no port,
    and ICMPv6 too).  At most MAX_LANE_FLOODS terms (a filter's size is
    bounded, whatever the floods): beyond that, the floods of a host at
    several ports of one protocol become one term (that protocol to the
    host), and only the largest terms are kept."""
    by_term: dict[tuple[str, bytes, int | None], int] = {}
    for proto, dst, port, count in floods:
        key = (proto, dst, port)
        by_term[key] = by_term.get(key, 0) + count
    if len(by_term) > MAX_LANE_FLOODS:
        ports = Counter((proto, dst) for proto, dst, _ in by_term)
        folded: dict[tuple[str, bytes, int | None], int] = {}
        for (proto, dst, port), count in by_term.items():
            key = (proto, dst, None if ports[proto, dst] > 1 else port)
            folded[key] = folded.get(key, 0) + count
        by_term = folded

    def order(term: tuple[str, bytes, int | None]) -> tuple[str, bytes, int]:
        return term[0], term[1], -1 if term[2] is None else term[2]

    largest = sorted(by_term, key=lambda term: (-by_term[term], order(term)))[:MAX_LANE_FLOODS]
    terms = []
    for proto, dst, port in sorted(largest, key=order):
        host = f"dst host {address_text(dst)}"
        if proto == "icmp":
            terms.append(f"({host} and (icmp or icmp6))")
        elif port is None:
            terms.append(f"({host} and {proto})")
        else:
            terms.append(f"({host} and {proto} dst port {port})")
    return tuple(terms)


def lane_buffer(buffer_size: int) -> int:
    """The flood lane's ring for a main ring of ``buffer_size`` bytes: half
    of it (a 2 MB lane lost a 100,000/s flood's packets to its bursts that
    4 MB held), 1 MB at least."""
    return max(MIN_LANE_BUFFER, buffer_size // 2)


class LiveSource:
    """One interface through libpcap: immediate mode, non-blocking, poll()-able.
    ``shed`` moves the packets of open floods to a lane of their own."""

    def __init__(
        self,
        name: str,
        bpf: str,
        promisc: bool = False,
        snaplen: int = LIVE_SNAPLEN,
        buffer_size: int = LIVE_BUFFER,
    ):
        self.name = name
        self.packets = 0
        self.ipv6 = 0  # of them IPv6
        self.reported_drops = 0
        self.bpf = bpf
        self.promisc, self.snaplen = promisc, snaplen
        self.handle = self._open(bpf, buffer_size)
        self.dlt = self.handle.datalink()
        # The flood lane: opened now (the daemon may not open captures once
        # it runs as its user), idle until ``shed`` gives it floods (BPF
        # terms); when it opened, while its packets from before may come
        # (see ``_split``); what a change of filter read out of a ring.
        try:
            self.lane = self._open(NOTHING, lane_buffer(buffer_size))
        except CaptureError:
            self.handle.close()
            raise
        self.floods: tuple[str, ...] = ()
        self.lane_since: float | None = None
        self.held: list[Frame] = []

    def _open(self, bpf: str, buffer_size: int) -> pcap.pcap:
        handle = None
        try:
            handle = pcap.pcap(
                name=self.name,
                snaplen=self.snaplen,
                promisc=self.promisc,
                timeout_ms=100,
                immediate=True,
                buffer_size=buffer_size,
            )
            handle.setfilter(bpf)
            handle.setnonblock(True)
        except OSError as exc:
            if handle is not None:
                handle.close()
            raise CaptureError(capture_reason(exc)) from None
        return handle

    def filenos(self) -> tuple[int, int]:
        """What to poll: the capture's descriptor and its flood lane's."""
        return self.handle.fileno(), self.lane.fileno()

    def set_filter(self, bpf: str) -> None:
        if bpf != self.bpf:
            self._split(bpf, self.floods)

    def shed(self, floods: tuple[str, ...]) -> None:
        """Open floods' packets (``flood_terms``; none: ()) come through the
        lane from now on."""
        if floods != self.floods:
            self._split(self.bpf, floods)

    def _split(self, bpf: str, floods: tuple[str, ...]) -> None:
        """The main capture gets ``bpf`` without the floods, the lane the
        floods, with no packet lost or counted twice.  libpcap applies a new
        filter to what a ring holds already: a ring whose filter narrows is
        read out first (into ``held``).  The two filters change one after
        the other, at ``t1`` the first; a packet is placed by its kernel
        time stamp and, near the change, by the floods' filter run here.
        When the lane opens, it changes first: its packets from before ``t1``
        are the main capture's (dropped there), and those read out of the
        main ring from ``t1`` on that the lane takes are dropped here.
        Otherwise the main capture changes first: of the old lane's packets
        those from before ``t1`` are kept, later ones only when the new lane
        would take them (the main capture has the rest)."""
        old = self.floods
        either = " or ".join(floods)
        main = f"({bpf}) and not ({either})" if floods else bpf
        lane = f"({bpf}) and ({either})" if floods else NOTHING
        taken = pcap.bpf(either.encode(), self.dlt).filter if floods else None  # the lane's
        if not old and taken is not None:
            self.lane.setfilter(lane)
            t1 = time.time()
            self._hold(self.handle)
            self._set_main(main)
            self.held = [f for f in self.held if f[0] < t1 or not taken(f[1])]
            self.lane_since = t1
        else:
            if floods:
                self._hold(self.handle)
            self.handle.setfilter(main)
            t1 = time.time()
            if old:
                main_held, self.held = self.held, []
                self._hold(self.lane)
                since = self.lane_since or 0.0  # a lane opened a moment ago: as in _read_lane
                self.held = main_held + [
                    f
                    for f in self.held
                    if since <= f[0] and (f[0] < t1 or (taken is not None and taken(f[1])))
                ]
                self.held.sort(key=_time)
                self.lane_since = None
                self._set_lane(lane, bpf)  # an idle lane keeps its filter
        self.bpf, self.floods = bpf, floods

    def _set_main(self, main: str) -> None:
        try:
            self.handle.setfilter(main)
        except OSError:  # no split: the lane stops, the main capture is as it was
            self.lane.setfilter(NOTHING)
            raise

    def _set_lane(self, lane: str, bpf: str) -> None:
        try:
            self.lane.setfilter(lane)
        except OSError:  # no lane: the main capture takes everything again
            self.handle.setfilter(bpf)
            self.lane.setfilter(NOTHING)
            self.floods = ()
            raise

    def _hold(self, handle: pcap.pcap) -> None:
        """Read what a ring holds into ``held`` (at most MAX_HELD)."""
        held = self.held
        with contextlib.suppress(OSError):  # read() will say when the interface fails
            while len(held) < MAX_HELD and handle.dispatch(MAX_BATCH, _append, held) > 0:
                pass

    def read(self) -> list[Record] | None:
        """What is waiting (possibly nothing); None when the interface failed.
        What ``_split`` held comes first, a batch at a time; the flood lane
        is read once the rest has been (fewer packets than a batch waited),
        its packets put in time order with the rest."""
        if self.held:
            batch = self.held[:MAX_BATCH]
            del self.held[:MAX_BATCH]
        else:
            batch = []
            try:
                n = self.handle.dispatch(MAX_BATCH, _append, batch)
            except OSError:
                return None
            if n < 0:
                return None
            if n < MAX_BATCH:  # the lane also after its floods, until it is empty
                self._read_lane(batch)
        self.packets += len(batch)
        wire = decode_wire(self.dlt, batch)
        self.ipv6 += wire[2]
        return assemble(wire)

    def _read_lane(self, batch: list[Frame]) -> None:
        lane: list[Frame] = []
        with contextlib.suppress(OSError):  # the main capture says when the interface fails
            self.lane.dispatch(MAX_BATCH, _append, lane)
        if not lane:
            return
        since = self.lane_since
        if since is not None:  # a lane just opened: its first packets were the main capture's
            if lane[-1][0] >= since:  # past them (the lane reads in time order)
                self.lane_since = None
            lane = [f for f in lane if f[0] >= since]
        if batch:
            batch += lane
            batch.sort(key=_time)  # two runs in order: one merge
        else:
            batch[:] = lane

    def drops(self) -> int:
        """Packets the kernel dropped, its rings full: the main one's and the lane's."""
        return self._drops(self.handle) + self.lane_drops()

    def lane_drops(self) -> int:
        """Of ``drops``, the flood lane's: packets of floods only."""
        return self._drops(self.lane)

    @staticmethod
    def _drops(handle: pcap.pcap) -> int:
        try:
            return handle.stats()[1]
        except OSError:
            return 0

    def close(self) -> None:
        for handle in (self.handle, self.lane):
            with contextlib.suppress(OSError):
                handle.close()
