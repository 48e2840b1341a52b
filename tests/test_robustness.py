"""Robustness: bad input never breaks the engine, state stays bounded,
floods cannot hide a scan, a full disk loses nothing it can keep."""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import random
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyiplog.constants import DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_NULL, DLT_RAW
from pyiplog.decode import decode_batch, header_checksum_ok, parse_ipv6
from pyiplog.detect.flows import FlowTable
from pyiplog.detect.pairs import GENERATION, PairTable, Sightings
from pyiplog.engine import Engine
from pyiplog.options import Options
from pyiplog.output.logfile import LogFile
from pyiplog.resolve import Namer

from live import (
    IPLOG,
    free_port,
    lines_of,
    needs_root,
    on_lo,
    peak_rss,
    stop,
    syn_to_localhost,
    wait_for,
)
from packets import (
    ATTACKER,
    DEST_OPTS,
    HOP_BY_HOP,
    SYN,
    T0,
    ether,
    ext6,
    frag6,
    icmp_msg,
    ip,
    ip6,
    ip6_icmp,
    ip6_tcp,
    ip6_udp,
    ip_icmp,
    ip_tcp,
    ip_udp,
    null,
    sll,
    sll2,
    tcp_seg,
    with_source,
)

LINKS = [
    (DLT_EN10MB, ether),
    (DLT_LINUX_SLL, sll),
    (DLT_LINUX_SLL2, sll2),
    (DLT_NULL, null),
    (DLT_RAW, lambda d: d),
]
SEEDS = [ip_tcp(flags=f) for f in (0, 1, 2, 0x29, 0xC2, 0x12, 0x3F, 0xFF)] + [
    ip_udp(),
    ip_udp(ttl=1),
    ip_udp(sport=7),
    ip_icmp(itype=8),
    ip_icmp(itype=0),
    ip_icmp(itype=3, data=ip(data=tcp_seg())),
    ip_icmp(itype=5, rest=b"\xc0\0\2\1"),
    ip_icmp(itype=9, rest=b"\x0c\x02\0\x10"),
    ip_icmp(itype=14),
    ip_icmp(itype=18),
    ip(p=6, data=tcp_seg(), off=8, mf=True),
    ip(p=17, data=b"x" * 16, mf=True),
    ip(p=1, data=icmp_msg(11), opts=b"\x01\x01\x01\x00"),
    # IPv6 (docs/contract.md P5): the fast path's three, extension headers, fragments, errors
    ip6_tcp(flags=SYN),
    ip6_tcp(flags=SYN, flow=5),
    ip6_udp(),
    ip6_icmp(itype=128),
    ip6_icmp(itype=1, code=4, data=ip6_udp()),
    ip6_icmp(itype=135, hlim=255),
    ip6_tcp(ext=(ext6(HOP_BY_HOP), ext6(DEST_OPTS, 16))),
    ip6_udp(ext=(frag6(0, True),)),
    ip6_udp(ext=(frag6(16, False),)),
    ip6_udp(ext=(frag6(0, False),)),
]


# (seed datagram, where to patch, the patch, bytes cut off the end, time offset)
MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(range(len(SEEDS))),
        st.integers(0, 40),
        st.binary(max_size=4),
        st.integers(0, 3),
        st.floats(0, 200),
    ),
    min_size=1,
    max_size=20,
)


def mutated_frames(mutations, wrap) -> list[tuple[float, bytes]]:
    """The mutated seed datagrams, each in its link layer (``wrap``), timed."""
    frames = []
    for seed, at, patch, trunc, dt in mutations:
        data = bytearray(SEEDS[seed])
        data[at : at + len(patch)] = patch
        frames.append((T0 + dt, wrap(bytes(data[: len(data) - trunc]))))
    return frames


def engines():
    return [
        Engine(
            Options(disable_resolver=True, verbose=True, log_dest=True, classic_detection=c),
            None,
            Namer(None),
        )
        for c in (False, True)
    ]


def rfc1071_ok(header: bytes) -> bool:
    """The header checksum as RFC 1071 computes it: fold the word sum."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


@settings(max_examples=500, deadline=None)
@given(
    st.integers(5, 15).flatmap(lambda words: st.binary(min_size=4 * words, max_size=4 * words)),
    st.booleans(),
)
def test_header_checksum_matches_rfc1071(body, fix):
    header = bytes([0x40 | len(body) // 4]) + body[1:]
    if fix:  # make the checksum right, as a sender would
        header = header[:10] + b"\0\0" + header[12:]
        total = sum(struct.unpack(f"!{len(header) // 2}H", header))
        while total > 0xFFFF:
            total = (total & 0xFFFF) + (total >> 16)
        header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
    assert header_checksum_ok(header) == rfc1071_ok(header)
    if fix:
        assert header_checksum_ok(header)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(range(len(SEEDS))),
            st.integers(0, 80),
            st.binary(max_size=6),
            st.integers(0, 4),
            st.integers(0, 80),
            st.floats(0, 200),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_mutated_frames_never_raise(mutations):
    for engine in engines():
        for link, wrap in LINKS:
            for seed, at, patch, cut, trunc, dt in mutations:
                data = bytearray(SEEDS[seed])
                data[at : at + len(patch)] = patch
                data = bytes(data[: len(data) - trunc] if trunc < len(data) else data[:cut])
                engine.feed_frames(link, [(T0 + dt, wrap(data))])
        engine.close()
        assert engine.errors == 0  # nothing raised inside either


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS)
def test_every_link_type_gives_the_same_lines(mutations):
    """Untagged Ethernet takes the fast path (decode_batch); the other link
    types take the general one (parse_ipv4).  Same datagrams, same lines."""
    results = []
    for link, wrap in LINKS:
        engine = Engine(
            Options(disable_resolver=True, verbose=True, log_dest=True), None, Namer(None)
        )
        engine.feed_frames(link, mutated_frames(mutations, wrap))
        engine.close()
        results.append(engine.drain())
    assert all(r == results[0] for r in results)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(MUTATIONS, st.sampled_from(LINKS))
def test_records_decoded_elsewhere_give_the_same_lines(mutations, link_wrap):
    """The fast path (decode.decode_batch, run by iplog -r's reading child
    and for live frames) and the general path (every frame as a Frame, through
    parse_ipv4) give the same lines."""
    link, wrap = link_wrap
    frames = mutated_frames(mutations, wrap)
    results = []
    for records in (False, True):
        engine = Engine(
            Options(disable_resolver=True, verbose=True, log_dest=True), None, Namer(None)
        )
        engine.feed(link, decode_batch(link, frames) if records else frames)
        engine.close()
        assert engine.errors == 0
        results.append(engine.drain())
    assert results[0] == results[1]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([link for link, _ in LINKS] + [9999]))
def test_random_frames_never_raise(frame, link):
    for engine in engines():
        engine.feed_frames(link, [(T0, frame)])
        engine.close()
        assert engine.errors == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=64))
def test_every_flag_combination(flags):
    for engine in engines():
        for i, f in enumerate(flags):
            engine.feed_ip(T0 + i, ip_tcp(flags=f, dport=1000 + i))
        engine.close()
        assert engine.errors == 0


def test_sightings_remember_one_to_two_generations():
    seen = Sightings()
    assert not seen.seen(("scanner", 1))
    assert seen.seen(("scanner", 1))  # lately: yes
    for i in range(GENERATION):  # one generation of other keys later: still
        seen.seen(i)
    assert seen.seen(("scanner", 1))
    # Two whole generations without it: gone.  Other keys that share its slot
    # would stamp it afresh (the string's hash, and so its slot, changes with
    # PYTHONHASHSEED): leave those out.
    slot = hash(("scanner", 1)) & seen.mask
    others = (k for k in itertools.count(-1, -1) if hash(k) & seen.mask != slot)
    for key in itertools.islice(others, 2 * GENERATION + 1):
        seen.seen(key)
    assert not seen.seen(("scanner", 1))
    # Spoofed keys pass for known ones at most about 1 time in 16.
    false = sum(seen.seen((i, "spoofed")) for i in range(20000))
    assert false < 20000 / 16 * 1.5


def test_flow_table_tells_replies_and_forgets():
    flows = FlowTable(timeout=300.0, max_entries=8)
    a, b = b"\xc6\x33\x64\x07", b"\xc0\x00\x02\x0a"
    assert not flows.note(T0, 17, a, 5353, b, 53)  # a question: nothing the other way yet
    assert flows.note(T0 + 1, 17, b, 53, a, 5353)  # its answer
    assert not flows.note(T0 + 1, 17, b, 53, a, 5354)  # another port: no answer
    assert not flows.note(T0 + 2, 17, a, 6000, b, 53)
    assert not flows.note(T0 + 400, 17, b, 53, a, 6000)  # after the timeout: forgotten
    # Bounded: two generations of 4; a direction seen again stays, others go.
    flows.note(T0 + 500, 17, a, 7000, b, 53)
    for port in range(20):
        flows.note(T0 + 501, 17, a, 10000 + port, b, 53)
        flows.note(T0 + 501, 17, a, 7000, b, 53)  # kept fresh
        assert len(flows) <= 8
    assert flows.note(T0 + 502, 17, b, 53, a, 7000)
    assert not flows.note(T0 + 502, 17, b, 53, a, 10000)


@pytest.mark.parametrize("fold", [False, True], ids=["per-source", "distributed-flood"])
def test_state_is_bounded_by_the_caps(fold):
    opts = Options(disable_resolver=True, scans_only=True, distributed_flood=fold)
    engine = Engine(opts, None, Namer(None))
    rng = random.Random(6)
    for i in range(60000):
        src = rng.getrandbits(32).to_bytes(4, "big")
        datagram = (
            ip_udp(src="203.0.113.9", dport=rng.randrange(1, 65535))
            if i % 3 == 0
            else ip_tcp(dport=80, sport=rng.randrange(1024, 65535))
        )
        engine.feed_ip(T0 + i * 1e-4, with_source(datagram, src))
    scans = engine.scans
    tables = [*scans.table.tables.values(), *scans.probes.tables.values()]
    for table in tables + list(scans.sweeps.tables.values()):
        assert len(table) <= table.max_entries
    # The flood did reach the tables: every spoofed SYN's, or, once the
    # distributed flood folds them, those before it.
    syn_pairs = len(scans.probes.tables["syn_scan"])
    assert syn_pairs == (1499 if fold else 8192)
    assert len(scans.sweeps.tables["horizontal_udp"]) == 4096  # a failed port each
    assert len(scans.sweeps.tables["distributed_flood"]) == (1 if fold else 0)
    assert len(scans.probes.waiting) <= 16384
    assert len(scans.flows) <= scans.flows.max_entries


def test_packets_leave_no_reference_cycles():
    """The run raises the collector's young-generation threshold
    (runner.GC_THRESHOLD) because packets make no cycles: keep it so."""
    frames = (
        [ether(d) for d in SEEDS]
        + [ether(ip_tcp(dport=p, flags=f)) for p in range(1, 40) for f in (0x02, 0, 0x29)]
        + [ether(ip_udp(dport=p)) for p in range(1, 40)]
        + [ether(ip_icmp(itype=8)) for _ in range(60)]
    )
    for engine in engines():
        gc.collect()
        gc.disable()
        try:
            for i, frame in enumerate(frames * 3):
                engine.feed_frames(DLT_EN10MB, [(T0 + i * 0.01, frame)])
            engine.close()
            engine.drain()
            assert gc.collect() == 0
        finally:
            gc.enable()


def test_flood_cannot_flush_a_slow_scanner_from_the_table():
    table = PairTable(max_entries=1000)

    class E:
        def __init__(self):
            self.count, self.expiry = 1, 1e18

    scanner = (b"scan", b"host")
    rng = random.Random(1)
    table.add(scanner, E())
    kept = 0
    for _probe in range(20):
        for _ in range(5000):  # 5x the table between two probes
            pair = (rng.getrandbits(32).to_bytes(4, "big"), b"host")
            if table.admit(pair):
                table.add(pair, E())
        entry = table.get(scanner)
        if entry is None:
            entry = E()
            if table.admit(scanner):
                table.add(scanner, entry)
        else:
            entry.count += 1
            table.touch(scanner, entry)
            kept += 1
    assert kept >= 18 and table.get(scanner) is not None


def write_trace(path, packets):
    with open(path, "wb", buffering=1 << 20) as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101))
        for ts, datagram in packets:
            sec = int(ts)
            fh.write(struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(datagram), len(datagram)))
            fh.write(datagram)


def run_measured(args):
    return peak_rss(IPLOG + ["-C", "/dev/null", "-N", *args])


def test_spoofed_flood_stays_under_the_memory_cap_and_a_scanner_is_seen(tmp_path):
    """1,000,000 SYNs from distinct random sources with a scanner in them,
    one probe every 25,000 flood packets (far slower than the table turns)."""
    rng = random.Random(2001)
    template = bytearray(ip_tcp(src="10.0.0.1", dport=80, sport=1024))
    probe = [ip_tcp(dport=1000 + i, sport=40000) for i in range(40)]

    def packets():
        for i in range(1_000_000):
            if i % 25_000 == 0:
                yield T0 + i * 1e-5, probe[i // 25_000]
            template[12:16] = rng.getrandbits(32).to_bytes(4, "big")
            template[10:12] = b"\0\0"
            template[10:12] = struct.pack("!H", dpkt.in_cksum(bytes(template[:20])))
            yield T0 + i * 1e-5, bytes(template)

    trace = tmp_path / "flood.pcap"
    write_trace(trace, packets())
    log = tmp_path / "flood.log"
    status, rss, err = run_measured(["-m", "-r", str(trace), "-l", str(log)])
    assert status == 0, err
    assert rss <= 64, f"peak RSS {rss:.1f} MB"
    lines = lines_of(log)
    # Its first probe may be forgotten before the second (the table turns over
    # every ~8,000 flood packets); from the second on the sketch remembers it.
    assert any(
        x.startswith("TCP: SYN scan detected [ports 10")
        and x.endswith(f"from {ATTACKER} [port 40000]")
        for x in lines
    ), lines[:5]


def test_fragment_storm_is_bounded(tmp_path):
    rng = random.Random(7)
    packets = []
    for i in range(100_000):
        src = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        packets.append(
            (T0 + i * 1e-4, ip(src, "192.0.2.10", 17, b"F" * 64, off=0, mf=True, ident=i & 0xFFFF))
        )
    packets.append((T0 + 11, ip_tcp(dport=22)))
    trace = tmp_path / "frags.pcap"
    write_trace(trace, packets)
    log = tmp_path / "frags.log"
    status, rss, err = run_measured(["-r", str(trace), "-l", str(log)])
    assert status == 0, err
    assert rss <= 64, f"peak RSS {rss:.1f} MB"
    assert lines_of(log)[-1] == f"TCP: ssh connection attempt from {ATTACKER}:40000"


# --- the log file when the disk is full ----------------------------------------------------


def test_log_file_keeps_lines_until_writing_works(tmp_path):
    messages = []
    log = LogFile(str(tmp_path / "log"), messages.append)
    r, w = os.pipe()
    os.close(r)  # writes to the pipe now fail with EPIPE
    good = log.stream
    log.stream = os.fdopen(w, "wb", buffering=0)
    old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        log.write(T0, "one")
        log.flush()
        log.write(T0, "two")
        log.flush()
        assert messages == [
            f'Warning: unable to write "{tmp_path}/log": Broken pipe; keeping'
            " the lines until it works again."
        ]
        log.stream.close()
        log.stream = good
        log.write(T0, "three")
        log.flush()
    finally:
        signal.signal(signal.SIGPIPE, old)
    assert messages[-1] == f'Writing "{tmp_path}/log" works again.'
    assert lines_of(tmp_path / "log") == ["one", "two", "three"]


@needs_root
def test_daemon_survives_a_full_disk(tmp_path):
    mount = Path(tempfile.mkdtemp(prefix="pyiplog-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        log = mount / "iplog"
        filler = mount / "filler"
        log.write_text("old line\n" * 440)  # 3960 bytes: its page is nearly full
        proc = on_lo("/dev/null", log, tmp_path / "pid")
        try:
            with open(filler, "wb") as fh:  # fill the file system
                with contextlib.suppress(OSError):
                    fh.write(b"\0" * 128 * 1024)
            ports = [free_port() for _ in range(8)]  # fewer than a scan
            for port in ports:
                syn_to_localhost(port)
            time.sleep(1.5)  # the daemon tries to write (and fails) within a second
            assert proc.poll() is None  # still running
            assert not any(f"port {ports[-1]} " in x for x in lines_of(log))
            filler.unlink()
            assert wait_for(lambda: any(f"port {ports[-1]} " in x for x in lines_of(log)), 10), (
                lines_of(log)[-3:],
                ports[-3:],
            )
            logged = "\n".join(lines_of(log))
            assert all(f"port {p} connection attempt" in logged for p in ports)
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            err = proc.stderr.read()
            assert f'Warning: unable to write "{log}": No space left on device' in err
            assert f'Writing "{log}" works again.' in err
        finally:
            stop(proc)
    finally:
        subprocess.run(["umount", str(mount)])
        mount.rmdir()


def test_memory_stays_bounded_with_a_line_per_packet(tmp_path):
    """The worst case for output: every packet a logged SYN from a new source
    (2.2.3's counting: the default one folds such a flood into one alarm)."""
    trace = tmp_path / "synflood.pcap"
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).parent.parent / "bench" / "gen.py"),
            "synflood",
            str(trace),
            "300000",
        ],
        check=True,
    )
    log = tmp_path / "synflood.log"
    status, rss, err = run_measured(["--classic-detection", "-r", str(trace), "-l", str(log)])
    assert status == 0, err
    assert rss <= 64, f"peak RSS {rss:.1f} MB"
    with open(log, "rb") as fh:
        assert sum(1 for _ in fh) == 300001


# IPv6 extension headers as dpkt's ip6 module builds them (a reference the
# decoder does not use: it reads the lengths itself, in constant time).
EXTENSION = st.sampled_from([0, 43, 51, 60])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(EXTENSION, st.integers(0, 6)), max_size=8),
    st.booleans(),
    st.sampled_from([6, 17, 58]),
)
def test_extension_header_walk_agrees_with_dpkt(chain, atomic, upper):
    """Random chains of hop-by-hop, routing, AH and destination options
    headers, and an atomic fragment header last (dpkt fails on one with
    headers after it): the walk finds the same upper layer and bytes as
    dpkt.ip6."""
    headers = []
    for kind, units in chain:
        if kind == 51:  # AH: (units + 2) 4-octet words, an even number
            headers.append((51, bytes([0, 2 * units]) + bytes(8 * units + 6)))
        else:
            headers.append(ext6(kind, 8 * (units + 1)))
    if atomic:
        headers.append(frag6(0, False))
    body = {6: tcp_seg(), 17: b"\x9c\x40\x00\x35\x00\x08\x00\x00", 58: icmp_msg(128)}[upper]
    packet = ip6(nh=upper, data=body, ext=tuple(headers))
    reference = dpkt.ip6.IP6(packet)
    ours = parse_ipv6(0.0, packet)
    assert (ours.proto, ours.payload) == (reference.p, bytes(reference.data))
    assert ours.data_len == len(body) and not ours.flags_off
