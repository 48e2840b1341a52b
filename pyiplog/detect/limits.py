"""Every bound on the detectors' state, in one place, each with its reason
(docs/contract.md D6: nothing grows with what a sender sends).

The numbers a user may change (thresholds, windows) are the kinds' own
(``kinds.py``, ``threshold``/``window`` rules); these are not: they bound
memory and the lines' length whatever the traffic.
"""

from __future__ import annotations

# What a pair of the scan tables remembers, and what its lines list.
MAX_DPORTS = 10  # distinct destination ports per pair: a line lists ten, then "..."
MAX_SPORTS = 5  # distinct source ports per pair (and per sweep)

# Pairs per kind in the pair tables (scans.py, probes.py); then the least
# recently active probationary pair goes first (pairs.py).
MAX_PAIRS = 8192
# Keys per kind in the sweep table (sweeps.py), and the distributed floods'
# rates (ports of ours); a full table's sketch of new keys is 2**20 bytes.
MAX_SWEEPS = 4096
SWEEP_SKETCH_BITS = 20

# The default counting's probes (probes.py).
MAX_PENDING = 256  # unanswered probes remembered per pair
MAX_WAITING = 16384  # probes waiting for their answer, all pairs together: then the oldest fails
# (and as many connections whose SYN-ACK came again, waiting for the client to show them)
# IPv6 neighbour solicitations remembered for their repeat (neighbours.py),
# all sources together: then the oldest is forgotten.
MAX_SOLICITED = 4096

# Sweeps (sweeps.py).
MAX_ITEMS = 4096  # distinct items counted per key; more reads "at least 4096"
MAX_SHOWN = 10  # items a line lists, then ",..."
MIN_SOURCES = 100  # a flood from fewer sources is the per-source kind's (ping flood, SYN flood)
FLOOD_SUMMARY = 60.0  # seconds between two summaries of an open distributed flood
DECOY_WINDOW = 10.0  # seconds after a scan's detection that lockstep scans join it
MAX_GROUPS = 1024  # scans that decoys may join, at a time
