"""Every detection threshold and window: the kinds' defaults, iplog.conf overrides.

``threshold NAME N`` and ``window NAME SECONDS`` in iplog.conf change them;
``iplog --check-config`` shows the values in force.  Which names exist,
and what a threshold and a window mean in each counting, is declared with
the kinds (``kinds.py``) and told in docs/contract.md K2; ``window reply``
(how long a probe waits for its answer) is the one number of no kind.
"""

from __future__ import annotations

from dataclasses import replace

from ..kinds import KINDS, Kind, SweepTuning, Tuning, tunable_names
from .scans import KINDS as CLASSIC_KINDS
from .scans import ScanKind

REPLY_WAIT = 3.0  # seconds a probe waits for its answer (``window reply``)

# The default counting's numbers, by kind (kinds.py declares them).
MODERN: dict[str, Tuning] = {k.key: k.probes for k in KINDS.values() if k.probes}
SWEEPS: dict[str, SweepTuning] = {k.key: k.sweep for k in KINDS.values() if k.sweep}

DETECTORS = frozenset(tunable_names(classic=False)) | {"reply"}


class TuningError(ValueError):
    pass


def check(word: str, kind: str, value: str) -> float:
    """Validate one ``threshold``/``window`` rule; the number."""
    if kind not in DETECTORS:
        raise TuningError(f"Unknown detector: {kind}")
    try:
        number = float(value)
    except ValueError:
        raise TuningError(f"Invalid {word}: {value}") from None
    if number <= 0 or (word == "threshold" and number != int(number)):
        raise TuningError(f"Invalid {word}: {value}")
    if word == "threshold" and kind == "reply":
        raise TuningError("Invalid threshold: reply has only a window")
    if word == "window" and kind == "udp_stream":
        raise TuningError("Invalid window: udp_stream has only a threshold (udp_flood's window)")
    return int(number) if word == "threshold" else number


class Detection:
    """The numbers in force: classic kinds, modern tunings, the reply wait."""

    def __init__(self, overrides: tuple[tuple[str, str, float], ...] = (), classic: bool = False):
        self.classic = classic
        self.kinds = dict(CLASSIC_KINDS)
        self.modern = dict(MODERN)
        self.reply_wait = REPLY_WAIT
        self.sweeps: dict[str, SweepTuning] = dict(SWEEPS)
        for word, kind, value in overrides:
            self._apply(word, kind, value)

    def _apply(self, word: str, name: str, value: float) -> None:
        if name == "reply":
            if not self.classic:
                self.reply_wait = value
            return
        for kind in KINDS.values():
            side = self._side(kind, name)
            if side is None:
                continue
            table, key, threshold, window = side
            field = threshold if word == "threshold" else window
            table[key] = replace(table[key], **{field: value})

    def _side(self, kind: Kind, name: str) -> tuple[dict, str, str, str | None] | None:
        """Where the numbers a rule name sets for ``kind`` live in this
        counting: (table, key, threshold field, window field); None when the
        name is not the kind's or means nothing here.  A kind's own name sets
        its sweep's numbers, 2.2.3's (classic counting, the stealth kinds),
        or the probe table's scan side (its flood side when it has no scan
        rule); its flood side's and stream's names, the default counting's."""
        key = kind.key
        if name == kind.stream_conf:
            return self.modern, key, "stream_packets", None
        if name == kind.flood_conf:
            return None if self.classic else (self.modern, key, "flood_packets", "flood_window")
        if name != kind.conf:
            return None
        if key in self.sweeps:
            return self.sweeps, key, "threshold", "window"
        if self.classic or kind.stealth:
            return (self.kinds, key, "threshold", "timeout") if key in self.kinds else None
        if self.modern[key].scan_ports:
            return self.modern, key, "scan_ports", "scan_gap"
        return self.modern, key, "flood_packets", "flood_window"

    def describe(self) -> list[str]:
        """iplog.conf lines for the values in force (--check-config)."""
        out = []
        for name in tunable_names(self.classic):
            threshold, window = self._numbers(name)
            out.append(f"threshold {name} {threshold}")
            if window is not None:
                out.append(f"window {name} {_num(window)}")
        if not self.classic:
            out.append(f"window reply {_num(self.reply_wait)}")
        return out

    def _numbers(self, name: str) -> tuple[int, float | None]:
        """The threshold and window in force under a rule name (a name shared
        by several kinds: the first one's)."""
        for kind in KINDS.values():
            side = self._side(kind, name)
            if side is not None:
                table, key, threshold, window = side
                numbers = table[key]
                return getattr(numbers, threshold), window and getattr(numbers, window)
        raise KeyError(name)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


__all__ = ["Detection", "ScanKind", "TuningError", "check"]
