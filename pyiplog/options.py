"""Options: every setting of iplog 2.2.3 (docs/contract.md C1, C2) plus pyiplog's own.

One frozen dataclass, built from defaults, then the config file, then the
command line (``loader``); ``normalise`` applies 2.2.3's consistency rules.
Nothing else keeps settings: the engine, outputs and daemon are handed an
``Options``.  A setting that a running daemon cannot change (it needs root
or a fresh start) says so itself: ``restart()`` in its field's metadata;
a reload (SIGHUP) keeps the running value of those.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .kinds import KINDS, SWITCHES

VERSION = "2.2.3"  # the iplog version whose behaviour this reproduces

DEFAULT_CONFIG = "/etc/iplog.conf"
DEFAULT_PID_FILE = "/var/run/iplog.pid"
DEFAULT_FACILITY = "daemon"
DEFAULT_PRIORITY = "notice"

FACILITIES = (
    "auth",
    "authpriv",
    "cron",
    "daemon",
    "ftp",
    "kern",
    "lpr",
    "mail",
    "news",
    "syslog",
    "user",
    "uucp",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
PRIORITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")


def restart(default):
    """A field whose value a reload keeps: it takes effect at the next start."""
    return field(default=default, metadata={"restart": True})


class FatalError(Exception):
    """A startup error: printed as ``Fatal: TEXT`` on stderr, exit 255."""


def with_kind_switches(cls):
    """Add a field, on by default, for each kind's switch (kinds.SWITCHES):
    a kind declared in kinds.py is an option without another line here."""
    for name in SWITCHES:
        cls.__annotations__[name] = "bool"
        setattr(cls, name, True)
    return cls


@dataclass(frozen=True)
@with_kind_switches
class Options:
    # Protocols.
    tcp: bool = True
    udp: bool = True
    icmp: bool = True
    # Formatting and names.
    log_ip: bool = False
    log_dest: bool = False
    dns_cache: bool = True
    get_ident: bool = False
    tcp_resolve: bool = True
    udp_resolve: bool = True
    icmp_resolve: bool = True
    disable_resolver: bool = False
    verbose: bool = False
    fool_nmap: bool = False
    scans_only: bool = False
    # Detectors besides the scan and flood kinds (whose switches
    # ``with_kind_switches`` adds, from kinds.py).
    syn_flood: bool = True
    frag: bool = True
    traceroute: bool = True
    bogus: bool = True
    ignore_dns: bool = False
    decoy_scan: bool = True  # default counting only
    # ICMPv6 neighbour and multicast listener discovery lines (docs/contract.md P5).
    icmp6_nd: bool = False
    # Name lookups started a second, at most (docs/wire.md W3).
    lookup_rate: int = 20
    # Prometheus metrics written there every 15 s (docs/contract.md L8); None: none.
    metrics_file: str | None = None
    # Process.
    no_fork: bool = restart(False)
    stdout: bool = restart(False)
    user: str | None = restart(None)
    group: str | None = restart(None)
    logfile: str | None = restart(None)
    pid_file: str = restart(DEFAULT_PID_FILE)
    interfaces: tuple[str, ...] = restart(())
    promisc: tuple[str, ...] = restart(())
    capture_buffer: int = restart(8)  # MB: the kernel's capture ring, per interface
    facility: str = restart(DEFAULT_FACILITY)
    priority: str = restart(DEFAULT_PRIORITY)
    # pyiplog additions (spec C).
    classic_detection: bool = False
    json: bool = restart(False)
    read_file: str | None = restart(None)
    config_file: str = restart(DEFAULT_CONFIG)
    check_config: bool = False
    # ``threshold``/``window`` rules of iplog.conf: (word, detector, value).
    tuning: tuple[tuple[str, str, float], ...] = ()

    def replace(self, **changes) -> Options:
        return dataclasses.replace(self, **changes)

    def keeping(self, running: Options) -> Options:
        """These options with ``running``'s value of every restart-only field."""
        return self.replace(**{name: getattr(running, name) for name in RESTART_FIELDS})


RESTART_FIELDS = tuple(f.name for f in dataclasses.fields(Options) if f.metadata.get("restart"))


# `set <keyword>` targets (docs/contract.md C2) -> Options field: 2.2.3's,
# pyiplog's, the switches of the kinds 2.2.3 did not have, the rest.
_SET_NAMES = (
    "tcp",
    "udp",
    "icmp",
    "frag",
    "smurf",
    "bogus",
    "log_ip",
    "log_dest",
    "stdout",
    "no_fork",
    "verbose",
    "fin_scan",
    "syn_scan",
    "udp_scan",
    "portscan",
    "fool_nmap",
    "xmas_scan",
    "null_scan",
    "get_ident",
    "dns_cache",
    "syn_flood",
    "ignore_dns",
    "ping_flood",
    "scans_only",
    "traceroute",
    "udp_resolve",
    "tcp_resolve",
    "icmp_resolve",
    "disable_resolver",
    "classic_detection",
    "json",
)
_SET_AFTER = ("decoy_scan", "icmp6_nd")  # after the switches of the new kinds
SET_KEYWORDS: dict[str, str] = {name: name for name in (*_SET_NAMES, *SWITCHES, *_SET_AFTER)}


def normalise(opts: Options) -> tuple[Options, list[str]]:
    """2.2.3's rules after the options are read (docs/contract.md C1).

    Returns the adjusted options and warnings; raises FatalError.
    """
    o = opts
    if not (o.tcp or o.udp or o.icmp):
        raise FatalError("Told not to log anything.  Exiting.")
    if o.promisc and o.get_ident:
        raise FatalError("The promisc and get_ident flags are not compatible.")
    changes: dict = {}
    if o.promisc:
        changes["log_dest"] = True
    if o.disable_resolver:
        changes.update(tcp_resolve=False, udp_resolve=False, icmp_resolve=False)
    elif not (o.tcp_resolve or o.udp_resolve or o.icmp_resolve):
        changes["disable_resolver"] = True
    o = o.replace(**changes)
    changes = {}
    if not o.tcp_resolve:
        changes["syn_flood"] = False
    if o.disable_resolver:
        changes["dns_cache"] = False
    for kind in KINDS.values():  # smurf needs icmp or udp, portscan tcp, ...
        if kind.off_without and not any(getattr(o, proto) for proto in kind.off_without):
            changes[kind.switch] = False
    if not o.udp:
        changes["ignore_dns"] = False
    warnings = []
    return o.replace(**changes), warnings
