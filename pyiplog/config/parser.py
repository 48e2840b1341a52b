"""iplog.conf -> ``Config`` (plain frozen data), with 2.2.3's error texts.

Lark (``iplog.lark``) splits the file into rules of words with their line
numbers; ``_Interpreter`` gives each rule its meaning.  A bad rule is
reported as ``[line N] TEXT`` and skipped; the rest of the file still loads.
Host names and service names are looked up through functions passed in, so
the parser itself does no I/O beyond what its caller hands it.
"""

from __future__ import annotations

import functools
import os
import socket
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..detect import tuning
from ..messages import printable
from ..options import SET_KEYWORDS, FatalError, Options
from .rules import (
    ICMP6_FIRST_NUMBER,
    ICMP6_TYPES,
    FilterRule,
    HostResolver,
    PortSpec,
    RuleError,
    TypeSpec,
    evaluation_order,
    parse_address,
    promisc_network,
)
from .words import WordError, boolean, comma_list, megabytes, per_second, syslog_value

# ICMP type names (docs/contract.md C2, F15): the man page's short names and 2.2.3's long
# ones, each with an optional ICMP_ prefix, matched exactly.
ICMP_TYPES: dict[str, int] = {
    "ECHOREPLY": 0,
    "ECHO_REPLY": 0,
    "UNREACH": 3,
    "DEST_UNREACHABLE": 3,
    "DEST_UNREACH": 3,
    "SOURCEQUENCH": 4,
    "SOURCE_QUENCH": 4,
    "REDIRECT": 5,
    "ECHO": 8,
    "ROUTERADVERT": 9,
    "ROUTER_ADVERT": 9,
    "ROUTERSOLICIT": 10,
    "ROUTER_SOLICIT": 10,
    "TIMXCEED": 11,
    "TIME_EXCEEDED": 11,
    "PARAMPROB": 12,
    "PARAMETER_PROBLEM": 12,
    "TSTAMP": 13,
    "TIMESTAMP": 13,
    "TSTAMPREPLY": 14,
    "TIMESTAMP_REPLY": 14,
    "IREQ": 15,
    "INFO_REQUEST": 15,
    "IREQREPLY": 16,
    "INFO_REPLY": 16,
    "MASKREQ": 17,
    "ADDRESS_REQUEST": 17,
    "MASKREPLY": 18,
    "ADDRESS_REPLY": 18,
}

_QUALIFIERS = {
    "tcp": ("from", "to", "sport", "dport"),
    "udp": ("from", "to", "sport", "dport"),
    "icmp": ("type", "from", "to"),
}
_MISSING = {
    "from": "address parameter",
    "to": "address parameter",
    "sport": "port parameter",
    "dport": "port parameter",
    "type": "ICMP type",
}
_PARAMS = {  # keyword -> (Options field, what "Missing X parameter" names)
    "user": ("user", "user"),
    "group": ("group", "group"),
    "logfile": ("logfile", "log file"),
    "pid-file": ("pid_file", "pid file"),
    "capture_buffer": ("capture_buffer", "capture buffer"),
    "lookup_rate": ("lookup_rate", "lookup rate"),
}
_NUMBERS = {"capture_buffer": megabytes, "lookup_rate": per_second}
METRICS_FILE = "metrics_file"  # `set metrics_file PATH` (docs/contract.md L8)

ServiceLookup = Callable[[str, str], int | None]


@dataclass(frozen=True)
class Config:
    """What a config file says: option assignments in file order, filters."""

    settings: tuple[tuple[str, object], ...] = ()
    filters: tuple[FilterRule, ...] = ()
    errors: tuple[str, ...] = ()
    path: str | None = None

    def apply(self, options: Options) -> Options:
        return options.replace(**dict(self.settings)) if self.settings else options


def resolve_host(name: str) -> list[str]:
    """All addresses a host name has (IPv4 and IPv6), [] when it has none."""
    try:
        infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return list(dict.fromkeys(info[4][0] for info in infos))


def lookup_service(name: str, proto: str) -> int | None:
    try:
        return socket.getservbyname(name, proto)
    except OSError:
        return None


# --- Lark: text -> rules ---------------------------------------------------------


@functools.cache
def _lark():
    """The parser, built when a file is first read: a run without a
    configuration file (``-r`` on a capture, ``-k``) does not pay for it."""
    from importlib import resources

    from lark import Lark

    grammar = resources.files(__package__).joinpath("iplog.lark").read_text()
    return Lark(grammar, parser="lalr", lexer="contextual")


# --- meaning of each rule ------------------------------------------------------


def _port_number(text: str, proto: str, services: ServiceLookup) -> int:
    if text.isdigit():
        value = int(text)
        if value > 65535:
            raise RuleError("Error: Ports must be between 1 and 65535")
        return value
    value = services(text, proto)
    if value is None:
        raise RuleError(f'Invalid port: "{text}"')
    return value


def parse_port(token: str, proto: str, services: ServiceLookup) -> PortSpec:
    negate = token.startswith("!")
    body = token[1:] if negate else token
    if body == "*":
        return PortSpec(negate=negate)
    if not body:
        raise RuleError("Missing port parameter")
    if ":" in body:
        lo_text, hi_text = body.split(":", 1)
        low = _port_number(lo_text, proto, services) if lo_text else 0
        high = _port_number(hi_text, proto, services) if hi_text else 65535
        if (low, high) == (0, 0):
            return PortSpec(negate=negate)
    else:
        low = high = _port_number(body, proto, services)
        if low == 0:
            return PortSpec(negate=negate)
    if low > high:
        raise RuleError(f"Error: Minimum port ({low}) is greater than the maximum port ({high})")
    return PortSpec(low, high, negate)


def parse_icmp_type(token: str) -> TypeSpec:
    negate = token.startswith("!")
    body = token[1:] if negate else token
    if body.isdigit():
        number = int(body)
        if ICMP6_FIRST_NUMBER <= number <= 255:
            return TypeSpec(number, negate, 6)
        if number > 18:
            raise RuleError(f"Unknown ICMP type: {body}")
        return TypeSpec(number, negate)
    name = body.upper()
    if name in ICMP6_TYPES:
        return TypeSpec(ICMP6_TYPES[name], negate, 6)
    if name.startswith("ICMP_"):
        name = name[5:]
    if name not in ICMP_TYPES:
        raise RuleError(f"Unknown ICMP type: {body}")
    return TypeSpec(ICMP_TYPES[name], negate)


Effect = tuple  # ("set", field, value) | ("filter", FilterRule) | ("tuning", ...) | ("error", text)


def _rule(method):
    """A rule of the grammar: its method gets (effects, line, keyword, args)
    and adds its effects; a RuleError is the rule's error, reported with its
    line, and the rule skipped."""

    def transform(self, tokens):
        line, keyword, args = tokens[0].line, str(tokens[0]), [str(t) for t in tokens[1:]]
        effects: list[Effect] = []
        try:
            method(self, effects, line, keyword.lower(), args)
        except RuleError as exc:
            effects.append(("error", f"[line {line}] {printable(str(exc))}"))
        return effects

    return transform


def _at_most(keyword: str, args: list[str], count: int) -> None:
    """A rule takes exactly its arguments: a word past them is an error
    (docs/contract.md C2), never an annotation silently dropped."""
    if len(args) > count:
        taken = " ".join([keyword, *args[:count]])
        hint = f" (a list is one word: {','.join(args)})" if keyword.startswith("interface") else ""
        raise RuleError(f'Unexpected "{args[count]}" after "{taken}"{hint}')


class _Rules:
    """The meaning of each rule of ``iplog.lark`` (a Lark ``Transformer``,
    made by ``_transformer``): one method per rule, each a list of effects."""

    def __init__(self, resolve: HostResolver, services: ServiceLookup):
        self.resolve = resolve
        self.services = services

    @_rule
    def set_rule(self, effects, line, keyword, args):
        if not args:
            raise RuleError("Missing set target")
        if args[0].lower() == METRICS_FILE:  # a path, not a switch
            if len(args) < 2:
                raise RuleError("Missing metrics file parameter")
            _at_most("set", args, 2)
            effects.append(("set", METRICS_FILE, args[1]))
            return
        target = SET_KEYWORDS.get(args[0].lower())
        if target is None:
            raise RuleError(f'Invalid "set" target: {args[0]}')
        _at_most("set", args, 2)
        value = True
        if len(args) > 1:
            value = boolean(args[1])
            if value is None:
                raise RuleError(f"Invalid boolean token: {args[1]}")
        effects.append(("set", target, value))

    @_rule
    def filter_rule(self, effects, line, action, args):
        if not args:
            raise RuleError("Missing protocol parameter")
        proto = args[0].lower()
        if proto not in _QUALIFIERS:
            raise RuleError(f"Invalid protocol: {args[0]}")
        if len(args) == 1:  # 'ignore udp' == 'set udp false'
            effects.append(("set", proto, action == "log"))
            return
        given = _qualifiers(proto, args[1:], self.resolve, self.services)
        effects.extend(
            (
                "filter",
                FilterRule(
                    action,
                    proto,
                    src=src,
                    dst=dst,
                    sport=given.get("sport"),
                    dport=given.get("dport"),
                    icmp_type=given.get("type"),
                    line=line,
                ),
            )
            for src in given.get("from", [None])
            for dst in given.get("to", [None])
        )

    @_rule
    def param_rule(self, effects, line, keyword, args):
        name, what = _PARAMS[keyword]
        if not args:
            raise RuleError(f"Missing {what} parameter")
        _at_most(keyword, args, 1)
        value = args[0]
        if name in _NUMBERS:
            try:
                value = _NUMBERS[name](value)
            except WordError as exc:
                raise RuleError(str(exc)) from None
        effects.append(("set", name, value))

    @_rule
    def interface_rule(self, effects, line, keyword, args):
        if not args:
            raise RuleError("Missing interface parameter")
        _at_most(keyword, args, 1)
        effects.append(("set", "interfaces", comma_list(args[0])))

    @_rule
    def promisc_rule(self, effects, line, keyword, args):
        if not args:
            raise RuleError("Missing network parameter")
        _at_most(keyword, args, 1)
        nets = comma_list(args[0])
        for net in nets:
            promisc_network(net)
        effects += [("set", "promisc", nets), ("set", "log_dest", True)]

    @_rule
    def syslog_rule(self, effects, line, keyword, args):
        if not args:
            raise RuleError(f"Missing syslog {keyword} parameter")
        _at_most(keyword, args, 1)
        value, warning = syslog_value(keyword, args[0])
        effects.append(("set", keyword, value))
        if warning:
            raise RuleError(warning)

    @_rule
    def tuning_rule(self, effects, line, keyword, args):
        if len(args) < 2:
            raise RuleError(f"Missing {keyword} parameter")
        _at_most(keyword, args, 2)
        try:
            value = tuning.check(keyword, args[0].lower(), args[1])
        except tuning.TuningError as exc:
            raise RuleError(str(exc)) from None
        effects.append(("tuning", (keyword, args[0].lower(), value)))

    @_rule
    def unknown_rule(self, effects, line, keyword, args):
        raise RuleError(f"Invalid rule: {keyword}")


@functools.cache
def _transformer():
    """``_Rules`` as a Lark ``Transformer`` (Lark is loaded only when a file is read)."""
    from lark import Transformer

    return type("Rules", (_Rules, Transformer), {})


def _qualifiers(
    proto: str, words: list[str], resolve: HostResolver, services: ServiceLookup
) -> dict[str, object]:
    """``from A``, ``to A``, ``sport P``, ``dport P``, ``type T``: each at most once."""
    given: dict[str, object] = {}
    it = iter(words)
    for word in it:
        qualifier = word.lower()
        if qualifier not in _QUALIFIERS[proto]:
            raise RuleError(f"Invalid filter keyword: {word}")
        if qualifier in given:
            raise RuleError(f'"{qualifier}" already set.')
        value = next(it, None)
        if value is None:
            raise RuleError(f"Missing {_MISSING[qualifier]}")
        if qualifier in ("from", "to"):
            given[qualifier] = parse_address(value, resolve)
        elif qualifier == "type":
            given[qualifier] = parse_icmp_type(value)
        else:
            given[qualifier] = parse_port(value, proto, services)
    return given


def _rules(
    text: str, path: str, resolve: HostResolver, services: ServiceLookup
) -> tuple[list[Effect], list[str]]:
    """The effects of every rule in ``text``; an unterminated comment's error."""
    from lark.exceptions import UnexpectedCharacters

    if not text.endswith("\n"):
        text += "\n"
    try:
        tree = _lark().parse(text)
    except UnexpectedCharacters as exc:
        # Only an unterminated '/*' can stop the lexer: the rest is comment.
        effects, _ = _rules(text[: exc.pos_in_stream], path, resolve, services)
        return effects, [f"{printable(path)}: Parse Error: Unterminated comment."]
    transformed = _transformer()(resolve, services).transform(tree)
    return [effect for rule in transformed.children for effect in rule], []


def parse_config(
    text: str,
    path: str = "iplog.conf",
    *,
    resolve: HostResolver = resolve_host,
    services: ServiceLookup = lookup_service,
) -> Config:
    """Parse the text of a config file; never raises for bad rules."""
    effects, errors = _rules(text, path, resolve, services)
    settings, filters, tunings, line_errors = [], [], [], []
    for kind, *value in effects:
        if kind == "set":
            settings.append(tuple(value))
        elif kind == "filter":
            filters.append(value[0])
        elif kind == "tuning":
            tunings.append(value[0])
        else:
            line_errors.append(value[0])
    if tunings:
        settings.append(("tuning", tuple(tunings)))
    return Config(tuple(settings), tuple(filters), tuple(line_errors + errors), path)


MAX_CONFIG = 1 << 20  # bytes: no iplog.conf is larger; /dev/zero is


def read_config(path: str, required: bool = False, **kw) -> Config:
    """Read a config file (docs/contract.md C2, L6): a regular file of at most 1 MB, or
    ``/dev/null`` (no configuration).  A missing file is an empty config
    unless ``required`` (named by -C).  Raises FatalError (at start: fatal;
    on a reload: the running configuration is kept)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block
    except FileNotFoundError:
        if required:
            raise FatalError(f'Unable to read "{path}": No such file or directory') from None
        return Config(path=path)
    except OSError as exc:
        raise FatalError(f'Unable to read "{path}": {exc.strerror}') from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) and not _is_dev_null(st):
        os.close(fd)
        raise FatalError(f'"{path}" is not a regular file')
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(MAX_CONFIG + 1)
        except OSError as exc:
            raise FatalError(f'Unable to read "{path}": {exc.strerror}') from None
    if len(data) > MAX_CONFIG:
        raise FatalError(f'"{path}" is larger than {MAX_CONFIG // (1 << 20)} MB')
    if not data.strip():  # nothing to parse (-C /dev/null): no need to load Lark
        return Config(path=path)
    # Bytes that are not UTF-8 stay what they were (a path round-trips);
    # any text of the file that reaches a log is escaped (messages.printable).
    text = data.decode("utf-8", "surrogateescape")
    if kw:  # a caller's own resolver or services (the tests'): in this process
        return parse_config(text, path, **kw)
    return parse_apart(text, path)


# The child of ``parse_apart``: its package first on the path, the config's
# text on stdin, the pickled ``Config`` on stdout.  It runs at the lowest
# CPU priority (nice 19): a reload's parse (about a second of CPU for
# 10,000 rules) must not take the CPU the capture needs under load
# (docs/contract.md L1); on an idle CPU it runs as fast as ever.
_CHILD = (
    "import os, sys; os.nice(19); sys.path.insert(0, sys.argv[1]);"
    " from pyiplog.config.parser import parse_stdin; parse_stdin(sys.argv[2])"
)


def parse_apart(text: str, path: str) -> Config:
    """``parse_config`` in a child process: the daemon never loads Lark and
    its grammar (about 7 MB it would keep for the rest of its life), and
    the text of a hostile file is parsed in a process that exits at once.
    The child runs this same code (``-I``: no environment, no working
    directory on its path).  Should it fail to run, the file is parsed here."""
    import pickle
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    try:
        child = subprocess.run(
            [sys.executable, "-I", "-c", _CHILD, root, path],
            input=text.encode("utf-8", "surrogateescape"),
            capture_output=True,
            timeout=120,
            check=True,
        )
        config = pickle.loads(child.stdout)  # our own child's output
    except (OSError, subprocess.SubprocessError, pickle.UnpicklingError, EOFError):
        return parse_config(text, path)
    if not isinstance(config, Config):
        return parse_config(text, path)
    return config


def parse_stdin(path: str) -> None:
    """``parse_apart``'s child: the text on stdin, the ``Config`` to stdout."""
    import pickle
    import sys

    text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    sys.stdout.buffer.write(pickle.dumps(parse_config(text, path)))


def _is_dev_null(st: os.stat_result) -> bool:
    try:
        null = os.stat("/dev/null")
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev


def nameserver_rules(resolv_conf: str = "/etc/resolv.conf") -> tuple[FilterRule, ...]:
    """The ``ignore_dns`` rules: ``ignore udp from NS sport 53`` per nameserver."""
    try:
        with open(resolv_conf, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return ()
    rules = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                specs = parse_address(words[1].split("%")[0], lambda _: [])
            except RuleError:
                continue
            rules += [FilterRule("ignore", "udp", src=s, sport=PortSpec(53, 53)) for s in specs]
    return tuple(rules)


def format_effective(
    options: Options, config: Config, dns_rules: Iterable[FilterRule] = ()
) -> list[str]:
    """The effective options and rules, in iplog.conf syntax (--check-config)."""
    out = []
    for name in SET_KEYWORDS.values():
        out.append(f"set {name} {'true' if getattr(options, name) else 'false'}")
    if options.metrics_file is not None:
        out.append(f"set {METRICS_FILE} {options.metrics_file}")
    for keyword, (name, _) in _PARAMS.items():
        value = getattr(options, name)
        if value is not None:
            out.append(f"{keyword} {value}")
    if options.interfaces:
        out.append("interface " + ",".join(options.interfaces))
    if options.promisc:
        out.append("promisc " + ",".join(options.promisc))
    out.append(f"facility {options.facility}")
    out.append(f"priority {options.priority}")
    out += tuning.Detection(options.tuning, options.classic_detection).describe()
    for rule in evaluation_order(config.filters, dns_rules):
        where = f"  # line {rule.line}" if rule.line else "  # ignore_dns"
        out.append(str(rule) + where)
    return out
