"""Live benchmark (as root): the daemon capturing a replayed trace.

    python bench/live.py [--trace synflood|udpflood|icmpflood|mixed|mixed6 | --pcap FILE]
                         [--rates 100000,200000,...|top] [--runs N] [--seconds S]
                         [--classic] [--buffer MB] [--metrics] [--scan]
                         [--rules N] [--hup] [--daemon "CMD -i {iface} -l {log}"]

Two network namespaces joined by a veth pair, made here and removed at the
end: tcpreplay in the sender's replays a bench/gen.py trace at a fixed rate
(``top``: as fast as it can) onto the veth; iplog in the other one (which
holds the trace's server address, 192.0.2.10, and mixed6's, 2001:db8:1::10)
captures it.  Daemon and sender are pinned to different CPUs.  Per rate
and run it prints: packets sent (and the rate tcpreplay reached), seen by
iplog, dropped by the kernel (and of them in the flood lane's ring, from
``iplog --status``), lines written against the lines ``iplog -r`` writes
for the trace retimed to that rate (the packets the daemon saw), the lag
from the last packet sent to the last line written, CPU seconds per million packets, the rate
from the first packet sent to the last line, and the daemon's peak RSS
(and its RSS before any traffic).

The SYN-flood trace gives a line per packet with --classic (2.2.3's
counting; the default folds such a flood into one alarm), the worst case
for output.  ``--rates top --buffer 512`` measures the daemon's own ceiling
where the sender cannot outrun it: the whole trace waits in a 512 MB
capture ring (no drops) and the rate to the last line is how fast the
daemon gets through it.

``--scan``: a real ``nmap -sS -p 1-100`` from the sender's namespace
(198.51.100.1) runs inside the replay, starting 0.3 s into it; each run
then says whether the daemon named the scanner (``scanner_named``) and the
packets its scan line counted (``scanner_packets``, from the end line
written at the daemon's stop).  The flood traces (synflood, udpflood,
icmpflood: random sources) make the flood it hides in.

``--rules N``: the daemon reads a configuration of N ``ignore tcp dport P``
rules (none of them the trace's port 80); ``--hup``: it gets a SIGHUP one
second into the replay and reads and parses it again while the flood goes
on (compare the kernel drops with the same runs without ``--hup``).

``--pcap FILE`` replays a trace of one's own instead (all of it at each
rate), its server address the namespace's, 192.0.2.10: rewrite another
with tcpreplay's ``tcprewrite --dstipmap=OLD/32:192.0.2.10/32 --fixcsum``.

``--daemon CMD`` runs another daemon under the same harness (the C
original built by hand, say): CMD is split like a shell's words, with
``{iface}`` and ``{log}`` filled in, and must stay in the foreground and
log to that file.  Its kernel drops and packets seen are not known (they
come from pyiplog's USR1 line): only lines, lag, CPU, RSS and the scanner.
Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import signal
import struct
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
IPLOG = [sys.executable, "-m", "pyiplog"]
ENV = {**os.environ, "PYTHONPATH": str(HERE.parent)}  # this checkout's pyiplog, run from it
SERVER = "192.0.2.10"  # bench/gen.py's destination
SERVER6 = "2001:db8:1::10"  # and the mixed6 trace's
A, B = "pyiplog-live-a", "pyiplog-live-b"
A_IF, B_IF = "plivea", "pliveb"


def sh(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def namespaces_up() -> None:
    namespaces_down()
    sh("ip", "netns", "add", A)
    sh("ip", "netns", "add", B)
    sh("ip", "link", "add", A_IF, "type", "veth", "peer", "name", B_IF)
    sh("ip", "link", "set", A_IF, "netns", A)
    sh("ip", "link", "set", B_IF, "netns", B)
    sh("ip", "-n", A, "addr", "add", "198.51.100.1/24", "dev", A_IF)
    sh("ip", "-n", B, "addr", "add", f"{SERVER}/24", "dev", B_IF)
    sh("ip", "-n", B, "addr", "add", f"{SERVER6}/64", "dev", B_IF, "nodad")
    for ns, dev in ((A, A_IF), (B, B_IF), (A, "lo"), (B, "lo")):
        sh("ip", "-n", ns, "link", "set", dev, "up")
    # --scan: nmap from A's address to the server, on the same link
    sh("ip", "-n", A, "route", "add", "192.0.2.0/24", "dev", A_IF)
    sh("ip", "-n", B, "route", "add", "198.51.100.0/24", "dev", B_IF)


def namespaces_down() -> None:
    for ns in (A, B):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def trace(kind: str, packets: int) -> Path:
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{kind}-{packets}.pcap"
    if not path.exists():
        sh(sys.executable, str(HERE / "gen.py"), kind, str(path), str(packets))
    return path


def retimed(path: Path, rate: float) -> tuple[Path, float]:
    """The trace with its packets ``1/rate`` seconds apart, as tcpreplay
    sends them: what the daemon sees, for ``iplog -r`` to say what it should
    write (a flood's alarm, and the lines it folds, depend on the rate)."""
    out = path.with_name(f"{path.stem}-at-{round(rate)}.pcap")
    data = path.read_bytes()
    chunks, at, i = [data[:24]], 24, 0
    start = struct.unpack_from("<I", data, at)[0]
    while at + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        when = start + i / rate
        sec, usec = int(when), round((when - int(when)) * 1e6)
        if usec == 1_000_000:
            sec, usec = sec + 1, 0
        chunks.append(struct.pack("<II", sec, usec) + data[at + 8 : at + 16 + caplen])
        at += 16 + caplen
        i += 1
    out.write_bytes(b"".join(chunks))
    return out, start + (i - 1) / rate


QUIET = 2.0  # seconds without a new line after the replay: the daemon is done


def expected_lines(path: Path, extra: list[str], last: float) -> int:
    """The lines ``iplog -r`` writes for the trace until shortly after its
    last packet at ``last`` (what the daemon writes before it is stopped:
    not the scans ``-r`` closes at the end of the file, which a running
    daemon keeps open), without its first line; counted in its JSON form,
    for the times, without the events the text has no line for."""
    out = subprocess.run(
        [*IPLOG, "-C", "/dev/null", "-N", "--json", *extra, "-r", str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parent,
        env=ENV,
    ).stdout
    records = [json.loads(line) for line in out.splitlines()[1:]]
    # JSON's probe_failed events have no line in the text log the daemon writes.
    times = [r["time"] for r in records if r.get("event") != "probe_failed"]
    until = last + QUIET * 0.75
    return sum(datetime.fromisoformat(t).timestamp() <= until for t in times)


def status(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood_lane_drops(pid_file: Path) -> int | None:
    """Of the daemon's kernel drops, its flood lane's (``iplog --status``)."""
    out = subprocess.run(
        [*IPLOG, "--status", "--json", f"--pid-file={pid_file}"],
        capture_output=True,
        text=True,
        cwd=HERE.parent,
        env=ENV,
    )
    if out.returncode != 0:
        return None
    return sum(i["lane_drops"] for i in json.loads(out.stdout)["interfaces"])


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def daemon_pid(launcher: subprocess.Popen) -> int:
    """The python process under ``ip netns exec`` and ``taskset`` (which
    exec it in place; its own children, such as the config parser, are not
    it)."""
    for _ in range(100):
        comm = Path(f"/proc/{launcher.pid}/comm").read_text().strip()
        if comm.startswith("python"):
            return launcher.pid
        children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
        pids = children.read_text().split() if children.exists() else []
        if pids:
            return int(pids[0])
        time.sleep(0.05)
    raise RuntimeError("iplog did not start")


SCANNER = "198.51.100.1"


def one_run(
    path: Path,
    rate: str,
    extra: list[str],
    cpus: tuple[int, int],
    work: Path,
    scan: bool = False,
    daemon: str | None = None,
    rules: int = 0,
    hup: bool = False,
) -> dict:
    log = work / "live.log"
    log.unlink(missing_ok=True)
    config = "/dev/null"
    if rules:
        conf = work / "rules.conf"
        conf.write_text("".join(f"ignore tcp dport {p}\n" for p in range(1000, 1000 + rules)))
        config = str(conf)
    if daemon is None:
        command = [
            *IPLOG, "-C", config, "-N", "-o", "-i", B_IF, *extra,
            "-l", str(log), f"--pid-file={work}/iplog.pid",
        ]  # fmt: skip
    else:
        command = shlex.split(daemon.format(iface=B_IF, log=log))
    argv = ["ip", "netns", "exec", B, "taskset", "-c", str(cpus[0]), *command]
    launcher = subprocess.Popen(
        argv,
        cwd=HERE.parent,
        env=ENV,
        stderr=subprocess.PIPE,
        text=True,
    )
    result: dict = {}
    try:
        pid = daemon_pid(launcher) if daemon is None else launcher.pid
        deadline = time.monotonic() + 10
        while (not log.exists() or count_lines(log) < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        idle_rss = status(pid, "VmRSS")
        cpu0 = cpu_seconds(pid)
        speed = ["--topspeed"] if rate == "top" else [f"--pps={rate}"]
        send_start = time.monotonic()
        replay = subprocess.Popen(
            ["ip", "netns", "exec", A, "taskset", "-c", str(cpus[1]),
             "tcpreplay", "-q", "-i", A_IF, *speed, str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        if hup:
            time.sleep(1.0)
            os.kill(pid, signal.SIGHUP)
        scanner = None
        if scan:
            time.sleep(0.3)
            scanner = subprocess.Popen(
                ["ip", "netns", "exec", A, "nmap", "-n", "-Pn", "-sS", "-p", "1-100", SERVER],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
        out, _ = replay.communicate()
        sender = subprocess.CompletedProcess(replay.args, replay.returncode, out)
        sent_at = time.monotonic()
        if scanner is not None:
            scanner.wait(300)
        # "Actual: N packets (...)", "Rated: B Bps, M Mbps, P pps"
        sent = int(re.search(r"Actual: (\d+) packets", sender.stdout).group(1))
        pps = float(re.search(r"Rated: .*?([\d.]+) pps", sender.stdout).group(1))
        lines, last_change = count_lines(log), sent_at
        while time.monotonic() - last_change < QUIET:
            time.sleep(0.05)
            now_lines = count_lines(log)
            if now_lines != lines:
                lines, last_change = now_lines, time.monotonic()
        cpu = cpu_seconds(pid) - cpu0
        seen = drops = lane_drops = None
        if daemon is None:
            os.kill(pid, signal.SIGUSR1)
            time.sleep(0.5)
            stats = [x for x in log.read_text().splitlines() if "Statistics for" in x][-1]
            words = stats.split()
            seen = int(words[words.index("packets") - 1])
            drops = int(words[words.index("dropped") - 1])
            lane_drops = flood_lane_drops(work / "iplog.pid")
        if scan:
            result["scanner_named"] = any(
                "SYN scan detected" in x and f"from {SCANNER}" in x
                for x in log.read_text(errors="replace").splitlines()
            )
        result.update(
            {
                "rate": rate,
                "sent": sent,
                "seen": seen,
                "kernel_drops": drops,
                "lane_drops": lane_drops,  # of them, the flood lane's (floods' packets only)
                "lines": lines - 1,  # without "iplog started."
                "lag_s": round(max(0.0, last_change - sent_at), 3),
                "cpu_s_per_million": round(cpu / max(seen or sent, 1) * 1e6, 2),
                # From the first packet sent to the last line: the rate sent
                # while the daemon keeps up; its own ceiling while it drains a
                # backlog (a ring big enough to hold the trace: --buffer).
                "done_pps": round((seen or sent) / max(last_change - send_start, 1e-3)),
                "idle_rss_mb": round(idle_rss, 1),
                "peak_rss_mb": round(status(pid, "VmHWM"), 1),
                "sent_pps": round(pps),
            }
        )
    finally:
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.wait(10)
        except subprocess.TimeoutExpired:
            launcher.kill()
    if scan:  # its end line, written as the daemon stopped
        ends = re.findall(
            rf"SYN scan mode (?:to \S+ )?expired for {SCANNER} - received a total of (\d+) packets",
            log.read_text(errors="replace"),
        )
        result["scanner_packets"] = int(ends[-1]) if ends else 0
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--trace",
        default="synflood",
        choices=["synflood", "udpflood", "icmpflood", "mixed", "mixed6"],
    )
    ap.add_argument("--pcap", type=Path, help="replay this trace instead (server 192.0.2.10)")
    ap.add_argument("--rates", default="100000,200000,300000", help="packets/s, or top")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--classic", action="store_true", help="with --classic-detection")
    ap.add_argument("--buffer", type=int, metavar="MB", help="the daemon's --capture-buffer")
    ap.add_argument("--scan", action="store_true", help="a real nmap -sS inside the replay")
    ap.add_argument("--rules", type=int, default=0, metavar="N", help="a config of N rules")
    ap.add_argument("--hup", action="store_true", help="SIGHUP one second into the replay")
    ap.add_argument("--daemon", help='another daemon: "CMD ... {iface} ... {log}"')
    ap.add_argument(
        "--metrics",
        action="store_true",
        help="with --metrics-file (written every 15 s; compare with runs without)",
    )
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/live.py needs root (namespaces, capture)", file=sys.stderr)
        return 2
    cpus = sorted(os.sched_getaffinity(0))
    daemon_cpu, sender_cpu = cpus[0], cpus[-1]
    extra = ["--classic-detection"] if args.classic else []
    ring = [f"--capture-buffer={args.buffer}"] if args.buffer else []
    if args.metrics:
        ring.append(f"--metrics-file={OUT / 'live' / 'iplog.prom'}")
    print(
        f"# {platform.node()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()},"
        f" Python {platform.python_version()}; daemon on CPU {daemon_cpu},"
        f" tcpreplay on CPU {sender_cpu}; trace {args.pcap or args.trace}"
        f"{' --classic' if args.classic else ''}"
        f"{f'; ring {args.buffer} MB' if args.buffer else ''}"
        f"{'; metrics on' if args.metrics else ''}"
    )
    work = OUT / "live"
    work.mkdir(parents=True, exist_ok=True)
    namespaces_up()
    try:
        for rate in args.rates.split(","):
            packets = int(float(rate) * args.seconds) if rate != "top" else 1_000_000
            path = args.pcap or trace(args.trace, packets)
            for run in range(args.runs):
                result = one_run(
                    path,
                    rate,
                    extra + ring,
                    (daemon_cpu, sender_cpu),
                    work,
                    args.scan,
                    args.daemon,
                    args.rules,
                    args.hup,
                )
                result["run"] = run + 1
                if not (args.scan or args.daemon or args.rules or args.hup):
                    # At the rate tcpreplay reached (its own figure, for "top").
                    spaced, last = retimed(path, result["sent_pps"])
                    result["expected_lines"] = expected_lines(spaced, extra, last)
                    spaced.unlink()
                print(json.dumps(result), flush=True)
    finally:
        namespaces_down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
