"""Instructions a packet: ``iplog -N -r`` under valgrind, which does not drift.

    python bench/instructions.py [--trace synflood|mixed|mixed6] [--small N]
                                 [--large N] [IPLOG OPTION...]

This VM's speed drifts by up to 1.7x over minutes, so a change to the hot
path worth a few percent cannot be told from noise by timing it.  The
instructions executed can: this runs ``iplog -C /dev/null -N -r TRACE`` on
one CPU (no reading child) under valgrind's cachegrind, on a small and a
large trace of the same kind (bench/gen.py, deterministic), and prints the
difference divided by the packets between them: the steady-state cost of a
packet, start-up and the end of the file left out.  PYTHONHASHSEED is fixed:
with a random seed the dicts' layout, and the count, change from run to run.
A count repeats to within a few instructions; compare counts made in the
same checkout, though (put the other code's ``pyiplog/`` in it): the same
code run from another directory counted 2% differently.

    python bench/instructions.py --classic-detection   # the SYN flood, a line a SYN

Needs valgrind (Debian: valgrind); takes about half a minute.  Not a test:
the counts depend on the Python build.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from live import trace  # bench/gen.py's trace in bench/out, made once

HERE = Path(__file__).resolve().parent


def instructions(path: Path, extra: list[str], work: str) -> int:
    """Instructions valgrind counted for one run of ``iplog -r`` over ``path``."""
    cpu = min(os.sched_getaffinity(0))
    cmd = [
        "taskset", "-c", str(cpu),  # one CPU: iplog reads the file itself
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        sys.executable, "-m", "pyiplog", "-C", "/dev/null", "-N", *extra,
        "-r", str(path), "-l", os.path.join(work, "iplog.log"),
    ]  # fmt: skip
    run = subprocess.run(
        cmd,
        cwd=HERE.parent,  # `-m pyiplog` imports from the working directory first
        env={**os.environ, "PYTHONPATH": str(HERE.parent), "PYTHONHASHSEED": "0", "TZ": "UTC"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    if found is None:
        sys.exit(f"no instruction count from valgrind:\n{run.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", default="synflood", choices=["synflood", "mixed", "mixed6"])
    ap.add_argument("--small", type=int, default=50_000, help="packets of the small trace")
    ap.add_argument("--large", type=int, default=150_000, help="packets of the large trace")
    args, extra = ap.parse_known_args()
    if args.large <= args.small:
        ap.error("--large must be more than --small")
    with tempfile.TemporaryDirectory() as work:
        counts = [instructions(trace(args.trace, n), extra, work) for n in (args.small, args.large)]
    per_packet = (counts[1] - counts[0]) / (args.large - args.small)
    print(
        f"{' '.join([args.trace, *extra])}: {per_packet:,.0f} instructions a packet"
        f" ({args.small:,} and {args.large:,} packets: {counts[0]:,} and {counts[1]:,})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
