"""The iplog command: ``main`` (docs/contract.md C1, F13, L2, L3).

``loader`` turns the command line and the config file into ``Options``;
this module acts on the result: ``-h`` (help with the values in force),
``-v``, ``-k``/``-R`` (signal the running instance), ``--status`` (ask
it), ``--check-config``, or a run (``runner``).  ``iplog --report ...`` is
its own command (``report``).
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from typing import TextIO

from . import __version__
from .config.parser import Config, format_effective, nameserver_rules, read_config
from .loader import OPTS, Loaded, UsageError, config_given, config_path, load, settle, tokenize
from .messages import printable
from .options import VERSION, FatalError, Options
from .pidfile import NotRunning, ReloadFailed, signal_running

PROG = "iplog"
HOME_PAGE = "http://ojnk.sourceforge.net/"  # iplog 2.2.3's


def print_help(opts: Options, out: TextIO) -> None:
    """Option summary; '*' marks what is in force (docs/contract.md C1)."""
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
    w("iplog --report [--since T] [--until T] [--json] [FILE...]: summarise logs.\n")
    w(
        f"In force: pid file {opts.pid_file}, facility {opts.facility}, "
        f"priority {opts.priority}, config {opts.config_file}.\n"
    )


def check_config(loaded: Loaded, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """--check-config: every error with its line, then the effective settings."""
    opts, _ = settle(loaded)
    for line in loaded.config.errors:
        print(line, file=err)
    dns = nameserver_rules() if opts.ignore_dns else ()
    for line in format_effective(opts, loaded.config, dns):
        print(printable(line, limit=len(line) * 4), file=out)
    return 1 if loaded.config.errors else 0


Run = Callable[[Options, Config, Callable[[], Loaded]], int]


def ask_status(pid_file: str, as_json: bool) -> int:
    """--status: the running daemon's state, or one line saying why not."""
    from .pidfile import running_pid
    from .status import StatusError, query, render, socket_path

    try:
        pid = running_pid(pid_file)
        state = query(socket_path(pid_file))
    except NotRunning as exc:
        print(exc, file=sys.stderr)
        return 1
    except StatusError as exc:
        print(f"iplog (pid {pid}): {exc}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.stdout.write(json.dumps(state, indent=1) + "\n" if as_json else render(state))
    return 0


def act(loaded: Loaded, argv: list[str] = ()) -> int:
    """-h, -v, -k, -R, --status or --check-config: the exit status."""
    if loaded.action in ("help", "version", "check"):
        # `iplog --check-config | head` ends quietly, as a C tool would.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if loaded.action == "help":
        print_help(loaded.options, sys.stdout)
    elif loaded.action == "version":
        # 2.2.3's three lines (scripts grep "iplog version"), then our own.
        print(
            f"iplog version {VERSION}\nby Ryan McCabe <odin@numb.org>\n{HOME_PAGE}\n"
            f"pyiplog {__version__}"
        )
    elif loaded.action == "check":
        return check_config(loaded)
    elif loaded.action == "status":
        return ask_status(loaded.options.pid_file, "--json" in argv)  # not the config's json
    else:
        try:
            signal_running(loaded.options.pid_file, loaded.action)
        except (NotRunning, ReloadFailed) as exc:
            print(exc, file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None, run: Run | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--report"]:
        from . import report

        return report.main(argv[1:])
    try:
        tokens = tokenize(argv)
        path, required = config_path(tokens), config_given(tokens)

        def reload() -> Loaded:  # the daemon's SIGHUP: the same files, the same command line
            return load(tokens, read_config(path, required))

        loaded = reload()
        for line in loaded.warnings:
            print(printable(line), file=sys.stderr)
        if loaded.action != "run":
            return act(loaded, argv)
        for line in loaded.config.errors:
            print(line, file=sys.stderr)  # escaped by the parser
        opts, warnings = settle(loaded)
        for line in warnings:
            print(line, file=sys.stderr)
        if run is None:
            from .runner import run_options as run
        return run(opts, loaded.config, reload)
    except UsageError as exc:
        print(f"{PROG}: {exc}\nTry '{PROG} --help' for more information.", file=sys.stderr)
        return 2
    except FatalError as exc:
        print(f"Fatal: {printable(str(exc), limit=1000)}", file=sys.stderr)
        return 255
    except KeyboardInterrupt:
        return 130
