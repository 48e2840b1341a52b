"""Words -> values, for the command line and iplog.conf alike (docs/contract.md C1, C2).

Booleans, syslog facility and priority names, comma lists: one reading of
each, used by ``loader`` (options) and ``parser`` (config lines).
"""

from __future__ import annotations

from ..options import DEFAULT_FACILITY, DEFAULT_PRIORITY, FACILITIES, PRIORITIES

SYSLOG = {"facility": (FACILITIES, DEFAULT_FACILITY), "priority": (PRIORITIES, DEFAULT_PRIORITY)}

TRUE_WORDS = ("true", "yes")
FALSE_WORDS = ("false", "no")


class WordError(ValueError):
    """A word that means nothing here; the text is 2.2.3's message."""


def boolean(word: str) -> bool | None:
    """``true``/``yes`` -> True, ``false``/``no`` -> False (any case), else None."""
    w = word.lower()
    if w in TRUE_WORDS:
        return True
    if w in FALSE_WORDS:
        return False
    return None


def boolean_or_toggle(word: str, current: bool) -> bool:
    """A long option's ``=value``: a boolean word, or ``toggle`` to flip ``current``."""
    value = boolean(word)
    if value is not None:
        return value
    if word.lower() == "toggle":
        return not current
    raise WordError(
        f'Arguments must be either "yes", "true", "no", "false" or "toggle".\nYou gave "{word}"'
    )


def syslog_name(kind: str, word: str) -> str | None:
    """A facility or priority (``kind``) by name, ``log_`` prefix optional; None if unknown."""
    w = word.lower()
    if w.startswith("log_"):
        w = w[4:]
    return w if w in SYSLOG[kind][0] else None


def syslog_value(kind: str, word: str) -> tuple[str, str | None]:
    """The facility or priority ``word`` names, or the default with 2.2.3's warning."""
    value = syslog_name(kind, word)
    if value is None:
        return SYSLOG[kind][1], f'Invalid {kind}: "{word}" - falling back to default.'
    return value, None


MAX_CAPTURE_BUFFER = 1024  # MB per interface


def megabytes(word: str) -> int:
    """``capture_buffer``'s size: whole megabytes, 1 to MAX_CAPTURE_BUFFER."""
    if not word.isdigit() or not 1 <= int(word) <= MAX_CAPTURE_BUFFER:
        raise WordError(f'Invalid capture buffer: "{word}" (megabytes, 1 to {MAX_CAPTURE_BUFFER})')
    return int(word)


MAX_LOOKUP_RATE = 10000  # name lookups a second


def per_second(word: str) -> int:
    """``lookup_rate``: whole lookups a second, 0 (none) to MAX_LOOKUP_RATE."""
    if not word.isdigit() or int(word) > MAX_LOOKUP_RATE:
        raise WordError(f'Invalid lookup rate: "{word}" (lookups a second, 0 to {MAX_LOOKUP_RATE})')
    return int(word)


def comma_list(text: str) -> tuple[str, ...]:
    """``eth0,eth1`` -> ("eth0", "eth1"); empty items dropped."""
    return tuple(x for x in text.split(",") if x)
