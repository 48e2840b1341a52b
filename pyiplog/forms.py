"""Message kinds as functions: the compiled text forms and the JSON forms
(docs/contract.md O3).

``messages.MESSAGES`` holds the texts; here each becomes a function of its
fields (``FORMS``: kind -> (plain form, log_dest form)), compiled once,
and each kind's JSON form wraps its text form with the event's fields
(``json_forms``).  ``detect.lines.Lines`` takes the forms in force from
``text_forms`` or ``json_forms``.
"""

from __future__ import annotations

import json
import re

from .kinds import KINDS
from .messages import MESSAGES
from .resolve import address_text

_FIELD = re.compile(r"\{(\w+)\}")


def _compile(text: str, accepted: set[str]):
    """``text.format(**fields)`` as a function of keyword arguments: an
    f-string, about five times faster than str.format with keywords (every
    packet of a flood writes a line).  Fields of the other form (``D``) are
    accepted and ignored."""
    used = list(dict.fromkeys(_FIELD.findall(text)))
    if text.count("{") != len(_FIELD.findall(text)) or "\\" in text:
        raise ValueError(f"message text needs escaping: {text!r}")
    params = used + [f"{name}=None" for name in sorted(accepted - set(used))]
    star = "*, " if params else ""
    return eval(f"lambda {star}{', '.join(params)}: f{text!r}")  # our own constant texts


# What the detectors pass besides a text's own fields, for the JSON lines
# (docs/contract.md O4), by kind; the text forms accept and ignore them.  Only what each
# kind passes: every keyword a form declares costs each call.
_ADDRESSES = ("src", "dst")
RAW_FIELDS: dict[str, tuple[str, ...]] = {
    "ip_short": _ADDRESSES,
    "ip_checksum": _ADDRESSES,
    **dict.fromkeys(
        ("frag_oversized", "frag_duplicate", "frag_overlap", "frag_too_many"),
        (*_ADDRESSES, "attack"),
    ),
    "tcp_bogus": (*_ADDRESSES, "flags"),
    "tcp_attempt": ("ip", "user"),  # the datagram itself: one argument on the hot path
    "udp_traceroute": _ADDRESSES,
    "udp_dgram": ("ip",),
    "icmp_echo": ("ip",),
    "icmp_echo_reply": ("ip",),
    "icmp6_echo": ("ip",),
    "icmp6_echo_reply": ("ip",),
    "icmp6_too_big": (*_ADDRESSES, "itype", "code", "mtu"),
    "scan_detected": (*_ADDRESSES, "scan", "dport_list", "sport_list"),
    "scan_expired": (*_ADDRESSES, "scan"),
    "reset_expired": (*_ADDRESSES, "scan"),
    "decoy_detected": (*_ADDRESSES, "scan", "dport_list", "source_list", "source_count"),
    "reflectors_detected": (*_ADDRESSES, "scan", "dport_list", "reflector_list", "source_count"),
    "proto_scan_detected": (*_ADDRESSES, "scan", "protocol_list"),
    "probe_failed": (*_ADDRESSES, "proto"),
    "sweep_detected": (*_ADDRESSES, "scan", "port", "host_list"),
    "sweep_expired": (*_ADDRESSES, "scan", "port", "host_count"),
    "flood_detected": (*_ADDRESSES, "scan", "port", "source_count"),
    "flood_summary": (*_ADDRESSES, "scan", "port", "source_count"),
    "flood_expired": (*_ADDRESSES, "scan", "port", "source_count"),
}
ICMP_RAW = (*_ADDRESSES, "itype", "code")  # every other ICMP line


def _forms(kind: str, plain: str, dest: str) -> tuple:
    raw = RAW_FIELDS.get(kind, ICMP_RAW if kind.startswith(("icmp_", "icmp6_")) else ())
    accepted = set(_FIELD.findall(plain)) | set(_FIELD.findall(dest)) | set(raw)
    return _compile(plain, accepted), _compile(dest, accepted)


# kind: (plain form, log_dest form), each a function of the message's fields.
FORMS = {kind: _forms(kind, *texts) for kind, texts in MESSAGES.items()}


# --- JSON lines (docs/contract.md O4) ---------------------------------------------------
# Each message kind as an event of the JSON schema (conf/iplog.schema.json):
# kind -> (event, protocol).  Scans and floods say which in ``scan``.

JSON_EVENTS: dict[str, tuple[str, str | None]] = {
    "ip_short": ("bad_packet", "ip"),
    "ip_checksum": ("bad_packet", "ip"),
    "frag_oversized": ("fragment", "ip"),
    "frag_duplicate": ("fragment", "ip"),
    "frag_overlap": ("fragment", "ip"),
    "frag_too_many": ("fragment", "ip"),
    "tcp_bogus": ("bogus_flags", "tcp"),
    "tcp_attempt": ("connection_attempt", "tcp"),
    "udp_traceroute": ("traceroute", "udp"),
    "udp_dgram": ("dgram", "udp"),
    "scan_detected": ("scan_start", None),
    "scan_expired": ("scan_end", None),
    "reset_expired": ("scan_end", None),
    "decoy_detected": ("scan_start", None),
    "reflectors_detected": ("scan_start", None),
    "probe_failed": ("probe_failed", None),
    "proto_scan_detected": ("scan_start", None),
    "sweep_detected": ("scan_start", None),
    "sweep_expired": ("scan_end", None),
    "flood_detected": ("scan_start", None),
    "flood_summary": ("scan_update", None),
    "flood_expired": ("scan_end", None),
    "started": ("daemon", None),
    "repeated": ("repeat", None),
    **{kind: ("icmp", "icmp") for kind in MESSAGES if kind.startswith("icmp_")},
    **{kind: ("icmp", "icmp6") for kind in MESSAGES if kind.startswith("icmp6_")},
}
# scan_start/update/end are flood_start/update/end for a flood.
FLOOD_KINDS = frozenset(key for key, kind in KINDS.items() if kind.flood)
SCAN_PROTOCOLS = {key: kind.proto for key, kind in KINDS.items()}


class JsonBody(str):
    """A JSON object without its time (the output adds it): what a message
    kind's JSON form gives, in place of the text."""

    __slots__ = ()


def _name(shown: str | None, address: str) -> str | None:
    """The name a host was printed with, if any (``name`` or ``name (a.b.c.d)``)."""
    if not shown or shown == address:
        return None
    suffix = f" ({address})"
    return shown[: -len(suffix)] if shown.endswith(suffix) else shown


# Fields passed as they are, under their JSON names.
_SAME = (
    ("sport", "sport"),
    ("dport", "dport"),
    ("service", "service"),
    ("user", "user"),
    ("itype", "icmp_type"),
    ("code", "icmp_code"),
    ("flags", "tcp_flags"),
    ("attack", "attack"),
    ("n", "bytes"),
    ("count", "packets"),
    ("bytes", "bytes"),
    ("dport_list", "dports"),
    ("sport_list", "sports"),
    ("port", "dport"),
    ("host_list", "hosts"),
    ("host_count", "host_count"),
    ("protocol_list", "protocols"),
    ("source_count", "sources"),
    ("source_list", "decoy_sources"),
    ("reflector_list", "reflectors"),
    ("why", "reason"),
    ("rate", "rate"),
    ("mtu", "mtu"),
)


def _hosts(f: dict, obj: dict) -> None:
    """``family``, ``src``, ``dst`` and the names they were printed with."""
    for side, shown in (("src", f.get("S")), ("dst", f.get("D"))):
        addr = f.get(side)
        if addr is None:
            continue
        text = address_text(addr)
        obj.setdefault("family", "ipv4" if len(addr) == 4 else "ipv6")
        obj[side] = text
        name = _name(shown, text)
        if name is not None:
            obj[f"{side}_name"] = name


def _from_datagram(f: dict) -> None:
    """The per-packet lines pass their datagram (``ip``) alone, for speed:
    addresses, the destination port or the ICMP type and code from it."""
    ip = f.pop("ip")
    f["src"], f["dst"] = ip.src, ip.dst
    if ip.proto in (1, 58):  # ICMP, ICMPv6
        f["itype"], f["code"] = ip.payload[0], ip.payload[1]
    else:
        f["dport"] = int.from_bytes(ip.payload[2:4], "big")


def _json_form(kind: str, text_form):
    event, proto = JSON_EVENTS[kind]

    def form(**f) -> JsonBody:
        message = text_form(**f)
        if f.get("ip") is not None:
            _from_datagram(f)
        obj: dict = {"event": event}
        scan = f.get("scan")
        if scan is not None:  # scan_start/end, or flood_start/end
            obj["event"] = event.replace("scan", "flood") if scan in FLOOD_KINDS else event
            obj["proto"] = SCAN_PROTOCOLS[scan]
            obj["scan"] = scan
        elif proto is not None:
            obj["proto"] = proto
        elif "proto" in f:  # a failed probe's: TCP or UDP
            obj["proto"] = f["proto"]
        _hosts(f, obj)
        for name, key in _SAME:
            value = f.get(name)
            if value is not None:
                obj[key] = list(value) if isinstance(value, tuple) else value
        service = obj.get("service")
        if service is not None and service == f"port {obj['dport']}":
            del obj["service"]  # a port without a name has no service (O4)
        obj["message"] = message
        return JsonBody(json.dumps(obj, ensure_ascii=False))

    return form


def json_forms(dest: bool) -> dict:
    """kind -> JSON form (the text form's message, with the event's fields)."""
    return {kind: _json_form(kind, forms[1 if dest else 0]) for kind, forms in FORMS.items()}


def line(kind: str, **fields) -> str:
    """One line of a message kind in its plain form (the outputs' own:
    ``started``, ``repeated``)."""
    return FORMS[kind][0](**fields)


def text_forms(dest: bool) -> dict:
    """kind -> text form (plain, or log_dest's)."""
    return {kind: forms[1 if dest else 0] for kind, forms in FORMS.items()}
