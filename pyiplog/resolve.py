"""Names for hosts, services and protocols (docs/contract.md O1).

``Namer`` formats what the messages print.  Host lookups go through a
function handed in (``lookup(addr) -> name or None``), so the engine never
does DNS itself: the daemon passes a cached resolver, tests pass a dict.
Services and protocols come from the system databases, read once.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import time
from collections.abc import Callable

HostLookup = Callable[[bytes], "str | None"]

DNS_CACHE_SECONDS = 3600
SERVICES = "/etc/services"  # the system databases (the tests pin their own copies)
PROTOCOLS = "/etc/protocols"


_MAPPED = bytes(10) + b"\xff\xff"  # ::ffff:0:0/96, IPv4-mapped (RFC 4291 2.5.5.2)


# The dotted quad's parts: four of them cost less than half of inet_ntoa
# (a random-source flood writes a new address a packet).
DECIMAL = tuple(map(str, range(256)))


def address_text(addr: bytes) -> str:
    """An address as the lines print it: dotted quad, or RFC 5952's form
    of an IPv6 address (lower case, the longest run of zero groups as
    ``::``, an IPv4-mapped address with its dotted quad)."""
    if len(addr) == 4:
        a, b, c, d = addr
        return f"{DECIMAL[a]}.{DECIMAL[b]}.{DECIMAL[c]}.{DECIMAL[d]}"
    text = socket.inet_ntop(socket.AF_INET6, addr)
    if "." in text and addr[:12] != _MAPPED:  # glibc's dotted "::a.b.c.d": not RFC 5952's
        return str(ipaddress.IPv6Address(addr))
    return text


def read_services(path: str | None = None) -> dict[tuple[int, str], str]:
    table: dict[tuple[int, str], str] = {}
    try:
        with open(path or SERVICES, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                words = line.split("#", 1)[0].split()
                if len(words) < 2 or "/" not in words[1]:
                    continue
                port, _, proto = words[1].partition("/")
                if port.isdigit():
                    table.setdefault((int(port), proto), words[0])
    except OSError:
        pass
    return table


def read_protocols(path: str | None = None) -> dict[int, str]:
    table: dict[int, str] = {}
    try:
        with open(path or PROTOCOLS, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                words = line.split("#", 1)[0].split()
                if len(words) >= 2 and words[1].isdigit():
                    table.setdefault(int(words[1]), words[0])
    except OSError:
        pass
    return table


# A host name as the lines may print it (RFC 1123 labels; the underscore
# that real zones use too): at most 253 characters, nothing that a log
# reader could take for another field.
MAX_NAME = 253
_NAME = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?\Z")


def looks_like_address(name: str) -> bool:
    """Whether ``name`` would be read as an address: by inet_aton (which
    takes ``10``, ``127.1``, ``0x7f.1``), as an IPv6 address, or as digits
    and dots only.  A PTR record saying so names nobody (docs/wire.md W1)."""
    bare = name.rstrip(".")
    try:
        socket.inet_aton(bare)
        return True
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, bare)
        return True
    except OSError:
        pass
    return bool(bare) and not bare.strip("0123456789.")


def trusted_name(name: str | None) -> str | None:
    """``name`` if it may stand for a host in a line: a well-formed host
    name of at most ``MAX_NAME`` characters that is not an address."""
    if not name or len(name) > MAX_NAME or not _NAME.match(name) or looks_like_address(name):
        return None
    return name.rstrip(".")


def _forward(name: str, family: int) -> set[bytes]:
    """The addresses ``name`` resolves to in ``family`` (may block)."""
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return set()
    return {socket.inet_pton(family, info[4][0].split("%")[0]) for info in infos}


def confirmed_lookup(
    addr: bytes,
    reverse: Callable[[str], str] = lambda text: socket.gethostbyaddr(text)[0],
    forward: Callable[[str, int], set[bytes]] = _forward,
) -> str | None:
    """A name for ``addr`` that its owner cannot simply claim: the PTR
    record's name, only if it is a trusted name (``trusted_name``) and
    resolves forward to ``addr`` itself (forward-confirmed reverse DNS, as
    OpenSSH's UseDNS and tcp_wrappers' PARANOID check).  May block for
    seconds: the resolver runs it on a worker thread."""
    try:
        name = trusted_name(reverse(address_text(addr)))
    except (OSError, UnicodeError):
        return None
    if name is None:
        return None
    family = socket.AF_INET if len(addr) == 4 else socket.AF_INET6
    return name if addr in forward(name, family) else None


class TokenBucket:
    """At most ``rate`` a second on average, ``burst`` at once: what the
    resolver (lookups), ident and fool_nmap (replies) may start."""

    __slots__ = ("burst", "filled_at", "rate", "tokens")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0):
        self.rate = rate
        self.burst = rate if burst is None else burst
        self.tokens = self.burst
        self.filled_at = now

    def take(self, now: float) -> bool:
        """One token at ``now``, if there is one (a clock that went back
        adds nothing)."""
        elapsed = now - self.filled_at
        tokens = self.tokens + (elapsed if elapsed > 0 else 0.0) * self.rate
        self.tokens = tokens if tokens < self.burst else self.burst
        self.filled_at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


LOOKUP_RATE = 20  # name lookups started a second (lookup_rate in iplog.conf(5))


class CachedResolver:
    """Reverse lookups off the packet path (docs/wire.md W3), with 2.2.3's
    one-hour cache (``dns_cache``).

    Lookups (``confirmed_lookup``: a PTR query, then a forward query for
    the name it gave) run on a few worker threads.  A name that is not back
    within ``wait`` seconds is printed as the address this time; once it is
    back it is used (and cached).  The live daemon waits 0 s: capture never
    waits for DNS.  ``-r`` waits a little, so names appear as they would;
    after ``GIVE_UP`` lookups that did not come back in time it stops
    waiting (a dead name server must not make a capture take hours).

    Bounded whatever the traffic: at most ``rate`` lookups started a second
    (a token bucket, ``lookup_rate``), at most ``MAX_PENDING`` queued or
    running, ``MAX_CACHED`` names.  Past those an address stays an address:
    a flood of spoofed sources cannot make the resolver a query amplifier.
    ``cached`` never starts a lookup (while a flood is open).  Without
    ``dns_cache`` a name that came back is used once, then forgotten.
    """

    GIVE_UP = 3
    MAX_PENDING = 256
    MAX_CACHED = 16384

    def __init__(
        self,
        cache: bool = True,
        wait: float = 0.0,
        lookup=confirmed_lookup,
        clock: Callable[[], float] = time.monotonic,
        workers: int = 4,
        rate: float = LOOKUP_RATE,
    ):
        from concurrent.futures import ThreadPoolExecutor

        self.cache = cache
        self.wait = wait
        self.lookup = lookup
        self.clock = clock
        self.bucket = TokenBucket(rate, now=clock())
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="resolver")
        # Written by the worker threads too: single dict operations only.
        self._names: dict[bytes, tuple[float, str | None]] = {}
        self._pending: dict = {}
        self.late = 0
        self.started = 0  # lookups started
        self.refused = 0  # lookups not started: the rate limit or the in-flight bound

    @property
    def pending(self) -> int:
        """Lookups queued or running now."""
        return len(self._pending)

    def in_flight(self, addr: bytes) -> bool:
        """A lookup of ``addr`` is queued or running."""
        return addr in self._pending

    def cached(self, addr: bytes) -> str | None:
        """The name known for ``addr``, starting no lookup."""
        hit = self._known(addr)
        return hit[1] if hit is not None else None

    def __call__(self, addr: bytes) -> str | None:
        hit = self._known(addr)
        if hit is not None:
            return hit[1]
        future = self._pending.get(addr)
        if future is None:
            if len(self._pending) >= self.MAX_PENDING or not self.bucket.take(self.clock()):
                self.refused += 1
                return None  # a flood of new addresses: no more lookups started
            self.started += 1
            future = self._pool.submit(self.lookup, addr)
            self._pending[addr] = future
            future.add_done_callback(functools.partial(self._done, addr))
        if not self.wait:
            hit = self._known(addr)  # a lookup that was done at once
            return hit[1] if hit is not None else None
        try:
            future.result(timeout=self.wait)
        except TimeoutError:
            self.late += 1
            if self.late >= self.GIVE_UP:
                self.wait = 0.0
            return None
        except Exception:
            return None
        hit = self._known(addr)
        return hit[1] if hit is not None else None

    def _known(self, addr: bytes) -> tuple[float, str | None] | None:
        """The name looked up for ``addr`` within the hour, if any."""
        hit = self._names.get(addr)
        if hit is None:
            return None
        if not self.cache:
            self._names.pop(addr, None)  # used once
        elif self.clock() - hit[0] >= DNS_CACHE_SECONDS:
            return None
        return hit

    def _done(self, addr: bytes, future) -> None:
        """A lookup ended (in a worker thread, or here if it already had)."""
        self._pending.pop(addr, None)
        if future.cancelled():
            return
        try:
            name = trusted_name(future.result())
        except Exception:
            name = None
        if len(self._names) >= self.MAX_CACHED:
            self._names.clear()
        self._names[addr] = (self.clock(), name)

    def __len__(self) -> int:
        return len(self._names)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class Namer:
    def __init__(
        self,
        lookup: HostLookup | None = None,
        log_ip: bool = False,
        services: dict | None = None,
        protocols: dict | None = None,
    ):
        self.lookup = lookup
        self.log_ip = log_ip
        # Hosts printed as their address while their lookup is in flight:
        # (address, with_address, the text printed).  The line that printed
        # them takes them (``detect.lines.Lines``) and waits for the names.
        self.waiting: list[tuple[bytes, bool, str]] = []
        self.services = read_services() if services is None else services
        self.protocols = read_protocols() if protocols is None else protocols

    def host(
        self, addr: bytes, resolve: bool = True, start: bool = True, with_address: bool = False
    ) -> str:
        """``addr`` as a line prints it: its name if one is known (and
        ``resolve``), ``name (address)`` with log_ip or ``with_address``,
        else the address.  ``start``: a lookup may start (not while a
        flood is open, docs/wire.md W4)."""
        text = address_text(addr)
        lookup = self.lookup
        if not resolve or lookup is None:
            return text
        if start:
            name = lookup(addr)
        elif isinstance(lookup, CachedResolver):
            name = lookup.cached(addr)
        else:
            name = None  # a plain lookup function: looking up is starting
        if not name:
            if start and not self.settled(addr):
                self.waiting.append((addr, with_address, text))
            return text
        return f"{name} ({text})" if self.log_ip or with_address else name

    def settled(self, addr: bytes) -> bool:
        """No lookup of ``addr`` in flight: its name (or its absence) is known."""
        lookup = self.lookup
        return not (isinstance(lookup, CachedResolver) and lookup.in_flight(addr))

    def service_table(self, proto: str) -> dict[int, str]:
        """``port -> name`` for one protocol; a line prints
        ``table.get(port) or f"port {port}"``."""
        return {port: name for (port, p), name in self.services.items() if p == proto and name}

    def protocol(self, number: int) -> str:
        return self.protocols.get(number) or f"proto {number}"

    def close(self) -> None:
        """Stop the background lookups, if any (the namer was replaced)."""
        if isinstance(self.lookup, CachedResolver):
            self.lookup.close()
