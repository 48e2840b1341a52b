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
import traceback
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
        inbound = "ip[0] = 0"  # no address (yet): nothing is addressed to us
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


class LiveSource:
    """One interface through libpcap: immediate mode, non-blocking, poll()-able."""

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
        try:
            self.handle = pcap.pcap(
                name=name,
                snaplen=snaplen,
                promisc=promisc,
                timeout_ms=100,
                immediate=True,
                buffer_size=buffer_size,
            )
            self.handle.setfilter(bpf)
            self.handle.setnonblock(True)
        except OSError as exc:
            raise CaptureError(capture_reason(exc)) from None
        self.dlt = self.handle.datalink()

    def fileno(self) -> int:
        return self.handle.fileno()

    def set_filter(self, bpf: str) -> None:
        if bpf != self.bpf:
            self.handle.setfilter(bpf)
            self.bpf = bpf

    def read(self) -> list[Record] | None:
        """What is waiting (possibly nothing); None when the interface failed."""
        batch: list[Frame] = []
        try:
            n = self.handle.dispatch(MAX_BATCH, _append, batch)
        except OSError:
            return None
        if n < 0:
            return None
        self.packets += len(batch)
        wire = decode_wire(self.dlt, batch)
        self.ipv6 += wire[2]
        return assemble(wire)

    def drops(self) -> int:
        try:
            return self.handle.stats()[1]
        except OSError:
            return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
