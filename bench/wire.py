"""What a random-source flood makes iplog ask and write (as root).

    python bench/wire.py [--seconds S] [--code DIR] [--kinds syn,udp,icmp]

Two network namespaces joined by a veth pair, made here and removed at the
end: a real dnsmasq in the target namespace B answers (and logs) the
daemon's PTR queries; iplog runs there with names on (the defaults, a log
file); hping3 in A floods B from random spoofed sources as fast as it can
(``--flood``) for S seconds (default 5), one kind after the other: SYNs to
port 80, UDP to port 53, ICMP echo requests.  B routes only into A, where
anything sent to a spoofed address dies.  Per kind it prints packets
seen, PTR queries (per second of flood) and log bytes (per second of
flood), and the log's lines by kind.

``--code DIR`` runs the daemon of another checkout (``git worktree add
DIR REV``) under the same harness: before and after a change.  Not a test:
the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
A, B = "pyiplog-wire-a", "pyiplog-wire-b"
A_IF, B_IF = "pwirea", "pwireb"
A_ADDR, B_ADDR = "198.51.100.1", "198.51.100.2"
FLOODS = {
    "syn": ["-S", "-p", "80"],
    "udp": ["--udp", "-p", "53"],
    "icmp": ["--icmp"],
}


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def namespaces_up() -> None:
    namespaces_down()
    for cmd in (
        ["ip", "netns", "add", A],
        ["ip", "netns", "add", B],
        ["ip", "link", "add", A_IF, "type", "veth", "peer", "name", B_IF],
        ["ip", "link", "set", A_IF, "netns", A],
        ["ip", "link", "set", B_IF, "netns", B],
        ["ip", "-n", A, "addr", "add", f"{A_ADDR}/24", "dev", A_IF],
        ["ip", "-n", B, "addr", "add", f"{B_ADDR}/24", "dev", B_IF],
        ["ip", "-n", A, "link", "set", A_IF, "up"],
        ["ip", "-n", B, "link", "set", B_IF, "up"],
        ["ip", "-n", B, "link", "set", "lo", "up"],
        ["ip", "-n", B, "route", "add", "default", "via", A_ADDR],
    ):
        sh(*cmd)
    folder = Path("/etc/netns") / B
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "resolv.conf").write_text(f"nameserver {B_ADDR}\noptions attempts:1\n")


def namespaces_down() -> None:
    for ns in (A, B):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    folder = Path("/etc/netns") / B
    if folder.exists():
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


def in_ns(ns: str, *cmd: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], **kw)


def kind_of(line: str) -> str:
    text = line[16:]
    for key in ("distributed", "connection attempt", "dgram to", "ICMP: echo", "started"):
        if key in text:
            return key
    return text[:30]


def run(kind: str, seconds: float, code: Path, work: Path) -> dict:
    queries = work / f"dnsmasq-{kind}.log"
    log = work / f"iplog-{kind}.log"
    dnsmasq = in_ns(
        B, "dnsmasq", "-d", "-k", "-C", "/dev/null", f"--listen-address={B_ADDR}",
        "--bind-interfaces", "--no-resolv", "--no-hosts", "--log-queries",
        f"--log-facility={queries}", f"--pid-file={work}/dnsmasq.pid", "--user=root",
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(code)}  # and cwd: python -m looks there first
    daemon = in_ns(
        B, sys.executable, "-m", "pyiplog", "-C", "/dev/null", "-o", "-i", B_IF,
        "-l", str(log), f"--pid-file={work}/iplog.pid", env=env, cwd=code,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (log.exists() and log.stat().st_size):
            time.sleep(0.05)
        time.sleep(0.5)
        sender = in_ns(
            A, "hping3", *FLOODS[kind], "--rand-source", "--flood", B_ADDR,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(seconds)
        sender.send_signal(signal.SIGINT)
        sender.wait(10)
        time.sleep(3)  # the lookups in flight, the flood's end line
        daemon.send_signal(signal.SIGUSR1)
        time.sleep(1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
        dnsmasq.terminate()
        dnsmasq.wait(10)
    lines = log.read_text(errors="replace").splitlines()
    seen = next((x for x in lines if "Statistics for" in x), "")
    packets = int(seen.split("Statistics for")[1].split(": ")[1].split()[0]) if seen else 0
    ptr = queries.read_text().count("query[PTR]") if queries.exists() else 0
    return {
        "kind": kind,
        "packets": packets,
        "ptr": ptr,
        "ptr_per_s": round(ptr / seconds),
        "log_bytes": log.stat().st_size,
        "log_bytes_per_s": round(log.stat().st_size / seconds),
        "lines": dict(collections.Counter(kind_of(x) for x in lines).most_common(6)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--code", type=Path, default=HERE.parent)
    parser.add_argument("--kinds", default="syn,udp,icmp")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/wire.py needs root (network namespaces)", file=sys.stderr)
        return 1
    namespaces_up()
    try:
        with tempfile.TemporaryDirectory(prefix="pyiplog-wire-") as work:
            for kind in args.kinds.split(","):
                result = run(kind, args.seconds, args.code.resolve(), Path(work))
                print(result, flush=True)
    finally:
        namespaces_down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
