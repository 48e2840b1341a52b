"""The live daemon: pid file, privileges, signals and the poll() main loop.

Order at start, as root: interfaces and users are checked, the pid file is
locked (``iplog is already running`` otherwise), capture handles and the log
are opened, the process detaches (python-daemon) unless no_fork, writes its
pid, and drops to group/user.  Signals only set a flag and wake ``poll``
through a self-pipe; what they ask for happens in the main loop, between two
batches of packets, so no packet and no line is lost (docs/contract.md F2).
"""

from __future__ import annotations

import contextlib
import grp
import logging
import os
import pwd
import select
import signal
import sys
import syslog
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import __version__, interfaces, logs
from .capture import (
    CaptureError,
    LiveSource,
    combine,
    flood_terms,
    live_filter,
    useful_filter,
)
from .config.parser import Config
from .detect.lines import MAX_BEHIND
from .engine import Engine
from .foolnmap import Replier
from .ident import IdentLookups
from .loader import Loaded, settle
from .messages import render
from .options import FatalError, Options
from .output import LogTarget
from .pidfile import PidFile, ReloadStatus
from .resolve import CachedResolver
from .status import MAX_OPEN_SHOWN, StatusSocket, socket_path
from .wiring import build_engine, build_filters, build_namer, open_output

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0  # expiry sweep and output flush when no packet comes
IDENT_TICK = 0.1  # the same while ident answers are awaited (their lines on time)
DOWN_CHECK_SECONDS = 1.0  # looks at an interface that went down (docs/contract.md C3)
RETRY_SECONDS = 30.0  # opening it again after an open that failed
DROPS_EVERY = 60.0  # at most one kernel-drop warning a minute per interface (docs/contract.md D6)
ADDRESS_CHECK_SECONDS = 5.0  # picking up address changes (DHCP)
SHED_EVERY = 0.05  # seconds between looks at the open floods (the flood lane, docs/contract.md C3)
HANDLED = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


# --- privileges ------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    uid: int | None
    gid: int | None


def lookup_identity(user: str | None, group: str | None) -> Identity:
    """uid and gid for the user and group options (names or numbers)."""
    uid = gid = None
    if user:
        try:
            entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
        except (KeyError, OverflowError):
            if not user.isdigit():
                raise FatalError(f'Unknown user: "{user}"') from None
            uid = int(user)
        else:
            uid, gid = entry.pw_uid, entry.pw_gid
    if group:
        try:
            gid = grp.getgrgid(int(group)).gr_gid if group.isdigit() else grp.getgrnam(group).gr_gid
        except (KeyError, OverflowError):
            if not group.isdigit():
                raise FatalError(f'Unknown group: "{group}"') from None
            gid = int(group)
    return Identity(uid, gid)


def drop_privileges(ident: Identity) -> None:
    if ident.gid is not None:
        os.setgroups([])
        os.setgid(ident.gid)
    if ident.uid is not None:
        os.setuid(ident.uid)


# --- the daemon --------------------------------------------------------------------------


class PendingReload:
    """A reload's configuration read in a thread (its parse runs in a child
    process, docs/contract.md L1), so that the main loop keeps capturing and
    counting meanwhile: a reload stops no reading."""

    def __init__(self, reload: Callable[[], Loaded], problems: list[str]):
        self.problems = problems  # what went wrong already (the log's reopening)
        self.again = False  # another SIGHUP came meanwhile: read the file again after
        self.result: Loaded | Exception = FatalError("the configuration was not read")
        self.thread = threading.Thread(target=self._read, args=(reload,), daemon=True)
        self.thread.start()

    def _read(self, reload: Callable[[], Loaded]) -> None:
        try:
            self.result = reload()
        except FatalError as exc:
            self.result = exc
        except Exception as exc:  # a bug: said, and the running configuration kept
            log.error("reading the configuration failed: %s", exc, exc_info=True)
            self.result = FatalError(f"reading the configuration failed: {exc}")

    def done(self) -> bool:
        return not self.thread.is_alive()


class Daemon:
    """The main loop and what signals ask for, given everything it needs:
    the options in force, the engine, the log target, and ``reload`` (the
    options and config read anew, for SIGHUP)."""

    def __init__(self, opts: Options, engine: Engine, reload: Callable[[], Loaded]):
        self.opts = opts
        self.engine = engine
        self.out: LogTarget = None  # type: ignore[assignment]  # opened once capture is
        self.reload = reload
        self.reload_status: ReloadStatus | None = None  # what -R reads (pidfile.py)
        self.reloading: PendingReload | None = None  # a configuration being read
        self.sources: dict[str, LiveSource] = {}
        self.down: dict[str, float] = {}  # interface -> when to try again
        self.failures: dict[str, str] = {}  # interface -> why it could not be opened
        self.caught: list[int] = []
        self.next_drop_check = 0.0
        self.next_address_check = 0.0
        self.next_shed = 0.0
        self.addresses: dict[str, list[bytes]] = {}
        # What --status and the metrics say (docs/contract.md L8).
        self.started = self.config_loaded = time.time()
        self.reloads = 0
        self.lines_written = 0
        self.status_socket: StatusSocket | None = None
        self.next_metrics = 0.0
        self.metrics_failed: str | None = None  # the last reason, said once

    # -- capture --

    def _filter(self, name: str) -> str:
        o = self.opts
        protos = [p for p, on in (("tcp", o.tcp), ("udp", o.udp), ("icmp", o.icmp)) if on]
        return combine(
            live_filter(
                protos,
                self.addresses.get(name, []),
                self.opts.promisc,
                answers=not o.classic_detection,
                others=o.proto_scan and not o.classic_detection,
                nd=o.icmp6_nd,
                solicits=o.ping_sweep and not o.classic_detection,
            ),
            useful_filter(self.opts.classic_detection, self.opts.verbose),
        )

    def _update_local(self) -> dict[str, tuple[int, list[bytes]]]:
        """The engine's idea of 'us': every address of the host (docs/contract.md D3).
        Returns the interface table it read."""
        table = interfaces.snapshot()
        self.engine.set_ours(a for _, addrs in table.values() for a in addrs)
        return table

    def _open(self, name: str) -> LiveSource:
        return LiveSource(
            name,
            self._filter(name),
            promisc=bool(self.opts.promisc),
            buffer_size=self.opts.capture_buffer << 20,
        )

    def open_interfaces(self, names: list[str]) -> None:
        table = self._update_local()
        for name in names:
            self.addresses[name] = table.get(name, (0, []))[1]
            try:
                self.sources[name] = self._open(name)
            except CaptureError as exc:
                self.down[name] = 0.0
                self.failures[name] = str(exc)
                print(render("iface_failed", name=name, reason=exc), file=sys.stderr)

    def _went_down(self, name: str, now: float) -> None:
        source = self.sources.pop(name)
        for fd in source.filenos():
            self.poller.unregister(fd)
        source.close()
        self.down[name] = now + DOWN_CHECK_SECONDS
        self.say(now, render("iface_down", name=name))

    def _retry_down(self, now: float) -> None:
        for name, when in list(self.down.items()):
            if now < when:
                continue
            if not interfaces.is_usable(name):  # a look at its flags and addresses
                self.down[name] = now + DOWN_CHECK_SECONDS
                continue
            self.addresses[name] = interfaces.addresses(name)
            try:
                source = self._open(name)
            except CaptureError as exc:
                self.down[name] = now + RETRY_SECONDS
                self.say(now, render("iface_failed", name=name, reason=exc))
                continue
            del self.down[name]
            self.sources[name] = source
            self._watch(source)
            self.say(now, render("iface_reopened", name=name))

    def _watch(self, source: LiveSource) -> None:
        """Poll the capture and its flood lane."""
        for fd in source.filenos():
            self.poller.register(fd, select.POLLIN)

    def _check_addresses(self, now: float) -> None:
        table = self._update_local()
        for name, source in self.sources.items():
            current = table.get(name, (0, []))[1]
            if current != self.addresses.get(name):
                self.addresses[name] = current
                try:
                    source.set_filter(self._filter(name))
                except OSError as exc:
                    log.warning("could not update the filter of %s: %s", name, exc)

    def _shed(self) -> None:
        """The open floods' packets through each interface's flood lane."""
        floods = flood_terms(self.engine.scans.flood_targets())
        for name, source in self.sources.items():
            try:
                source.shed(floods)
            except OSError as exc:
                log.warning("could not update the flood lane of %s: %s", name, exc)

    def _check_drops(self, now: float) -> None:
        for name, source in self.sources.items():
            drops = source.drops()
            if drops > source.reported_drops:
                self.say(now, render("kernel_drops", n=drops - source.reported_drops, name=name))
                source.reported_drops = drops

    # -- output --

    def say(self, ts: float, line: str) -> None:
        try:
            self.out.write(ts, line)
        except OSError as exc:
            self._write_failed(exc)

    def check_config_readable(self, now: float) -> None:
        """After the privilege drop: a configuration the run user cannot read
        cannot be reloaded; said now, not at the first logrotate."""
        path = self.opts.config_file
        if os.path.exists(path) and not os.access(path, os.R_OK):
            self.say(now, render("config_unreadable", path=path))

    def _write_failed(self, exc: OSError) -> None:
        report(render("write_failed", error=exc.strerror or exc))

    def flush(self, final: bool = False, held: bool = False) -> None:
        """Write the lines the engine made (not while a reload is read: they
        follow its word in the new log, unless too many wait; ``held``: now)."""
        if (
            self.reloading is not None
            and not (final or held)
            and len(self.engine.lines.out) < MAX_BEHIND
        ):
            return
        try:
            lines = self.engine.drain(final)
            self.lines_written += len(lines)
            self.out.write_all(lines)
            self.out.flush()
        except OSError as exc:
            self._write_failed(exc)

    # -- signals --

    def restart(self, now: float) -> None:
        """SIGHUP: reopen the log at once, then read the configuration in the
        background (``PendingReload``) while capture and counting go on; it
        takes over between two batches (``_finish_reload``).

        Another SIGHUP while that is read reopens the log at once all the
        same (a rotation must never wait for a parse): the log the first one
        opened gets its start line and its lines now, and the file is read
        again once the reading under way ends (it may have changed)."""
        job = self.reloading
        if job is not None:
            self.out.started(now)
            self.flush(held=True)
        else:
            self.flush()
        self.out.flush_repeats(now)
        self.say(now, render("restarting", pid=os.getpid()))
        self.out.flush()
        problems = []
        error = self.out.reopen()
        if error is not None:
            text = render("reopen_failed", path=self.opts.logfile, error=error)
            report(text)
            self.say(now, text)
            problems.append(text)
        if job is not None:
            job.problems += problems
            job.again = True
        else:
            self.reloading = PendingReload(self.reload, problems)

    def _finish_reload(self, now: float) -> None:
        """The configuration read in the background takes over; the lines
        counted meanwhile follow its word in the new log."""
        job, self.reloading = self.reloading, None
        if job.again:  # read before the last SIGHUP: read it again
            self.reloading = PendingReload(self.reload, job.problems)
            return
        problems = job.problems + self._reload_config(now, job.result)
        self.reloads += 1
        self.config_loaded = now
        self.out.started(now)
        self.flush()
        if self.reload_status is not None:
            self.reload_status.done(problems)

    def _reload_config(self, now: float, loaded: Loaded | Exception) -> list[str]:
        """Apply the configuration read anew; what kept it from taking effect."""
        try:
            if isinstance(loaded, Exception):
                raise loaded
            if not loaded.config.errors:
                opts, _ = settle(loaded)
        except FatalError as exc:  # a fatal combination: keep what runs
            text = render("reload_refused", error=exc)
            self.say(now, text)
            return [text]
        if loaded.config.errors:
            texts = [render("config_error", error=error) for error in loaded.config.errors]
            texts.append(render("config_kept", path=self.opts.config_file))
            for text in texts:
                self.say(now, text)
            return texts
        opts = opts.keeping(self.opts)  # what needs root or a fresh start cannot change here
        self.opts = opts
        old_namer = self.engine.namer
        self.engine.configure(opts, build_filters(opts, loaded.config), build_namer(opts))
        old_namer.close()
        for name, source in self.sources.items():
            source.set_filter(self._filter(name))
        return []

    def statistics(self, now: float) -> None:
        for name, source in self.sources.items():
            self.say(
                now,
                render(
                    "stats",
                    name=name,
                    packets=source.packets,
                    ipv6=source.ipv6,
                    drops=source.drops(),
                    entries=len(self.engine.scans),
                    fragments=len(self.engine.frags),
                    errors=self.engine.errors,
                ),
            )
        for name in self.down:
            self.say(now, render("iface_down", name=name))
        engine = self.engine
        lookup = engine.namer.lookup
        if isinstance(lookup, CachedResolver):
            self.say(
                now,
                render(
                    "lookup_stats",
                    started=lookup.started,
                    refused=lookup.refused,
                    cached=len(lookup),
                ),
            )
        if engine.ident is not None:
            i = engine.ident
            self.say(
                now,
                render("ident_stats", asked=i.asked, refused=i.refused, abandoned=i.abandoned),
            )
        if isinstance(engine.fool, Replier):
            f = engine.fool
            self.say(now, render("fool_stats", sent=f.sent, limited=f.limited, answers=f.answers))

    # -- what --status and the metrics say --

    def state(self) -> dict:
        """The daemon's state now (conf/iplog.status.schema.json)."""
        engine = self.engine
        interfaces_ = [
            {
                "name": name,
                "packets": source.packets,
                "ipv6": source.ipv6,
                "drops": source.drops(),
                "down": False,
                "flood_lane": len(source.floods),
                "lane_drops": source.lane_drops(),
            }
            for name, source in self.sources.items()
        ]
        interfaces_ += [
            {
                "name": name,
                "packets": 0,
                "ipv6": 0,
                "drops": 0,
                "down": True,
                "flood_lane": 0,
                "lane_drops": 0,
            }
            for name in self.down
        ]
        lookup = engine.namer.lookup
        lookups = None
        if isinstance(lookup, CachedResolver):
            lookups = {
                "started": lookup.started,
                "refused": lookup.refused,
                "in_flight": lookup.pending,
                "cached": len(lookup),
            }
        ident = engine.ident
        return {
            "version": __version__,
            "pid": os.getpid(),
            "now": time.time(),
            "started": self.started,
            "config": self.opts.config_file,
            "config_loaded": self.config_loaded,
            "reloads": self.reloads,
            "rss_kb": resident_kb(),
            "interfaces": interfaces_,
            "lines": {"total": self.lines_written, "by_kind": dict(engine.lines.counts)},
            "open": engine.scans.open_now(MAX_OPEN_SHOWN),
            "lookups": lookups,
            "ident": None
            if ident is None
            else {"asked": ident.asked, "refused": ident.refused, "abandoned": ident.abandoned},
        }

    def write_metrics(self, now: float) -> None:
        """``metrics_file``: the state in Prometheus's text format, every
        METRICS_EVERY seconds; a failure is said once until it works again."""
        path = self.opts.metrics_file
        if path is None or now < self.next_metrics:
            return
        from . import metrics  # prometheus_client only when metrics are on

        self.next_metrics = now + metrics.METRICS_EVERY
        try:
            metrics.write(path, metrics.exposition(self.state()))
        except (OSError, ImportError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if reason != self.metrics_failed:
                self.metrics_failed = reason
                self.say(now, render("metrics_failed", path=path, error=reason))
            return
        self.metrics_failed = None

    # -- main loop --

    def run(self, ready: Callable[[], None] = lambda: None) -> int:
        """The main loop until TERM (INT); ``ready`` is called once the log's
        first line is out (the start-up handshake)."""
        rpipe, wpipe = os.pipe()
        for fd in (rpipe, wpipe):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wpipe)
        for signum in HANDLED:
            signal.signal(signum, lambda n, _f: self.caught.append(n))
        self.poller = select.poll()
        for source in self.sources.values():
            self._watch(source)
        self.poller.register(rpipe, select.POLLIN)
        status_fd = -1
        if self.status_socket is not None:
            status_fd = self.status_socket.fileno()
            self.poller.register(status_fd, select.POLLIN)
        now = time.time()
        self.out.started(now)
        self.out.flush()
        ready()
        while True:
            ident = self.engine.ident
            # Soon due: ident answers, names a held line waits for, a reload.
            # Packets a change of filter read out of a ring: no wait at all.
            waiting = (
                (ident is not None and ident.pending)
                or self.engine.lines.held
                or self.reloading is not None
            )
            held = [s for s in self.sources.values() if s.held]
            for source in held:
                self.engine.feed(source.dlt, source.read())
            timeout = 0 if held else IDENT_TICK if waiting else TICK_SECONDS
            self._poll(timeout, rpipe, status_fd)
            now = time.time()
            self.engine.tick(now)
            if self.reloading is not None and self.reloading.done():
                self._finish_reload(now)
            self.flush()
            self._housekeeping(now)
            stopped = self._signals(now)
            if stopped is not None:
                return stopped

    def _poll(self, timeout: float, rpipe: int, status_fd: int) -> None:
        """Wait up to ``timeout`` seconds; read what is ready."""
        by_fd = {fd: s for s in self.sources.values() for fd in s.filenos()}
        for fd, event in self.poller.poll(timeout * 1000):
            if fd == rpipe:
                _drain(rpipe)
                continue
            if fd == status_fd:
                self.status_socket.answer()
                continue
            source = by_fd.get(fd)
            if source is None or self.sources.get(source.name) is not source:  # went down
                continue
            batch = source.read() if not event & (select.POLLERR | select.POLLNVAL) else None
            if batch is None:
                self._went_down(source.name, time.time())
                continue
            self.engine.feed(source.dlt, batch)

    def _housekeeping(self, now: float) -> None:
        """Interfaces to reopen, addresses that changed, kernel drops."""
        if self.down:
            self._retry_down(now)
        if now >= self.next_address_check:
            self.next_address_check = now + ADDRESS_CHECK_SECONDS
            self._check_addresses(now)
        if now >= self.next_drop_check:
            self.next_drop_check = now + DROPS_EVERY
            self._check_drops(now)
        if now >= self.next_shed:
            self.next_shed = now + SHED_EVERY
            self._shed()
        if self.opts.metrics_file is not None:
            self.write_metrics(now)

    def _signals(self, now: float) -> int | None:
        """What the signals caught ask for; the exit status once one stops iplog."""
        while self.caught:
            signum = self.caught.pop(0)
            if signum == signal.SIGHUP:
                self.restart(now)
            elif signum == signal.SIGUSR1:
                self.statistics(now)
                self.flush()
                if self.opts.metrics_file is not None:  # the metrics of this moment too
                    self.next_metrics = 0.0
                    self.write_metrics(now)
            else:
                return self.stop(signum, now)
        return None

    def stop(self, signum: int, now: float) -> int:
        if self.reloading is not None:  # the reload read meanwhile is not applied
            self.reloading = None
            self.out.started(now)
        self.engine.stop(now)
        self.flush(final=True)
        self.out.flush_repeats(now)
        self.say(now, render("caught", n=signum))
        self.flush()
        for source in self.sources.values():
            source.close()
        return 0


def resident_kb() -> int:
    """Resident memory now, in KiB (/proc/self/statm)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def report(text: str) -> None:
    """A problem of the daemon itself: to stderr (if anyone reads it) and syslog."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr, flush=True)
    syslog.openlog("iplog", syslog.LOG_PID)
    syslog.syslog(syslog.LOG_DAEMON | syslog.LOG_WARNING, text)


def live_edges(opts: Options) -> dict:
    """Ident lookups and fool_nmap's raw socket, when asked for (as root)."""
    edges: dict = {}
    if opts.get_ident:
        edges["ident"] = IdentLookups()
    if opts.fool_nmap:
        try:
            edges["fool"] = Replier(time.time)
        except OSError as exc:
            print(render("no_fool_nmap", error=exc.strerror or exc), file=sys.stderr)
    return edges


class Handshake:
    """The word from the detached daemon to the process the administrator
    started (docs/contract.md L6): that process exits only when the daemon runs (0) or
    with the daemon's fatal error (255), never before either."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    def ok(self) -> None:
        self._say(b"\0")

    def fail(self, text: str) -> None:
        self._say(text.encode(errors="replace") or b"?")

    def _say(self, word: bytes) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.write(self.fd, word)
            os.close(self.fd)
            self.fd = None

    @staticmethod
    def wait(fd: int, child: int) -> int:
        """In the starting process: the daemon's word, as an exit status."""
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
        os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(child, 0)  # python-daemon's first child leaves at once
        word = b"".join(chunks)
        if word == b"\0":
            return 0
        text = word.decode(errors="replace") or "iplog died while starting (see syslog)"
        print(f"Fatal: {text}", file=sys.stderr, flush=True)
        return 255


def run_live(opts: Options, config: Config, reload: Callable[[], Loaded]) -> int:
    names, bad = interfaces.choose(opts.interfaces)
    if not names:
        why = "; ".join(f"{name}: {reason}" for name, reason in bad.items())
        raise FatalError(
            f"Couldn't initialize interfaces. ({why or 'none is up with an IP address'})"
        )
    for name, reason in bad.items():
        print(render("not_watching", name=name, reason=reason), file=sys.stderr)
    ident = lookup_identity(opts.user, opts.group)
    pidfile = PidFile(opts.pid_file)
    pidfile.acquire(ident.uid, ident.gid)
    status = ReloadStatus(opts.pid_file)
    try:
        status.open()
        daemon = _prepared(opts, config, reload, names, ident)
    except BaseException:  # nothing left behind by a start that failed here
        pidfile.remove()
        status.remove()
        raise
    daemon.reload_status = status
    try:
        daemon.status_socket = StatusSocket(
            socket_path(opts.pid_file),
            os.geteuid() if ident.uid is None else ident.uid,
            os.getegid() if ident.gid is None else ident.gid,
            daemon.state,
        )
    except OSError as exc:  # the daemon runs; only --status cannot ask it
        print(render("status_failed", path=socket_path(opts.pid_file), error=exc), file=sys.stderr)
    handshake = None if opts.no_fork else _detach(daemon, pidfile)
    try:
        pidfile.write(os.getpid())
        try:
            drop_privileges(ident)
        except OSError as exc:
            raise FatalError(f"Unable to drop privileges: {exc.strerror}") from None
        daemon.check_config_readable(time.time())
        return daemon.run(handshake.ok if handshake else lambda: None)
    except FatalError as exc:
        if handshake:
            handshake.fail(str(exc))
        raise
    except Exception as exc:  # a bug: said where someone will read it
        log.critical("iplog stopped: %s", exc, exc_info=True)
        if handshake:
            handshake.fail(f"iplog stopped: {exc} (see syslog)")
        raise FatalError(f"iplog stopped: {exc}") from None
    finally:
        problem = pidfile.remove()
        if problem:
            report(problem)
        status.remove()
        if daemon.status_socket is not None:
            daemon.status_socket.close()
        daemon.out.close()


def _prepared(
    opts: Options,
    config: Config,
    reload: Callable[[], Loaded],
    names: list[str],
    ident: Identity,
) -> Daemon:
    """The daemon with its capture open and its log handed to the run user."""
    daemon = Daemon(opts, build_engine(opts, config, **live_edges(opts)), reload)
    daemon.open_interfaces(names)
    if not daemon.sources:
        why = "; ".join(f"{name}: {reason}" for name, reason in daemon.failures.items())
        raise FatalError(f"Couldn't initialize interfaces. ({why})")
    daemon.out = open_output(opts, on_error=report)
    try:
        daemon.out.give_to(ident.uid, ident.gid)
    except OSError as exc:
        raise FatalError(
            f"Unable to hand the log to the user iplog runs as: {exc.strerror}"
        ) from None
    if opts.stdout and opts.no_fork:
        # `iplog -o -L | head`: the reader gone ends iplog quietly, as a C tool.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    return daemon


def _detach(daemon: Daemon, pidfile: PidFile) -> Handshake:
    """Become a daemon (python-daemon).  The process that was started stays
    behind, waiting for the daemon's word, and exits with it."""
    import daemon as pydaemon  # python-daemon

    rfd, wfd = os.pipe()
    child = os.fork()
    if child:
        os.close(wfd)
        sys.stdout.flush()
        os._exit(Handshake.wait(rfd, child))  # never through this process's cleanup
    os.close(rfd)
    keep = [pidfile.fd, wfd, *(fd for s in daemon.sources.values() for fd in s.filenos())]
    keep += daemon.out.fds()
    if daemon.reload_status is not None:
        keep.append(daemon.reload_status.fd)
    if daemon.status_socket is not None:
        keep.append(daemon.status_socket.fileno())
    if isinstance(daemon.engine.fool, Replier):
        keep.append(daemon.engine.fool.fileno())
    context = pydaemon.DaemonContext(
        files_preserve=keep,
        working_directory="/",
        umask=0o022,
        signal_map={},
        stdout=sys.stdout if daemon.opts.stdout else None,
        detach_process=True,
    )
    handshake = Handshake(wfd)
    try:
        context.open()
    except Exception as exc:
        handshake.fail(f"Unable to detach: {exc}")  # the starting process says it
        pidfile.remove()
        os._exit(255)
    logs.to_syslog()
    os.set_inheritable(pidfile.fd, False)
    return handshake
