"""The pid file (spec A10): locked while the daemon lives; ``-k``/``-R``.

flock locks belong to the open file, so the lock taken before detaching is
still held by the daemon; a file whose process died (even by ``kill -9``)
is unlocked and simply taken over.
"""

from __future__ import annotations

import fcntl
import os
import signal

from .options import FatalError

SIGNALS = {"kill": signal.SIGTERM, "restart": signal.SIGHUP}


class PidFile:
    def __init__(self, path: str):
        self.path = path
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise FatalError(f'Unable to open pid file "{self.path}": {exc.strerror}') from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            text = os.pread(fd, 64, 0).decode(errors="replace").strip()
            os.close(fd)
            raise FatalError(f"iplog is already running (pid: {text or '?'})") from None
        os.set_inheritable(fd, False)
        self.fd = fd

    def write(self, pid: int) -> None:
        data = f"{pid}\n".encode()
        os.pwrite(self.fd, data, 0)  # never empty, even for a moment
        os.ftruncate(self.fd, len(data))

    def remove(self) -> str | None:
        """Unlink the file; 2.2.3's message when that fails."""
        try:
            os.unlink(self.path)
        except OSError as exc:
            return f'Couldn\'t unlink "{self.path}": {exc.strerror}'
        finally:
            if self.fd is not None:
                os.close(self.fd)
                self.fd = None
        return None


def signal_running(pid_file: str, action: str) -> None:
    """-k (``kill``) / -R (``restart``): signal the instance the pid file names."""
    signum = SIGNALS[action]
    try:
        with open(pid_file, encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise FatalError(f"Can't open pid file: {exc.strerror}") from None
    if not text.strip():
        raise FatalError("Error reading pid.")
    word = text.split()[0]
    if not word.isdigit() or int(word) <= 1:
        raise FatalError(f'Bad pid in {pid_file}: "{word}"')
    try:
        os.kill(int(word), signum)
    except OSError as exc:
        raise FatalError(f"Can't send process signal {int(signum)}: {exc.strerror}") from None
