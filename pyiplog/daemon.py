"""The live daemon: capture handles, the poll() main loop, signals.

Signals only set a flag (and wake ``poll`` through a self-pipe); everything
they ask for happens here in the main loop, never inside a handler.
Capture runs in libpcap's immediate mode (spec B1) so a quiet host's
packets are seen at once.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import sys
import time

import pcap

from . import interfaces
from .capture import promisc_filter
from .config import Config
from .options import FatalError, Options
from .runner import build_engine, open_output

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # expiry sweep and output flush when no packet comes


def capture_filter(opts: Options, addresses: list[bytes]) -> str:
    """Kernel filter: enabled protocols, to our addresses (or promisc nets)."""
    protos = [p for p in ("tcp", "udp", "icmp") if getattr(opts, p)]
    text = "ip and (" + " or ".join(protos) + ")"
    if opts.promisc:
        nets = promisc_filter(opts.promisc)
        if nets:
            text += f" and ({nets})"
    elif addresses:
        text += " and (" + " or ".join(
            "dst host " + ".".join(map(str, a)) for a in addresses) + ")"
    return text


class Capture:
    """One interface, opened non-blocking in immediate mode."""

    def __init__(self, name: str, opts: Options):
        self.name = name
        addr = interfaces.ipv4_address(name)
        self.handle = pcap.pcap(name=name, snaplen=65535, promisc=bool(opts.promisc),
                                timeout_ms=100, immediate=True)
        self.handle.setfilter(capture_filter(opts, [addr] if addr else []))
        self.handle.setnonblock(True)
        self.dlt = self.handle.datalink()

    def fileno(self) -> int:
        return self.handle.fileno()

    def read(self, batch: list) -> None:
        self.handle.dispatch(-1, _append, batch)


def _append(ts, frame, batch):
    batch.append((ts, frame))


def run_live(opts: Options, config: Config) -> int:
    if not opts.no_fork:
        raise FatalError("running in the background is not available yet in this version;"
                         " use -o (--no-fork) or set no_fork")
    names, bad = interfaces.choose(opts.interfaces)
    if not names:
        why = f" ({', '.join(bad)}: not up or without an IPv4 address)" if bad else ""
        raise FatalError(f"Couldn't initialize interfaces.{why}")
    captures = []
    for name in names:
        try:
            captures.append(Capture(name, opts))
        except OSError as exc:
            print(f"Warning: unable to open {name}: {exc}", file=sys.stderr)
    if not captures:
        raise FatalError("Couldn't initialize interfaces.")
    engine = build_engine(opts, config)
    out, stream = open_output(opts)
    caught: list[int] = []
    rpipe, wpipe = os.pipe()
    os.set_blocking(wpipe, False)
    os.set_blocking(rpipe, False)
    old_wakeup = signal.set_wakeup_fd(wpipe)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda n, _f: caught.append(n))
    poller = select.poll()
    by_fd = {c.fileno(): c for c in captures}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    poller.register(rpipe, select.POLLIN)
    out.started(time.time())
    out.flush()
    try:
        while True:
            for fd, _ in poller.poll(TICK_SECONDS * 1000):
                if fd == rpipe:
                    _drain_pipe(rpipe)
                    continue
                cap = by_fd[fd]
                batch: list = []
                cap.read(batch)
                for ts, frame in batch:
                    engine.feed(ts, cap.dlt, frame)
            engine.tick(time.time())
            for ts, line in engine.drain():
                out.write(ts, line)
            out.flush()
            while caught:
                signum = caught.pop(0)
                if signum == signal.SIGHUP:
                    out.flush_repeats(time.time())
                    out.write(time.time(), f"Restarting iplog (pid {os.getpid()}).")
                    out.started(time.time())
                    out.flush()
                    continue
                now = time.time()
                out.flush_repeats(now)
                out.write(now, f"Caught signal {signum}, exiting.")
                out.flush()
                return 0
    finally:
        signal.set_wakeup_fd(old_wakeup)
        os.close(rpipe)
        os.close(wpipe)
        if stream is not None:
            stream.close()


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
