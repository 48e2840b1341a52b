"""Names for hosts, services and protocols (spec A9).

``Namer`` formats what the messages print.  Host lookups go through a
function handed in (``lookup(addr) -> name or None``), so the engine never
does DNS itself: the daemon passes a cached resolver, tests pass a dict.
Services and protocols come from the system databases, read once.
"""

from __future__ import annotations

import functools
import ipaddress
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


def reverse_lookup(addr: bytes) -> str | None:
    """The system's reverse lookup (may block for seconds)."""
    try:
        return socket.gethostbyaddr(address_text(addr))[0]
    except (OSError, UnicodeError):
        return None


class CachedResolver:
    """Reverse lookups off the packet path (spec B12, C7), with 2.2.3's
    one-hour cache (``dns_cache``).

    Lookups run on a few worker threads.  A name that is not back within
    ``wait`` seconds is printed as the address this time; once it is back
    it is used (and cached).  The live daemon waits 0 s: capture never
    waits for DNS.  ``-r`` waits a little, so names appear as they would;
    after ``GIVE_UP`` lookups that did not come back in time it stops
    waiting (a dead name server must not make a capture take hours).

    Bounded whatever the traffic: at most ``MAX_PENDING`` lookups queued or
    running (past that, an address stays an address: a flood of spoofed
    sources is not looked up) and ``MAX_CACHED`` names.  Without
    ``dns_cache`` a name that came back is used once, then forgotten.
    """

    GIVE_UP = 3
    MAX_PENDING = 256
    MAX_CACHED = 16384

    def __init__(
        self,
        cache: bool = True,
        wait: float = 0.0,
        lookup=reverse_lookup,
        clock: Callable[[], float] = time.monotonic,
        workers: int = 4,
    ):
        from concurrent.futures import ThreadPoolExecutor

        self.cache = cache
        self.wait = wait
        self.lookup = lookup
        self.clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="resolver")
        # Written by the worker threads too: single dict operations only.
        self._names: dict[bytes, tuple[float, str | None]] = {}
        self._pending: dict = {}
        self.late = 0

    def __call__(self, addr: bytes) -> str | None:
        hit = self._known(addr)
        if hit is not None:
            return hit[1]
        future = self._pending.get(addr)
        if future is None:
            if len(self._pending) >= self.MAX_PENDING:
                return None  # a flood of new addresses: no more lookups queued
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
            name = future.result()
        except Exception:
            name = None
        if len(self._names) >= self.MAX_CACHED:
            self._names.clear()
        self._names[addr] = (self.clock(), name)

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
        self.services = read_services() if services is None else services
        self.protocols = read_protocols() if protocols is None else protocols

    def host(self, addr: bytes, resolve: bool = True) -> str:
        text = address_text(addr)
        if not resolve or self.lookup is None:
            return text
        name = self.lookup(addr)
        if not name:
            return text
        return f"{name} ({text})" if self.log_ip else name

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
