"""Which conversations have been seen, in which direction (docs/contract.md D3).

A packet whose reverse direction was seen before is a reply, never a probe.
The table remembers the time each (protocol, source, source port,
destination, destination port) was last seen, for ``timeout`` seconds and
in at most ``max_entries`` entries: two generations of half that size.
When the current one is full it becomes the old one and the oldest
generation is dropped, so a direction is remembered for at least
``max_entries / 2`` newer ones (a direction seen again moves to the current
generation).  Two plain dicts: no per-packet reordering as in an LRU list.

A direction is kept as the hash of its five fields, not as their tuple
(docs/contract.md D6): an int of 32 bytes where the tuple, its two ports
and the addresses it held took some 200, 6 MB less when a flood of spoofed
sources fills the table.  Two directions then read as one only when their
64-bit hashes are equal: the addresses' bytes hash with a key drawn at each
start (SipHash), so a sender cannot aim at a collision, and chance gives one
in about 10**14 lookups of a full table.
"""

from __future__ import annotations

FLOW_TIMEOUT = 300.0  # seconds after which a direction is forgotten
MAX_FLOWS = 32768  # ~3 MB when a flood of spoofed sources fills it


class FlowTable:
    def __init__(self, timeout: float = FLOW_TIMEOUT, max_entries: int = MAX_FLOWS):
        self.timeout = timeout
        self.max_entries = max_entries
        self.current: dict[int, float] = {}
        self.old: dict[int, float] = {}

    def note(self, ts: float, proto: int, src: bytes, sport: int, dst: bytes, dport: int) -> bool:
        """Record a packet; True when it answers the reverse direction."""
        key = hash((proto, src, sport, dst, dport))
        back = hash((proto, dst, dport, src, sport))
        current = self.current
        seen = current.get(back)
        if seen is None:
            seen = self.old.get(back)
        if len(current) >= self.max_entries // 2 and key not in current:
            self.old, self.current = current, {}
            current = self.current
        current[key] = ts
        return seen is not None and ts - seen <= self.timeout

    def __len__(self) -> int:
        return len(self.current) + len(self.old)
