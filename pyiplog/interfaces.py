"""Network interfaces: which exist, which are up, their IPv4 addresses (spec A3)."""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFFLAGS = 0x8913
SIOCGIFADDR = 0x8915
IFF_UP = 0x1
IFF_LOOPBACK = 0x8


def _ioctl(name: str, request: int) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            return fcntl.ioctl(s.fileno(), request, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None


def flags(name: str) -> int | None:
    raw = _ioctl(name, SIOCGIFFLAGS)
    return None if raw is None else struct.unpack_from("H", raw, 16)[0]


def ipv4_address(name: str) -> bytes | None:
    raw = _ioctl(name, SIOCGIFADDR)
    return None if raw is None else raw[20:24]


def names() -> list[str]:
    return [name for _, name in socket.if_nameindex()]


def usable(name: str) -> bool:
    """Up and with an IPv4 address."""
    f = flags(name)
    return f is not None and bool(f & IFF_UP) and ipv4_address(name) is not None


def default_interfaces() -> list[str]:
    """Every interface that is up, has an IPv4 address and is not loopback."""
    return [n for n in names() if usable(n) and not (flags(n) or 0) & IFF_LOOPBACK]


def choose(requested: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(usable interfaces, the requested ones that are not)."""
    if not requested:
        return default_interfaces(), []
    good = [n for n in requested if usable(n)]
    return good, [n for n in requested if n not in good]
