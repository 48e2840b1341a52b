"""``iplog --report``: what the logs say over a period (docs/contract.md L7).

Reads iplog's own file form (``Mon DD HH:MM:SS MESSAGE``), syslog files
(``Mon DD HH:MM:SS HOST iplog[PID]: MESSAGE`` or rsyslog's RFC 3339 stamp;
lines of other tags are skipped) and JSON lines (``iplog --json``), plain or
gzipped, streamed a line at a time.  The text forms carry no year: a line
takes the year that puts it at or before its file's last modification (the
time of its last line), so a file that crosses New Year reads right; from
standard input, the current time stands for that.

Pure but for ``main`` (files, the clock): ``Summary.add`` takes one parsed
line; ``render``/``as_json`` give the report.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime

from .kinds import KINDS
from .output.logfile import MONTHS as LOG_MONTHS
from .resolve import read_services

DEFAULT_LOG = "/var/log/iplog"
TOP = 10
MAX_SOURCES = 100_000  # sources remembered at once (spoofed floods bring millions)
MONTHS = {m: i for i, m in enumerate(LOG_MONTHS, 1)}  # the stamps iplog writes
_STAMP = re.compile(r"([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) (.*)")
_TAG = re.compile(r"\S+ iplog(?:\[\d+\])?: (.*)")
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (.*)")

# The alarms, by the name their lines start with (2.2.3's and pyiplog's kinds).
_NAMES = {kind.name: kind.name for kind in KINDS.values()}
_PROTOS = {kind.name: kind.proto for kind in KINDS.values()}
_ALARM = re.compile(
    r"(?P<name>.+?)(?: with decoys)? detected(?: to (?P<dst>\S+?))?"
    r"(?: \[(?:ports?|protocols) (?P<ports>[^\]]*)\])? from (?P<src>.+)"
)
_MANY = re.compile(r"\d+ (?:sources|reflecting networks)\b")  # no one source to name
_BOGUS = re.compile(
    r"TCP: Bogus TCP flags set by (?P<src>\S+):\d+ \(dest (?:port |\S+:)(?P<port>\d+)\)"
)
_FRAGMENTS = re.compile(
    r"(?:Oversized|Duplicate|Overlapping|Too many) IP fragments(?: to \S+)? from (?P<src>\S+)"
)
_ATTEMPT = re.compile(
    r"TCP: (?P<service>\S+(?: \d+)?) connection attempt(?: to \S+)? from (?P<src>\S+)"
)
_DGRAM = re.compile(r"UDP: dgram to (?:\S+:)?(?P<service>\S+(?: \d+)?) from (?P<src>\S+) \(")
_ICMP = re.compile(r"ICMP(?:v6)?: (?P<what>echo(?: reply)?|[a-z ]+?) from (?P<src>\S+)")


# One iplog line: (when, in seconds since the epoch; its message; the
# source address when the form gives it (JSON's ``src``), else None;
# whether its year was inferred (a text stamp has none)).
Line = tuple[float, str, "str | None", bool]


class Source:
    """One source's counts (its counters made when first needed: a spoofed
    flood's sources have a line each)."""

    __slots__ = ("_alarms", "_ports", "day", "first", "last", "lines", "more_days")

    def __init__(self, ts: float, day: str):
        self._alarms: Counter | None = None
        self._ports: Counter | None = None
        self.lines = 0  # per-packet lines
        self.first = self.last = ts
        self.day = day  # the first day it was seen
        self.more_days: set[str] | None = None

    @property
    def alarms(self) -> Counter:  # kind name -> alarms
        if self._alarms is None:
            self._alarms = Counter()
        return self._alarms

    @property
    def ports(self) -> Counter:  # service or port -> lines and alarms
        if self._ports is None:
            self._ports = Counter()
        return self._ports

    @property
    def days(self) -> int:
        return 1 + len(self.more_days or ())

    def seen(self, ts: float, day: str) -> None:
        if ts < self.first:
            self.first = ts
        if ts > self.last:
            self.last = ts
        if day != self.day:
            if self.more_days is None:
                self.more_days = set()
            self.more_days.add(day)


def _alarm_count(source: Source) -> int:
    return sum(source._alarms.values()) if source._alarms else 0


def _host(text: str) -> str:
    """The address a line printed a host as: ``name (addr)`` -> addr,
    ``user@host`` -> host; else the text itself."""
    if text.endswith(")") and " (" in text:
        text = text[text.rindex(" (") + 2 : -1]
    return text.rpartition("@")[2]


def _without_port(text: str) -> str:
    """``S:port`` -> ``S`` (IPv6 keeps its colons: the port is after the last)."""
    host, sep, port = text.rpartition(":")
    return host if sep and port.isdigit() else text


class Summary:
    """The report's counts, line by line."""

    def __init__(self, since: float, until: float, services: dict | None = None):
        self.since, self.until = since, until
        # (port, protocol) -> name: an alarm's port numbers as the lines name them
        self.services = services or {}
        self.first = float("inf")
        self.last = 0.0
        self.lines = 0  # iplog lines in the period
        self.alarms: Counter = Counter()  # kind name -> alarms
        self.sources: dict[str, Source] = {}
        self.ports: Counter = Counter()  # service or port -> per-packet lines and alarms
        self.hours: Counter = Counter()  # hour of the day -> lines
        self.alarm_hours: Counter = Counter()
        self._hours: dict[int, tuple[int, str]] = {}  # hours since the epoch -> (hour, day)
        self.forgotten = 0  # sources dropped to keep memory bounded (_forget)

    def add(self, line: Line) -> None:
        ts, msg, given, _ = line
        if not self.since <= ts <= self.until:
            return
        self.lines += 1
        if ts < self.first:
            self.first = ts
        if ts > self.last:
            self.last = ts
        hour, day = self._clock(ts)
        self.hours[hour] += 1
        alarm = self._alarm(msg, given)
        if alarm is not None:
            kind, src, numbers = alarm
            proto = _PROTOS.get(kind, "tcp")
            ports = [self.services.get((int(p), proto), p) if p.isdigit() else p for p in numbers]
            self.alarms[kind] += 1
            self.alarm_hours[hour] += 1
            for port in ports:
                self.ports[port] += 1
            if src is not None:
                source = self._source(src, ts, day)
                source.alarms[kind] += 1
                for port in ports:
                    source.ports[port] += 1
            return
        packet = self._packet(msg, given)
        if packet is not None:
            src, service = packet
            source = self._source(src, ts, day)
            source.lines += 1
            if service is not None:
                source.ports[service] += 1
                self.ports[service] += 1

    def _clock(self, ts: float) -> tuple[int, str]:
        """The local hour and day of ``ts`` (worked out once an hour of the logs)."""
        key = int(ts // 3600)
        known = self._hours.get(key)
        if known is None:
            t = time.localtime(ts)
            known = self._hours[key] = (t.tm_hour, time.strftime("%Y-%m-%d", t))
        return known

    def _source(self, src: str, ts: float, day: str) -> Source:
        sources = self.sources
        source = sources.get(src)
        if source is None:
            if len(sources) >= MAX_SOURCES:
                self._forget()
            source = sources[src] = Source(ts, day)
        else:
            source.seen(ts, day)
        return source

    def _forget(self) -> None:
        """Too many sources (spoofed ones, most of them): the half with the
        fewest alarms and lines goes; the report says so."""
        ranked = sorted(self.sources.items(), key=lambda kv: (_alarm_count(kv[1]), kv[1].lines))
        for src, _ in ranked[: len(ranked) // 2]:
            del self.sources[src]
        self.forgotten += len(ranked) // 2

    @staticmethod
    def _alarm(msg: str, src: str | None) -> tuple[str, str | None, list[str]] | None:
        """(kind, source or None, ports) of an alarm line; None for any other."""
        if " detected" not in msg and " IP fragments " not in msg and "Bogus" not in msg:
            return None  # the common case: a per-packet line
        m = _ALARM.fullmatch(msg)
        if m is not None and m["name"] in _NAMES:
            ports = [p for p in (m["ports"] or "").split(",") if p and p != "..."]
            who = m["src"]
            if _MANY.match(who):
                return m["name"], None, ports  # its sources may be forged: none named
            who = re.sub(r" \[ports? [^\]]*\]$", "", who)
            return m["name"], src or _host(who), ports
        m = _BOGUS.fullmatch(msg)
        if m is not None:
            return "TCP: Bogus TCP flags", src or _host(m["src"]), [m["port"]]
        m = _FRAGMENTS.fullmatch(msg)
        if m is not None:
            return "IP fragment attack", src or _host(m["src"]), []
        return None

    @staticmethod
    def _packet(msg: str, src: str | None) -> tuple[str, str | None] | None:
        """(source, service) of a per-packet line; None for any other."""
        pattern = _ATTEMPT if msg.startswith("TCP") else _DGRAM if msg.startswith("UDP") else None
        if pattern is not None:
            m = pattern.match(msg)
            if m is not None:
                service = m["service"].removeprefix("port ")
                return src or _host(_without_port(m["src"])), service
        if msg.startswith("ICMP"):
            m = _ICMP.match(msg)
            if m is not None:
                return src or _host(m["src"]), None
        return None

    # --- the report ----------------------------------------------------------------

    def top_sources(self, n: int) -> list[tuple[str, Source]]:
        ranked = sorted(
            self.sources.items(),
            key=lambda item: (-_alarm_count(item[1]), -item[1].lines, item[0]),
        )
        return ranked[:n]

    def as_json(self, n: int = TOP) -> dict:
        def stamp(ts: float) -> str | None:
            return datetime.fromtimestamp(ts).astimezone().isoformat() if ts else None

        return {
            "since": stamp(self.since if self.since > 0 else 0),
            "until": stamp(self.until),
            "first": stamp(self.first) if self.lines else None,
            "last": stamp(self.last) if self.lines else None,
            "lines": self.lines,
            "sources_dropped": self.forgotten,
            "alarms": dict(self.alarms.most_common()),
            "top_sources": [
                {
                    "source": src,
                    "alarms": dict(s.alarms.most_common()),
                    "lines": s.lines,
                    "ports": [p for p, _ in s.ports.most_common(n)],
                    "first": stamp(s.first),
                    "last": stamp(s.last),
                    "days": s.days,
                }
                for src, s in self.top_sources(n)
            ],
            "top_ports": [{"port": p, "count": c} for p, c in self.ports.most_common(n)],
            "sources_on_several_days": sorted(
                src for src, s in self.sources.items() if s.more_days
            ),
            "hours": {f"{h:02d}": self.hours.get(h, 0) for h in range(24)},
            "alarm_hours": {f"{h:02d}": self.alarm_hours.get(h, 0) for h in range(24)},
        }

    def render(self, sources: list[str], inferred: bool, n: int = TOP, brief: bool = False) -> str:
        """For a person; ``brief`` (logwatch's section): the alarms, sources
        and ports only, and nothing at all for a period without a line."""
        if brief and not self.lines:
            return ""
        out = [] if brief else self._head(sources, inferred)
        if self.lines:
            out.append(f"First line {_local(self.first)}, last line {_local(self.last)}.")
        out += ["", "Alarms by kind:"]
        out += [f"  {count:7d}  {kind}" for kind, count in self.alarms.most_common()] or ["  none"]
        out += ["", "Top sources:", *self._sources(n)]
        out += ["", "Top targeted ports:"]
        out += [f"  {count:7d}  {port}" for port, count in self.ports.most_common(n)] or ["  none"]
        several = sorted(src for src, s in self.sources.items() if s.more_days)
        more = " ..." if len(several) > 50 else ""
        out += ["", "Sources seen on more than one day:"]
        out.append("  " + (", ".join(several[:50]) or "none") + more)
        if not brief:
            out += ["", "Lines per hour of the day (# lines, ! alarms):", *self._chart()]
        return "\n".join(out) + "\n"

    def _head(self, sources: list[str], inferred: bool) -> list[str]:
        since = "the beginning" if self.since <= 0 else _local(self.since)
        out = [
            f"iplog report from {since} to {_local(self.until)}",
            f"Read: {', '.join(sources) or 'nothing'} ({self.lines} lines in the period)",
        ]
        if inferred:
            out.append(
                "Years: taken from each file's last modification (the time of its last line)."
            )
        return out

    def _sources(self, n: int) -> list[str]:
        out = []
        if self.forgotten:
            out.append(
                f"  (counted among the {MAX_SOURCES:,} busiest at a time:"
                f" {self.forgotten:,} quieter ones were dropped on the way)"
            )
        for src, s in self.top_sources(n):
            kinds = ", ".join(k for k, _ in s.alarms.most_common())
            ports = ",".join(p for p, _ in s.ports.most_common(5))
            out.append(
                f"  {src}: {_alarm_count(s)} alarms"
                + (f" ({kinds})" if kinds else "")
                + f", {s.lines} lines"
                + (f", ports {ports}" if ports else "")
                + f"; first {_local(s.first)}, last {_local(s.last)}"
            )
        return out or ["  none"]

    def _chart(self) -> list[str]:
        out = []
        peak = max(self.hours.values(), default=0)
        for h in range(24):
            count = self.hours.get(h, 0)
            alarms = self.alarm_hours.get(h, 0)
            bar = "#" * (round(40 * count / peak) if peak else 0)
            if alarms:
                bar = bar[: max(len(bar) - 1, 0)] + "!"
            out.append(f"  {h:02d}  {bar:<40} {count}" + (f" ({alarms} alarms)" if alarms else ""))
        return out


def _local(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


# --- reading ------------------------------------------------------------------------


def _year_of(month: int, day: int, hh: int, mm: int, ss: int, latest: time.struct_time) -> int:
    """The year that puts a stamp at or before ``latest`` (a day's slack for
    clocks and zones)."""
    year = latest.tm_year
    if (month, day) > (latest.tm_mon, latest.tm_mday + 1):
        year -= 1
    return year


def parse(lines: Iterable[str], mtime: float) -> Iterator[Line]:
    """The iplog lines of a file (any of the three forms); ``mtime``: when
    it was last written (the year of its text stamps)."""
    latest = time.localtime(mtime)
    cache: dict[tuple, float] = {}  # a text stamp's date -> midnight, local
    for raw in lines:
        text = raw.rstrip("\n")
        if text.startswith("{"):
            line = _json_line(text)
            if line is not None:
                yield line
            continue
        m = _STAMP.match(text)
        if m is not None:
            mon = MONTHS.get(m[1])
            if mon is None:
                continue
            day, hh, mm, ss = int(m[2]), int(m[3]), int(m[4]), int(m[5])
            key = (mon, day)
            midnight = cache.get(key)
            if midnight is None:
                year = _year_of(mon, day, hh, mm, ss, latest)
                try:
                    midnight = time.mktime((year, mon, day, 0, 0, 0, 0, 0, -1))
                except (OverflowError, ValueError):
                    continue
                cache[key] = midnight
            rest = m[6]
            tagged = _TAG.fullmatch(rest)
            yield (midnight + hh * 3600 + mm * 60 + ss, tagged[1] if tagged else rest, None, True)
            continue
        m = _RFC3339.fullmatch(text)
        if m is not None:
            tagged = _TAG.fullmatch(m[2])
            if tagged is not None:
                try:
                    ts = datetime.fromisoformat(m[1].replace("Z", "+00:00")).timestamp()
                except ValueError:
                    continue
                yield (ts, tagged[1], None, False)


def _json_line(text: str) -> Line | None:
    try:
        obj = json.loads(text)
        ts = datetime.fromisoformat(obj["time"]).timestamp()
        message = obj["message"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(message, str):
        return None
    src = obj.get("src")
    return (ts, message, src if isinstance(src, str) else None, False)


def rotations(path: str = DEFAULT_LOG) -> list[str]:
    """A log and its rotations (``.1``, ``.2.gz``, ``-20261205``...), oldest first."""
    found = [p for p in glob.glob(glob.escape(path) + "[.-]*") if _rotation(path, p)]
    if os.path.exists(path):
        found.append(path)
    return sorted(found, key=_mtime)


def _rotation(path: str, candidate: str) -> bool:
    suffix = candidate[len(path) :].removesuffix(".gz")
    return bool(re.fullmatch(r"\.\d+|-\d{8}(?:\d\d)?", suffix))


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _open(path: str):
    if path == "-":
        return sys.stdin
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")  # closed by the caller


def _when(text: str, now: float) -> float:
    """``--since``/``--until``: ``24h``, ``7d``, ``90m``, ``all``, or a date
    and time (``2026-12-05``, ``2026-12-05 06:00``, ISO 8601)."""
    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if m is not None:
        return now - int(m[1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m[2]]
    if text.strip() in ("all", "0"):
        return 0.0
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is no time (24h, 7d, all, 2026-12-05, 2026-12-05 06:00)"
        ) from None


def main(argv: list[str], now: float | None = None) -> int:
    """``iplog --report [--since T] [--until T] [--json] [--top N] [FILE...]``."""
    now = time.time() if now is None else now
    parser = argparse.ArgumentParser(
        prog="iplog --report",
        description="Summarise iplog logs (iplog's own form, syslog files, JSON lines;"
        " .gz too) over a period.",
    )
    parser.add_argument(
        "files",
        nargs="*",
        help=f"logs to read (default: {DEFAULT_LOG} and its rotations); - for standard input",
    )
    parser.add_argument("--since", default="24h", help="start: 24h (the default), 7d, all, a date")
    parser.add_argument("--until", default=None, help="end (default: now)")
    parser.add_argument("--json", action="store_true", help="one JSON object")
    parser.add_argument("--top", type=int, default=TOP, help=f"sources and ports listed ({TOP})")
    parser.add_argument(
        "--brief", action="store_true", help="alarms, sources and ports only (logwatch's section)"
    )
    args = parser.parse_args(argv)
    try:
        since = _when(args.since, now)
        until = now if args.until is None else _when(args.until, now)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    files = args.files or rotations()
    if not files:
        print(f"iplog --report: no log: {DEFAULT_LOG} does not exist", file=sys.stderr)
        return 1
    summary = Summary(since, until, read_services())
    inferred = False
    for path in files:
        try:
            fh = _open(path)
        except OSError as exc:
            print(f"iplog --report: {path}: {exc.strerror}", file=sys.stderr)
            return 1
        try:
            mtime = now if path == "-" else _mtime(path)
            for line in parse(fh, mtime):
                inferred = inferred or line[3]
                summary.add(line)
        except (OSError, EOFError) as exc:  # a cut-off .gz: what was read counts
            print(f"iplog --report: {path}: {exc}", file=sys.stderr)
        finally:
            if fh is not sys.stdin:
                fh.close()
    if args.json:
        print(json.dumps(summary.as_json(args.top), indent=1))
    else:
        sys.stdout.write(summary.render(files, inferred, args.top, args.brief))
    return 0
