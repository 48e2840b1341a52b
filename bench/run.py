"""Benchmark: ``iplog -N -r TRACE -l FILE`` on bench/gen.py's two traces.

    python bench/run.py [--packets N] [--repeat N] [--classic] [--one-cpu] [TRACE...]

TRACE: mixed, synflood (the default two), mixed6 (mixed over IPv6).

Generates the traces (bench/gen.py, deterministic) in bench/out/ unless they
are there, runs the real command in a child process and prints packets/s,
CPU seconds (user+system, with iplog's own reading child) and the peak RSS
(the larger process's, exact; and both processes' together, sampled).
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SAMPLE = 0.1  # seconds between RSS samples of iplog and its reading child


def one_cpu() -> None:
    """In the child: one CPU only, so iplog reads the file in its own process."""
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def measure(trace: Path, packets: int, extra: list[str], single: bool = False) -> dict:
    log = OUT / (trace.stem + ".log")
    log.unlink(missing_ok=True)
    start = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "pyiplog",
        "-C",
        "/dev/null",
        "-N",
        "-r",
        str(trace),
        "-l",
        str(log),
        *extra,
    ]
    child = subprocess.Popen(
        cmd,
        env={**os.environ, "PYTHONPATH": str(HERE.parent)},
        cwd=HERE.parent,  # `-m pyiplog` imports from the working directory first
        preexec_fn=one_cpu if single else None,
    )
    together = [0]  # iplog and its reading child, sampled every SAMPLE seconds
    done = threading.Event()

    def sample() -> None:
        while not done.wait(SAMPLE):
            rss = sum(rss_kb(p) for p in (child.pid, *children(child.pid)))
            together[0] = max(together[0], rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)  # usage: both processes; RSS: the larger
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"iplog exited with {child.returncode}")
    with open(log, "rb") as fh:
        lines = sum(1 for _ in fh)
    return {
        "pps": packets / wall,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "both_mb": together[0] / 1024,
        "lines": lines,
    }


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
    except OSError:  # gone meanwhile
        return 0


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("traces", nargs="*", default=["mixed", "synflood"])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--classic", action="store_true", help="with --classic-detection")
    ap.add_argument(
        "--one-cpu",
        action="store_true",
        help="pin iplog to one CPU (no reading child: the single-process speed)",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs per trace (default 3): a shared VM's speed varies run to run",
    )
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    print(
        f"# {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    for kind in args.traces:
        trace = OUT / f"{kind}-{args.packets}.pcap"
        if not trace.exists():
            subprocess.run(
                [sys.executable, str(HERE / "gen.py"), kind, str(trace), str(args.packets)],
                check=True,
            )
        runs = []
        for _ in range(max(1, args.repeat)):
            r = measure(
                trace, args.packets, ["--classic-detection"] if args.classic else [], args.one_cpu
            )
            runs.append(r)
            print(
                f"{kind:9} {args.packets:>9} packets  {r['pps']:>10,.0f} packets/s  "
                f"wall {r['wall']:.2f} s  cpu {r['cpu']:.2f} s  peak RSS {r['rss_mb']:.1f} MB"
                f" ({r['both_mb']:.1f} MB with its reading child)  {r['lines']} lines",
                flush=True,
            )
        speeds = sorted(r["pps"] for r in runs)
        print(
            f"{kind:9} best {speeds[-1]:,.0f} packets/s, median {speeds[len(speeds) // 2]:,.0f},"
            f" worst {speeds[0]:,.0f}; peak RSS at most {max(r['rss_mb'] for r in runs):.1f} MB"
            f" ({max(r['both_mb'] for r in runs):.1f} MB with its reading child)"
        )


if __name__ == "__main__":
    main()
