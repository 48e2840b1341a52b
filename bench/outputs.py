"""Every output of ``iplog -r`` over the project's captures, for comparing two versions.

    python bench/outputs.py OUTDIR [--code DIR] [--jobs N]

Runs ``iplog -C /dev/null -N -r CAPTURE`` over every capture in
``tests/data`` and both bench traces (``bench/gen.py``'s synflood and mixed, 150,000
packets, made once in ``bench/out``), each in the option sets below, and
writes each log to ``OUTDIR/CAPTURE.SET``.  ``--code DIR`` runs the daemon of
another checkout (``git worktree add DIR REV``).  Two such directories are
then compared with ``diff -r``: a change meant not to alter behaviour
(moving code, speeding it up) must leave every file byte-identical.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

from live import trace  # bench/gen.py's trace in bench/out, made once

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data"
SETS = {
    "classic": ["--classic-detection"],
    "default": [],
    "dest": ["-D"],
    "verbose": ["-V"],
    "logip": ["-w"],
    "promisc": ["-a", "0.0.0.0/1,128.0.0.0/1,::/1,8000::/1"],
    "json": ["--json"],
    "classic-json": ["--classic-detection", "--json", "-D"],
}


def captures() -> list[Path]:
    found = sorted(DATA.glob("*.pcap"))
    return found + [trace("synflood", 150_000), trace("mixed", 150_000)]


def run(code: Path, capture: Path, name: str, extra: list[str], out: Path) -> str:
    log = out / f"{capture.name}.{name}"
    log.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pyiplog", "-C", "/dev/null", "-N", *extra]
    cmd += ["-r", str(capture), "-l", str(log)]
    env = {**os.environ, "PYTHONPATH": str(code), "TZ": "UTC"}
    done = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return f"{log.name}: exit {done.returncode}: {done.stderr.strip()[-300:]}"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--code", type=Path, default=HERE.parent)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    code = args.code.resolve()
    jobs = [(c, name, extra) for c in captures() for name, extra in SETS.items()]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        errors = [e for e in pool.map(lambda j: run(code, *j, args.outdir), jobs) if e]
    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(jobs) - len(errors)} outputs in {args.outdir}")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
