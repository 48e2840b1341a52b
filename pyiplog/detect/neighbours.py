"""IPv6 neighbour solicitations left unanswered (docs/contract.md D5: the
neighbour sweep).

nmap's IPv6 host discovery on a link asks it for many addresses (RFC 4861
neighbour solicitations), most of them nobody's, and asks again for each
one that did not answer, as a kernel does (three times, a second apart).
A router or host resolving its real neighbours asks once: the answer (a
unicast advertisement) comes back.  So a solicitation that its source
repeats within ``window reply`` seconds, no advertisement from the target
to it seen in between, is a step of the source's sweep.  The repeat is
the evidence because a sensor on a switch sees the solicitations (sent to
multicast groups) but seldom the advertisements (unicast to the asker).
"""

from __future__ import annotations

from .limits import MAX_SOLICITED


class Solicitations:
    """(source, target) -> when the source first asked, oldest first."""

    __slots__ = ("asked",)

    def __init__(self):
        self.asked: dict[tuple[bytes, bytes], float] = {}

    def solicited(self, ts: float, src: bytes, target: bytes, wait: float) -> bool:
        """``src`` asks for ``target``: True when it asks again for an
        address that did not answer within ``wait`` seconds."""
        asked = self.asked
        key = (src, target)
        first = asked.pop(key, None)
        if first is not None and ts - first <= wait:
            return True  # counted once; asking on starts anew
        asked[key] = ts
        if len(asked) > MAX_SOLICITED:
            del asked[next(iter(asked))]
        return False

    def advertised(self, dst: bytes, target: bytes) -> None:
        """``target`` answered ``dst``: its solicitation was no probe."""
        self.asked.pop((dst, target), None)
