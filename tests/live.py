"""Helpers for live tests: running the daemon, network namespaces, waiting.

Network safety: traffic goes only to 127.0.0.1, or between two network
namespaces made here (a veth pair with both ends inside them), in bounded
counts; everything made is removed again.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IPLOG = [sys.executable, "-m", "pyiplog"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

ROOT_MARKS = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (live capture, namespaces, setuid)"),
]


def needs_root(test):
    """Marks a test ``root`` (``pytest -m "not root"`` leaves it out) and
    skips it, saying why, when not run as root."""
    for mark in ROOT_MARKS:
        test = mark(test)
    return test


def needs_tools(*tools):
    missing = [t for t in tools if shutil.which(t) is None]
    return pytest.mark.skipif(
        bool(missing), reason=f"needs {', '.join(missing)} installed (make test installs them)"
    )


_MEASURE = """
import os, subprocess, sys, time
def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(x.split()[1]) for x in fh if x.startswith("VmRSS:")), 0)
    except OSError:
        return 0
def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
together = 0
while True:
    pid, status, usage = os.wait4(child.pid, os.WNOHANG)
    if pid:
        break
    together = max(together, sum(rss(p) for p in (child.pid, *children(child.pid))))
    time.sleep(0.05)
print(os.waitstatus_to_exitcode(status), max(usage.ru_maxrss, together))
"""


def peak_rss(cmd) -> tuple[int, float, str]:
    """Run ``cmd``; (exit status, its peak RSS in MB, stderr).

    The peak is the larger of the largest process's (exact) and that of
    the command's processes together (sampled every 0.05 s): ``iplog -r``
    reads in a child process.  Measured from a small intermediate process:
    a child forked straight from pytest starts with pytest's pages counted
    in its peak RSS.
    """
    p = subprocess.run(
        [sys.executable, "-c", _MEASURE, *cmd], capture_output=True, text=True, env=ENV
    )
    status, rss = p.stdout.split()
    return int(status), int(rss) / 1024, p.stderr


def wait_for(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def lines_of(path) -> list[str]:
    try:
        return [line[16:] for line in Path(path).read_text().splitlines()]
    except FileNotFoundError:
        return []


def has_line(path, text):
    return lambda: text in lines_of(path)


def run_iplog(*args) -> subprocess.CompletedProcess:
    """iplog with these arguments, to its end (it detaches unless -o)."""
    return subprocess.run(IPLOG + list(args), capture_output=True, text=True, env=ENV, timeout=30)


def on_lo(config, log, pid_file, *args) -> subprocess.Popen:
    """The daemon in the foreground on lo, returned once "iplog started." is
    in ``log`` (its stderr is a pipe for the test to read)."""
    proc = subprocess.Popen(
        IPLOG
        + [
            "-C",
            str(config),
            "-N",
            "-o",
            "-i",
            "lo",
            "-l",
            str(log),
            f"--pid-file={pid_file}",
            *args,
        ],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if not wait_for(has_line(log, "iplog started."), 10):
        stop(proc)
        pytest.fail(f"iplog did not start: {proc.stderr.read()}")
    return proc


def stop(proc: subprocess.Popen) -> None:
    """TERM, then KILL after 10 s; nothing when it has already exited."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def syn_to_localhost(port: int) -> None:
    """One connection attempt to a closed port on 127.0.0.1 (answered by RST)."""
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    finally:
        s.close()


def free_port() -> int:
    """A loopback TCP port nobody listens on (for a refused connection)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def private_dev(workdir, command: str, dev_log=None) -> list[str]:
    """argv running the shell ``command`` in a private mount namespace whose
    /dev holds only null, zero, full, random and urandom, and with
    ``dev_log`` (a socket's path) that socket as /dev/log."""
    log = f'touch "$d/log"\nmount --bind {dev_log} "$d/log"\n' if dev_log else ""
    script = (
        f'set -e\nd={workdir}/dev\nmkdir "$d"\nmount -t tmpfs tmpfs "$d"\n'
        'for f in null zero full random urandom; do touch "$d/$f";'
        ' mount --bind "/dev/$f" "$d/$f"; done\n'
        f'{log}mount --rbind "$d" /dev\nexec {command}\n'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Namespaces:
    """Two network namespaces joined by a veth pair: attacker A, target B."""

    A_ADDR, B_ADDR = "198.51.100.1", "198.51.100.2"
    A_ADDR6, B_ADDR6 = "2001:db8::1", "2001:db8::2"  # with ipv6=True

    def __init__(self, ipv6: bool = False):
        tag = f"{os.getpid() % 100000}"
        self.a, self.b = f"pyiplog-a{tag}", f"pyiplog-b{tag}"
        self.a_if, self.b_if = f"pyia{tag}", f"pyib{tag}"
        self.ipv6 = ipv6

    def __enter__(self):
        for cmd in (
            ["ip", "netns", "add", self.a],
            ["ip", "netns", "add", self.b],
            ["ip", "link", "add", self.a_if, "type", "veth", "peer", "name", self.b_if],
            ["ip", "link", "set", self.a_if, "netns", self.a],
            ["ip", "link", "set", self.b_if, "netns", self.b],
            ["ip", "-n", self.a, "addr", "add", f"{self.A_ADDR}/24", "dev", self.a_if],
            ["ip", "-n", self.b, "addr", "add", f"{self.B_ADDR}/24", "dev", self.b_if],
            ["ip", "-n", self.a, "link", "set", self.a_if, "up"],
            ["ip", "-n", self.b, "link", "set", self.b_if, "up"],
            ["ip", "-n", self.a, "link", "set", "lo", "up"],
            ["ip", "-n", self.b, "link", "set", "lo", "up"],
            *(
                [
                    [
                        "ip",
                        "-n",
                        self.a,
                        "addr",
                        "add",
                        f"{self.A_ADDR6}/64",
                        "dev",
                        self.a_if,
                        "nodad",
                    ],
                    [
                        "ip",
                        "-n",
                        self.b,
                        "addr",
                        "add",
                        f"{self.B_ADDR6}/64",
                        "dev",
                        self.b_if,
                        "nodad",
                    ],
                ]
                if self.ipv6
                else []
            ),
        ):
            try:
                subprocess.run(cmd, check=True, capture_output=True)
            except subprocess.CalledProcessError:
                self.__exit__()
                raise
        return self

    def __exit__(self, *exc):
        for ns in (self.a, self.b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def in_a(self, *cmd, **kw):
        return subprocess.run(["ip", "netns", "exec", self.a, *cmd], **kw)

    def popen_b(self, *cmd, **kw):
        return subprocess.Popen(["ip", "netns", "exec", self.b, *cmd], **kw)


@contextlib.contextmanager
def daemon_in_b(ns, workdir, *extra, config="/dev/null", name="live", resolve=False):
    """iplog in the target namespace on its veth end, foreground, names not
    resolved unless ``resolve``; yields its log (``name``.log) and its
    process.  Two at once need two names."""
    log = workdir / f"{name}.log"
    daemon = ns.popen_b(
        *IPLOG,
        "-C",
        str(config),
        *(() if resolve else ("-N",)),
        "-o",
        "-i",
        ns.b_if,
        *extra,
        "-l",
        str(log),
        f"--pid-file={workdir}/{name}.pid",
        env=ENV,
    )
    try:
        assert wait_for(has_line(log, "iplog started."))
        yield log, daemon
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)


def analysed(capture, *args: str) -> list[str]:
    """``iplog -C /dev/null -N ARGS -r CAPTURE`` in this process: its lines."""
    from pyiplog import cli

    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["-C", "/dev/null", "-N", *args, "-r", str(capture)]) == 0
    return out.getvalue().splitlines()
