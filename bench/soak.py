"""Soak: the live daemon under random-source floods, as root.

    python bench/soak.py [--seconds 90] [--rate 20000] [--kinds tcp,udp,icmp,frag] [--json]
    python bench/soak.py --kinds tcp6,udp6,icmp6,frag6     # the same over IPv6

For each kind of flood it makes two network namespaces joined by a veth
pair (192.0.2.1 and 2001:db8:5::1, where iplog runs on its veth end with
the default options and name lookups on; 192.0.2.2 and 2001:db8:5::2, the
attacker), floods the target (IPv6 kinds: its IPv6 address, from random
sources of 3fff::/20, RFC 9637's documentation prefix) for the
given time from random spoofed sources (no route leads anywhere else: the
target's answers to the spoofed sources are dropped where they start), runs
a real nmap SYN scan from 192.0.2.2 half-way through, and samples iplog's
resident memory every second.  It prints, per kind: packets sent, peak and
last RSS, whether the scan was reported and whether its state ended early
(a 'mode expired' line for 192.0.2.2 while the flood ran).  Every packet
goes only between the two namespaces it made; they are removed at the end.
Not a test (tests/test_soak.py runs it for a few seconds per kind).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET, ATTACKER = "192.0.2.1", "192.0.2.2"
TARGET6, ATTACKER6 = "2001:db8:5::1", "2001:db8:5::2"
KINDS = ("tcp", "udp", "icmp", "frag")  # the default; each with "6" after it over IPv6

# The flood, run in the attacker's namespace: raw IPv4 datagrams from random
# sources to TARGET at RATE a second for SECONDS, at most RATE * SECONDS.
SENDER = r"""
import random, socket, struct, sys, time
kind, target, rate, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
dst = socket.inet_aton(target)
rng = random.Random(2001)
def checksum(data):
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total & 0xFFFF) + (total >> 16)
    return ~((total & 0xFFFF) + (total >> 16)) & 0xFFFF
def datagram(i):
    src = rng.getrandbits(32).to_bytes(4, "big")
    flags, proto = 0, 6
    if kind == "tcp":
        body = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65536), 80, i, 0, 0x50, 0x02,
                           65535, 0, 0)
    elif kind == "udp":
        proto = 17
        body = struct.pack("!HHHH", rng.randrange(1024, 65536), rng.randrange(1, 65536), 18,
                           0) + b"u" * 10
    elif kind == "icmp":
        proto = 1
        head = struct.pack("!BBHHH", 8, 0, 0, rng.randrange(65536), i & 0xFFFF) + b"p" * 56
        body = head[:2] + struct.pack("!H", checksum(head)) + head[4:]
    else:  # the first fragment of a datagram that never completes
        proto, flags = 17, 0x2000
        body = struct.pack("!HHHH", 4000, 53, 1008, 0) + b"f" * 64
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), i & 0xFFFF, flags, 64, proto,
                       0, src, dst)
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + body
total = int(rate * seconds)
start = time.monotonic()
sent = 0
while sent < total:
    due = start + sent / rate
    ahead = due - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)
    for _ in range(min(100, total - sent)):
        sock.sendto(datagram(sent), (target, 0))
        sent += 1
print(sent, flush=True)
"""

# The same over IPv6: raw packets with their IPv6 header (IPPROTO_RAW), from
# random sources of 3fff::/20 (no route leads there from the target).
SENDER6 = SENDER.replace(
    "sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)",
    "sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)",
).replace("dst = socket.inet_aton(target)", "dst = socket.inet_pton(socket.AF_INET6, target)")
SENDER6 = (
    SENDER6[: SENDER6.index("def datagram(i):")]
    + r"""
def datagram(i):
    src = bytes.fromhex("3fff") + rng.getrandbits(112).to_bytes(14, "big")
    if kind == "tcp":
        nh, body = 6, struct.pack("!HHIIBBHHH", rng.randrange(1024, 65536), 80, i, 0, 0x50, 0x02,
                                  65535, 0, 0)
    elif kind == "udp":
        nh, body = 17, struct.pack("!HHHH", rng.randrange(1024, 65536), rng.randrange(1, 65536),
                                   18, 0) + b"u" * 10
    elif kind == "icmp":
        nh = 58
        body = struct.pack("!BBHHH", 128, 0, 0, rng.randrange(65536), i & 0xFFFF) + b"p" * 56
    else:  # the first fragment of a packet that never completes
        nh = 44
        body = struct.pack("!BBHI", 17, 0, 1, i) + struct.pack("!HHHH", 4000, 53, 1008, 0)
        body += b"f" * 64
    return struct.pack("!IHBB16s16s", 0x60000000, len(body), nh, 64, src, dst) + body
"""
    + SENDER6[SENDER6.index("total = int(rate * seconds)") :]
)


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, **kw)


class Pair:
    """Two namespaces joined by a veth pair; removed on exit."""

    def __init__(self, tag: str):
        self.target, self.attacker = f"soak-t{tag}", f"soak-a{tag}"
        self.t_if, self.a_if = f"soakt{tag}", f"soaka{tag}"

    def __enter__(self) -> Pair:
        try:
            run("ip", "netns", "add", self.target)
            run("ip", "netns", "add", self.attacker)
            run("ip", "link", "add", self.t_if, "type", "veth", "peer", "name", self.a_if)
            run("ip", "link", "set", self.t_if, "netns", self.target)
            run("ip", "link", "set", self.a_if, "netns", self.attacker)
            for ns, dev, addr, addr6 in (
                (self.target, self.t_if, TARGET, TARGET6),
                (self.attacker, self.a_if, ATTACKER, ATTACKER6),
            ):
                run("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
                run("ip", "-n", ns, "addr", "add", f"{addr6}/64", "dev", dev, "nodad")
                run("ip", "-n", ns, "link", "set", dev, "up")
                run("ip", "-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for ns in (self.target, self.attacker):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def exec(self, ns: str, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *cmd]


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(x.split()[1]) for x in fh if x.startswith("VmRSS:")), 0)
    except OSError:
        return 0


def soak(kind: str, seconds: float, rate: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ipv6 = kind.endswith("6")
    target, attacker = (TARGET6, ATTACKER6) if ipv6 else (TARGET, ATTACKER)
    log = work / f"{kind}.log"
    with Pair(f"{os.getpid() % 10000}{kind[0]}") as pair:
        daemon = subprocess.Popen(
            pair.exec(
                pair.target,
                sys.executable,
                "-m",
                "pyiplog",
                "-C",
                "/dev/null",
                "-o",
                "-i",
                pair.t_if,
                "-l",
                str(log),
                f"--pid-file={work}/{kind}.pid",
            ),
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while "iplog started." not in (log.read_text() if log.exists() else ""):
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise SystemExit(f"iplog did not start: {daemon.stderr.read()}")
                time.sleep(0.05)
            idle = rss_kb(daemon.pid)
            sender = subprocess.Popen(
                pair.exec(
                    pair.attacker,
                    sys.executable,
                    "-c",
                    SENDER6 if ipv6 else SENDER,
                    kind.removesuffix("6"),
                    target,
                    str(rate),
                    str(seconds),
                ),
                stdout=subprocess.PIPE,
                text=True,
            )
            samples, scan, started = [], None, time.monotonic()
            while sender.poll() is None:
                samples.append(rss_kb(daemon.pid))
                if scan is None and time.monotonic() - started >= seconds / 2:
                    scan = subprocess.Popen(
                        pair.exec(
                            pair.attacker,
                            "nmap",
                            *(["-6"] if ipv6 else []),
                            *("-n", "-Pn", "-sS", "-T4", "-p", "1-200", target),
                        ),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                time.sleep(1.0)
            sent = int(sender.stdout.read().strip() or 0)
            if scan is not None:
                scan.wait(120)
            time.sleep(4)  # unanswered probes wait 3 s before they count
            samples.append(rss_kb(daemon.pid))
            # Read before the stop, which ends every scan still open.
            lines = log.read_text(errors="replace").splitlines()
        finally:
            daemon.terminate()
            daemon.wait(20)
    return {
        "kind": kind,
        "seconds": seconds,
        "sent": sent,
        "idle_rss_mb": round(idle / 1024, 1),
        "peak_rss_mb": round(max(samples) / 1024, 1),
        "last_rss_mb": round(samples[-1] / 1024, 1),
        "scan_reported": any("SYN scan detected" in x and f"from {attacker} " in x for x in lines),
        "scan_ended_early": any(f"expired for {attacker} " in x for x in lines),
        "lines": len(lines),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--rate", type=int, default=20000, help="flood packets a second")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json", action="store_true", help="one JSON object per kind")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("soak.py needs root (network namespaces, raw sockets)")
    work = Path(tempfile.mkdtemp(prefix="pyiplog-soak-"))
    try:
        for kind in args.kinds.split(","):
            result = soak(kind, args.seconds, args.rate, work)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(
                    f"{kind:5} {result['sent']:>9,} packets in {args.seconds:.0f} s:"
                    f" RSS idle {result['idle_rss_mb']} MB, peak {result['peak_rss_mb']} MB,"
                    f" last {result['last_rss_mb']} MB; scan reported"
                    f" {result['scan_reported']}, ended early {result['scan_ended_early']};"
                    f" {result['lines']} lines",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
