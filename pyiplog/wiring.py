"""Options and config -> the parts of a run: rules, names, engine, output.

Shared by ``iplog -r`` (``runner``) and the daemon, at start and on reload.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .config.parser import Config, nameserver_rules
from .config.rules import Filters
from .engine import Engine
from .options import FatalError, Options
from .output import LogFile, LogTarget, SyslogLog, TextLog
from .resolve import CachedResolver, HostLookup, Namer

if TYPE_CHECKING:
    from .decode import Datagram
    from .ident import IdentLookups


def build_namer(opts: Options, lookup: HostLookup | None = None, wait: float = 0.0) -> Namer:
    if opts.disable_resolver:
        lookup = None
    elif lookup is None:
        lookup = CachedResolver(cache=opts.dns_cache, wait=wait, rate=opts.lookup_rate)
    return Namer(lookup, log_ip=opts.log_ip)


def build_filters(opts: Options, config: Config | None) -> Filters:
    """The config's rules, after the ``ignore_dns`` ones when that is on."""
    dns = nameserver_rules() if opts.ignore_dns else ()
    return Filters(config.filters if config else (), dns)


def build_engine(
    opts: Options,
    config: Config | None,
    lookup: HostLookup | None = None,
    wait: float = 0.0,
    ident: IdentLookups | None = None,
    fool: Callable[[float, Datagram, bytes], None] | None = None,
) -> Engine:
    return Engine(opts, build_filters(opts, config), build_namer(opts, lookup, wait), ident, fool)


def open_output(
    opts: Options, offline: bool = False, on_error: Callable[[str], None] | None = None
) -> LogTarget:
    """The log target of docs/contract.md O1: stdout, a log file, or syslog; in iplog's
    text or as JSON lines (docs/contract.md O4)."""
    text, logfile, syslog = TARGETS
    if opts.json:  # json and datetime only when asked for
        from .output.jsonlines import JsonFile, JsonSyslog, JsonText

        text, logfile, syslog = JsonText, JsonFile, JsonSyslog
    if opts.stdout or (offline and not opts.logfile):
        return text(sys.stdout)
    if opts.logfile:
        try:
            return logfile(opts.logfile, on_error)
        except OSError as exc:
            raise FatalError(
                f'Unable to open "{opts.logfile}" for writing: {exc.strerror}.'
            ) from None
    return syslog(opts.facility, opts.priority, on_error=on_error)


TARGETS = (TextLog, LogFile, SyslogLog)
