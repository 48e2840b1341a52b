"""``iplog --status``: the running daemon's state (docs/contract.md L8).

The daemon listens on a Unix socket beside its pid file (``PIDFILE.sock``),
made while it is root: never through a link (an old socket is replaced
only if it is a socket owned by root or the run user), mode 0600, handed
to the run user; a peer other than root or the run user (SO_PEERCRED) is
closed without a word.  A connection gets one JSON object (the schema is
``conf/iplog.status.schema.json``) and the end of the stream; nothing is
read from it, so no client can hold the daemon up.  ``iplog --status``
finds the daemon as ``-k`` does (the pid file's lock held), waits at most
a second for the answer, and prints it for a person (``--json``: as it
came).  No TCP port, ever.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import struct
import time
from collections.abc import Callable

SOCKET_SUFFIX = ".sock"
ANSWER_WAIT = 1.0  # seconds --status waits for the daemon
MAX_OPEN_SHOWN = 50  # open scans and floods listed (the count is whole)
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class StatusError(Exception):
    """``--status`` got no answer; the text says why, in one line."""


def socket_path(pid_file: str) -> str:
    return pid_file + SOCKET_SUFFIX


class StatusSocket:
    """The daemon's side: ``fileno`` goes into its poll set; ``answer``
    serves every waiting connection with ``state()``."""

    def __init__(self, path: str, uid: int, gid: int, state: Callable[[], dict]):
        self.path = path
        self.uid = uid
        self.state = state
        _clear_old(path, uid)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # 0600 from the start: nobody else may connect meanwhile
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        try:
            if uid != os.geteuid() or gid != os.getegid():
                os.chown(path, uid, gid, follow_symlinks=False)
            sock.listen(8)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def fileno(self) -> int:
        return self.sock.fileno()

    def answer(self) -> None:
        """Every connection waiting: its peer checked, the state sent (what
        does not fit the socket's buffer at once is not waited for)."""
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # none waiting (BlockingIOError), or it went
                return
            with conn:
                try:
                    _pid, uid, _gid = _CRED.unpack(
                        conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
                    )
                    if uid not in (0, self.uid):
                        continue
                    conn.setblocking(False)
                    data = (json.dumps(self.state(), ensure_ascii=True) + "\n").encode()
                    conn.send(data)
                except OSError:
                    continue

    def close(self) -> None:
        """Stop listening; the socket file goes (if it is still ours)."""
        self.sock.close()
        try:
            st = os.lstat(self.path)
            if stat.S_ISSOCK(st.st_mode) and st.st_uid in (0, self.uid):
                os.unlink(self.path)
        except OSError:
            pass


def _clear_old(path: str, uid: int) -> None:
    """A socket left by a daemon that died goes; anything else in its place
    is refused (a link, a file, a stranger's socket)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise OSError(errno.EEXIST, f"{path} exists and is no socket (not replaced)")
    if st.st_uid not in (0, uid):
        raise OSError(errno.EPERM, f"{path} belongs to uid {st.st_uid} (not replaced)")
    os.unlink(path)


# --- the client ------------------------------------------------------------------------


def query(path: str, timeout: float = ANSWER_WAIT) -> dict:
    """The daemon's state, read from its socket within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise StatusError(f"no status socket {path} (the daemon makes it at start)") from None
    if not stat.S_ISSOCK(st.st_mode) or (st.st_uid not in (0, os.getuid()) and os.getuid()):
        raise StatusError(f"{path} is not the daemon's socket")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    chunks = []
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except TimeoutError:
        raise StatusError(f"the daemon did not answer within {timeout:g} s") from None
    except PermissionError:
        raise StatusError(f"not allowed to ask the daemon ({path}): run as root") from None
    except OSError as exc:
        raise StatusError(f"cannot ask the daemon at {path}: {exc.strerror}") from None
    finally:
        sock.close()
    try:
        return json.loads(b"".join(chunks))
    except ValueError:
        raise StatusError("the daemon's answer was cut short") from None


def _ago(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def render(state: dict) -> str:
    """The state for a person."""
    now = state["now"]

    def clock(ts: float) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))

    out = [
        f"pyiplog {state['version']} (pid {state['pid']}), up {_ago(now - state['started'])}"
        f" since {clock(state['started'])}",
        f"Configuration: {state['config']} (loaded {clock(state['config_loaded'])},"
        f" {state['reloads']} reloads)",
        f"Memory: {state['rss_kb'] / 1024:.1f} MB resident",
        "",
        "Interfaces:",
    ]
    for iface in state["interfaces"]:
        if iface.get("down"):
            out.append(f"  {iface['name']}: down")
            continue
        share = 100 * iface["ipv6"] / iface["packets"] if iface["packets"] else 0
        lane, lane_drops = iface.get("flood_lane", 0), iface.get("lane_drops", 0)
        out.append(
            f"  {iface['name']}: {iface['packets']} packets seen ({share:.0f}% IPv6),"
            f" {iface['drops']} dropped by the kernel"
            + (f" ({lane_drops} of them floods' in the flood lane)" if lane_drops else "")
            + (f"; {lane} flood{'s' if lane > 1 else ''} in the flood lane" if lane else "")
        )
    lines = state["lines"]
    out += ["", f"Lines written since start: {lines['total']}"]
    for kind, count in sorted(lines["by_kind"].items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {count:8d}  {kind}")
    scans = state["open"]
    out += ["", f"Scans and floods open now: {scans['count']}"]
    for s in scans["items"]:
        what = f"ports {','.join(map(str, s['ports']))}" if s.get("ports") else ""
        if s.get("hosts"):
            what = f"{len(s['hosts'])}+ hosts" + (f" port {s['port']}" if s.get("port") else "")
        since = f"since {clock(s['since'])}, " if s.get("since") else ""
        out.append(
            f"  {s['name']}: {s.get('source') or '-'} -> {s.get('target') or 'our hosts'}"
            + (f" ({what})" if what else "")
            + f", {s['packets']} packets; {since}expires {clock(s['expires'])}"
        )
    if scans["count"] > len(scans["items"]):
        out.append(f"  ... and {scans['count'] - len(scans['items'])} more")
    lookups = state.get("lookups")
    out.append("")
    if lookups is None:
        out.append("Name lookups: off")
    else:
        out.append(
            f"Name lookups: {lookups['started']} started, {lookups['in_flight']} in flight,"
            f" {lookups['refused']} refused (rate limit), {lookups['cached']} names cached"
        )
    ident = state.get("ident")
    if ident is not None:
        out.append(
            f"Ident lookups: {ident['asked']} asked, {ident['refused']} refused,"
            f" {ident['abandoned']} abandoned"
        )
    return "\n".join(out) + "\n"
