"""Every scan and flood kind, declared once (docs/contract.md K1).

A ``Kind`` says all that the rest of pyiplog needs of it: how its lines
name it, its protocol, the switch that turns it on (an ``Options`` field
and ``set`` keyword), its name in ``threshold``/``window`` rules, which
counting counts it with which default numbers, and which family of lines
it writes.  ``options``, ``detect.tuning``, ``messages``, the JSON events,
``--check-config`` and the tables of ``docs/contract.md`` are derived from
``KINDS``; a test holds the docs to it.  Adding a kind: its declaration
here, its detection code, its golden test (docs/contract.md K3).

This module imports nothing of pyiplog's: everything may import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tuning:
    """The default counting's numbers for a kind of the probe table."""

    scan_ports: int  # distinct failed ports that make a scan (0: no scan rule)
    scan_gap: float  # seconds of silence that end the pair
    flood_packets: int  # packets within flood_window that make a flood (0: none)
    flood_window: float
    # A one-way stream (the pair's first source and destination port, every
    # packet alike: iperf3, RTP, a syslog relay) is a flood only at this many
    # packets within flood_window (0: a stream counts as any other packet).
    stream_packets: int = 0
    hold: float = field(init=False)  # how long a silent pair is kept: the longer window

    def __post_init__(self):
        object.__setattr__(self, "hold", max(self.scan_gap, self.flood_window))


@dataclass(frozen=True)
class SweepTuning:
    """The default counting's numbers for a kind of the sweep table."""

    threshold: int  # distinct items (a flood: packets within the window)
    window: float  # the longest gap (a flood: the rate's window)


# The families of lines (messages.py): which start and end lines a kind writes.
PAIR = "pair"  # "NAME detected [ports P] from S" ... "NAME mode expired for S - received ..."
RESETS = "resets"  # as PAIR to start; "... - N probes answered with a reset." to end
PROTOCOLS = "protocols"  # "NAME detected [protocols ...] from S"; ends as PAIR
HOSTS = "hosts"  # "NAME detected to H1,H2 [port P] from S" ... "probed a total of N hosts"
FLOOD = "flood"  # "NAME detected to T [port P] from N sources (R packets/s)", summaries, end


@dataclass(frozen=True)
class Kind:
    key: str  # its name in the code, in JSON's "scan" and in the docs
    name: str  # as its lines name it
    proto: str  # tcp, udp, icmp or ip: JSON's "proto", and whose resolve flag names its hosts
    switch: str  # the Options field (and ``set`` keyword) that turns it on
    conf: str  # its name in ``threshold``/``window`` rules
    lines: str  # PAIR, RESETS, PROTOCOLS, HOSTS or FLOOD
    doc: str  # what it is, one line (docs/contract.md's table)
    flood: bool = False  # a rate, not a scan: JSON's flood_start/update/end
    forged: bool = False  # its sources may be forged: no line names one to ban
    named: bool = True  # its source is looked up by name (smurf's is a network: never)
    # Its sources reflect the attack (victims too, never a scanner's decoys):
    # several at once are "reflecting networks", not a scan with decoys.
    reflected: bool = False
    # 2.2.3's numbers (packets, seconds of silence that end the pair): it is
    # counted by 2.2.3's table in the classic counting.  None: default only.
    classic: tuple[int, float] | None = None
    stealth: bool = False  # counted by 2.2.3's table in the default counting too
    probes: Tuning | None = None  # the default counting's probe table
    sweep: SweepTuning | None = None  # the default counting's sweep table
    flood_conf: str | None = None  # the name of its flood side's numbers (default counting)
    stream_conf: str | None = None  # the name of its stream threshold (default counting)
    # Its switch goes off when none of these protocols is logged (2.2.3's
    # rules for its own kinds; empty: never).
    off_without: tuple[str, ...] = ()

    @property
    def resolve(self) -> str | None:
        """Whose resolve flag names its source (None: never looked up)."""
        return self.proto if self.named else None


# Default counting numbers: rates a legitimate client stays well under (a
# browser's 40 connections in 10 s, statsd at 20/s, ping -i 0.2).  A SYN
# to a served port counts only when its connection is left half open (a
# SYN flood at an open port is still a flood; a load test is not).
_TCP_PROBES = Tuning(scan_ports=10, scan_gap=300.0, flood_packets=200, flood_window=10.0)
_SCAN_SWEEP = SweepTuning(10, 300.0)
_DISTRIBUTED = SweepTuning(1500, 1.0)

KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        # 2.2.3's kinds, in its table's order.
        Kind(
            "portscan", "TCP: port scan", "tcp", "portscan", "portscan", PAIR,
            "SYNs to many ports of one host (connect() scans, DF set)",
            classic=(15, 50), probes=_TCP_PROBES, flood_conf="syn_flood", off_without=("tcp",),
        ),
        Kind(
            "null_scan", "TCP: null scan", "tcp", "null_scan", "null_scan", PAIR,
            "segments with no flag set",
            classic=(10, 50), stealth=True, off_without=("tcp",),
        ),
        Kind(
            "fin_scan", "TCP: FIN scan", "tcp", "fin_scan", "fin_scan", PAIR,
            "segments with FIN alone",
            classic=(10, 50), stealth=True, off_without=("tcp",),
        ),
        Kind(
            "syn_scan", "TCP: SYN scan", "tcp", "syn_scan", "syn_scan", PAIR,
            "raw SYNs (DF clear: nmap -sS, masscan) to many ports of one host",
            classic=(10, 50), probes=_TCP_PROBES, flood_conf="syn_flood",
        ),
        Kind(
            "xmas_scan", "TCP: Xmas scan", "tcp", "xmas_scan", "xmas_scan", PAIR,
            "segments with FIN, URG and PSH (and other odd mixes)",
            classic=(10, 50), stealth=True, off_without=("tcp",),
        ),
        Kind(
            "udp_scan", "UDP: scan/flood", "udp", "udp_scan", "udp_scan", PAIR,
            "datagrams to many ports of one host, or too many to one",
            classic=(25, 50), flood_conf="udp_flood", stream_conf="udp_stream",
            probes=Tuning(10, 300.0, 200, 2.0, stream_packets=100_000), off_without=("udp",),
        ),
        Kind(
            "smurf", "ICMP/UDP: smurf attack", "icmp", "smurf", "smurf", PAIR,
            "echo replies or UDP from one /24 (IPv6: /64) that nobody here asked for",
            flood=True, forged=True, named=False, reflected=True, classic=(90, 30),
            probes=Tuning(0, 30.0, 90, 5.0), off_without=("icmp", "udp"),
        ),
        Kind(
            "ping_flood", "ICMP: ping flood", "icmp", "ping_flood", "ping_flood", PAIR,
            "echo requests from one source at a rate",
            flood=True, classic=(70, 60), probes=Tuning(0, 60.0, 70, 5.0), off_without=("icmp",),
        ),
        # The kinds 2.2.3 never named: default counting only.
        Kind(
            "ack_scan", "TCP: ACK scan", "tcp", "ack_scan", "ack_scan", RESETS,
            "ports a host answered with a bare RST (nmap -sA, -sW)",
            sweep=_SCAN_SWEEP, off_without=("tcp",),
        ),
        Kind(
            "maimon_scan", "TCP: Maimon scan", "tcp", "ack_scan", "ack_scan", RESETS,
            "FIN+ACK probes a host answered with a bare RST (nmap -sM)",
            sweep=_SCAN_SWEEP, off_without=("tcp",),
        ),
        Kind(
            "proto_scan", "IP: protocol scan", "ip", "proto_scan", "proto_scan", PROTOCOLS,
            "IP protocols other than TCP, UDP and ICMP sent to one host (nmap -sO)",
            sweep=_SCAN_SWEEP,
        ),
        Kind(
            "horizontal_tcp", "TCP: horizontal scan", "tcp", "horizontal_scan",
            "horizontal_scan", HOSTS,
            "one TCP port probed on many hosts, the probes failing",
            sweep=_SCAN_SWEEP,
        ),
        Kind(
            "horizontal_udp", "UDP: horizontal scan", "udp", "horizontal_scan",
            "horizontal_scan", HOSTS,
            "one UDP port probed on many hosts, the probes failing",
            sweep=_SCAN_SWEEP,
        ),
        Kind(
            "ping_sweep", "ICMP: ping sweep", "icmp", "ping_sweep", "ping_sweep", HOSTS,
            "echo requests to many hosts",
            sweep=SweepTuning(32, 10.0), off_without=("icmp",),
        ),
        Kind(
            "nd_sweep", "ICMPv6: neighbour sweep", "icmp", "ping_sweep", "nd_sweep", HOSTS,
            "neighbour solicitations for many addresses of a link, left unanswered"
            " (nmap -6 host discovery)",
            sweep=SweepTuning(16, 10.0), off_without=("icmp",),
        ),
        Kind(
            "distributed_flood", "TCP: distributed SYN flood", "tcp", "distributed_flood",
            "distributed_flood", FLOOD,
            "SYNs to one port at a rate from many sources (spoofed)",
            flood=True, forged=True, sweep=_DISTRIBUTED,
        ),
        Kind(
            "distributed_udp", "UDP: distributed flood", "udp", "distributed_flood",
            "distributed_flood", FLOOD,
            "datagrams to one port at a rate from many sources",
            flood=True, forged=True, sweep=_DISTRIBUTED,
        ),
        Kind(
            "distributed_icmp", "ICMP: distributed flood", "icmp", "distributed_flood",
            "distributed_flood", FLOOD,
            "ICMP messages to one host at a rate from many sources",
            flood=True, forged=True, sweep=_DISTRIBUTED,
        ),
    )
}  # fmt: skip

# The switches of the kinds (Options fields, ``set`` keywords), in order.
SWITCHES: tuple[str, ...] = tuple(dict.fromkeys(k.switch for k in KINDS.values()))


def tunable_names(classic: bool) -> tuple[str, ...]:
    """The names of ``threshold``/``window`` rules that mean something in a
    counting, in order: each kind's own, then its flood side's, its stream's."""
    names: list[str] = []
    for kind in KINDS.values():
        if classic:
            if kind.classic:
                names.append(kind.conf)
            continue
        names += [n for n in (kind.conf, kind.flood_conf, kind.stream_conf) if n]
    return tuple(dict.fromkeys(names))
