"""The iplog command line (spec A1, B13, C1, C2): getopt_long semantics.

Short options bundle (``-NDw``); a boolean long option takes its value only
after ``=`` (``--log-ip=false``, ``--log-ip=toggle``); long options may be
shortened to any unambiguous prefix, as with getopt_long.  Options are
applied in order over the config file, so ``-h`` shows what is in force at
that point and ``--pid-file`` must come before ``-k``/``-R``.
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from typing import Callable

from . import __version__
from .config import nameserver_rules, read_config
from .config.parser import format_effective
from .options import (
    DEFAULT_CONFIG, DEFAULT_FACILITY, DEFAULT_PRIORITY, FACILITIES, PRIORITIES, VERSION,
    FatalError, Options, normalise, syslog_name,
)

PROG = "iplog"


class UsageError(Exception):
    """Bad command line: message on stderr, exit 2 (spec B13)."""


@dataclass(frozen=True)
class Opt:
    long: tuple[str, ...]
    short: str | None
    kind: str  # "bool", "arg", "flag"
    field: str | None = None  # Options field for bool/arg
    help: str = ""
    metavar: str = ""


def _b(longs, short, field, text):
    return Opt(tuple(longs.split()), short, "bool", field, text)


OPTS: tuple[Opt, ...] = (
    Opt(("user",), "u", "arg", "user", "Run as the specified user or uid.", "<user|uid>"),
    Opt(("group",), "g", "arg", "group", "Run with the specified group or gid.", "<group|gid>"),
    Opt(("logfile",), "l", "arg", "logfile", "Log to <file>.", "<file>"),
    Opt(("pid-file",), None, "arg", "pid_file", "Use <file> as the pid file.", "<file>"),
    Opt(("ignore",), "d", "flag", "ignore_dns",
        "Ignore DNS traffic from nameservers listed in /etc/resolv.conf."),
    Opt(("interface",), "i", "arg", "interfaces", "Listen on the specified interface(s).",
        "<if0,...,ifN>"),
    Opt(("promisc",), "a", "arg", "promisc", "Log traffic to all hosts on <net>.",
        "<net0,...,netN>"),
    Opt(("kill",), "k", "flag", None, "Kill iplog, if it is running."),
    Opt(("restart",), "R", "flag", None, "Restart iplog, if it is running."),
    Opt(("no-fork",), "o", "flag", "no_fork", "Run in the foreground."),
    Opt(("stdout",), "L", "flag", "stdout", "Log to stdout."),
    Opt(("help",), "h", "flag", None, "This help screen."),
    Opt(("version",), "v", "flag", None, "Print version information and exit."),
    Opt(("facility",), None, "arg", "facility", "Use the specified syslog facility.",
        "<facility>"),
    Opt(("priority",), None, "arg", "priority", "Use the specified syslog priority.",
        "<priority>"),
    Opt(("read-file",), "r", "arg", "read_file",
        "Analyse a pcap/pcapng capture file ('-' for stdin) instead of capturing.", "<file>"),
    Opt(("config",), "C", "arg", "config_file",
        f"Read <file> instead of {DEFAULT_CONFIG}.", "<file>"),
    Opt(("check-config",), None, "flag", "check_config",
        "Check the configuration, print the effective settings and exit."),
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
    _b("classic-detection", None, "classic_detection",
       "Count scans and floods exactly as iplog 2.2.3 did."),
    _b("json", None, "json", "Write JSON lines instead of iplog text."),
)
_BY_LONG = {name: opt for opt in OPTS for name in opt.long}
_BY_SHORT = {opt.short: opt for opt in OPTS if opt.short}


@dataclass
class Command:
    """What the command line asks for, besides options."""

    options: Options
    action: str = "run"  # run, check, help, version, kill, restart
    config_errors: tuple[str, ...] = ()
    config: object = None


def _lookup_long(name: str) -> Opt:
    if name in _BY_LONG:
        return _BY_LONG[name]
    matches = {opt for key, opt in _BY_LONG.items() if key.startswith(name)}
    if len(matches) == 1:
        return matches.pop()
    if not matches:
        raise UsageError(f"unrecognized option '--{name}'")
    raise UsageError(f"option '--{name}' is ambiguous")


def parse_bool_arg(value: str, current: bool) -> bool:
    v = value.lower()
    if v in ("yes", "true"):
        return True
    if v in ("no", "false"):
        return False
    if v == "toggle":
        return not current
    raise FatalError('Arguments must be either "yes", "true", "no", "false" or "toggle".'
                     f'\nYou gave "{value}"')


def _tokens(argv: list[str]):
    """Yield (opt, attached value or None, argv iterator) in getopt order."""
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
                    value = letters[i + 1:] or next(it, None)
                    if value is None:
                        raise UsageError(f"option requires an argument -- '{letter}'")
                    yield opt, value
                    break
                yield opt, None
        else:
            raise UsageError(f"unexpected argument '{arg}'")


def _config_path(argv: list[str]) -> str:
    """Where -C/--config points (looked at before anything else is applied)."""
    path = DEFAULT_CONFIG
    try:
        for opt, value in _tokens(argv):
            if opt.field == "config_file":
                path = value
    except (UsageError, FatalError):
        pass
    return path


def parse_args(argv: list[str], *, out=sys.stdout, err=sys.stderr,
               read=read_config) -> Command:
    """Config file, then each option in order.  Raises UsageError/FatalError."""
    path = _config_path(argv)
    config = read(path)
    opts = config.apply(Options(config_file=path))
    action = "run"
    cli_logfile = cli_stdout = False
    for opt, value in _tokens(argv):
        name = opt.long[0]
        if opt.kind == "bool":
            current = getattr(opts, opt.field)
            opts = opts.replace(**{opt.field: True if value is None
                                   else parse_bool_arg(value, current)})
        elif name in ("facility", "priority"):
            table, default = ((FACILITIES, DEFAULT_FACILITY) if name == "facility"
                              else (PRIORITIES, DEFAULT_PRIORITY))
            checked = syslog_name(value, table)
            if checked is None:
                print(f'Invalid {name}: "{value}" - falling back to default.', file=err)
                checked = default
            opts = opts.replace(**{name: checked})
        elif name in ("interface", "promisc"):
            opts = opts.replace(**{opt.field: tuple(x for x in value.split(",") if x)})
            if name == "promisc":
                opts = opts.replace(log_dest=True)
        elif name == "logfile":
            if cli_stdout:
                print("Warning: Overriding --stdout", file=err)
            opts = opts.replace(logfile=value, stdout=False)
            cli_logfile, cli_stdout = True, False
        elif name == "stdout":
            if cli_logfile:
                print("Warning: Overriding --logfile", file=err)
            opts = opts.replace(stdout=True)
            cli_logfile, cli_stdout = False, True
        elif opt.kind == "arg":
            opts = opts.replace(**{opt.field: value})
        elif name == "help":
            print_help(opts, out)
            return Command(opts, "help")
        elif name == "version":
            print(f"iplog {VERSION} (pyiplog {__version__})", file=out)
            return Command(opts, "version")
        elif name in ("kill", "restart"):
            signal_running(opts.pid_file, signal.SIGTERM if name == "kill" else signal.SIGHUP)
            return Command(opts, name)
        else:  # flags with a field
            opts = opts.replace(**{opt.field: True})
    if opts.check_config:
        action = "check"
    return Command(opts, action, config.errors, config)


def signal_running(pid_file: str, signum: int) -> None:
    """-k / -R: signal the instance named by the pid file (spec A10)."""
    try:
        with open(pid_file, encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise FatalError(f"Can't open pid file: {exc.strerror}") from None
    if not text.strip():
        raise FatalError("Error reading pid.")
    word = text.split()[0]
    if not word.isdigit() or int(word) <= 1:
        raise FatalError(f'Bad pid in {pid_file}: "{word}"')
    try:
        os.kill(int(word), signum)
    except OSError as exc:
        raise FatalError(f"Can't send process signal {int(signum)}: {exc.strerror}") from None


def print_help(opts: Options, out) -> None:
    """Option summary; '*' marks what is in force (spec A1)."""
    w = out.write
    w(f"iplog {VERSION} (pyiplog {__version__})\n")
    w('Usage: iplog [options] ("*" denotes what is enabled)\n\n')
    for opt in OPTS:
        if opt.kind == "bool":
            continue
        left = f"--{opt.long[0]}" + (f" {opt.metavar}" if opt.metavar else "")
        short = f"-{opt.short}" if opt.short else "  "
        w(f"  {short}  {left:<32} {opt.help}\n")
    w("\n")
    for opt in OPTS:
        if opt.kind != "bool":
            continue
        mark = "*" if getattr(opts, opt.field) else " "
        short = f"-{opt.short}" if opt.short else "  "
        left = f"--{opt.long[0]}[=true|false|toggle]"
        w(f" {mark}{short}  {left:<42} {opt.help}\n")
    w("\nLong boolean options take their value only after '=': --log-ip=false.\n")
    w(f"Defaults: pid file {opts.pid_file}, facility {opts.facility}, "
      f"priority {opts.priority}, config {opts.config_file}.\n")


def _warn(text: str) -> None:
    print(text, file=sys.stderr)


def check_config(cmd: Command, out=sys.stdout, err=sys.stderr) -> int:
    opts, _ = normalise(cmd.options)
    for line in cmd.config_errors:
        print(line, file=err)
    dns = nameserver_rules() if opts.ignore_dns else ()
    for line in format_effective(opts, cmd.config, dns):
        print(line, file=out)
    return 1 if cmd.config_errors else 0


def main(argv: list[str] | None = None, run: Callable | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        cmd = parse_args(argv)
        if cmd.action in ("help", "version", "kill", "restart"):
            return 0
        if cmd.action == "check":
            return check_config(cmd)
        for line in cmd.config_errors:
            _warn(line)
        opts, warnings = normalise(cmd.options)
        for line in warnings:
            _warn(line)
        if opts.json:
            raise FatalError("--json is not available yet in this version of pyiplog.")
        from .runner import run_options
        if run is not None:
            return run(opts, cmd.config)
        return run_options(opts, cmd.config, argv)
    except UsageError as exc:
        print(f"{PROG}: {exc}\nTry '{PROG} --help' for more information.", file=sys.stderr)
        return 2
    except FatalError as exc:
        print(f"Fatal: {exc}", file=sys.stderr)
        return 255
    except KeyboardInterrupt:
        return 130
