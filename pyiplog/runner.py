"""Wiring: options and config -> filters, names, engine, output, source.

``run_file`` is ``iplog -r``: the capture file's timestamps are the clock,
output goes to stdout unless ``-l``, and at end of file every detected scan
is closed with its ``mode expired`` line (spec C1).
"""

from __future__ import annotations

import gc
import signal
import sys
import time

from .capture import CaptureError, FileSource, combine, promisc_filter, useful_filter
from .config import Config, Filters, nameserver_rules
from .decode import LINK_TYPES
from .engine import Engine
from .options import FatalError, Options
from .output import LogFile, SyslogLog, TextLog
from .resolve import CachedResolver, Namer


GC_THRESHOLD = (10_000, 10, 10)  # the cyclic collector's generations (default 700, 10, 10)
OFFLINE_NAME_WAIT = 2.0  # -r: how long a reverse lookup may take before the address is used


def build_namer(opts: Options, lookup=None, wait: float = 0.0) -> Namer:
    if opts.disable_resolver:
        lookup = None
    elif lookup is None:
        lookup = CachedResolver(cache=opts.dns_cache, wait=wait)
    return Namer(lookup, log_ip=opts.log_ip)


def build_filters(opts: Options, config: Config | None) -> Filters:
    """The config's rules, after the ``ignore_dns`` ones when that is on."""
    dns = nameserver_rules() if opts.ignore_dns else ()
    return Filters(config.filters if config else (), dns)


def build_engine(opts: Options, config: Config, lookup=None, wait: float = 0.0) -> Engine:
    return Engine(opts, build_filters(opts, config), build_namer(opts, lookup, wait))


def open_output(opts: Options, offline: bool = False, on_error=None):
    """The log target of spec A9: stdout, a log file, or syslog."""
    if opts.stdout or (offline and not opts.logfile):
        return TextLog(sys.stdout)
    if opts.logfile:
        try:
            return LogFile(opts.logfile, on_error)
        except OSError as exc:
            raise FatalError(f'Unable to open "{opts.logfile}" for writing: {exc.strerror}.'
                             ) from None
    return SyslogLog(opts.facility, opts.priority)


def run_file(opts: Options, config: Config, lookup=None) -> int:
    try:
        source = FileSource(opts.read_file, combine(
            promisc_filter(opts.promisc), useful_filter(opts.classic_detection, opts.verbose)))
    except CaptureError as exc:
        raise FatalError(str(exc)) from None
    if source.dlt not in LINK_TYPES:
        print(f"iplog: {opts.read_file}: link type {source.dlt} is not supported:"
              " no packet in it can be analysed", file=sys.stderr)
    engine = build_engine(opts, config, lookup, wait=OFFLINE_NAME_WAIT)
    out = open_output(opts, offline=True,
                      on_error=lambda text: print(f"iplog: {text}", file=sys.stderr))
    quiet_pipe = isinstance(out, TextLog) and out.stream is sys.stdout
    if quiet_pipe:  # `iplog -r x | head` ends quietly, as a C tool would
        old_pipe = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    last = None
    batches = source.batches()  # (a reading child is forked before any resolver thread)
    feed = engine.feed_records if source.records else engine.feed_batch
    try:
        for batch in batches:
            if last is None:
                out.started(batch[0][0])
            feed(source.dlt, batch)
            last = batch[-1][0]
            out.write_all(engine.drain())
            out.flush()  # one write(2) per batch
        if last is None:
            last = time.time()
            out.started(last)
        engine.close()
        for ts, line in engine.drain():
            out.write(ts, line)
            last = max(last, ts)
        out.flush_repeats(last)
        out.flush()
    finally:
        source.close()
        out.close()
        if quiet_pipe:
            signal.signal(signal.SIGPIPE, old_pipe)
    if getattr(out, "waiting", 0):
        print(f"iplog: {opts.logfile}: {out.waiting} bytes of log could not be written",
              file=sys.stderr)
        return 1
    if source.error:
        print(f"iplog: {opts.read_file}: capture file cut off after {source.count} packets:"
              f" {source.error}", file=sys.stderr)
        return 1
    return 0


def run_options(opts: Options, config: Config, argv: list[str] = ()) -> int:
    # Every packet allocates a few short-lived objects and makes no cycle:
    # collecting the young generation every 700 allocations (the default)
    # costs ~4% of a flood's time and frees nothing.
    old = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        if opts.read_file:
            return run_file(opts, config)
        from .daemon import run_live
        return run_live(opts, config, list(argv))
    finally:
        gc.set_threshold(*old)
