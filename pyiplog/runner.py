"""A run: ``iplog -r`` here, the live daemon in ``daemon``.

``run_file`` is ``iplog -r``: the capture file's timestamps are the clock,
output goes to stdout unless ``-l``, and at end of file every detected scan
is closed with its ``mode expired`` line (docs/contract.md L2).
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sys
import time
from collections.abc import Callable

from . import logs
from .capture import CaptureError, FileSource, file_filter
from .config.parser import Config
from .decode import LINK_TYPES
from .loader import Loaded
from .messages import render
from .options import FatalError, Options
from .output import TextLog
from .resolve import HostLookup
from .wiring import build_engine, open_output

GC_THRESHOLD = (50_000, 10, 10)  # the cyclic collector's generations (default 700, 10, 10)
OFFLINE_NAME_WAIT = 2.0  # -r: how long a reverse lookup may take before the address is used


def run_file(opts: Options, config: Config | None, lookup: HostLookup | None = None) -> int:
    try:
        source = FileSource(
            opts.read_file, file_filter(opts.promisc, opts.classic_detection, opts.verbose)
        )
    except CaptureError as exc:
        raise FatalError(str(exc)) from None
    if source.dlt not in LINK_TYPES:
        print(
            f"iplog: {opts.read_file}: link type {source.dlt} is not supported:"
            " no packet in it can be analysed",
            file=sys.stderr,
        )
    for on, what in ((opts.get_ident, "get_ident"), (opts.fool_nmap, "fool_nmap")):
        if on:
            print(render("live_only", what=what), file=sys.stderr)
    source.start()  # a reading child is forked before any resolver thread
    engine = build_engine(opts, config, lookup, wait=OFFLINE_NAME_WAIT)
    out = open_output(
        opts, offline=True, on_error=lambda text: print(f"iplog: {text}", file=sys.stderr)
    )
    quiet_pipe = isinstance(out, TextLog) and out.stream is sys.stdout
    if quiet_pipe:  # `iplog -r x | head` ends quietly, as a C tool would
        old_pipe = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    last = None
    try:
        while (batch := source.read()) is not None:
            if last is None:
                out.started(batch[0][0])
            engine.feed(source.dlt, batch)
            last = batch[-1][0]
            out.write_all(engine.drain())
            out.flush()  # one write(2) per batch
        if last is None:
            last = time.time()
            out.started(last)
        engine.close()
        for ts, line in engine.drain(final=True):
            out.write(ts, line)
            last = max(last, ts)
        out.flush_repeats(last)
        out.flush()
    finally:
        source.close()
        out.close()
        if quiet_pipe:
            signal.signal(signal.SIGPIPE, old_pipe)
    if out.waiting:
        print(
            f"iplog: {opts.logfile}: {out.waiting} bytes of log could not be written",
            file=sys.stderr,
        )
        return 1
    if source.error:
        print(
            f"iplog: {opts.read_file}: capture file cut off after {source.count} packets:"
            f" {source.error}",
            file=sys.stderr,
        )
        return 1
    return 0


M_ARENA_MAX = -8  # glibc's mallopt(3) parameter


def one_malloc_arena() -> None:
    """Let every thread allocate from glibc's main malloc arena (before any
    thread starts).  By default each thread that calls malloc gets an arena
    of its own, and the name lookups' worker threads left about 3 MB of
    freed memory resident in theirs under a flood of new sources (a UDP
    flood: 63.2 -> 60.1 MB at 45 s).  They allocate little; the lock they
    share with the main thread costs nothing measurable.  Not glibc: nothing
    to set."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1)


def run_options(opts: Options, config: Config, reload: Callable[[], Loaded]) -> int:
    """``iplog -r`` or the live daemon; ``reload`` gives the options anew (SIGHUP)."""
    # Every packet allocates a few short-lived objects and makes no cycle:
    # collecting the young generation every 700 allocations (the default)
    # costs ~4% of a flood's time and frees nothing.  A batch in flight keeps
    # some 12,000 of them alive (the frames, datagrams and lines of 4,096
    # packets): under that threshold the collector went through them again
    # and again (227 collections, 375 ms a million packets of a SYN flood with
    # a line each); at 50,000 it ran once.
    logs.setup()  # diagnostics to stderr (the daemon moves them to syslog when it detaches)
    one_malloc_arena()
    old = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        if opts.read_file:
            return run_file(opts, config)
        from .daemon import run_live

        return run_live(opts, config, reload)
    finally:
        gc.set_threshold(*old)
