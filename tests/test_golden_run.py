"""``iplog -r`` as a whole: output, names, link types, files, real nmap captures."""

from __future__ import annotations

import errno
import io
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyiplog.capture import BATCH, FileSource
from pyiplog.constants import DLT_EN10MB
from pyiplog.decode import Datagram, decode_batch, decode_wire
from pyiplog.output.logfile import TextLog, stamp

from packets import (
    ATTACKER,
    OTHER,
    T0,
    TARGET,
    a,
    ether,
    ip,
    ip_icmp,
    ip_tcp,
    ip_udp,
    null,
    sll,
    sll2,
    timed,
    write_pcap,
    write_pcapng,
)

S = "Nov 14 22:13:20 "
A, D = ATTACKER, TARGET
DATA = Path(__file__).resolve().parent / "data"
IPLOG = [sys.executable, "-m", "pyiplog", "-C", "/dev/null"]


# --- repeat folding (O1) --------------------------------------------------------------------------


def folded(messages):
    """The lines for ``messages``: written one by one, and as one batch (the
    engine's path), which must fold the same way."""
    outputs = []
    for batch in (False, True):
        out = io.StringIO()
        log = TextLog(out)
        if batch:
            log.write_all(messages)
        else:
            for ts, message in messages:
                log.write(ts, message)
        log.flush_repeats(messages[-1][0] + 1)
        log.flush()
        outputs.append(out.getvalue().splitlines())
    assert outputs[0] == outputs[1]
    return outputs[0]


def test_stamp_pads_the_day_with_a_space():
    assert stamp(1699175000) == "Nov  5 09:03:20"
    assert stamp(T0) == "Nov 14 22:13:20"


def test_repeats_are_folded():
    assert folded([(T0, "a"), (T0 + 1, "a"), (T0 + 2, "a"), (T0 + 3, "b"), (T0 + 4, "b")]) == [
        f"{S}a",
        "Nov 14 22:13:23 last message repeated 2 times",
        "Nov 14 22:13:23 b",
        "Nov 14 22:13:25 last message repeated 1 times",
    ]


def test_repeat_after_sixty_seconds_with_pending_count():
    assert folded([(T0, "a"), (T0 + 10, "a"), (T0 + 70, "a"), (T0 + 71, "a")]) == [
        f"{S}a",
        "Nov 14 22:14:30 last message repeated 1 times",
        "Nov 14 22:14:31 last message repeated 1 times",
        "Nov 14 22:14:31 a",
    ]


def test_late_repeat_without_pending_count_is_folded():
    assert folded([(T0, "a"), (T0 + 500, "a"), (T0 + 501, "b")]) == [
        f"{S}a",
        "Nov 14 22:21:41 last message repeated 1 times",
        "Nov 14 22:21:41 b",
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0.0, 0.5, 30.0, 61.0]), st.sampled_from("aab")),
        min_size=1,
        max_size=30,
    )
)
def test_batch_writes_fold_like_single_writes(steps):
    messages, ts = [], T0
    for gap, text in steps:
        ts += gap
        messages.append((ts, text))
    folded(messages)  # asserts the two paths agree


def test_folding_in_a_run(iplog_r):
    frames = timed([ip_icmp(itype=13)] * 5 + [ip_icmp(itype=17)])
    assert iplog_r(frames) == [
        f"{S}ICMP: timestamp request from {A}",
        f"{S}last message repeated 4 times",
        f"{S}ICMP: address mask request from {A}",
    ]
    assert iplog_r(timed([ip_icmp(itype=13)] * 3)) == [
        f"{S}ICMP: timestamp request from {A}",
        f"{S}last message repeated 2 times",
    ]


# --- names (O1) -----------------------------------------------------------------------------------

NAMES = {a(ATTACKER): "scanner.example", a(TARGET): "www.example", a("192.0.2.1"): "gw.example"}


def lookup(addr):
    return NAMES.get(addr)


def test_resolved_names_and_log_ip(iplog_r):
    frames = timed([ip_tcp(dport=22), ip_udp(src=OTHER, dport=53)])
    assert iplog_r(frames, lookup=lookup) == [
        f"{S}TCP: ssh connection attempt from scanner.example:40000",
        f"{S}UDP: dgram to domain from {OTHER}:40000 (10 data bytes)",
    ]
    assert iplog_r(frames, "-w", "-D", lookup=lookup) == [
        f"{S}TCP: ssh connection attempt to www.example ({D}) from scanner.example ({A}):40000",
        f"{S}UDP: dgram to www.example ({D}):domain from {OTHER}:40000 (10 data bytes)",
    ]


def test_per_protocol_resolve_flags(iplog_r):
    frames = timed([ip_tcp(dport=22), ip_icmp(itype=8)])
    assert iplog_r(frames, "--tcp-resolve=false", lookup=lookup) == [
        f"{S}TCP: ssh connection attempt from {A}:40000",
        f"{S}ICMP: echo from scanner.example (8 bytes)",
    ]


def test_never_resolved_smurf_mask_and_routers(iplog_r):
    smurf = [ip_icmp(src=f"198.51.100.{i % 250 + 1}", itype=0) for i in range(90)]
    lines = iplog_r(timed(smurf, step=0.001), "-m", lookup=lambda _: "name.example")
    assert lines[0] == f"{S}ICMP/UDP: smurf attack detected from 198.51.100.0"
    mask = ip_icmp(src="192.0.2.1", itype=18, data=a("255.255.255.0"))
    advert = ip_icmp(
        src="192.0.2.1", itype=9, rest=b"\x01\x02\x00\x1e", data=a("192.0.2.1") + b"\0" * 4
    )
    assert iplog_r(timed([mask, advert]), lookup=lookup) == [
        f"{S}ICMP: address mask reply from gw.example (255.255.255.0)",
        f"{S}ICMP: path of router advertisement from gw.example: 192.0.2.1 (lifetime 30 sec)",
    ]


def test_syn_flood_suspends_tcp_names(iplog_r):
    frames = timed([ip_tcp(dport=80, sport=1000 + i, df=True) for i in range(22)], step=0.001)
    lines = iplog_r(frames, "--detect-portscan=false", lookup=lookup)
    assert lines[0] == f"{S}TCP: http connection attempt from scanner.example:1000"
    assert lines[18] == f"{S}TCP: http connection attempt from scanner.example:1018"
    assert lines[19] == f"{S}TCP: http connection attempt from {A}:1019"
    assert len(lines) == 22


def test_header_check_names_resolved_unless_disabled(iplog_r):
    frames = timed([ip(p=6, data=b"x" * 20, bad_sum=True)])
    assert iplog_r(frames, "-V", "--tcp-resolve=false", lookup=lookup) == [
        f"{S}IP packet with invalid checksum from scanner.example"
    ]


# --- link types and file formats ------------------------------------------------------------------

ATTEMPT = [f"{S}TCP: http connection attempt from {A}:40000"]


@pytest.mark.parametrize(
    "link,dlt",
    [
        (ether, dpkt.pcap.DLT_EN10MB),
        (sll, 113),
        (sll2, 276),
        (null, dpkt.pcap.DLT_NULL),
        (lambda d: d, 101),
        (lambda d: d, 228),
    ],
)
def test_link_types(iplog_r, link, dlt):
    assert iplog_r([(T0, link(ip_tcp()))], link=dlt) == ATTEMPT


def test_vlan_tagged_ethernet(iplog_r):
    frame = ether(ip_tcp())
    tagged = frame[:12] + b"\x81\x00\x00\x05" + frame[12:]
    assert iplog_r([(T0, tagged)]) == ATTEMPT


def test_pcapng_and_nanosecond_pcap(tmp_path):
    frames = [(T0, ether(ip_tcp()))]
    for path in (
        write_pcapng(tmp_path / "a.pcapng", frames),
        write_pcap(tmp_path / "n.pcap", frames, nano=True),
    ):
        p = subprocess.run(
            IPLOG + ["-N", "-r", path], capture_output=True, text=True, env={"TZ": "UTC"}
        )
        assert p.returncode == 0, p.stderr
        assert p.stdout.splitlines() == [f"{S}iplog started."] + ATTEMPT


def test_standard_input(tmp_path):
    path = write_pcap(tmp_path / "a.pcap", [(T0, ether(ip_tcp()))])
    with open(path, "rb") as fh:
        p = subprocess.run(
            IPLOG + ["-N", "-r", "-"], stdin=fh, capture_output=True, text=True, env={"TZ": "UTC"}
        )
    assert p.returncode == 0 and p.stdout.splitlines()[1:] == ATTEMPT


def test_logfile_output(tmp_path):
    path = write_pcap(tmp_path / "a.pcap", [(T0, ether(ip_tcp()))])
    log = tmp_path / "iplog.log"
    log.write_text("old line\n")
    p = subprocess.run(
        IPLOG + ["-N", "-r", path, "-l", str(log)],
        capture_output=True,
        text=True,
        env={"TZ": "UTC"},
    )
    assert (p.returncode, p.stdout) == (0, "")
    assert log.read_text().splitlines() == ["old line", f"{S}iplog started."] + ATTEMPT


def test_unwritable_logfile_is_fatal(tmp_path):
    path = write_pcap(tmp_path / "a.pcap", [(T0, ether(ip_tcp()))])
    p = subprocess.run(
        IPLOG + ["-N", "-r", path, "-l", str(tmp_path / "no" / "log")],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 255
    assert (
        p.stderr == f'Fatal: Unable to open "{tmp_path}/no/log" for writing: No such file'
        " or directory.\n"
    )


@pytest.mark.parametrize(
    "content,why",
    [
        (None, "No such file or directory"),
        (b"this is not a capture file", "not a pcap or pcapng capture file"),
    ],
)
def test_bad_capture_files(tmp_path, content, why):
    path = tmp_path / "bad.pcap"
    if content is not None:
        path.write_bytes(content)
    p = subprocess.run(IPLOG + ["-N", "-r", str(path)], capture_output=True, text=True)
    assert p.returncode == 255 and p.stdout == ""
    assert p.stderr == f'Fatal: Unable to read "{path}": {why}\n'


def test_truncated_capture_logs_everything_before_the_cut(tmp_path):
    frames = timed([ip_tcp(dport=p) for p in (21, 22, 23)])
    path = write_pcap(tmp_path / "cut.pcap", frames)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[:-10])
    p = subprocess.run(
        IPLOG + ["-N", "-r", path], capture_output=True, text=True, env={"TZ": "UTC"}
    )
    assert p.returncode == 1
    assert p.stdout.splitlines()[1:] == [
        f"{S}TCP: ftp connection attempt from {A}:40000",
        f"{S}TCP: ssh connection attempt from {A}:40000",
    ]
    assert p.stderr.startswith(f"iplog: {path}: capture file cut off after 2 packets: ")
    assert "truncated" in p.stderr


@pytest.mark.parametrize("cut", [0, 10, 30])
def test_reading_child_gives_what_reading_here_gives(tmp_path, cut):
    """-r reads through a child process when it has two CPUs: the same
    frames (decoded there), count and cut-off error as reading here."""
    frames = timed([ip_tcp(dport=1 + i % 1000) for i in range(BATCH + 7)], step=0.001)
    frames[5] = (frames[5][0], frames[5][1][:20])  # not IPv4: a record of its own kind
    path = write_pcap(tmp_path / "t.pcap", frames)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) - cut])
    results = []
    for reader in (False, True):
        source = FileSource(path)
        source.start(reader=reader)
        assert source.in_child == reader
        batches = list(iter(source.read, None))
        assert source.reader_pid is None  # reaped
        results.append((batches, source.count, source.error))
    assert results[0] == results[1]
    batches, count, error = results[0]
    assert [len(b) for b in batches] == [BATCH, count - BATCH]
    assert batches[0][5] == frames[5] and type(batches[0][5]) is tuple
    assert type(batches[0][4]) is Datagram
    assert (count, error is None) == ((BATCH + 7, True) if cut == 0 else (BATCH + 6, False))


def test_no_process_to_spare_reads_in_process(tmp_path, monkeypatch):
    """fork(2) refused (EAGAIN: a process limit): the file is read here."""

    def refuse():
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    frames = timed([ip_tcp(dport=21)] * 3)
    source = FileSource(write_pcap(tmp_path / "t.pcap", frames))
    fds = len(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(os, "fork", refuse)
    source.start(reader=True)
    assert list(iter(source.read, None)) == [decode_batch(source.dlt, frames)]
    assert (source.in_child, source.reader_pid, source.count) == (False, None, 3)
    assert len(os.listdir("/proc/self/fd")) == fds  # the pipe closed


@pytest.mark.parametrize("sent", ["nothing", "half a batch", "a batch"])
def test_a_reading_child_that_dies_is_a_cut_off_file(tmp_path, sent):
    """The child gone before its last word (killed, a bug): what it sent
    counts, the rest is reported as the file cut off, never a traceback."""
    frames = timed([ip_tcp(dport=21)] * 3)
    source = FileSource(write_pcap(tmp_path / "t.pcap", frames))
    data = pickle.dumps(decode_wire(DLT_EN10MB, frames), pickle.HIGHEST_PROTOCOL)
    data = {"nothing": b"", "half a batch": data[: len(data) // 2], "a batch": data}[sent]
    child = subprocess.Popen(["sleep", "60"])  # stands in for the reading child
    rfd, wfd = os.pipe()
    os.write(wfd, data)
    os.close(wfd)
    source.reader_pid, source.reader_pipe = child.pid, open(rfd, "rb")  # noqa: SIM115 - closed by source
    batches = list(source._received())
    assert batches == ([decode_batch(DLT_EN10MB, frames)] if sent == "a batch" else [])
    assert source.count == len(frames) * len(batches)
    assert source.error == "the reading process ended before the end of the file"
    assert source.reader_pid is None and source.reader_pipe.closed
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(child.pid, os.WNOHANG)
    child.wait()  # (Popen learns it is gone)


def fifo_writer(fifo, proc):
    """The FIFO opened for writing once ``proc`` has opened it for reading."""
    deadline = time.monotonic() + 10
    while True:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO or proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
            continue
        os.set_blocking(fd, True)
        return os.fdopen(fd, "wb")


def test_a_fifo_is_read_and_an_interrupt_leaves_no_reader(tmp_path):
    """`iplog -r FIFO` (or <(tcpdump -w -)): the stream is read from its
    first byte; Ctrl-C while it waits ends with 130 and nothing left
    reading the pipe."""
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    capture = Path(write_pcap(tmp_path / "t.pcap", timed([ip_tcp(dport=21)]))).read_bytes()
    for interrupt in (True, False):
        proc = subprocess.Popen(
            IPLOG + ["-N", "-r", str(fifo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"TZ": "UTC"},
        )
        try:
            with fifo_writer(fifo, proc) as writer:
                writer.write(capture)
                writer.flush()
                if interrupt:  # the stream goes on (the writer keeps it open)
                    time.sleep(1)
                    assert proc.poll() is None
                    proc.send_signal(signal.SIGINT)
                    out, err = proc.communicate(timeout=10)
                    assert proc.returncode == 130, err
                    with pytest.raises(OSError) as no_reader:  # nobody has it open to read
                        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    assert no_reader.value.errno == errno.ENXIO
            if not interrupt:
                out, err = proc.communicate(timeout=10)
                assert (proc.returncode, err) == (0, "")
                assert out.splitlines()[1:] == [f"{S}TCP: ftp connection attempt from {A}:40000"]
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_malformed_packets_do_not_stop_the_run(iplog_r):
    junk = [
        b"",
        b"\x45",
        ip(p=6, data=b"\x00\x50"),
        ip(p=17, data=b"\x01"),
        ip(p=1, data=b"\x03"),
        ip_icmp(itype=3, data=b"\x45\x00"),
        ip_icmp(itype=5, code=0),
        ip_icmp(itype=9, rest=b"\x05\x02\x00\x10"),
        ip_icmp(itype=14),
        ip_icmp(itype=18),
        ip_icmp(itype=12, rest=b""),
    ]
    frames = timed(junk + [ip_tcp()])
    lines = iplog_r(frames)
    assert lines[-1] == ATTEMPT[0]


# --- promisc networks on a capture file (-a) ------------------------------------------------------


def test_promisc_networks_select_destinations(iplog_r):
    frames = timed(
        [
            ip_tcp(dst="192.0.2.10", dport=21),
            ip_tcp(dst="203.0.113.9", dport=22),
            ip_tcp(dst="192.0.2.77", dport=23),
        ]
    )
    assert iplog_r(frames, "-a", "192.0.2.0/24") == [
        f"{S}TCP: ftp connection attempt to 192.0.2.10 from {A}:40000",
        f"{S}TCP: telnet connection attempt to 192.0.2.77 from {A}:40000",
    ]
    assert iplog_r(frames, "-a", "203.0.113.9") == [
        f"{S}TCP: ssh connection attempt to 203.0.113.9 from {A}:40000"
    ]


# --- expiry order across kinds --------------------------------------------------------------------


def test_expired_lines_in_time_order(iplog_r):
    ping = [ip_icmp(itype=8, src=OTHER) for _ in range(70)]
    scan = [ip_tcp(dport=p, flags=0) for p in range(1001, 1011)]
    frames = timed(ping, step=0.001) + timed(scan, start=T0 + 5)
    lines = iplog_r(frames, "-m")
    assert lines == [
        f"{S}ICMP: ping flood detected from {OTHER}",
        f"Nov 14 22:13:25 TCP: null scan detected [ports 1001,1002,1003,1004,1005,1006,1007,"
        f"1008,1009,1010,...] from {A} [port 40000]",
        f"Nov 14 22:14:15 TCP: null scan mode expired for {A} - received a total of 10 packets"
        " (200 bytes).",
        f"Nov 14 22:14:20 ICMP: ping flood mode expired for {OTHER} - received a total of 70"
        " packets (560 bytes).",
    ]


# --- real nmap scans (captured on loopback with tests/data/record-nmap.sh) ------------------------


def run_capture(name, *args):
    p = subprocess.run(
        IPLOG + ["-N", "--classic-detection", *args, "-r", str(DATA / name)],
        capture_output=True,
        text=True,
        env={"TZ": "UTC"},
    )
    assert p.returncode == 0, p.stderr
    return [line[16:] for line in p.stdout.splitlines()]


def test_nmap_syn_scan():
    lines = run_capture("nmap-syn.pcap")
    assert lines == [
        "iplog started.",
        "TCP: ftp connection attempt from 127.0.0.1:41815",
        "TCP: domain connection attempt from 127.0.0.1:41815",
        "TCP: ssh connection attempt from 127.0.0.1:41815",
        "TCP: telnet connection attempt from 127.0.0.1:41815",
        "TCP: smtp connection attempt from 127.0.0.1:41815",
        "TCP: port 54 connection attempt from 127.0.0.1:41815",
        "TCP: netstat connection attempt from 127.0.0.1:41815",
        "TCP: port 29 connection attempt from 127.0.0.1:41815",
        "TCP: port 27 connection attempt from 127.0.0.1:41815",
        "TCP: SYN scan detected [ports 21,53,22,23,25,54,15,29,27,59,...] from 127.0.0.1"
        " [port 41815]",
        "TCP: SYN scan mode expired for 127.0.0.1 - received a total of 60 packets (1440 bytes).",
    ]


@pytest.mark.parametrize(
    "name,kind,ports,sport",
    [
        ("nmap-fin.pcap", "FIN", "21,22,25,23,12,13,10,5,17,27", 44078),
        ("nmap-xmas.pcap", "Xmas", "25,21,22,23,30,11,12,20,3,13", 35787),
        ("nmap-null.pcap", "null", "22,23,21,25,6,16,11,19,5,1", 57690),
    ],
)
def test_nmap_stealth_scans(name, kind, ports, sport):
    assert run_capture(name) == [
        "iplog started.",
        f"TCP: {kind} scan detected [ports {ports},...] from 127.0.0.1 [port {sport}]",
        f"TCP: {kind} scan mode expired for 127.0.0.1 - received a total of 30 packets"
        " (600 bytes).",
    ]


def test_nmap_udp_scan():
    lines = run_capture("nmap-udp.pcap", "-m")
    assert lines == [
        "iplog started.",
        "UDP: scan/flood detected [ports 6,15,37,17,27,32,38,16,35,22,...] from 127.0.0.1"
        " [port 61973]",
        "UDP: scan/flood mode expired for 127.0.0.1 - received a total of 40 packets (324 bytes).",
    ]
    full = run_capture("nmap-udp.pcap")
    assert (
        full[2] == "ICMP: 127.0.0.1: port is unreachable to (udp: dest port 6, source port 61973)"
    )


# --- the resolver never holds up the packets (F12, L4) --------------------------------------------


def test_slow_names_do_not_block():
    import threading
    import time as _time

    from pyiplog.resolve import CachedResolver

    release = threading.Event()

    def slow(addr):
        release.wait(5)
        return "slow.example"

    resolver = CachedResolver(wait=0.0, lookup=slow)
    started = _time.monotonic()
    assert resolver(a(ATTACKER)) is None  # not back: the address is printed
    assert _time.monotonic() - started < 0.5
    release.set()
    assert wait_until(lambda: resolver(a(ATTACKER)) == "slow.example")
    resolver.close()


def test_offline_waits_a_little_for_names():
    from pyiplog.resolve import CachedResolver

    resolver = CachedResolver(wait=2.0, lookup=lambda addr: "quick.example")
    assert resolver(a(ATTACKER)) == "quick.example"
    calls = []
    cached = CachedResolver(wait=2.0, lookup=lambda addr: calls.append(addr) or None)
    assert cached(a(OTHER)) is None and cached(a(OTHER)) is None
    assert len(calls) == 1  # "no name" is cached too
    resolver.close()
    cached.close()


def wait_until(predicate, timeout=5.0):
    import time as _time

    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        if predicate():
            return True
        _time.sleep(0.01)
    return False


def test_unsupported_link_type_is_said(tmp_path):
    path = write_pcap(tmp_path / "wifi.pcap", [(T0, b"\x80\x00" + b"\0" * 40)], linktype=105)
    p = subprocess.run(IPLOG + ["-N", "-r", path], capture_output=True, text=True)
    assert p.returncode == 0
    assert (
        p.stderr == f"iplog: {path}: link type 105 is not supported: no packet in it can"
        " be analysed\n"
    )


def test_output_into_a_closed_pipe_ends_quietly():
    p = subprocess.run(
        f"{' '.join(IPLOG)} -N -r {DATA / 'attack-hping-syn.pcap'} | head -1",
        shell=True,
        capture_output=True,
        text=True,
    )
    assert p.stdout.endswith("iplog started.\n") and p.stderr == ""


def test_offline_stops_waiting_for_a_dead_name_server():
    import threading
    import time as _time

    from pyiplog.resolve import CachedResolver

    never = threading.Event()
    resolver = CachedResolver(wait=0.2, lookup=lambda addr: never.wait(3) and None)
    started = _time.monotonic()
    for i in range(10):
        assert resolver(bytes([192, 0, 2, i])) is None
    assert _time.monotonic() - started < 0.2 * 3 + 0.5  # three waits, then none
    never.set()
    resolver.close()


# --- one form for a host in every line (docs/contract.md L4) ---------------------------------


def names_engine(lookup, **changes):
    from pyiplog.engine import Engine
    from pyiplog.options import Options
    from pyiplog.resolve import CachedResolver, Namer

    resolver = CachedResolver(wait=0.0, lookup=lookup)
    opts = Options(**changes)
    return Engine(opts, None, Namer(resolver, log_ip=opts.log_ip)), resolver


def feed_raw(engine, datagrams, start=T0):
    from pyiplog.constants import DLT_RAW

    engine.feed(DLT_RAW, [(start + i * 0.01, d) for i, d in enumerate(datagrams)])


def test_a_line_waits_for_its_hosts_name_and_the_lines_behind_it_keep_their_place():
    import threading

    release = threading.Event()

    def slow(addr):  # a resolver that answers, but not at once
        release.wait(5)
        return {a(ATTACKER): "scanner.example"}.get(addr)

    engine, resolver = names_engine(slow, log_ip=True)
    feed_raw(
        engine,
        [
            ip_tcp(src=ATTACKER, sport=4000, dport=22),
            ip_udp(src=OTHER, sport=5000, dport=53, payload=b"x"),
            ip_tcp(src=ATTACKER, sport=4001, dport=25),
        ],
    )
    assert engine.drain() == []  # the first line waits for its name, the others behind it
    release.set()
    assert wait_until(lambda: not resolver._pending)
    lines = [text for _, text in engine.drain()]
    assert lines == [
        f"TCP: ssh connection attempt from scanner.example ({ATTACKER}):4000",
        f"UDP: dgram to domain from {OTHER}:5000 (1 data bytes)",  # no name: its address
        f"TCP: smtp connection attempt from scanner.example ({ATTACKER}):4001",
    ]
    resolver.close()


def test_a_held_line_goes_with_the_address_at_its_deadline():
    import threading

    never = threading.Event()
    engine, resolver = names_engine(lambda addr: never.wait(10) and None)
    now = [100.0]
    engine.lines.clock = lambda: now[0]
    feed_raw(engine, [ip_tcp(src=ATTACKER, sport=4000, dport=22)])
    assert engine.drain() == []
    now[0] += 2.0  # HOLD_WAIT later: the line goes as it is
    assert [text for _, text in engine.drain()] == [
        f"TCP: ssh connection attempt from {ATTACKER}:4000"
    ]
    never.set()
    resolver.close()
