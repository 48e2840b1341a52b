"""Ident lookups (``-e``, ``get_ident``; RFC 1413), off the capture path.

For a connection attempt to a port this host listens on, iplog asks the
client's ident service (TCP port 113) who opened the connection and logs
``from user@host:port`` as 2.2.3 did.  The question goes out on a worker
thread; the attempt's line waits for the answer (or its absence: then it is
the ordinary line) and every other line goes on.

On time whatever the wire does (docs/wire.md W6): the ``TIMEOUT`` budget
counts from the packet, not from when a worker takes the question; a
question still unasked when its budget is spent is abandoned and its line
written without a user.  Bounded: at most ``MAX_PENDING`` at once, each on
a worker of its own (none waits for another), and ``RATE`` a second (a SYN
flood from spoofed sources is not asked about); past that the line is
written at once without a user.

Which ports listen comes from ``/proc/net/tcp`` and ``/proc/net/tcp6``
(Linux), read at most once a second.
"""

from __future__ import annotations

import contextlib
import re
import socket
import time
from collections import deque
from collections.abc import Callable

from .resolve import TokenBucket, address_text

IDENT_PORT = 113
TIMEOUT = 3.0  # seconds for the whole exchange
MAX_PENDING = 32  # lookups at once, each on its own worker thread
RATE = 20.0  # lookups a second, on average (a burst of MAX_PENDING)
MIN_LEFT = 0.05  # seconds: a budget with less left is abandoned, never asked
LISTEN_STATE = "0A"
PROC_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_USER = re.compile(r"^\s*\d+\s*,\s*\d+\s*:\s*USERID\s*:[^:]*:(.*)$")


def parse_reply(reply: str) -> str | None:
    """The user of an RFC 1413 reply, or None (an error reply, garbage)."""
    match = _USER.match(reply.strip("\r\n"))
    if not match:
        return None
    user = match.group(1).strip()
    if not user or len(user) > 64:
        return None
    return "".join(ch if ch.isprintable() and ch not in " @" else "?" for ch in user)


def ask(
    client: bytes, client_port: int, server: bytes, server_port: int, timeout: float = TIMEOUT
) -> str | None:
    """Ask ``client``'s identd who owns its connection from ``client_port``
    to our ``server_port``; the user, or None."""
    family = socket.AF_INET if len(client) == 4 else socket.AF_INET6
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            with contextlib.suppress(OSError):  # answer from the address it was asked at
                sock.bind((address_text(server), 0))
            sock.connect((address_text(client), IDENT_PORT))
            sock.sendall(f"{client_port} , {server_port}\r\n".encode())
            data = b""
            while b"\n" not in data and len(data) < 1000:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(1000)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    return parse_reply(data.decode("ascii", "replace"))


def listening_ports(tables: tuple[str, ...] = PROC_TABLES) -> frozenset[int]:
    """The TCP ports something listens on (any address)."""
    ports = set()
    for path in tables:
        try:
            with open(path) as fh:
                next(fh, None)
                for line in fh:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == LISTEN_STATE:
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return frozenset(ports)


class IdentLookups:
    """The lookups in flight; ``done()`` gives the lines whose answer is in,
    each as ``(ts, user or None, finish)``: ``finish(user)`` makes the line.

    ``clock`` times the budgets (monotonic); ``wall`` is the clock the
    packets' times come from, to know how old a packet already is."""

    def __init__(
        self,
        asker: Callable[..., str | None] = ask,
        ports: Callable[[], frozenset[int]] = listening_ports,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        workers: int = MAX_PENDING,
    ):
        self.asker = asker
        self.ports = ports
        self.clock = clock
        self.wall = wall
        from concurrent.futures import ThreadPoolExecutor  # only with get_ident

        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ident")
        self._done: deque = deque()  # appended by the workers, taken by the main loop
        self.pending = 0
        self._listening: frozenset[int] = frozenset()
        self._read_at = float("-inf")
        self._bucket = TokenBucket(RATE, MAX_PENDING, now=clock())
        self.asked = 0  # questions sent
        self.refused = 0  # not asked: the rate limit or MAX_PENDING
        self.abandoned = 0  # budget spent before a worker took it

    def listening(self, port: int) -> bool:
        now = self.clock()
        if now - self._read_at >= 1.0:
            self._listening = self.ports()
            self._read_at = now
        return port in self._listening

    def start(
        self,
        ts: float,
        client: bytes,
        client_port: int,
        server: bytes,
        server_port: int,
        finish: Callable[[str | None], tuple[float, str]],
    ) -> bool:
        """Ask about a connection seen at ``ts``; False when no lookup may
        start now (the caller writes its line as it is)."""
        now = self.clock()
        if self.pending >= MAX_PENDING or not self._bucket.take(now):
            self.refused += 1
            return False
        self.pending += 1
        deadline = now + TIMEOUT - max(0.0, self.wall() - ts)  # the budget, from the packet

        def work() -> None:
            user = None
            left = deadline - self.clock()
            if left < MIN_LEFT:
                self.abandoned += 1
            else:
                self.asked += 1
                try:
                    user = self.asker(client, client_port, server, server_port, timeout=left)
                except Exception:
                    user = None
            self._done.append((finish, user))

        self._pool.submit(work)
        return True

    def done(self) -> list[tuple[float, str]]:
        """The lines of the lookups that ended, in the order they ended."""
        lines = []
        while self._done:
            finish, user = self._done.popleft()
            self.pending -= 1
            lines.append(finish(user))
        return lines

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
