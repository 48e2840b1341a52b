"""The live daemon: capture, detaching, pid file, signals, rotation, syslog.

Root only; traffic goes to 127.0.0.1 or between namespaces the tests make.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pyiplog.capture import lane_buffer

from live import (
    ENV,
    IPLOG,
    ROOT,
    ROOT_MARKS,
    Namespaces,
    daemon_in_b,
    free_port,
    has_line,
    lines_of,
    needs_tools,
    on_lo,
    pid_alive,
    private_dev,
    run_iplog,
    stop,
    syn_to_localhost,
    wait_for,
)

pytestmark = ROOT_MARKS


def current_pid(path) -> int:
    try:
        text = Path(path).read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdigit() else 0


def read_pid(path) -> int:
    return wait_for(lambda: current_pid(path))


@pytest.fixture
def workdir():
    """A directory the unprivileged daemon can reach (pytest's tmp is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="pyiplog-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def shipped_logrotate(workdir, log, conf, owner: str) -> None:
    """The shipped logrotate snippet for ``log`` in ``workdir/logrotate.conf``:
    the new file made for ``owner`` ("user group"), postrotate's `iplog -R`
    with this config, and rotation even of an empty log."""
    snippet = (
        (ROOT / "initscripts" / "iplog.logrotate")
        .read_text()
        .replace("/var/log/iplog", str(log))
        .replace("create 0640 iplog nogroup", f"create 0640 {owner}")
        .replace("/usr/local/sbin/iplog -R", f"{' '.join(IPLOG)} -C {conf} -R")
        .replace("notifempty", "ifempty")
    )
    (workdir / "logrotate.conf").write_text(snippet)


def foreground(workdir, *args, conf=""):
    config = workdir / "iplog.conf"
    config.write_text(conf)
    log = workdir / "iplog.log"
    proc = on_lo(config, log, workdir / "iplog.pid", *args)
    return proc, log


def test_one_syn_is_logged_within_a_second(workdir):  # F1: immediate mode
    proc, log = foreground(workdir)
    try:
        port = free_port()
        line = f"TCP: port {port} connection attempt from 127.0.0.1:"
        sent = time.monotonic()
        syn_to_localhost(port)
        seen = wait_for(lambda: any(x.startswith(line) for x in lines_of(log)), 1.0, 0.005)
        assert seen, f"not logged within 1 s: {lines_of(log)}"
        assert time.monotonic() - sent < 1.5
    finally:
        stop(proc)
    assert proc.returncode == 0
    assert lines_of(log)[-1] == "Caught signal 15, exiting."


def test_interrupt_in_the_foreground(workdir):
    proc, log = foreground(workdir)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert lines_of(log)[-1] == "Caught signal 2, exiting."
    assert not (workdir / "iplog.pid").exists()


def test_lifecycle(workdir):
    rundir = workdir / "run"
    rundir.mkdir()
    os.chown(rundir, 65534, 65534)
    pid_file = rundir / "iplog.pid"
    log = workdir / "iplog.log"
    conf = workdir / "iplog.conf"
    conf.write_text(
        f"user nobody\ngroup nogroup\nlogfile {log}\npid-file {pid_file}\n"
        "interface lo\nset disable_resolver\n"
    )
    p = run_iplog("-C", str(conf))
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    pid = read_pid(pid_file)
    try:
        # Detached: reparented away from us, in its own session, running as nobody.
        status = Path(f"/proc/{pid}/status").read_text()
        assert re.search(r"^Uid:\s+65534\s+65534\s+65534\s+65534$", status, re.M), status
        assert re.search(r"^Groups:\s*$", status, re.M)
        assert os.getsid(pid) != os.getsid(0)  # a session of its own
        assert wait_for(has_line(log, "iplog started."))
        # A second start fails with 2.2.3's text, exit 255.
        p = run_iplog("-C", str(conf))
        assert p.returncode == 255
        assert p.stderr == f"Fatal: iplog is already running (pid: {pid})\n"
        # -R reloads a changed configuration.
        conf.write_text(conf.read_text() + "set log_dest true\n")
        p = run_iplog("-C", str(conf), "-R")
        assert (p.returncode, p.stderr) == (0, "")
        assert wait_for(lambda: lines_of(log).count("iplog started.") == 2)
        port = free_port()
        syn_to_localhost(port)
        assert wait_for(
            lambda: any(
                x.startswith(f"TCP: port {port} connection attempt to 127.0.0.1 from 127.0.0.1:")
                for x in lines_of(log)
            )
        )
        # -k stops it and the pid file goes.
        p = run_iplog("-C", str(conf), "-k")
        assert (p.returncode, p.stderr) == (0, "")
        assert wait_for(lambda: not pid_alive(pid))
        assert not pid_file.exists()
        assert lines_of(log)[-1] == "Caught signal 15, exiting."
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    # kill -9 leaves the pid file behind; it does not block the next start.
    p = run_iplog("-C", str(conf))
    assert p.returncode == 0, p.stderr
    pid = read_pid(pid_file)
    os.kill(pid, signal.SIGKILL)
    assert wait_for(lambda: not pid_alive(pid))
    assert pid_file.exists()
    p = run_iplog("-C", str(conf))
    assert p.returncode == 0, p.stderr
    new_pid = wait_for(lambda: current_pid(pid_file) not in (0, pid) and current_pid(pid_file))
    try:
        assert pid_alive(new_pid)
    finally:
        os.kill(new_pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(new_pid))


def test_bad_user_and_interface_are_fatal(workdir):
    p = run_iplog(
        "-C",
        "/dev/null",
        "-i",
        "lo",
        "-u",
        "no-such-user-here",
        "-o",
        "-L",
        f"--pid-file={workdir}/p",
    )
    assert (p.returncode, p.stderr) == (255, 'Fatal: Unknown user: "no-such-user-here"\n')
    p = run_iplog("-C", "/dev/null", "-i", "nosuchif0", "-o", "-L", f"--pid-file={workdir}/p")
    assert p.returncode == 255
    assert p.stderr == ("Fatal: Couldn't initialize interfaces. (nosuchif0: no such interface)\n")


def test_rotation_as_unprivileged_user(workdir):
    # 2.2.3 running as a user died here: the new log cannot be created in a
    # root-owned directory.  pyiplog keeps writing to the renamed file.
    logdir = workdir / "log"
    logdir.mkdir(mode=0o755)
    rundir = workdir / "run"
    rundir.mkdir()
    os.chown(rundir, 65534, 65534)
    log = logdir / "iplog"
    conf = workdir / "iplog.conf"
    conf.write_text(
        f"user nobody\nlogfile {log}\npid-file {rundir}/iplog.pid\ninterface lo\n"
        "set disable_resolver\n"
    )
    assert run_iplog("-C", str(conf)).returncode == 0
    pid = read_pid(rundir / "iplog.pid")
    try:
        assert wait_for(has_line(log, "iplog started."))
        before, after = free_port(), free_port() + 1
        syn_to_localhost(before)
        assert wait_for(lambda: any(f"port {before} " in x for x in lines_of(log)))
        log.rename(logdir / "iplog.1")
        # -R waits for the daemon's word: the reopen failed, and it says why.
        p = run_iplog("-C", str(conf), "-R")
        reason = (
            f'Warning: unable to reopen "{log}": Permission'
            " denied; still writing to the file that was open."
        )
        assert (p.returncode, p.stdout, p.stderr) == (1, "", reason + "\n")
        rotated = logdir / "iplog.1"
        assert has_line(rotated, reason)()
        syn_to_localhost(after)
        assert wait_for(lambda: any(f"port {after} " in x for x in lines_of(rotated)))
        assert pid_alive(pid)
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))
    assert lines_of(rotated)[-1] == "Caught signal 15, exiting."
    assert not log.exists()


@needs_tools("logrotate")
def test_reload_after_logrotate_applies_the_config_as_the_run_user(workdir):
    """The installed layout: /etc/iplog.conf 0644, the daemon as nobody, the
    shipped logrotate snippet (postrotate: iplog -R).  After the rotation
    and after an edit, `iplog -R` applies the file (log_dest shows) and
    says so (exit 0); a config the run user cannot read is warned about at
    start and makes -R fail with the reason."""
    logdir = workdir / "log"
    logdir.mkdir()
    shutil.chown(logdir, "nobody")
    rundir = workdir / "run"
    log, pid_file, conf = logdir / "iplog", rundir / "iplog.pid", workdir / "iplog.conf"
    conf.write_text(
        f"user nobody\ngroup nogroup\nlogfile {log}\npid-file {pid_file}\ninterface lo\n"
        "set disable_resolver\n"
    )
    conf.chmod(0o644)
    shipped_logrotate(workdir, log, conf, "nobody nogroup")
    assert run_iplog("-C", str(conf)).returncode == 0
    pid = read_pid(pid_file)
    rotate = ["logrotate", "-f", "-s", str(workdir / "state"), str(workdir / "logrotate.conf")]
    try:
        assert wait_for(has_line(log, "iplog started."))
        p = subprocess.run(rotate, capture_output=True, text=True, env=ENV)
        assert (p.returncode, p.stderr) == (0, "")
        assert wait_for(has_line(log, "iplog started."))  # the new file
        conf.write_text(conf.read_text() + "set log_dest true\n")
        p = run_iplog("-C", str(conf), "-R")
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
        port = free_port()
        syn_to_localhost(port)
        expected = f"TCP: port {port} connection attempt to 127.0.0.1 from 127.0.0.1:"
        assert wait_for(lambda: any(x.startswith(expected) for x in lines_of(log)))
        # Tightened by hand: the reload cannot read it, and -R says so.
        conf.chmod(0o600)
        p = run_iplog("-C", str(conf), "-R")
        assert (p.returncode, p.stdout) == (1, "")
        assert p.stderr == (
            f'Warning: Unable to read "{conf}": Permission denied;'
            " keeping the running configuration.\n"
        )
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))
    # Started with it so: the warning comes at once, not at the first rotation.
    assert run_iplog("-C", str(conf)).returncode == 0
    pid = read_pid(pid_file)
    try:
        assert wait_for(
            has_line(
                log,
                f'Warning: the user iplog runs as cannot read "{conf}"; a reload (SIGHUP)'
                " will keep the running configuration (make it readable: mode 0644).",
            )
        )
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))


def test_a_scan_open_at_shutdown_gets_its_end_line(workdir):
    """A port scan on lo is detected; iplog is stopped before the scan's
    window ends: its end line is written, before the last one, so that a
    reader (or the JSON lines' scan_start) gets an end for each start."""
    log, pid_file = workdir / "iplog.log", workdir / "iplog.pid"
    assert run_iplog("-C", "/dev/null", "-N", "-i", "lo", "-l", str(log),
                     f"--pid-file={pid_file}").returncode == 0  # fmt: skip
    pid = read_pid(pid_file)
    try:
        assert wait_for(has_line(log, "iplog started."))
        for port in range(3001, 3013):  # twelve refused ports: a port scan
            syn_to_localhost(port)
        assert wait_for(
            lambda: any(x.startswith("TCP: port scan detected") for x in lines_of(log))
        ), lines_of(log)
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))
    lines = lines_of(log)
    assert lines[-1] == "Caught signal 15, exiting."
    assert re.fullmatch(
        r"TCP: port scan mode expired for 127\.0\.0\.1 - received a total of \d+ packets"
        r" \(\d+ bytes\)\.",
        lines[-2],
    ), lines


def test_a_reload_stops_no_reading(workdir):
    """A 10,000-rule configuration (about half a second to parse) reloaded
    while 20,000 datagrams a second arrive, into a 1 MB capture ring that
    holds about a third of a second of them: the daemon reads on while the
    file is parsed, so the kernel drops nothing and every datagram has its
    line, once."""
    log, pid_file, conf = workdir / "iplog.log", workdir / "iplog.pid", workdir / "iplog.conf"
    rules = "".join(f"ignore tcp dport {port}\n" for port in range(1, 10001))
    conf.write_text(
        f"logfile {log}\npid-file {pid_file}\ninterface lo\nset disable_resolver\n"
        "set tcp false\nset icmp false\nset udp_scan false\n" + rules
    )
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # no port unreachable: one frame each
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    assert run_iplog("-C", str(conf), "--capture-buffer=1").returncode == 0
    pid = read_pid(pid_file)
    total, rate = 30000, 20000
    try:
        assert wait_for(has_line(log, "iplog started."))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        sport = sender.getsockname()[1]
        started = time.monotonic()
        for i in range(total):
            sender.sendto(i.to_bytes(4, "big"), ("127.0.0.1", port))
            if i == total // 3:
                os.kill(pid, signal.SIGHUP)
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        sender.close()
        line = f"UDP: dgram to port {port} from 127.0.0.1:{sport} (4 data bytes)"
        assert wait_for(lambda: lines_of(log).count("iplog started.") == 2, 20)
        os.kill(pid, signal.SIGUSR1)
        assert wait_for(lambda: any(x.startswith("Statistics for lo:") for x in lines_of(log)))
        lines = lines_of(log)
        stats = next(x for x in lines if x.startswith("Statistics for lo:"))
        assert " 0 dropped by the kernel," in stats, stats
        counted = lines.count(line) + sum(
            int(x.split()[3]) for x in lines if x.startswith("last message repeated")
        )
        assert counted == total
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))
        sink.close()


def test_a_hup_while_a_reload_is_read_reopens_the_log_at_once(workdir):
    """Rotations while the first reload's parse is held (its child stopped):
    each renamed log is made again at once, a rotation never waits for a
    parse; each log has its start line and the lines of its moment, once;
    when the parse goes on, the file is read again and its last text applies."""
    logdir = workdir / "log"
    logdir.mkdir()
    log, pid_file, conf = logdir / "iplog", workdir / "iplog.pid", workdir / "iplog.conf"
    head = (
        f"logfile {log}\npid-file {pid_file}\ninterface lo\nset disable_resolver\n"
        "set tcp false\nset icmp false\nset udp_scan false\n"
    )
    conf.write_text(head + "".join(f"ignore tcp dport {port}\n" for port in range(1, 10001)))
    sinks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    for sink in sinks:  # no port unreachable
        sink.bind(("127.0.0.1", 0))
    port, other = (sink.getsockname()[1] for sink in sinks)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.bind(("127.0.0.1", 0))
    sport = sender.getsockname()[1]

    def line(n: int, to: int = port) -> str:
        return f"UDP: dgram to port {to} from 127.0.0.1:{sport} ({n} data bytes)"

    def parse_child() -> int | None:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError):
                if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    return int(stat.parent.name)
        return None

    assert run_iplog("-C", str(conf)).returncode == 0
    pid = read_pid(pid_file)
    child = None
    try:
        assert wait_for(has_line(log, "iplog started."))
        sender.sendto(b"x", ("127.0.0.1", port))
        assert wait_for(has_line(log, line(1)))
        log.rename(logdir / "iplog.1")
        os.kill(pid, signal.SIGHUP)
        assert wait_for(lambda: parse_child() is not None, 10, 0.005)
        child = parse_child()
        os.kill(child, signal.SIGSTOP)
        assert wait_for(log.exists, 5)
        for n in (2, 3):  # a line for the log of this moment, then a rotation
            sender.sendto(b"x" * n, ("127.0.0.1", port))
            time.sleep(0.3)
            log.rename(logdir / f"iplog.{n}")
            os.kill(pid, signal.SIGHUP)
            assert wait_for(log.exists, 5), f"rotation {n} waited for the parse"
        conf.write_text(head + f"ignore udp dport {port}\n")  # the text at the last HUP
        sender.sendto(b"x" * 4, ("127.0.0.1", port))
        time.sleep(0.3)
        os.kill(child, signal.SIGCONT)
        child = None
        assert wait_for(has_line(log, "iplog started."), 30)
        sender.sendto(b"x" * 5, ("127.0.0.1", port))  # ignored now
        sender.sendto(b"x" * 6, ("127.0.0.1", other))
        assert wait_for(has_line(log, line(6, other)))
        assert read_pid(pid_file) == pid and pid_alive(pid)
    finally:
        if child is not None:
            os.kill(child, signal.SIGCONT)
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))
        for sock in (*sinks, sender):
            sock.close()
    restarting = f"Restarting iplog (pid {pid})."
    rotated = [lines_of(logdir / f"iplog.{n}") for n in (1, 2, 3)]
    assert rotated[0][-2:] == [line(1), restarting]
    assert rotated[1] == ["iplog started.", line(2), restarting]
    assert rotated[2] == ["iplog started.", line(3), restarting]
    assert lines_of(log)[:3] == ["iplog started.", line(4), line(6, other)]


@needs_tools("logrotate")
def test_hup_under_load(workdir):
    """20,000 datagrams, 10 rotations (one by real logrotate): each line exactly once."""
    logdir = workdir / "log"
    logdir.mkdir()
    log = logdir / "iplog"
    pid_file = workdir / "iplog.pid"
    conf = workdir / "iplog.conf"
    conf.write_text(
        f"logfile {log}\npid-file {pid_file}\ninterface lo\nset disable_resolver\n"
        "set udp_scan false\nset icmp false\nset tcp false\n"
    )
    shipped_logrotate(workdir, log, conf, "root root")
    assert run_iplog("-C", str(conf)).returncode == 0
    pid = read_pid(pid_file)
    total, rotations = 20000, 10
    base = 20000
    try:
        assert wait_for(has_line(log, "iplog started."))
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        sport = sender.getsockname()[1]
        sent_at = time.monotonic()
        for i in range(total):
            sender.sendto(b"load", ("127.0.0.1", base + i))
            if i % 2000 == 1999:
                n = i // 2000
                if n == 4:
                    p = subprocess.run(
                        [
                            "logrotate",
                            "-f",
                            "-s",
                            str(workdir / "state"),
                            str(workdir / "logrotate.conf"),
                        ],
                        capture_output=True,
                        text=True,
                        env=ENV,
                    )
                    assert p.returncode == 0, p.stderr
                else:
                    log.rename(logdir / f"iplog.manual{n}")
                    os.kill(pid, signal.SIGHUP)
            # about 4,000 datagrams a second
            ahead = sent_at + i / 4000 - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        sender.close()
        files = sorted(logdir.iterdir())

        def all_lines():
            return [x for f in sorted(logdir.iterdir()) for x in lines_of(f)]

        from pyiplog.resolve import read_services

        services = read_services("/etc/services")  # what the daemon under test reads
        expected = {
            f"UDP: dgram to {services.get((base + i, 'udp')) or f'port {base + i}'}"
            f" from 127.0.0.1:{sport} (4 data bytes)"
            for i in range(total)
        }
        if not wait_for(lambda: expected <= set(all_lines()), 20, 0.2):
            os.kill(pid, signal.SIGUSR1)
            time.sleep(1.5)
            seen = set(all_lines())
            others = [x for x in seen if not x.startswith("UDP: dgram")]
            missing = sorted(int(x.split()[4]) for x in expected - seen if x.split()[3] == "port")
            others.append(str(missing[:5] + missing[-5:]))
            pytest.fail(f"{len(expected - seen)} of {total} lines missing; other lines: {others}")
        assert read_pid(pid_file) == pid and pid_alive(pid)
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for(lambda: not pid_alive(pid))
    lines = [x for x in all_lines() if x.startswith("UDP: ")]
    assert len(lines) == total and set(lines) == expected  # each exactly once
    files = sorted(logdir.iterdir())
    assert len(files) == rotations + 1, files
    assert sum(lines_of(f).count("iplog started.") for f in files) == rotations + 1
    assert (
        sum(x.startswith("Restarting iplog (pid ") for f in files for x in lines_of(f)) == rotations
    )


@needs_tools("unshare")
def test_syslog_ident_facility_priority(workdir):
    """Lines reach a real /dev/log (ours, in a private mount namespace)."""
    sock_path = workdir / "devlog"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(10)
    command = (
        f"{sys.executable} -m pyiplog -C /dev/null -N -o -i lo --facility=local3"
        f" --priority=info --pid-file={workdir}/iplog.pid"
    )
    proc = subprocess.Popen(
        private_dev(workdir, command, dev_log=sock_path),
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = listener.recv(4096).decode()
        pid = re.match(r"<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d iplog\[(\d+)\]: (.*)$", first)
        assert pid, first
        assert pid.group(1) == str(19 * 8 + 6)  # local3.info
        assert pid.group(3) == "iplog started."
        port = free_port()
        syn_to_localhost(port)
        for _ in range(20):
            message = listener.recv(4096).decode()
            if f"port {port}" in message:
                break
        assert message.endswith(
            f"iplog[{pid.group(2)}]: TCP: port {port} connection attempt"
            f" from 127.0.0.1:{message.rsplit(':', 1)[1]}"
        )
        assert message.startswith("<158>")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        listener.close()


# --- real scanners between two namespaces ------------------------------------------------


@needs_tools("ip", "nmap", "hping3", "tcpdump")
def test_real_scanners_live_equal_offline(workdir):
    with Namespaces() as ns:
        capture = workdir / "same.pcap"
        dump = ns.popen_b(
            "tcpdump",
            "-i",
            ns.b_if,
            "-s",
            "0",
            "-U",
            "-w",
            str(capture),
            f"dst host {ns.B_ADDR}",
            stderr=subprocess.PIPE,
        )
        # 2.2.3's counting and kernel filter: the capture holds what the daemon saw.
        try:
            with daemon_in_b(ns, workdir, "--classic-detection") as (log, _):
                time.sleep(1)  # tcpdump is listening by now
                for scan in (["-sS", "-p", "1-40"], ["-sF", "-p", "1-30"], ["-sU", "-p", "1-30"]):
                    p = ns.in_a(
                        "nmap",
                        "-n",
                        "-Pn",
                        "--max-retries",
                        "0",
                        *scan,
                        ns.B_ADDR,
                        capture_output=True,
                        timeout=120,
                    )
                    assert p.returncode == 0, p.stderr
                p = ns.in_a(
                    "hping3",
                    "--icmp",
                    "--faster",
                    "-c",
                    "300",
                    ns.B_ADDR,
                    capture_output=True,
                    timeout=60,
                )
                time.sleep(1.5)
        finally:
            dump.send_signal(signal.SIGTERM)
            dump.wait(10)
        live = lines_of(log)
        offline = subprocess.run(
            IPLOG + ["-C", "/dev/null", "-N", "--classic-detection", "-r", str(capture)],
            capture_output=True,
            text=True,
            env=ENV,
        )
        assert offline.returncode == 0, offline.stderr
        offline_lines = [x[16:] for x in offline.stdout.splitlines()]

        def comparable(lines):
            return [
                x
                for x in lines
                if " mode expired for " not in x
                and x not in ("iplog started.", "Caught signal 15, exiting.")
            ]

        a = ns.A_ADDR
        assert comparable(live) == comparable(offline_lines)
        detected = [x for x in live if " detected" in x]
        assert [x.split(" detected")[0] for x in detected] == [
            "TCP: SYN scan",
            "TCP: FIN scan",
            "UDP: scan/flood",
            "ICMP: ping flood",
        ]
        assert all(f" from {a}" in x for x in detected)


CLIENT = """
import socket, sys, time
for i in range(40):                      # a busy client: 40 connections in 10 s
    s = socket.create_connection(("198.51.100.2", 80 if i % 2 else 22), timeout=2)
    s.close(); time.sleep(0.25)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
for i in range(60):                      # DNS-like exchanges from changing ports
    u.close(); u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
    u.sendto(b"query", ("198.51.100.2", 53)); u.recvfrom(100)
"""


@needs_tools("ip", "nmap")
def test_live_default_counting_served_traffic_and_a_scan(workdir):
    """Live, default counting: the host's answers (captured by the kernel
    filter) keep a busy client quiet; a real SYN scan is still detected."""
    with Namespaces() as ns:
        servers = ns.popen_b(
            sys.executable,
            str(Path(__file__).parent / "servers.py"),
            ns.B_ADDR,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert servers.stdout.readline() == "ready\n"
            with daemon_in_b(ns, workdir) as (log, _):
                p = ns.in_a(
                    sys.executable, "-c", CLIENT, capture_output=True, text=True, timeout=60
                )
                assert p.returncode == 0, p.stderr
                time.sleep(4)  # longer than the reply wait
                assert [x for x in lines_of(log) if " detected" in x or "Bogus" in x] == []
                p = ns.in_a(
                    "nmap",
                    "-n",
                    "-Pn",
                    "-sS",
                    "-p",
                    "1-100",
                    ns.B_ADDR,
                    capture_output=True,
                    timeout=120,
                )
                assert p.returncode == 0
                assert wait_for(lambda: [x for x in lines_of(log) if " detected" in x], 10)
        finally:
            servers.kill()
            servers.wait()
        alarms = [x for x in lines_of(log) if " detected" in x or "Bogus" in x]
        assert len(alarms) == 1 and alarms[0].startswith("TCP: SYN scan detected [ports ")
        assert "] from 198.51.100.1 [port " in alarms[0]
        assert sum("connection attempt" in x for x in lines_of(log)) >= 40


@needs_tools("ip")
def test_interface_down_and_reopened(workdir):
    with Namespaces() as ns, daemon_in_b(ns, workdir) as (log, daemon):
        subprocess.run(["ip", "-n", ns.b, "link", "set", ns.b_if, "down"], check=True)
        assert wait_for(has_line(log, f"Warning: interface {ns.b_if} went down."), 5)
        subprocess.run(["ip", "-n", ns.b, "link", "set", ns.b_if, "up"], check=True)
        assert wait_for(has_line(log, f"Interface {ns.b_if} was reopened."), 5)
        assert daemon.poll() is None


def test_statistics_and_repeats_flushed_on_exit(workdir):
    proc, log = foreground(workdir, conf="set icmp false\n")
    try:
        port = free_port()
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.bind(("127.0.0.1", 0))
        line = f"UDP: dgram to port {port} from 127.0.0.1:{sender.getsockname()[1]} (4 data bytes)"
        for _ in range(3):  # the same line three times: folded
            sender.sendto(b"same", ("127.0.0.1", port))
        assert wait_for(lambda: line in lines_of(log))
        time.sleep(1.2)  # all three are in
        proc.send_signal(signal.SIGUSR1)
        assert wait_for(lambda: any(x.startswith("Statistics for lo: ") for x in lines_of(log)))
        for _ in range(3):
            sender.sendto(b"same", ("127.0.0.1", port))
        time.sleep(1.2)
        sender.close()
    finally:
        stop(proc)
    lines = lines_of(log)
    stats = lines.index(next(x for x in lines if x.startswith("Statistics for lo: ")))
    assert re.fullmatch(
        r"Statistics for lo: \d+ packets seen \(0 IPv6\), \d+ dropped by the kernel, "
        r"\d+ scan entries, \d+ incomplete datagrams, 0 packets not analysed \(errors\)\.",
        lines[stats],
    )
    assert lines[stats - 2 : stats] == [line, "last message repeated 2 times"]
    # TERM writes the pending count before its own line: nothing is lost.
    assert lines[stats + 1 :] == [
        line,
        "last message repeated 2 times",
        "Caught signal 15, exiting.",
    ]


@needs_tools("ip")
@pytest.mark.parametrize(
    "new,prefix,client",
    [("198.51.100.3", 24, "198.51.100.1"), ("2001:db8::3", 64, "2001:db8::1")],
    ids=["ipv4", "ipv6"],
)
def test_new_address_is_picked_up(workdir, new, prefix, client):
    """An address added while running (DHCP, SLAAC) is watched within seconds."""
    with Namespaces(ipv6=True) as ns, daemon_in_b(ns, workdir) as (log, _):
        subprocess.run(
            ["ip", "-n", ns.b, "addr", "add", f"{new}/{prefix}", "dev", ns.b_if, "nodad"],
            check=True,
        )
        time.sleep(6)  # the daemon looks every 5 s
        family = "AF_INET6" if ":" in new else "AF_INET"
        knock = (
            f"import socket\ns = socket.socket(socket.{family}); s.settimeout(2)\n"
            f"try: s.connect(({new!r}, 2222))\nexcept OSError: pass\n"
        )
        ns.in_a(sys.executable, "-c", knock, check=True, timeout=10)
        assert wait_for(
            lambda: any(
                x.startswith(f"TCP: port 2222 connection attempt from {client}:")
                for x in lines_of(log)
            )
        )


# --- the capture ring ---------------------------------------------------------


def ring_kib(pid: int) -> list[int]:
    """The packet sockets' rings libpcap maps into the process, in KiB."""
    sizes = []
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        if line.rstrip().endswith("]") and "socket:[" in line:
            low, high = (int(x, 16) for x in line.split()[0].split("-"))
            sizes.append((high - low) >> 10)
    return sizes


@pytest.mark.parametrize(
    "args,config,mb",
    [((), "", 8), (("--capture-buffer=2",), "", 2), ((), "capture_buffer 32\n", 32)],
    ids=["default", "command-line", "config"],
)
def test_capture_buffer_sizes_the_kernel_ring(workdir, args, config, mb):
    """The main capture's ring has capture_buffer's size; the flood lane's
    its own (docs/contract.md C3)."""
    conf = workdir / "iplog.conf"
    conf.write_text(config)
    proc = on_lo(conf, workdir / "log", workdir / "iplog.pid", *args)
    try:
        rings = sorted(ring_kib(proc.pid))
        expected = sorted([mb * 1024, lane_buffer(mb << 20) >> 10])
        assert len(rings) == 2, rings
        for want, ring in zip(expected, rings, strict=True):
            assert want <= ring <= want * 1.1, rings  # the ring, and its frame table
    finally:
        stop(proc)
