"""Safe as root: files opened by root in directories others may
write, -k/-R with a stale pid file, hostile config bytes.  Each test is the
attack: what an unprivileged user plants, then what iplog does with it."""

from __future__ import annotations

import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyiplog.config.rules import AddrSpec, FilterRule, Filters, PortSpec, TypeSpec
from pyiplog.decode import Datagram
from pyiplog.engine import Engine
from pyiplog.options import FatalError, Options
from pyiplog.output.logfile import LogFile
from pyiplog.output.syslog import SyslogLog
from pyiplog.pidfile import PidFile
from pyiplog.resolve import Namer

from live import (
    ENV,
    IPLOG,
    free_port,
    lines_of,
    needs_root,
    on_lo,
    private_dev,
    run_iplog,
    stop,
    syn_to_localhost,
    wait_for,
)
from packets import T0, ip_tcp, with_source, write_pcap

NOBODY = pwd.getpwnam("nobody")


def as_nobody(*argv: str) -> None:
    """Run a command as the unprivileged user (setpriv, from util-linux)."""
    subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY.pw_uid}",
            f"--regid={NOBODY.pw_gid}",
            "--clear-groups",
            *argv,
        ],
        check=True,
    )


@pytest.fixture
def user_dir(tmp_path):
    """A directory the run user owns (the README's /run/iplog, /var/log/iplog),
    where it can reach (pytest's own temporary tree is root's alone)."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    base = Path(tempfile.mkdtemp(prefix="pyiplog-safety-"))
    base.chmod(0o755)
    d = base / "owned"
    d.mkdir()
    os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
    yield d
    shutil.rmtree(base)


def root_only_file(tmp_path) -> Path:
    secret = tmp_path / "shadow-like"
    secret.write_text("root:secret\n")
    secret.chmod(0o600)
    return secret


def plant_symlink(link: Path, target: Path) -> None:
    if os.geteuid() == 0:
        as_nobody("ln", "-s", str(target), str(link))
    else:
        link.symlink_to(target)


# --- the pid file ---------------------------------------------------------------------


def test_pid_file_symlink_to_a_root_file_is_refused(tmp_path, user_dir):
    secret = root_only_file(tmp_path)
    link = user_dir / "iplog.pid"
    plant_symlink(link, secret)
    with pytest.raises(FatalError, match="it is a symbolic link"):
        PidFile(str(link)).acquire(owner=os.stat(user_dir).st_uid)  # the run user's directory
    assert secret.read_text() == "root:secret\n"


def test_pid_file_that_others_may_write_is_refused(tmp_path):
    path = tmp_path / "iplog.pid"
    path.write_text("123\n")
    path.chmod(0o666)
    with pytest.raises(FatalError) as exc:
        PidFile(str(path)).acquire()
    assert str(exc.value) == f'Pid file "{path}" may be written by group or others (mode 0666)'


@needs_root
def test_pid_file_owned_by_a_stranger_is_refused_the_run_users_is_taken(tmp_path):
    path = tmp_path / "iplog.pid"
    path.write_text("123\n")
    path.chmod(0o644)
    os.chown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    with pytest.raises(FatalError, match=f"is owned by uid {NOBODY.pw_uid}, not by root"):
        PidFile(str(path)).acquire()
    pid_file = PidFile(str(path))
    pid_file.acquire(owner=NOBODY.pw_uid)  # left by an earlier run as nobody: ours
    pid_file.remove()


@needs_root
def test_a_missing_pid_directory_is_made_for_the_run_user(user_dir):
    """`iplog -u nobody` as the article starts it, /var/run/iplog not there
    yet: the directory is made (the run user's, 0755, whatever the umask)
    and the daemon runs; the run user removes its pid file at exit."""
    run_dir = user_dir.parent / "run-iplog"  # in a root-owned directory, as /run
    pid_file, log = run_dir / "iplog.pid", user_dir / "iplog.log"
    old = os.umask(0o077)
    try:
        p = run_iplog("-C", "/dev/null", "-N", "-i", "lo", "-l", str(log),
                      f"--pid-file={pid_file}", "-u", "nobody")  # fmt: skip
    finally:
        os.umask(old)
    assert (p.returncode, p.stderr) == (0, "")
    st = os.lstat(run_dir)
    assert (stat.S_ISDIR(st.st_mode), st.st_uid, stat.S_IMODE(st.st_mode)) == (
        True,
        NOBODY.pw_uid,
        0o755,
    )
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    assert wait_for(lambda: not pid_file.exists())


@needs_root
def test_a_pid_directory_planted_as_a_symlink_is_refused(tmp_path, user_dir):
    """The run user's own directory holds a link named like the pid
    directory, to a directory of root's: iplog must not write there."""
    target = tmp_path / "roots"
    target.mkdir()
    link = user_dir / "run"
    plant_symlink(link, target)
    p = run_iplog("-C", "/dev/null", "-N", "-o", "-L", "-i", "lo",
                  f"--pid-file={link}/iplog.pid", "-u", "nobody")  # fmt: skip
    assert (p.returncode, p.stdout) == (255, "")
    assert p.stderr == (
        f'Fatal: Pid file directory "{link}" is a symbolic link owned by uid {NOBODY.pw_uid}\n'
    )
    assert list(target.iterdir()) == []


@needs_root
def test_a_pid_directory_of_a_stranger_is_refused(tmp_path, user_dir):
    """nobody's directory, iplog run as root: not its to trust."""
    with pytest.raises(FatalError) as exc:
        PidFile(str(user_dir / "iplog.pid")).acquire()
    assert str(exc.value) == (
        f'Pid file directory "{user_dir}" is owned by uid {NOBODY.pw_uid},'
        " not by root or the user iplog runs as"
    )
    assert list(user_dir.iterdir()) == []


def test_fifo_as_pid_file_is_a_one_line_fatal_error(tmp_path):
    fifo = tmp_path / "iplog.pid"
    os.mkfifo(fifo)
    p = subprocess.run(
        IPLOG + ["-C", "/dev/null", "-o", "-L", "-i", "lo", f"--pid-file={fifo}"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=20,
    )
    assert (p.returncode, p.stdout) == (255, "")
    assert p.stderr == f'Fatal: Pid file "{fifo}" is not a regular file\n'


def test_new_pid_file_is_0644_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        pid_file = PidFile(str(tmp_path / "iplog.pid"))
        pid_file.acquire()
    finally:
        os.umask(old)
    pid_file.write(os.getpid())
    assert stat.S_IMODE(os.stat(tmp_path / "iplog.pid").st_mode) == 0o644
    pid_file.remove()


# --- the log file ---------------------------------------------------------------------


def test_log_symlink_to_an_existing_root_file_is_refused(tmp_path, user_dir):
    secret = root_only_file(tmp_path)
    link = user_dir / "iplog"
    plant_symlink(link, secret)
    with pytest.raises(OSError, match="it is a symbolic link"):
        LogFile(str(link))
    assert secret.read_text() == "root:secret\n"


def test_log_symlink_to_a_missing_target_creates_nothing(tmp_path, user_dir):
    target = tmp_path / "etc-cron.d-evil"
    link = user_dir / "iplog"
    plant_symlink(link, target)
    capture = write_pcap(tmp_path / "empty.pcap", [])
    p = subprocess.run(
        IPLOG + ["-C", "/dev/null", "-N", "-r", capture, "-l", str(link)],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert p.returncode == 255
    assert p.stderr == f'Fatal: Unable to open "{link}" for writing: it is a symbolic link.\n'
    assert not target.exists()


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_log_that_is_not_a_regular_file_is_refused(tmp_path, kind):
    path = tmp_path / "iplog"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(OSError):
        LogFile(str(path))


def test_reopen_refuses_a_symlink_planted_after_rotation(tmp_path, user_dir):
    """logrotate renamed the log; before the HUP the user plants a link."""
    secret = root_only_file(tmp_path)
    log = LogFile(str(user_dir / "iplog"))
    log.write(T0, "before")
    log.flush()
    os.rename(user_dir / "iplog", user_dir / "iplog.1")
    plant_symlink(user_dir / "iplog", secret)
    assert log.reopen() == "it is a symbolic link"
    log.write(T0, "after")  # still written: to the file that was open
    log.close()
    assert (user_dir / "iplog.1").read_text().endswith(" after\n")
    assert secret.read_text() == "root:secret\n"


def test_new_log_is_0640_and_only_a_created_log_is_given_away(tmp_path):
    old = os.umask(0)
    try:
        log = LogFile(str(tmp_path / "new"))
    finally:
        os.umask(old)
    assert log.created and stat.S_IMODE(os.stat(tmp_path / "new").st_mode) == 0o640
    log.close()
    (tmp_path / "old").write_text("")
    log = LogFile(str(tmp_path / "old"))
    assert not log.created
    owner = os.stat(tmp_path / "old").st_uid
    log.give_to(owner + 1, None)  # not ours to give: nothing happens
    assert os.stat(tmp_path / "old").st_uid == owner
    log.close()


@needs_root
def test_a_full_disk_writes_whole_lines_and_says_what_was_lost(tmp_path):
    """A 16 KiB tmpfs: lines wait while it is full (at most MAX_WAITING bytes,
    the oldest dropped), nothing is ever cut in the middle, and when space
    returns the log says how many lines were lost before the rest."""
    mount = Path(tempfile.mkdtemp(prefix="pyiplog-full-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], check=True)
    try:
        messages = []
        log = LogFile(str(mount / "iplog"), messages.append)
        log.MAX_WAITING = 2000
        filler = mount / "filler"
        with open(filler, "wb") as fh, contextlib.suppress(OSError):
            fh.write(b"\0" * 64 * 1024)
        for i in range(1000):
            log.write(T0 + i, f"line {i:04d} " + "x" * 40)
            log.flush()
        log.flush()
        on_disk = (mount / "iplog").read_bytes()
        assert on_disk == b"" or on_disk.endswith(b"\n")  # whole lines only
        assert messages == [
            f'Warning: unable to write "{mount}/iplog": No space left on device;'
            " keeping the lines until it works again."
        ]
        filler.unlink()
        log.write(T0 + 1000, "back")
        log.flush()
        text = (mount / "iplog").read_text().splitlines()
        lost = next(x for x in text if "lines were lost" in x)
        n = int(lost.split()[3])
        assert lost.endswith(f" {n} lines were lost while the log could not be written")
        kept = [x for x in text if " line " in x]
        assert len(kept) + n == 1000 and kept[-1].endswith("line 0999 " + "x" * 40)
        assert text[-1].endswith(" back")
        assert messages[-1] == f'Writing "{mount}/iplog" works again.'
        log.close()
    finally:
        subprocess.run(["umount", str(mount)], check=False)
        mount.rmdir()


# --- the config file ------------------------------------------------------------------


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize(
    "path,message",
    [
        ("/dev/zero", 'Fatal: "/dev/zero" is not a regular file'),
        ("/tmp", 'Fatal: "/tmp" is not a regular file'),
        (
            "/nonexistent/iplog.conf",
            'Fatal: Unable to read "/nonexistent/iplog.conf": No such file or directory',
        ),
    ],
)
def test_config_that_is_no_config_file_is_fatal(path, message, check):
    """/dev/zero used to grow memory without bound; a directory or a missing
    -C file used to run on defaults (as root, no privilege drop)."""
    args = ["--check-config"] if check else ["-o", "-L", "-i", "lo", "--pid-file=/dev/null/x"]
    p = subprocess.run(
        IPLOG + ["-C", path, *args], capture_output=True, text=True, env=ENV, timeout=20
    )
    assert (p.returncode, p.stdout, p.stderr) == (255, "", message + "\n")


def test_config_fifo_and_oversized_config(tmp_path):
    fifo = tmp_path / "fifo.conf"
    os.mkfifo(fifo)  # nobody writes: must not block
    big = tmp_path / "big.conf"
    big.write_bytes(b"set " + b"a" * (1 << 20))
    for path, text in ((fifo, "is not a regular file"), (big, "is larger than 1 MB")):
        p = subprocess.run(
            IPLOG + ["--check-config", "-C", str(path)],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=20,
        )
        assert (p.returncode, p.stderr) == (255, f'Fatal: "{path}" {text}\n')


def test_config_bytes_reach_the_log_escaped_and_cut(tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_bytes(
        b"set \x00\x1b[31mred\nlog tcp from \xff\xfe.example\n"
        b"frobnicate " + b"A" * 400_000 + b"\n" + b"x" * 500_000 + b"\n"
    )
    p = subprocess.run(
        IPLOG + ["--check-config", "-C", str(conf)], capture_output=True, env=ENV, timeout=60
    )
    assert p.returncode == 1
    errors = p.stderr.decode().splitlines()
    assert errors[0] == '[line 1] Invalid "set" target: \\x00\\x1b[31mred'
    assert errors[1] == "[line 2] Unknown host: \\xff\\xfe.example"
    assert errors[2] == "[line 3] Invalid rule: frobnicate"
    assert errors[3] == "[line 4] Invalid rule: " + "x" * (300 - 14) + "..."
    assert all(len(line) <= len("[line 4] ") + 300 + 3 for line in errors)


def test_the_default_config_may_be_missing(tmp_path):
    from pyiplog.config.parser import read_config

    assert read_config(str(tmp_path / "iplog.conf")).settings == ()
    with pytest.raises(FatalError, match="No such file or directory"):
        read_config(str(tmp_path / "iplog.conf"), required=True)


@needs_root
def test_a_reload_onto_dev_zero_keeps_the_running_config(tmp_path):
    """The config replaced by a link to /dev/zero, then HUP: a warning in the
    log, memory flat, the daemon still answers TERM."""
    conf = tmp_path / "iplog.conf"
    conf.write_text("set log_dest true\n")
    log = tmp_path / "iplog.log"
    proc = on_lo(conf, log, tmp_path / "iplog.pid")
    try:
        conf.unlink()
        conf.symlink_to("/dev/zero")
        proc.send_signal(signal.SIGHUP)
        warning = f'Warning: "{conf}" is not a regular file; keeping the running configuration.'
        assert wait_for(lambda: warning in lines_of(log)), lines_of(log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        stop(proc)
    assert lines_of(log)[-1] == "Caught signal 15, exiting."


# --- reasons kept, values checked when given ---------------------------------------------


def unprivileged() -> list[str]:
    """How to run iplog without root (as nobody when the tests are root)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}", "--clear-groups"]


def test_the_default_pid_file_without_privilege_says_why():
    """`iplog` as an ordinary user, as the article's command line: the pid
    file comes first, and its error says what iplog needs."""
    p = subprocess.run(
        unprivileged() + IPLOG + ["-C", "/dev/null", "-o", "-L", "-i", "lo"],
        capture_output=True, text=True, env=ENV, cwd="/", timeout=20,
    )  # fmt: skip
    assert (p.returncode, p.stdout) == (255, "")
    assert p.stderr == (
        'Fatal: Unable to open pid file "/var/run/iplog.pid": Permission denied'
        " (iplog starts as root, or with CAP_NET_RAW and a --pid-file it may write)\n"
    )


def test_capture_without_privilege_says_why(tmp_path):
    p = subprocess.run(
        unprivileged()
        + IPLOG
        + [
            "-C",
            "/dev/null",
            "-o",
            "-L",
            "-i",
            "lo",
            "--pid-file=/tmp/pyiplog-unprivileged-test.pid",
        ],
        capture_output=True,
        text=True,
        env=ENV,
        cwd="/",
        timeout=20,
    )
    reason = "Operation not permitted: iplog needs root or CAP_NET_RAW"
    assert p.returncode == 255
    assert p.stderr == (
        f"Warning: unable to open lo: {reason}\n"
        f"Fatal: Couldn't initialize interfaces. (lo: {reason})\n"
    )


def test_an_interface_that_does_not_exist_is_named_so():
    p = subprocess.run(
        IPLOG + ["-C", "/dev/null", "-o", "-L", "-i", "nosuch0", "--pid-file=/dev/null/x"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=20,
    )
    assert (p.returncode, p.stderr) == (
        255,
        "Fatal: Couldn't initialize interfaces. (nosuch0: no such interface)\n",
    )


@pytest.mark.parametrize(
    "net,reason",
    [
        ("foo", "Unknown host: foo"),
        ("300.1.2.3/24", "Unknown host: 300.1.2.3"),
        ("192.0.2.0/33", "Invalid mask: must be in range 1 - 32"),
    ],
)
def test_bad_promisc_networks_are_refused_when_given(tmp_path, net, reason):
    text = f'Invalid promisc network "{net}": {reason}'
    p = subprocess.run(
        IPLOG + ["--check-config", "-C", "/dev/null", "-a", net],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert (p.returncode, p.stderr) == (255, f"Fatal: {text}\n")
    conf = tmp_path / "iplog.conf"
    conf.write_text(f"promisc {net}\n")
    p = subprocess.run(
        IPLOG + ["--check-config", "-C", str(conf)], capture_output=True, text=True, env=ENV
    )
    assert (p.returncode, p.stderr) == (1, f"[line 1] {text}\n")


@pytest.mark.parametrize("args", [["--check-config"], ["-h"], ["-v"]])
def test_a_closed_pipe_ends_quietly(args):
    proc = subprocess.Popen(
        IPLOG + ["-C", "/dev/null", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV
    )
    proc.stdout.close()  # `| head -0`: the reader is gone before anything is written
    err = proc.stderr.read()
    proc.wait(20)
    assert err == b""
    assert proc.returncode in (0, -signal.SIGPIPE)


# --- the start-up handshake ------------------------------------------------------------------


@needs_root
def test_detached_start_returns_once_the_daemon_runs(tmp_path, user_dir):
    pid_file, log = user_dir / "iplog.pid", user_dir / "iplog.log"
    p = run_iplog(
        "-C",
        "/dev/null",
        "-N",
        "-i",
        "lo",
        "-l",
        str(log),
        f"--pid-file={pid_file}",
        "-u",
        "nobody",
    )
    pid = int(pid_file.read_text())  # at once: no waiting for the daemon
    try:
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
        status = Path(f"/proc/{pid}/status").read_text()
        assert f"Uid:\t{NOBODY.pw_uid}\t" in status  # privileges dropped
        assert lines_of(log) == ["iplog started."]
    finally:
        os.kill(pid, signal.SIGTERM)
    assert wait_for(lambda: not pid_file.exists())


@needs_root
def test_a_daemon_that_fails_after_detaching_is_reported_by_the_start(tmp_path, user_dir):
    """Dropping privileges fails in the detached daemon: the start says why
    and fails; nothing is left running, and no pid file (in a directory of
    root's: nobody's is not the run user's here)."""
    pid_file = tmp_path / "iplog.pid"
    p = run_iplog(
        "-C",
        "/dev/null",
        "-N",
        "-i",
        "lo",
        "-l",
        str(user_dir / "log"),
        f"--pid-file={pid_file}",
        "-u",
        "4294967295",
    )
    assert (p.returncode, p.stdout) == (255, "")
    assert p.stderr == "Fatal: Unable to drop privileges: Invalid argument\n"
    assert not pid_file.exists()
    left = subprocess.run(["pgrep", "-f", f"--pid-file={pid_file}"], capture_output=True)
    assert left.stdout == b""


# --- filter rules: indexed, same first match ----------------------------------------------

ADDRS = [0, 0x0A000001, 0x0A000102, 0x0A0101FF, 0xC0000201, 0xFFFFFFFF]
MASKS = [0, 0xFF000000, 0xFFFF0000, 0xFFFFFF00, 0xFFFFFFFF]


def addr_specs():
    return st.one_of(
        st.none(),
        st.builds(AddrSpec, any=st.just(True), negate=st.booleans()),
        st.builds(
            lambda a, m, n: AddrSpec(net=a & m, mask=m, negate=n),
            st.sampled_from(ADDRS),
            st.sampled_from(MASKS[1:]),
            st.booleans(),
        ),
    )


def port_specs():
    return st.one_of(
        st.none(),
        st.builds(
            lambda lo, width, n: PortSpec(lo, lo + width, n),
            st.integers(0, 6),
            st.sampled_from([0, 0, 1, 3]),
            st.booleans(),
        ),
    )


RULES = st.lists(
    st.builds(
        FilterRule,
        action=st.sampled_from(["log", "ignore"]),
        proto=st.sampled_from(["tcp", "icmp"]),
        src=addr_specs(),
        dst=addr_specs(),
        sport=port_specs(),
        dport=port_specs(),
        icmp_type=st.one_of(st.none(), st.builds(TypeSpec, st.integers(0, 3), st.booleans())),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(
    RULES,
    st.lists(
        st.tuples(
            st.sampled_from(["tcp", "icmp"]),
            st.sampled_from(ADDRS),
            st.sampled_from(ADDRS),
            st.integers(0, 8),
            st.integers(0, 8),
            st.integers(-1, 4),
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_indexed_rules_decide_as_trying_every_rule_in_turn(rules, packets):
    filters = Filters(tuple(rules))
    for proto, src, dst, sport, dport, itype in packets:
        expected = next(
            (r for r in filters.ordered(proto) if r.matches(src, dst, sport, dport, itype)), None
        )
        assert filters.index(proto).first(src, dst, sport, dport, itype, 4) is expected
        ignored = expected is not None and expected.action == "ignore"
        assert filters.ignored(proto, src, dst, sport, dport, itype) == ignored
        # the per-packet path: the same decision from the wire's addresses
        ip = Datagram(0.0, 6, src.to_bytes(4, "big"), dst.to_bytes(4, "big"), 64, 0, 0, 0, b"")
        assert filters.index(proto).hides(ip, sport, dport, itype) == ignored


def test_ten_thousand_rules_try_a_packet_against_a_few(tmp_path):
    """10,000 rules (0.7 ms of CPU a packet when each was tried)."""
    lines = []
    for i in range(10_000):
        net = f"10.{i // 250}.{i % 250}.0/24"
        lines.append(
            [
                f"ignore tcp from {net} dport {1 + i % 5000}",
                f"log udp to {net}",
                f"ignore tcp sport {i % 60000 + 1}",
                f"ignore icmp type {i % 19} from 192.0.{i % 250}.{i // 250}",
            ][i % 4]
        )
    conf = tmp_path / "big.conf"
    conf.write_text("\n".join(lines) + "\n")
    from pyiplog.config.parser import read_config

    config = read_config(str(conf))
    assert config.errors == () and len(config.filters) == 10_000
    filters = Filters(config.filters)
    src = int.from_bytes(bytes([10, 4, 0, 9]), "big")  # rule 1000: 10.4.0.0/24 dport 1001
    dst = int.from_bytes(bytes([192, 0, 2, 10]), "big")
    for proto, sport, dport in (("tcp", 40000, 80), ("udp", 5353, 53), ("tcp", 1234, 1001)):
        assert len(filters.index(proto).candidates(src, dst, sport, dport, -1, 4)) <= 3
    assert filters.ignored("tcp", src, dst, 40000, 1001)
    assert not filters.ignored("tcp", src, dst, 40000, 1002)


# --- a reported scanner keeps its state -------------------------------------------------------


FLOOD = 400_000  # enough to turn the protected segment over (6,144 pairs seen twice)


@pytest.mark.parametrize("classic", [False, True])
def test_a_spoofed_flood_cannot_end_a_reported_scan(classic):
    """A SYN scan is reported; then 400,000 SYNs from random sources fill
    and churn the table (the scan's 'mode expired' came 2 s
    later).  It ends at its own expiry, once."""
    engine = Engine(
        Options(disable_resolver=True, scans_only=True, classic_detection=classic),
        None,
        Namer(None),
    )
    scanner = "203.0.113.66"
    for i in range(30):
        engine.feed_ip(T0 + i * 0.01, ip_tcp(src=scanner, dport=1000 + i, sport=40000))
    last_probe = T0 + 29 * 0.01
    rng = random.Random(12)
    template = ip_tcp(src="10.0.0.1", dport=80, sport=1024)
    for i in range(FLOOD):
        src = rng.getrandbits(32).to_bytes(4, "big")
        engine.feed_ip(T0 + 5 + i * 2e-5, with_source(template, src))
    engine.close()
    lines = [(ts, text) for ts, text in engine.drain() if scanner in text]
    assert len(lines) == 2
    assert lines[0][1].startswith("TCP: SYN scan detected [ports 1000,1001,")
    assert lines[1][1].startswith(f"TCP: SYN scan mode expired for {scanner} - ")
    hold = 50.0 if classic else 300.0  # the kind's timeout
    assert lines[1][0] == pytest.approx(last_probe + hold, abs=1e-3)


# --- syslog that cannot be reached ----------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_syslog_unreachable_keeps_lines_and_delivers_them_later(tmp_path):
    """No syslog daemon at start: said once; lines kept (the oldest dropped
    past the bound, and counted); delivered when the socket appears."""
    path = str(tmp_path / "log")
    said, clock = [], Clock()
    out = SyslogLog("local3", "info", path=path, on_error=said.append, clock=clock)
    out.MAX_KEPT = 5
    assert said == [
        f"Warning: syslog ({path}) cannot be reached: No such file or directory;"
        " keeping the lines until it can."
    ]
    for i in range(8):
        out.write(T0, f"line {i}")
    out.flush()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(5)
    try:
        out.flush()  # within a second of the last try: not yet
        clock.now += 1.0
        out.flush()
        got = [listener.recv(4096).decode() for _ in range(6)]
    finally:
        listener.close()
    pid = os.getpid()
    assert [g.split(f"iplog[{pid}]: ", 1)[1] for g in got] == [
        "3 lines were lost while syslog could not be reached",
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
    ]
    assert all(g.startswith("<158>") for g in got)  # local3.info
    assert said[-1] == f"Syslog ({path}) can be reached again."
    assert out.waiting == 0


def test_a_full_syslog_queue_does_not_block(tmp_path):
    path = str(tmp_path / "log")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    try:
        out = SyslogLog(path=path)
        for i in range(5000):  # far more than the socket's queue holds
            out.write(T0, f"line {i} " + "x" * 200)
        out.flush()  # returns at once, the rest kept
        assert 0 < out.waiting < 5000
        received = 0
        listener.settimeout(0.2)
        with contextlib.suppress(TimeoutError):
            while True:
                listener.recv(4096)
                received += 1
        out.flush()
        assert received + out.waiting <= 5000 and out.waiting < 5000 - received
    finally:
        listener.close()


@needs_root
def test_daemon_with_no_syslog_at_start_warns_and_delivers_later(tmp_path):
    """/dev/log missing (a private mount namespace): the start says so, the
    lines wait, and reach the socket once it is there."""
    work = Path(tempfile.mkdtemp(prefix="pyiplog-syslog-"))
    sock_path = work / "devlog"
    command = (
        f"{sys.executable} -m pyiplog -C /dev/null -N -o -i lo --facility=local3"
        f" --priority=info --pid-file={work}/iplog.pid"
    )
    proc = subprocess.Popen(
        private_dev(work, command),
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        warning = proc.stderr.readline()
        assert warning == (
            "Warning: syslog (/dev/log) cannot be reached: No such file or"
            " directory; keeping the lines until it can.\n"
        )
        port = free_port()
        syn_to_localhost(port)
        time.sleep(0.5)
        listener.bind(str(sock_path))
        listener.settimeout(10)
        subprocess.run(  # in the daemon's own mount namespace
            [
                "nsenter",
                "-t",
                str(proc.pid),
                "-m",
                "sh",
                "-c",
                f"touch /dev/log && mount --bind {sock_path} /dev/log",
            ],
            check=True,
        )
        got = [listener.recv(4096).decode().split("]: ", 1)[1] for _ in range(2)]
        assert got[0] == "iplog started."
        assert got[1].startswith(f"TCP: port {port} connection attempt from 127.0.0.1:")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        listener.close()
        shutil.rmtree(work, ignore_errors=True)


@needs_root
def test_foreground_stdout_into_a_closed_pipe_ends_quietly(tmp_path):
    proc = subprocess.Popen(
        IPLOG + ["-C", "/dev/null", "-N", "-o", "-L", "-i", "lo", f"--pid-file={tmp_path}/p"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    assert proc.stdout.readline().endswith(b" iplog started.\n")
    proc.stdout.close()  # `| head -1`
    syn_to_localhost(free_port())  # a line to write, into the closed pipe
    assert proc.wait(10) == -signal.SIGPIPE
    assert proc.stderr.read() == b""


@needs_root
def test_a_pid_file_the_run_user_cannot_remove_is_emptied_quietly(tmp_path):
    """Under systemd the pid file sits in root's /run: the unprivileged
    daemon empties it at exit (no "Couldn't unlink" at every stop)."""
    pid_file = PidFile(str(tmp_path / "iplog.pid"))
    pid_file.acquire()
    pid_file.write(os.getpid())
    child = os.fork()
    if child == 0:
        os.setuid(NOBODY.pw_uid)
        os._exit(0 if pid_file.remove() is None else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
    assert (tmp_path / "iplog.pid").read_text() == ""
    pid_file.remove()


def test_the_flood_lane_filter_is_bounded_whatever_the_floods():
    """However many floods a sender opens (docs/contract.md C3), the lane's
    filter names at most MAX_LANE_FLOODS terms: a host's floods folded into
    one term beyond that, then only the largest; each compiles in libpcap
    with the main capture's filter, for either family."""
    import pcap

    from pyiplog.capture import MAX_LANE_FLOODS, flood_terms, live_filter

    v4, v6 = bytes([198, 51, 100, 2]), bytes.fromhex("20010db8000000000000000000000002")
    one_port = [("tcp", v4, 80, 5000), ("udp", v6, 53, 10), ("icmp", v6, None, 7)]
    assert flood_terms(one_port) == (
        "(dst host 2001:db8::2 and (icmp or icmp6))",
        "(dst host 198.51.100.2 and tcp dst port 80)",
        "(dst host 2001:db8::2 and udp dst port 53)",
    )
    many_ports = [("udp", v4, port, port) for port in range(1, 1001)]
    assert flood_terms(many_ports + one_port[:1]) == (
        "(dst host 198.51.100.2 and tcp dst port 80)",  # alone at its host: kept as it is
        "(dst host 198.51.100.2 and udp)",
    )
    many_hosts = [("tcp", bytes([192, 0, 2, n]), 80, n) for n in range(1, 201)]
    terms = flood_terms(many_hosts)
    assert len(terms) == MAX_LANE_FLOODS
    assert terms == tuple(f"(dst host 192.0.2.{n} and tcp dst port 80)" for n in range(193, 201))
    main = live_filter(["tcp", "udp", "icmp"], [v4, v6], answers=True)
    for floods in (one_port, many_ports, many_hosts):
        either = " or ".join(flood_terms(floods))
        for text in (f"({main}) and not ({either})", f"({main}) and ({either})"):
            pcap.bpf(text.encode())  # raises on a filter libpcap cannot compile
