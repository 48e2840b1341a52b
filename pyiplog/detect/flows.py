"""Which conversations have been seen, in which direction (spec C3).

A packet whose reverse direction was seen before is a reply, never a probe.
The table remembers the time each (protocol, source, source port,
destination, destination port) was last seen, bounded by ``max_entries``
(least recently seen first out).
"""

from __future__ import annotations

from collections import OrderedDict

FLOW_TIMEOUT = 300.0  # seconds after which a direction is forgotten
MAX_FLOWS = 131072


class FlowTable:
    def __init__(self, timeout: float = FLOW_TIMEOUT, max_entries: int = MAX_FLOWS):
        self.timeout = timeout
        self.max_entries = max_entries
        self.seen: OrderedDict[tuple, float] = OrderedDict()

    def note(self, ts: float, key: tuple) -> bool:
        """Record a packet; True when it answers the reverse direction."""
        proto, src, sport, dst, dport = key
        back = self.seen.get((proto, dst, dport, src, sport))
        reply = back is not None and ts - back <= self.timeout
        seen = self.seen
        if key in seen:
            seen.move_to_end(key)
        seen[key] = ts
        if len(seen) > self.max_entries:
            seen.popitem(last=False)
        return reply

    def __len__(self) -> int:
        return len(self.seen)
