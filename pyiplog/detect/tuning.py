"""Every detection threshold and window: named defaults, iplog.conf overrides.

``threshold KIND N`` and ``window KIND SECONDS`` in iplog.conf change them;
``iplog --check-config`` shows the values in force.  What they mean depends
on the counting:

- classic (2.2.3): ``threshold`` is packets, ``window`` the silence that ends
  the pair, for every kind;
- default: for ``portscan``, ``syn_scan`` and ``udp_scan`` the threshold is
  distinct failed ports and the window the longest gap between two probes;
  ``syn_flood`` and ``udp_flood`` (the flood side of those), ``ping_flood``
  and ``smurf`` are packets within the window; ``null_scan``, ``fin_scan``
  and ``xmas_scan`` count packets as 2.2.3 did; ``window reply`` is how long
  a probe waits for its answer before it counts as unanswered;
  ``udp_stream`` (threshold only) is how many packets within the
  ``udp_flood`` window make a one-way stream (one source port to one port)
  a flood;
- default only, the scans 2.2.3 never named (``sweeps.py``, numbers in
  ``SWEEPS``): ``ack_scan``
  (ACK, window and Maimon scans: ports answered with a bare RST),
  ``proto_scan`` (protocols), ``horizontal_scan`` (hosts whose probe to one
  port failed), ``ping_sweep`` (hosts sent an echo request): the threshold
  is distinct items and the window the longest gap;
  ``distributed_flood``: SYNs, UDP datagrams or ICMP messages to one port
  of ours (ICMP: one host) within the window, from at least
  ``sweeps.MIN_SOURCES`` sources.
"""

from __future__ import annotations

from dataclasses import replace

from .probes import Tuning
from .scans import KINDS as CLASSIC_KINDS
from .scans import ScanKind
from .sweeps import SweepTuning

REPLY_WAIT = 3.0

# Default counting (spec C3).  Floods: rates a legitimate client stays well
# under (a browser's 40 connections in 10 s, statsd at 20/s, ping -i 0.2).
# A SYN flood at an open port is answered, and still a flood.
MODERN: dict[str, Tuning] = {
    "portscan": Tuning(
        scan_ports=10, scan_gap=300.0, flood_packets=200, flood_window=10.0, flood_served=True
    ),
    "syn_scan": Tuning(
        scan_ports=10, scan_gap=300.0, flood_packets=200, flood_window=10.0, flood_served=True
    ),
    "udp_scan": Tuning(
        scan_ports=10, scan_gap=300.0, flood_packets=200, flood_window=2.0, stream_packets=100_000
    ),
    "ping_flood": Tuning(scan_ports=0, scan_gap=60.0, flood_packets=70, flood_window=5.0),
    "smurf": Tuning(scan_ports=0, scan_gap=30.0, flood_packets=90, flood_window=5.0),
}
# The scans 2.2.3 never named (sweeps.py): distinct items (ports, protocols,
# hosts) within gaps of the window; the distributed flood: SYNs to one port
# of ours within the window (from at least sweeps.MIN_SOURCES sources).
SWEEPS: dict[str, SweepTuning] = {
    "ack_scan": SweepTuning(10, 300.0),
    "maimon_scan": SweepTuning(10, 300.0),
    "proto_scan": SweepTuning(10, 300.0),
    "horizontal_tcp": SweepTuning(10, 300.0),
    "horizontal_udp": SweepTuning(10, 300.0),
    "ping_sweep": SweepTuning(32, 10.0),
    "distributed_flood": SweepTuning(1500, 1.0),
    "distributed_udp": SweepTuning(1500, 1.0),
    "distributed_icmp": SweepTuning(1500, 1.0),
}
STEALTH = ("null_scan", "fin_scan", "xmas_scan")  # counted as 2.2.3 did in both modes
FLOOD_SIDE = {"syn_flood": ("portscan", "syn_scan"), "udp_flood": ("udp_scan",)}

# iplog.conf's names of the sweep kinds (one name for two kinds of a sort).
SWEEP_NAMES = {
    "ack_scan": ("ack_scan", "maimon_scan"),
    "proto_scan": ("proto_scan",),
    "horizontal_scan": ("horizontal_tcp", "horizontal_udp"),
    "ping_sweep": ("ping_sweep",),
    "distributed_flood": ("distributed_flood", "distributed_udp", "distributed_icmp"),
}

DETECTORS = tuple(CLASSIC_KINDS) + tuple(FLOOD_SIDE) + tuple(SWEEP_NAMES) + ("udp_stream", "reply")


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

    def _apply(self, word: str, kind: str, value: float) -> None:
        if kind == "reply":
            if not self.classic:
                self.reply_wait = value
            return
        if kind in SWEEP_NAMES:
            field = "threshold" if word == "threshold" else "window"
            for target in SWEEP_NAMES[kind]:
                self.sweeps[target] = replace(self.sweeps[target], **{field: value})
            return
        if kind == "udp_stream":
            self.modern["udp_scan"] = replace(self.modern["udp_scan"], stream_packets=value)
            return
        if self.classic or kind in STEALTH:
            if kind in self.kinds:
                field = "threshold" if word == "threshold" else "timeout"
                self.kinds[kind] = replace(self.kinds[kind], **{field: value})
            return
        if kind in FLOOD_SIDE:
            field = "flood_packets" if word == "threshold" else "flood_window"
            for target in FLOOD_SIDE[kind]:
                self.modern[target] = replace(self.modern[target], **{field: value})
            return
        tune = self.modern[kind]
        if tune.scan_ports:
            field = "scan_ports" if word == "threshold" else "scan_gap"
        else:
            field = "flood_packets" if word == "threshold" else "flood_window"
        self.modern[kind] = replace(tune, **{field: value})

    def describe(self) -> list[str]:
        """iplog.conf lines for the values in force (--check-config)."""
        out = []
        if self.classic:
            for key, kind in self.kinds.items():
                out += [f"threshold {key} {kind.threshold}", f"window {key} {_num(kind.timeout)}"]
            return out
        for key in STEALTH:
            kind = self.kinds[key]
            out += [f"threshold {key} {kind.threshold}", f"window {key} {_num(kind.timeout)}"]
        for key, tune in self.modern.items():
            if tune.scan_ports:
                out += [f"threshold {key} {tune.scan_ports}", f"window {key} {_num(tune.scan_gap)}"]
            else:
                out += [
                    f"threshold {key} {tune.flood_packets}",
                    f"window {key} {_num(tune.flood_window)}",
                ]
        for name, targets in FLOOD_SIDE.items():
            tune = self.modern[targets[0]]
            out += [
                f"threshold {name} {tune.flood_packets}",
                f"window {name} {_num(tune.flood_window)}",
            ]
        out.append(f"threshold udp_stream {self.modern['udp_scan'].stream_packets}")
        for name, targets in SWEEP_NAMES.items():
            tune = self.sweeps[targets[0]]
            out += [f"threshold {name} {tune.threshold}", f"window {name} {_num(tune.window)}"]
        out.append(f"window reply {_num(self.reply_wait)}")
        return out


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


__all__ = ["Detection", "ScanKind", "TuningError", "check"]
