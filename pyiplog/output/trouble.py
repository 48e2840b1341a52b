"""Saying that a log target stopped working, and that it works again.

Each is said once: a failure again only when its error changes, so a
full disk or a stopped syslog daemon is one line, not one per packet.
"""

from __future__ import annotations

from collections.abc import Callable

from ..messages import render


class Trouble:
    """The failing state of the target at ``path``; ``failed`` and
    ``works`` say the ``failed_kind`` and ``works_kind`` messages through
    ``report``."""

    __slots__ = ("error", "failed_kind", "path", "report", "works_kind")

    def __init__(
        self,
        path: str,
        report: Callable[[str], None] | None,
        failed_kind: str,
        works_kind: str,
    ):
        self.path = path
        self.report = report or (lambda text: None)
        self.failed_kind = failed_kind
        self.works_kind = works_kind
        self.error: str | None = None  # the error said last; None: working

    def failed(self, exc: OSError) -> None:
        text = exc.strerror or str(exc)
        if self.error != text:
            self.error = text
            self.report(render(self.failed_kind, path=self.path, error=text))

    def works(self) -> None:
        if self.error is not None:
            self.error = None
            self.report(render(self.works_kind, path=self.path))
