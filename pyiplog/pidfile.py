"""The pid file (docs/contract.md L1, L6): locked while the daemon lives; ``-k``/``-R``.

iplog opens it as root, in a directory the run user may own.  So it is
never opened through a symbolic link (``O_NOFOLLOW``), it must be a regular
file, a new one is made with ``O_EXCL`` (mode 0644), and an existing one is
refused when anyone but root or the run user owns it or when group or
others may write it.  Its directory is made when missing, as the init
scripts do (owned by the run user, 0755); an existing one must be owned by
root or the run user, and may be a symbolic link only if root made it
(Debian's /var/run -> /run).  flock locks belong to the open file, so the lock
taken before detaching is still held by the daemon; a file whose process
died (even by ``kill -9``) is unlocked and simply taken over.  ``-k`` and
``-R`` signal only a process that holds that lock.

``-R`` also waits for the reload's outcome (a handshake like the start's):
the daemon keeps ``PIDFILE.reload`` (made as root beside the pid file,
root's, 0644, opened as carefully) and writes there, after each SIGHUP,
``N ok`` or ``N failed`` and the reasons (a log that could not be
reopened, a configuration that could not be read or has errors).  ``-R``
reads N, signals, and waits up to ``RELOAD_WAIT`` seconds for N + 1.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import stat
import time

from .messages import printable
from .options import FatalError

SIGNALS = {"kill": signal.SIGTERM, "restart": signal.SIGHUP}
RELOAD_SUFFIX = ".reload"
RELOAD_WAIT = 10.0  # seconds -R waits for the daemon to say how its reload went
MODE = 0o644
DIR_MODE = 0o755
_OPEN = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # a FIFO must not block the open


class NotRunning(Exception):
    """``-k``/``-R`` found no running iplog: said on stderr, exit 1."""


class ReloadFailed(Exception):
    """``-R``: the daemon reloaded, but not everything (its reasons), or did
    not say in time: said on stderr, exit 1."""


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link"
    return exc.strerror or str(exc)


def _checked(fd: int, path: str, owner: int | None = None) -> os.stat_result:
    """The file behind ``fd`` is a regular file; with ``owner`` given, also
    one nobody else could have written.  Closes ``fd`` when it is not."""
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif owner is not None and st.st_uid not in (0, os.geteuid(), owner):
        problem = f"is owned by uid {st.st_uid}, not by root or the user iplog runs as"
    elif owner is not None and st.st_mode & 0o022:
        problem = f"may be written by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
    if problem:
        os.close(fd)
        raise FatalError(f'Pid file "{path}" {problem}')
    return st


def _directory(path: str, owner: int | None, group: int | None) -> None:
    """Make or check the pid file's directory (see the module's text)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.lexists(directory) and _made(directory, owner, group):
        return
    link = os.lstat(directory)
    if stat.S_ISLNK(link.st_mode) and link.st_uid != 0:
        raise FatalError(
            f'Pid file directory "{directory}" is a symbolic link owned by uid {link.st_uid}'
        )
    try:
        st = os.stat(directory)
    except OSError as exc:
        raise FatalError(f'Pid file directory "{directory}": {_reason(exc)}') from None
    if not stat.S_ISDIR(st.st_mode):
        raise FatalError(f'Pid file directory "{directory}" is not a directory')
    if st.st_uid not in (0, os.geteuid(), owner):
        raise FatalError(
            f'Pid file directory "{directory}" is owned by uid {st.st_uid},'
            " not by root or the user iplog runs as"
        )


def _made(directory: str, owner: int | None, group: int | None) -> bool:
    """Make the missing directory, the run user's, 0755; False when someone
    made it meanwhile (then it is checked as any existing one)."""
    try:
        os.mkdir(directory, DIR_MODE)
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileExistsError:
        return False
    except OSError as exc:
        raise FatalError(
            f'Unable to create the pid file\'s directory "{directory}": {_reason(exc)}'
        ) from None
    try:
        os.fchmod(fd, DIR_MODE)  # whatever the umask
        if owner is not None and owner != os.geteuid():
            os.fchown(fd, owner, -1 if group is None else group)
    finally:
        os.close(fd)
    return True


def _open_or_make(path: str) -> tuple[int, bool]:
    """A file iplog keeps (the pid file, its .reload): a new one made with
    ``O_EXCL``, never opened through a link; (fd, made now).  Raises OSError."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _OPEN, MODE), True
    except FileExistsError:
        return os.open(path, os.O_RDWR | _OPEN), False


def _rewrite(fd: int, data: bytes) -> None:
    """The file's whole contents, never empty even for a moment."""
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _unlink_or_empty(path: str, fd: int | None) -> OSError | None:
    """Unlink a file iplog kept.  In a directory the run user may not write
    (root's /run under systemd) it is emptied instead, quietly; unlocked and
    empty, it names nobody.  Any other failure is returned."""
    try:
        os.unlink(path)
    except PermissionError:
        if fd is not None:
            os.ftruncate(fd, 0)
    except OSError as exc:
        return exc
    return None


class PidFile:
    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None
        self.created = False

    def acquire(self, owner: int | None = None, group: int | None = None) -> None:
        """Open, check and lock the file.  ``owner``, ``group``: the uid and
        gid iplog will run as; it may own a file (or the directory) left from
        an earlier run, and owns the directory when iplog makes it."""
        _directory(self.path, owner, group)
        try:
            fd, self.created = _open_or_make(self.path)
        except OSError as exc:
            hint = ""
            if exc.errno in (errno.EACCES, errno.EPERM) and os.geteuid() != 0:
                hint = " (iplog starts as root, or with CAP_NET_RAW and a --pid-file it may write)"
            raise FatalError(
                f'Unable to open pid file "{self.path}": {_reason(exc)}{hint}'
            ) from None
        if self.created:
            _checked(fd, self.path)
            os.fchmod(fd, MODE)  # whatever the umask
        else:
            _checked(fd, self.path, owner if owner is not None else os.geteuid())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise FatalError(f"iplog is already running (pid: {text or '?'})") from None
        self.fd = fd

    def write(self, pid: int) -> None:
        _rewrite(self.fd, f"{pid}\n".encode())

    def remove(self) -> str | None:
        """Unlink (or empty) the file; 2.2.3's message when that fails."""
        try:
            failed = _unlink_or_empty(self.path, self.fd)
        finally:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        return None if failed is None else f'Couldn\'t unlink "{self.path}": {failed.strerror}'


def signal_running(pid_file: str, action: str) -> None:
    """-k (``kill``) / -R (``restart``): signal the iplog that holds the pid
    file's lock; for -R, wait for its word on the reload.  Raises NotRunning
    when none runs, ReloadFailed when the reload was not whole, FatalError
    otherwise."""
    signum = SIGNALS[action]
    before = _reload_status(pid_file) if action == "restart" else None
    pid = running_pid(pid_file)
    try:
        os.kill(pid, signum)
    except OSError as exc:
        raise FatalError(
            f"Can't send process signal {int(signum)} to {pid}: {exc.strerror}"
        ) from None
    if before is not None:
        _await_reload(pid_file, pid, before[0])


def running_pid(pid_file: str) -> int:
    """The pid in the pid file whose lock a running iplog holds (-k, -R,
    --status).  Raises NotRunning when none runs, FatalError otherwise."""
    try:
        fd = os.open(pid_file, os.O_RDONLY | _OPEN)
    except FileNotFoundError:
        raise NotRunning(f"iplog is not running (no pid file {pid_file})") from None
    except OSError as exc:
        raise FatalError(f'Can\'t open pid file "{pid_file}": {_reason(exc)}') from None
    _checked(fd, pid_file)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # locked: iplog holds it
        else:
            raise NotRunning(f"iplog is not running (stale pid file {pid_file})")
        text = os.pread(fd, 64, 0).decode("ascii", errors="replace")
    finally:
        os.close(fd)
    if not text.strip():
        raise FatalError(f'Error reading pid from "{pid_file}".')
    word = text.split()[0]
    if not word.isdigit() or int(word) <= 1:
        raise FatalError(f'Bad pid in {pid_file}: "{word}"')
    return int(word)


class ReloadStatus:
    """The daemon's side of ``PIDFILE.reload`` (see the module's text)."""

    def __init__(self, pid_file: str):
        self.path = pid_file + RELOAD_SUFFIX
        self.fd: int | None = None
        self.generation = 0

    def open(self) -> None:
        """Made (or taken over) as root, before the privilege drop."""
        try:
            fd, _ = _open_or_make(self.path)
        except OSError as exc:
            raise FatalError(f'Unable to open "{self.path}": {_reason(exc)}') from None
        _checked(fd, self.path, os.geteuid())
        os.fchmod(fd, MODE)
        self.fd = fd
        self._write("0 started\n")

    def done(self, problems: list[str]) -> None:
        """A reload is over: ``problems`` empty, or the reasons it was not whole."""
        if self.fd is None:
            return
        self.generation += 1
        head = f"{self.generation} {'failed' if problems else 'ok'}\n"
        self._write(head + "".join(f"{p}\n" for p in problems))

    def _write(self, text: str) -> None:
        _rewrite(self.fd, text.encode())

    def remove(self) -> None:
        if self.fd is None:
            return
        _unlink_or_empty(self.path, self.fd)  # any failure: nobody waits on it any more
        os.close(self.fd)
        self.fd = None


def _reload_status(pid_file: str) -> tuple[int, str, list[str]] | None:
    """``PIDFILE.reload``: (N, "ok"/"failed"/"started", reasons), or None when
    there is none (a daemon that keeps none: ``-R`` only signals it).  Read
    as carefully as the pid file: never through a link, root's regular file,
    writable by root alone."""
    path = pid_file + RELOAD_SUFFIX
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
            return None
        text = os.pread(fd, 65536, 0).decode(errors="replace")
    finally:
        os.close(fd)
    head, *reasons = text.splitlines() or [""]
    number, _, state = head.partition(" ")
    return (int(number), state, reasons) if number.isdigit() else None


def _await_reload(pid_file: str, pid: int, before: int) -> None:
    """Wait for the daemon's word on the reload ``-R`` asked for."""
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline:
        status = _reload_status(pid_file)
        if status is not None and status[0] > before:
            _, state, reasons = status
            if state != "ok":  # the daemon's words, made printable: it runs unprivileged
                said = "\n".join(printable(r) for r in reasons[:50])
                raise ReloadFailed(said or f"iplog (pid {pid}): reload {printable(state)}")
            return
        time.sleep(0.05)
    raise ReloadFailed(
        f"iplog (pid {pid}) did not say how its reload went within {RELOAD_WAIT:g} s"
    )
