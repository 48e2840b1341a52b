"""Command-line tokens + config file -> ``Options`` (docs/contract.md C1, C2, F13).

The one options loader: ``iplog`` at start, ``--check-config`` and the
daemon's reload (SIGHUP) all call ``load``.  It is pure: the caller reads
the config file and acts on what the command line asks for (``-h``, ``-v``,
``-k``, ``-R``); warnings come back as text.

getopt_long semantics: short options bundle (``-NDw``); a boolean long
option takes its value only after ``=`` (``--log-ip=false``,
``--log-ip=toggle``); long options may be shortened to any unambiguous
prefix.  Options are applied in order over the config file, so ``-h``
shows what is in force at that point and ``--pid-file`` must come before
``-k``/``-R``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from .config.parser import Config
from .config.rules import RuleError, promisc_network
from .config.words import (
    WordError,
    boolean_or_toggle,
    comma_list,
    megabytes,
    per_second,
    syslog_value,
)
from .messages import render
from .options import DEFAULT_CONFIG, FatalError, Options, normalise

ACTIONS = (
    "help",
    "version",
    "kill",
    "restart",
    "status",
)  # what the command line asks for besides options


class UsageError(Exception):
    """Bad command line: message on stderr, exit 2 (docs/contract.md F13)."""


@dataclass(frozen=True)
class Opt:
    long: tuple[str, ...]
    short: str | None
    kind: str  # "bool", "arg", "flag"
    field: str | None = None  # Options field for bool/arg/flag
    help: str = ""
    metavar: str = ""


def _b(longs: str, short: str | None, field: str, text: str) -> Opt:
    return Opt(tuple(longs.split()), short, "bool", field, text)


OPTS: tuple[Opt, ...] = (
    Opt(("user",), "u", "arg", "user", "Run as the specified user or uid.", "<user|uid>"),
    Opt(("group",), "g", "arg", "group", "Run with the specified group or gid.", "<group|gid>"),
    Opt(("logfile",), "l", "arg", "logfile", "Log to <file>.", "<file>"),
    Opt(("pid-file",), None, "arg", "pid_file", "Use <file> as the pid file.", "<file>"),
    Opt(
        ("ignore",),
        "d",
        "flag",
        "ignore_dns",
        "Ignore DNS traffic from nameservers listed in /etc/resolv.conf.",
    ),
    Opt(
        ("interface",),
        "i",
        "arg",
        "interfaces",
        "Listen on the specified interface(s).",
        "<if0,...,ifN>",
    ),
    Opt(
        ("promisc",), "a", "arg", "promisc", "Log traffic to all hosts on <net>.", "<net0,...,netN>"
    ),
    Opt(("kill",), "k", "flag", None, "Kill iplog, if it is running."),
    Opt(("restart",), "R", "flag", None, "Restart iplog, if it is running."),
    Opt(
        ("status",),
        None,
        "flag",
        None,
        "Print the running iplog's state (with --json: as JSON) and exit.",
    ),
    Opt(("no-fork",), "o", "flag", "no_fork", "Run in the foreground."),
    Opt(("stdout",), "L", "flag", "stdout", "Log to stdout."),
    Opt(("help",), "h", "flag", None, "This help screen."),
    Opt(("version",), "v", "flag", None, "Print version information and exit."),
    Opt(
        ("capture-buffer",),
        None,
        "arg",
        "capture_buffer",
        "Kernel capture ring per interface, in MB (default 8).",
        "<MB>",
    ),
    Opt(
        ("lookup-rate",),
        None,
        "arg",
        "lookup_rate",
        "Name lookups started a second, at most (default 20).",
        "<N>",
    ),
    Opt(
        ("metrics-file",),
        None,
        "arg",
        "metrics_file",
        "Write Prometheus metrics to <file> every 15 s.",
        "<file>",
    ),
    Opt(("facility",), None, "arg", "facility", "Use the specified syslog facility.", "<facility>"),
    Opt(("priority",), None, "arg", "priority", "Use the specified syslog priority.", "<priority>"),
    Opt(
        ("read-file",),
        "r",
        "arg",
        "read_file",
        "Analyse a pcap/pcapng capture file ('-' for stdin) instead of capturing.",
        "<file>",
    ),
    Opt(
        ("config",),
        "C",
        "arg",
        "config_file",
        f"Read <file> instead of {DEFAULT_CONFIG}.",
        "<file>",
    ),
    Opt(
        ("check-config",),
        None,
        "flag",
        "check_config",
        "Check the configuration, print the effective settings and exit.",
    ),
    _b("tcp", None, "tcp", "Log TCP traffic."),
    _b("udp", None, "udp", "Log UDP traffic."),
    _b("icmp", None, "icmp", "Log ICMP traffic."),
    _b("log-ip", "w", "log_ip", "Log the IP address as well as the hostname."),
    _b("log-dest", "D", "log_dest", "Log the destination of traffic."),
    _b("dns-cache", "c", "dns_cache", "Cache DNS lookups."),
    _b("get-ident", "e", "get_ident", "Get ident info on connections to listening ports."),
    _b("tcp-resolve", "T", "tcp_resolve", "Resolve IP addresses of TCP traffic."),
    _b("udp-resolve", "U", "udp_resolve", "Resolve IP addresses of UDP traffic."),
    _b("icmp-resolve", "I", "icmp_resolve", "Resolve IP addresses of ICMP traffic."),
    Opt(("disable-resolver",), "N", "flag", "disable_resolver", "Do not resolve any names."),
    _b("verbose", "V", "verbose", "Log bad-checksum and short IP packets."),
    _b("fool-nmap", "z", "fool_nmap", "Fool nmap's OS detection (dangerous)."),
    _b("scans-only", "m", "scans_only", "Only log scans."),
    _b("detect-syn-flood", "s", "syn_flood", "Stop resolving during a SYN flood."),
    _b("detect-frag log-frag", "y", "frag", "Detect IP fragment attacks."),
    _b("detect-traceroute log-traceroute", "t", "traceroute", "Detect traceroute."),
    _b("detect-ping-flood log-ping-flood", "P", "ping_flood", "Detect ping floods."),
    _b("detect-smurf log-smurf", "S", "smurf", "Detect smurf attacks."),
    _b("detect-bogus log-bogus", "b", "bogus", "Detect bogus TCP flags."),
    _b("detect-portscan log-portscan", "p", "portscan", "Detect TCP port scans."),
    _b("detect-udp-scan log-udp-scan", "F", "udp_scan", "Detect UDP scans/floods."),
    _b("detect-fin-scan log-fin-scan", "f", "fin_scan", "Detect TCP FIN scans."),
    _b("detect-syn-scan log-syn-scan", "q", "syn_scan", "Detect TCP SYN scans."),
    _b("detect-xmas-scan log-xmas-scan", "x", "xmas_scan", "Detect TCP Xmas scans."),
    _b("detect-null-scan log-null-scan", "n", "null_scan", "Detect TCP null scans."),
    _b(
        "classic-detection",
        None,
        "classic_detection",
        "Count scans and floods exactly as iplog 2.2.3 did.",
    ),
    _b("json", None, "json", "Write JSON lines instead of iplog text."),
)
_BY_LONG = {name: opt for opt in OPTS for name in opt.long}
_BY_SHORT = {opt.short: opt for opt in OPTS if opt.short}

Token = tuple[Opt, "str | None"]  # an option and its value (None: none given)


@dataclass(frozen=True)
class Loaded:
    """What the command line and the config file say together."""

    options: Options  # in force where the command line ended (or stopped at an action)
    config: Config
    action: str = "run"  # run, check, or one of ACTIONS
    warnings: tuple[str, ...] = ()


def _lookup_long(name: str) -> Opt:
    if name in _BY_LONG:
        return _BY_LONG[name]
    matches = {opt for key, opt in _BY_LONG.items() if key.startswith(name)}
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        raise UsageError(f"unrecognized option '--{name}'")
    raise UsageError(f"option '--{name}' is ambiguous")


def _tokens(argv: list[str]) -> Iterator[Token]:
    it = iter(argv)
    for arg in it:
        if arg == "--":
            rest = list(it)
            if rest:
                raise UsageError(f"unexpected argument '{rest[0]}'")
            return
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            opt = _lookup_long(name)
            if eq and opt.kind == "flag":
                raise UsageError(f"option '--{opt.long[0]}' doesn't allow an argument")
            if opt.kind == "arg" and not eq:
                value = next(it, None)
                if value is None:
                    raise UsageError(f"option '--{opt.long[0]}' requires an argument")
                yield opt, value
            else:
                yield opt, (value if eq else None)
        elif arg.startswith("-") and len(arg) > 1:
            letters = arg[1:]
            for i, letter in enumerate(letters):
                opt = _BY_SHORT.get(letter)
                if opt is None:
                    raise UsageError(f"invalid option -- '{letter}'")
                if opt.kind == "arg":
                    value = letters[i + 1 :] or next(it, None)
                    if value is None:
                        raise UsageError(f"option requires an argument -- '{letter}'")
                    yield opt, value
                    break
                yield opt, None
        else:
            raise UsageError(f"unexpected argument '{arg}'")


def tokenize(argv: list[str]) -> tuple[Token, ...]:
    """The command line as (option, value) tokens, in order; raises UsageError."""
    return tuple(_tokens(argv))


def config_path(tokens: tuple[Token, ...]) -> str:
    """Where -C/--config points: read before anything else is applied."""
    path = DEFAULT_CONFIG
    for opt, value in tokens:
        if opt.field == "config_file":
            path = value
    return path


def config_given(tokens: tuple[Token, ...]) -> bool:
    """Whether -C named the config file (then it must be there)."""
    return any(opt.field == "config_file" for opt, _ in tokens)


def load(tokens: tuple[Token, ...], config: Config) -> Loaded:
    """The config file's settings, then each option in order, up to the
    first action (``-h``, ``-v``, ``-k``, ``-R``).  Raises FatalError."""
    opts = config.apply(Options(config_file=config_path(tokens)))
    warnings: list[str] = []
    given = None  # the last of -l and -L on the command line
    status = False  # --status reads the options after it too (--pid-file, --json)
    for opt, value in tokens:
        name = opt.long[0]
        if name == "status":
            status = True
            continue
        if name in ACTIONS:  # after --status, only a question is asked
            return Loaded(opts, config, "status" if status else name, tuple(warnings))
        if opt.kind == "bool":
            if value is None:
                opts = opts.replace(**{opt.field: True})
                continue
            try:
                flag = boolean_or_toggle(value, getattr(opts, opt.field))
            except WordError as exc:
                raise FatalError(str(exc)) from None
            opts = opts.replace(**{opt.field: flag})
        elif name in (
            "facility",
            "priority",
            "interface",
            "promisc",
            "capture-buffer",
            "lookup-rate",
        ):
            opts = opts.replace(**_checked(opt, value, warnings))
        elif name in ("logfile", "stdout"):
            if given is not None and given != name:
                warnings.append(render("overriding", option=given))
            given = name
            opts = (
                opts.replace(logfile=value, stdout=False)
                if name == "logfile"
                else opts.replace(stdout=True)
            )
        elif opt.kind == "arg":
            opts = opts.replace(**{opt.field: value})
        else:  # flags with a field
            opts = opts.replace(**{opt.field: True})
    action = "status" if status else "check" if opts.check_config else "run"
    return Loaded(opts, config, action, tuple(warnings))


def _checked(opt: Opt, value: str, warnings: list[str]) -> dict:
    """The Options fields an option's checked value sets.  Raises FatalError."""
    name = opt.long[0]
    if name in ("facility", "priority"):
        checked, warning = syslog_value(name, value)
        if warning:
            warnings.append(warning)
        return {name: checked}
    try:
        if name == "capture-buffer":
            return {opt.field: megabytes(value)}
        if name == "lookup-rate":
            return {opt.field: per_second(value)}
        names = comma_list(value)
        if name == "promisc":
            for net in names:
                promisc_network(net)
            return {opt.field: names, "log_dest": True}
        return {opt.field: names}
    except (WordError, RuleError) as exc:
        raise FatalError(str(exc)) from None


def settle(loaded: Loaded) -> tuple[Options, list[str]]:
    """The options a run uses: 2.2.3's normalisation of what was loaded."""
    return normalise(loaded.options)
