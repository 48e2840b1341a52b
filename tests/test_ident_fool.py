"""Ident lookups (-e) and fool_nmap (-z): the pure parts to the
letter, then each for real between two network namespaces the tests make
(an RFC 1413 server of our own; nmap's OS-detection probes and a tcpdump of
what comes back).  Traffic only between those namespaces."""

from __future__ import annotations

import contextlib
import logging
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pyiplog.decode import parse_ipv4
from pyiplog.foolnmap import ANSWER_FLAGS, Replier, is_answer, is_probe, junk_reply
from pyiplog.ident import MAX_PENDING, IdentLookups, listening_ports, parse_reply

from live import Namespaces, daemon_in_b, lines_of, needs_root, needs_tools, wait_for
from packets import ATTACKER, TARGET, a, ip_tcp

# --- the pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply,user",
    [
        ("6193, 23 : USERID : UNIX : stjohns\r\n", "stjohns"),
        ("6195 , 23 : USERID : OTHER :alice", "alice"),
        ("6193, 23 : ERROR : NO-USER\r\n", None),
        ("6193, 23 : USERID : UNIX : \r\n", None),
        ("garbage", None),
        ("1,2 : USERID : UNIX : evil user@host\x1b", "evil?user?host?"),
    ],
)
def test_ident_replies(reply, user):
    assert parse_reply(reply) == user


def test_listening_ports_from_proc(tmp_path):
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 00000000:0016 00000000:0000 0A 00000000\n"  # 22, listening
        "   1: 0100007F:1F90 0100007F:C350 01 00000000\n"  # 8080, established
    )
    assert listening_ports((str(table), str(tmp_path / "absent"))) == frozenset({22})


def test_ident_lookups_are_bounded():
    gate = threading.Event()
    lookups = IdentLookups(
        asker=lambda *a, timeout: gate.wait(5) and "u", ports=lambda: frozenset({22})
    )
    now = time.time()
    started = [lookups.start(now, b"1234", 1, b"5678", 22, lambda u: (0.0, u)) for _ in range(40)]
    assert started == [True] * MAX_PENDING + [False] * (40 - MAX_PENDING)
    gate.set()
    assert wait_for(lambda: len(lookups._done) == MAX_PENDING)
    assert lookups.done() == [(0.0, "u")] * MAX_PENDING and lookups.pending == 0
    lookups.close()


@pytest.mark.parametrize(
    "flags,probe",
    [
        (0x02, False),
        (0x12, False),
        (0x10, False),
        (0x04, False),
        (0x01, False),
        (0x00, True),
        (0x08, True),
        (0x29, True),
        (0x22, True),
        (0x03, True),
        (0x06, True),
        (0xC2, True),
        (0x42, True),
        (0x2B, True),
        (0x18, False),
    ],
)
def test_which_segments_are_os_probes(flags, probe):
    assert is_probe(flags) is probe


def checksum_ok(data: bytes) -> bool:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_the_junk_answer():
    probe = parse_ipv4(0.0, ip_tcp(sport=40000, dport=22, flags=0x29))
    now = 1_700_000_001
    reply = junk_reply(probe, probe.payload, now)
    assert len(reply) == 40
    vhl, _, total, ident, frag, ttl, proto, _, src, dst = struct.unpack_from("!BBHHHBBH4s4s", reply)
    assert (vhl, total, ident, frag, ttl, proto) == (0x45, 40, 0xFF, 0x4000, 255, 6)
    assert (src, dst) == (a(TARGET), a(ATTACKER))
    sport, dport, seq, _ack, off, flags, win, _, urp = struct.unpack_from("!HHIIBBHHH", reply, 20)
    assert (sport, dport, seq, off, win) == (22, 40000, 1000, 0x50, 1)
    assert flags == ANSWER_FLAGS[(now ^ 0x12345678) % len(ANSWER_FLAGS)] and urp == now & 0xFFFF
    assert not is_probe(flags) and is_answer(parse_ipv4(0.0, reply), reply[20:])
    assert checksum_ok(reply[:20])
    pseudo = dst + src  # as the probe's source will check it
    assert checksum_ok(a(TARGET) + a(ATTACKER) + struct.pack("!BBH", 0, 6, 20) + reply[20:])
    assert pseudo  # (the pair, reversed)


# --- for real, between two namespaces -------------------------------------------------------

IDENT_SERVER = r"""
import socket, sys, time
mode = sys.argv[1]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 113)); srv.listen(8)
print("ready", flush=True)
while True:
    conn, _ = srv.accept()
    question = conn.recv(100).decode().strip()
    if mode == "silent":
        time.sleep(8)
    else:
        conn.sendall(f"{question} : USERID : UNIX : alice\r\n".encode())
    conn.close()
"""

LISTENER = r"""
import socket
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 2222)); srv.listen(64)
print("ready", flush=True)
while True:
    conn, _ = srv.accept(); conn.close()
"""


def started(proc) -> None:
    assert proc.stdout.readline() == "ready\n"


def connect_from_a(ns, port: int) -> None:
    ns.in_a(
        sys.executable,
        "-c",
        "import socket,sys\n"
        "s=socket.socket(); s.settimeout(2)\n"
        "try: s.connect((sys.argv[1], int(sys.argv[2])))\n"
        "except OSError: pass\n",
        ns.B_ADDR,
        str(port),
        check=True,
    )


@needs_root
@needs_tools("ip")
@pytest.mark.parametrize("identd", ["answers", "silent", "none"])
def test_ident_lookup_between_namespaces(identd):
    work = Path(tempfile.mkdtemp(prefix="pyiplog-ident-"))
    with Namespaces() as ns, contextlib.ExitStack() as stack:
        service = ns.popen_b(sys.executable, "-c", LISTENER, stdout=subprocess.PIPE, text=True)
        stack.callback(service.kill)
        started(service)
        if identd != "none":
            server = subprocess.Popen(
                ["ip", "netns", "exec", ns.a, sys.executable, "-c", IDENT_SERVER, identd],
                stdout=subprocess.PIPE,
                text=True,
            )
            stack.callback(server.kill)
            started(server)
        log, _ = stack.enter_context(daemon_in_b(ns, work, "-e"))
        asked = time.monotonic()
        connect_from_a(ns, 2222)  # listening: asked about
        connect_from_a(ns, 2223)  # not listening: written at once
        attempt = "TCP: port 2222 connection attempt from "
        assert wait_for(lambda: any(attempt in x for x in lines_of(log)), 10), lines_of(log)
        lines = [x for x in lines_of(log) if "connection attempt" in x]
        user = "alice@" if identd == "answers" else ""
        line = next(x for x in lines if attempt in x)
        assert line.startswith(f"{attempt}{user}{ns.A_ADDR}:")
        if identd == "silent":  # the other line did not wait for the timeout
            assert lines == [lines[0], line]
            assert lines[0].startswith("TCP: port 2223 connection attempt from ")
            assert time.monotonic() - asked >= 2.5
    subprocess.run(["rm", "-rf", str(work)])


@needs_root
@needs_tools("ip", "nmap", "tcpdump")
@pytest.mark.parametrize("fool", [True, False])
def test_fool_nmap_answers_os_probes(fool):
    """nmap -O from A against B: with -z, B's iplog answers the odd probes
    (tcpdump in A sees TTL 255, id 255 segments from B); without, nothing."""
    work = Path(tempfile.mkdtemp(prefix="pyiplog-fool-"))
    with Namespaces() as ns, contextlib.ExitStack() as stack:
        service = ns.popen_b(sys.executable, "-c", LISTENER, stdout=subprocess.PIPE, text=True)
        stack.callback(service.kill)
        started(service)
        stack.enter_context(daemon_in_b(ns, work, *(["-z"] if fool else [])))
        capture = work / "answers.pcap"
        dump = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                ns.a,
                "tcpdump",
                "-i",
                ns.a_if,
                "-U",
                "-w",
                str(capture),
                f"src host {ns.B_ADDR} and tcp and ip[8] = 255 and ip[4:2] = 255",
            ],
            stderr=subprocess.PIPE,
        )
        stack.callback(dump.wait)
        stack.callback(dump.send_signal, signal.SIGINT)
        time.sleep(1)
        ns.in_a(
            "nmap",
            "-n",
            "-Pn",
            "-O",
            "--max-os-tries",
            "1",
            "-p",
            "2222,2223",
            ns.B_ADDR,
            capture_output=True,
            timeout=120,
        )
        time.sleep(1)
    count = subprocess.run(["tcpdump", "-r", str(capture)], capture_output=True, text=True)
    answers = [x for x in count.stdout.splitlines() if " > " in x]
    if fool:
        assert len(answers) >= 3, count.stdout  # T2, T3, T7 and the ECN probe at least
    else:
        assert answers == []
    subprocess.run(["rm", "-rf", str(work)])


@needs_root
def test_a_failing_answer_is_said_once(caplog):
    replier = Replier(lambda: 1_700_000_000.0)
    replier.sock.close()  # every send now fails (EBADF); nothing leaves this host
    probe = parse_ipv4(0.0, ip_tcp(flags=0))
    logger = logging.getLogger("pyiplog")  # as logs.setup leaves it: not propagated
    saved = logger.propagate
    logger.propagate = False
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="pyiplog.foolnmap"):
            replier(0.0, probe, probe.payload)
            replier(1.0, probe, probe.payload)
    finally:
        logger.removeHandler(caplog.handler)
        logger.propagate = saved
    assert [r.getMessage() for r in caplog.records] == [
        "fool_nmap: sending an answer failed: Bad file descriptor"
    ]
