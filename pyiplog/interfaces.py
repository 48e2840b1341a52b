"""Network interfaces: which are up, and their IPv4 and IPv6 addresses
(docs/contract.md C3, P5; an IPv6 address is 16 bytes, link-local ones included).

Addresses come from getifaddrs(3) (through ctypes), so every address of an
interface counts, and a change (DHCP) is seen the next time we look.
"""

from __future__ import annotations

import ctypes
import socket

IFF_UP = 0x1
IFF_LOOPBACK = 0x8


class _SockAddr(ctypes.Structure):
    _fields_ = [
        ("family", ctypes.c_ushort),
        ("port", ctypes.c_ushort),
        ("addr", ctypes.c_ubyte * 4),
    ]


class _SockAddr6(ctypes.Structure):
    _fields_ = [
        ("family", ctypes.c_ushort),
        ("port", ctypes.c_ushort),
        ("flowinfo", ctypes.c_uint32),
        ("addr", ctypes.c_ubyte * 16),
        ("scope_id", ctypes.c_uint32),
    ]


_SockAddr6Pointer = ctypes.POINTER(_SockAddr6)


class _IfAddrs(ctypes.Structure):
    pass


_IfAddrs._fields_ = [
    ("next", ctypes.POINTER(_IfAddrs)),
    ("name", ctypes.c_char_p),
    ("flags", ctypes.c_uint),
    ("addr", ctypes.POINTER(_SockAddr)),
    ("netmask", ctypes.c_void_p),
    ("ifu", ctypes.c_void_p),
    ("data", ctypes.c_void_p),
]

# The C library's symbols are the running program's: no ctypes.util (it
# imports subprocess, shutil and tempfile, 2.5 MB a daemon would keep).
_libc = ctypes.CDLL(None, use_errno=True)
_libc.getifaddrs.argtypes = [ctypes.POINTER(ctypes.POINTER(_IfAddrs))]
_libc.freeifaddrs.argtypes = [ctypes.POINTER(_IfAddrs)]


def snapshot() -> dict[str, tuple[int, list[bytes]]]:
    """name -> (flags, addresses) for every interface."""
    head = ctypes.POINTER(_IfAddrs)()
    if _libc.getifaddrs(ctypes.byref(head)) != 0:
        raise OSError(ctypes.get_errno(), "getifaddrs failed")
    result: dict[str, tuple[int, list[bytes]]] = {}
    try:
        node = head
        while node:
            entry = node.contents
            name = entry.name.decode(errors="replace")
            addrs = result.setdefault(name, (entry.flags, []))[1]
            family = entry.addr.contents.family if entry.addr else None
            if family == socket.AF_INET:
                addrs.append(bytes(entry.addr.contents.addr))
            elif family == socket.AF_INET6:
                addrs.append(bytes(ctypes.cast(entry.addr, _SockAddr6Pointer).contents.addr))
            node = entry.next
    finally:
        _libc.freeifaddrs(head)
    return result


def addresses(name: str) -> list[bytes]:
    return snapshot().get(name, (0, []))[1]


def problem(table: dict[str, tuple[int, list[bytes]]], name: str) -> str | None:
    """Why interface ``name`` cannot be watched, or None when it can."""
    if name not in table:
        return "no such interface"
    flags, addrs = table[name]
    if not flags & IFF_UP:
        return "not up"
    if not addrs:
        return "without an IP address"
    return None


def choose(requested: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """(interfaces to watch, {requested one that cannot be watched: why}).

    With nothing requested: every interface that is up, has an IP address
    and is not loopback.
    """
    table = snapshot()
    if not requested:
        return [
            n for n, (f, _) in table.items() if problem(table, n) is None and not f & IFF_LOOPBACK
        ], {}
    bad = {n: why for n in requested if (why := problem(table, n)) is not None}
    return [n for n in requested if n not in bad], bad


def is_usable(name: str) -> bool:
    return problem(snapshot(), name) is None
