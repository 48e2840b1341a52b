"""Every line iplog writes to its log, and its warnings, in one place
(docs/contract.md O2).

``MESSAGES`` maps a message kind to its plain form and its log_dest form.
The golden tests fail when a kind here has no sample line, so a new text
cannot be added without a test that shows it.  ``PROCESS_MESSAGES`` are the
daemon's own lines and warnings (log, stderr, syslog); the kinds' names
are declared with the kinds (``kinds.py``).  ``forms.py`` makes functions
of the log lines' texts; fatal errors (``Fatal: TEXT``, 2.2.3's
texts) are raised where they are found.
"""

from __future__ import annotations

# kind: (plain form, log_dest form).  Fields are str.format names.
MESSAGES: dict[str, tuple[str, str]] = {
    # P1: IP header checks (verbose) and fragments (frag).
    "ip_short": ("Short IP packet from {S}", "Short IP packet to {D} from {S}"),
    "ip_checksum": (
        "IP packet with invalid checksum from {S}",
        "IP packet with invalid checksum to {D} from {S}",
    ),
    "frag_oversized": ("Oversized IP fragment from {S}", "Oversized IP fragment to {D} from {S}"),
    "frag_duplicate": ("Duplicate IP fragments from {S}", "Duplicate IP fragments to {D} from {S}"),
    "frag_overlap": (
        "Overlapping IP fragments from {S}",
        "Overlapping IP fragments to {D} from {S}",
    ),
    "frag_too_many": (
        "Too many IP fragments from {S}",
        "Too many IP fragments to {D} from {S}",
    ),
    # P2: TCP.
    "tcp_bogus": (
        "TCP: Bogus TCP flags set by {S}:{sport} (dest port {dport})",
        "TCP: Bogus TCP flags set by {S}:{sport} (dest {D}:{dport})",
    ),
    "tcp_attempt": (
        "TCP: {service} connection attempt from {S}:{sport}",
        "TCP: {service} connection attempt to {D} from {S}:{sport}",
    ),
    # P3: UDP.
    "udp_traceroute": ("UDP: traceroute from {S}", "UDP: traceroute from {S} to {D}"),
    "udp_dgram": (
        "UDP: dgram to {service} from {S}:{sport} ({n} data bytes)",
        "UDP: dgram to {D}:{service} from {S}:{sport} ({n} data bytes)",
    ),
    # P4: ICMP.
    "icmp_echo_reply": (
        "ICMP: echo reply from {S} ({n} bytes)",
        "ICMP: echo reply from {S} to {D} ({n} bytes)",
    ),
    "icmp_echo": ("ICMP: echo from {S} ({n} bytes)", "ICMP: echo from {S} to {D} ({n} bytes)"),
    "icmp_unreach": ("ICMP: {H}: {text} to ({inner})", "ICMP: {H}: {text} to {D} ({inner})"),
    "icmp_unreach_undefined": (
        "ICMP: undefined destination unreachable code ({code}) from {S}",
        "ICMP: undefined destination unreachable code ({code}) from {S} to {D}",
    ),
    "icmp_named": ("ICMP: {name} from {S}", "ICMP: {name} to {D} from {S}"),
    "icmp_redirect": (
        "ICMP: ({gw}) {redirect} {S} to {target} {X}",
        "ICMP: ({gw}) {redirect} {S} to {target} {X}",
    ),
    "icmp_redirect_undefined": (
        "ICMP: undefined redirect code {code} from {S}",
        "ICMP: undefined redirect code {code} to {D} from {S}",
    ),
    "icmp_router_advert": (
        "ICMP: path of router advertisement from {S}: {routers} (lifetime {lifetime})",
        "ICMP: path of router advertisement to {D} from {S}: {routers} (lifetime {lifetime})",
    ),
    "icmp_time_exceeded": (
        "ICMP: {S} time exceeded ({inner})",
        "ICMP: {S} time exceeded to {D} ({inner})",
    ),
    "icmp_param_problem": (
        "ICMP: parameter problem from {S} (ptr {ptr})",
        "ICMP: parameter problem to {D} from {S} (ptr {ptr})",
    ),
    "icmp_timestamp_reply": (
        "ICMP: timestamp reply from {S} ({time})",
        "ICMP: timestamp reply to {D} from {S} ({time})",
    ),
    "icmp_mask_reply": (
        "ICMP: address mask reply from {S} ({mask})",
        "ICMP: address mask reply to {D} from {S} ({mask})",
    ),
    "icmp_undefined": (
        "ICMP: undefined ICMP type {type} from {S}",
        "ICMP: undefined ICMP type {type} to {D} from {S}",
    ),
    # P5: ICMPv6 (RFC 4443), in the ICMP lines' layout.
    "icmp6_echo_reply": (
        "ICMPv6: echo reply from {S} ({n} bytes)",
        "ICMPv6: echo reply from {S} to {D} ({n} bytes)",
    ),
    "icmp6_echo": (
        "ICMPv6: echo from {S} ({n} bytes)",
        "ICMPv6: echo from {S} to {D} ({n} bytes)",
    ),
    "icmp6_unreach": ("ICMPv6: {H}: {text} to ({inner})", "ICMPv6: {H}: {text} to {D} ({inner})"),
    "icmp6_unreach_undefined": (
        "ICMPv6: undefined destination unreachable code ({code}) from {S}",
        "ICMPv6: undefined destination unreachable code ({code}) from {S} to {D}",
    ),
    "icmp6_too_big": (
        "ICMPv6: packet too big from {S} (mtu {mtu}) ({inner})",
        "ICMPv6: packet too big to {D} from {S} (mtu {mtu}) ({inner})",
    ),
    "icmp6_time_exceeded": (
        "ICMPv6: {S} {text} ({inner})",
        "ICMPv6: {S} {text} to {D} ({inner})",
    ),
    "icmp6_param_problem": (
        "ICMPv6: parameter problem from {S}: {text} (ptr {ptr}) ({inner})",
        "ICMPv6: parameter problem to {D} from {S}: {text} (ptr {ptr}) ({inner})",
    ),
    "icmp6_named": ("ICMPv6: {name} from {S}", "ICMPv6: {name} to {D} from {S}"),
    "icmp6_undefined": (
        "ICMPv6: undefined ICMPv6 type {type} from {S}",
        "ICMPv6: undefined ICMPv6 type {type} to {D} from {S}",
    ),
    # D2: scans and floods.
    "scan_detected": (
        "{name} detected{dports} from {S}{sports}",
        "{name} detected to {D}{dports} from {S}{sports}",
    ),
    "scan_expired": (
        "{name} mode expired for {S} - received a total of {count} packets ({bytes} bytes).",
        "{name} mode to {D} expired for {S} - received a total of {count} packets ({bytes} bytes).",
    ),
    # D5: the scans and floods 2.2.3 never named (default counting).  The
    # ACK and Maimon scans start with "scan_detected"; the protocol scan
    # ends with "scan_expired".
    "decoy_detected": (
        "{name} with decoys detected{dports} from {nsources} sources: {sources}",
        "{name} with decoys detected to {D}{dports} from {nsources} sources: {sources}",
    ),
    # Smurf's sources are networks that reflect the attack, victims too.
    "reflectors_detected": (
        "{name} detected{dports} from {nsources} reflecting networks: {sources}",
        "{name} detected to {D}{dports} from {nsources} reflecting networks: {sources}",
    ),
    # The failed probes' own lines, in JSON lines only (docs/contract.md O4).
    "probe_failed": (
        "{name}: probe of port {port} from {S} failed ({why})",
        "{name}: probe of port {port} of {D} from {S} failed ({why})",
    ),
    "reset_expired": (
        "{name} mode expired for {S} - {count} probes answered with a reset.",
        "{name} mode to {D} expired for {S} - {count} probes answered with a reset.",
    ),
    "proto_scan_detected": (
        "{name} detected [protocols {protocols}] from {S}",
        "{name} detected to {D} [protocols {protocols}] from {S}",
    ),
    "sweep_detected": ("{name} detected{ports} from {S}", "{name} detected to {H}{ports} from {S}"),
    "sweep_expired": (
        "{name} mode expired for {S} - probed a total of {hosts} hosts ({count} packets).",
        "{name} mode expired for {S} - probed a total of {hosts} hosts ({count} packets).",
    ),
    "flood_detected": (
        "{name} detected to {T}{ports} from {sources} sources ({rate} packets/s)",
        "{name} detected to {T}{ports} from {sources} sources ({rate} packets/s)",
    ),
    "flood_summary": (
        "{name} to {T}{ports} going on - received {count} packets ({bytes} bytes)"
        " from {sources} sources so far.",
        "{name} to {T}{ports} going on - received {count} packets ({bytes} bytes)"
        " from {sources} sources so far.",
    ),
    "flood_expired": (
        "{name} to {T}{ports} expired - received a total of {count} packets"
        " ({bytes} bytes) from {sources} sources.",
        "{name} to {T}{ports} expired - received a total of {count} packets"
        " ({bytes} bytes) from {sources} sources.",
    ),
    # O1: the log itself.
    "started": ("iplog started.", "iplog started."),
    "repeated": ("last message repeated {n} times", "last message repeated {n} times"),
}

# The live daemon's own lines (docs/contract.md C3, L1, F2, D6); tested by the daemon tests.
PROCESS_MESSAGES: dict[str, str] = {
    "restarting": "Restarting iplog (pid {pid}).",
    "caught": "Caught signal {n}, exiting.",
    "iface_down": "Warning: interface {name} went down.",
    "iface_reopened": "Interface {name} was reopened.",
    "iface_failed": "Warning: unable to open {name}: {reason}",
    "kernel_drops": "Warning: kernel dropped {n} packets on {name}",
    "stats": "Statistics for {name}: {packets} packets seen ({ipv6} IPv6),"
    " {drops} dropped by the kernel,"
    " {entries} scan entries, {fragments} incomplete datagrams,"
    " {errors} packets not analysed (errors).",
    "lookup_stats": "Name lookups: {started} started, {refused} not started (rate limit or"
    " in flight), {cached} names cached.",
    "ident_stats": "Ident lookups: {asked} asked, {refused} not asked (rate limit or in flight),"
    " {abandoned} abandoned (budget spent).",
    "fool_stats": "fool_nmap: {sent} answers sent, {limited} held back by the rate limits,"
    " {answers} fool_nmap answers not answered.",
    "reopen_failed": 'Warning: unable to reopen "{path}": {error}; still writing to the'
    " file that was open.",
    "config_unreadable": 'Warning: the user iplog runs as cannot read "{path}"; a reload'
    " (SIGHUP) will keep the running configuration (make it readable: mode 0644).",
    "config_kept": "Warning: {path} has errors; keeping the running configuration.",
    "metrics_failed": 'Warning: unable to write the metrics to "{path}": {error}',
    "status_failed": "Warning: no status socket ({error}); iplog --status cannot ask this daemon.",
    "config_error": "{error}",
    "reload_refused": "Warning: {error}; keeping the running configuration.",
    "write_failed": "Warning: writing the log failed: {error}",
    "log_unwritable": 'Warning: unable to write "{path}": {error};'
    " keeping the lines until it works again.",
    "log_writable": 'Writing "{path}" works again.',
    "lines_lost": "{n} lines were lost while the log could not be written",
    "syslog_unreachable": "Warning: syslog ({path}) cannot be reached: {error};"
    " keeping the lines until it can.",
    "syslog_works": "Syslog ({path}) can be reached again.",
    "syslog_lost": "{n} lines were lost while syslog could not be reached",
    "not_watching": "Warning: not watching {name}: {reason}",
    "overriding": "Warning: Overriding --{option}",
    "live_only": "Warning: {what} acts on live traffic only; ignored with -r.",
    "no_fool_nmap": "Warning: fool_nmap needs a raw socket ({error}); ignored.",
}

# P4: destination unreachable texts by code (F4: the real code's text).
UNREACH_TEXTS = (
    "network is unreachable",
    "host is unreachable",
    "protocol is unreachable",
    "port is unreachable",
    "fragmentation needed, IP_DF set",
    "source route failed",
    "network is unreachable(?)",
    "host is unreachable(?)",
    "host is isolated from source",
    "network is unreachable because of admin prohibited filter",
    "host is unreachable because of admin prohibited filter",
    "network is unreachable because tos is prohibited",
    "host is unreachable because tos is prohibited",
    "packet filtered",
    "precedence violation",
    "precedence cutoff",
)

# P4: the "ICMP: NAME from S" types.
ICMP_NAMED = {
    4: "source quench",
    10: "router solicitation",
    13: "timestamp request",
    15: "info request",
    16: "info reply",
    17: "address mask request",
}

REDIRECT_FORMS = (
    ("redirect", "network"),
    ("redirect", "host"),
    ("redirect-tos", "network"),
    ("redirect-tos", "host"),
)

# P5: ICMPv6 destination unreachable texts by code (RFC 4443 3.1, RFC 6550,
# RFC 8883).
UNREACH6_TEXTS = (
    "no route to destination",
    "communication with destination administratively prohibited",
    "beyond scope of source address",
    "address unreachable",
    "port unreachable",
    "source address failed ingress/egress policy",
    "reject route to destination",
    "error in source routing header",
    "headers too long",
)
TIME_EXCEEDED6_TEXTS = ("hop limit exceeded in transit", "fragment reassembly time exceeded")
PARAM_PROBLEM6_TEXTS = (
    "erroneous header field encountered",
    "unrecognized next header type encountered",
    "unrecognized IPv6 option encountered",
    "first fragment has incomplete IPv6 header chain",
)

# P5: ICMPv6's informational messages by type (IANA's names), and which of
# them are neighbour discovery and multicast listener discovery: constant on
# every IPv6 link, logged only with ``set icmp6_nd true``.
ICMP6_NAMED = {
    130: "multicast listener query",
    131: "multicast listener report",
    132: "multicast listener done",
    133: "router solicitation",
    134: "router advertisement",
    135: "neighbor solicitation",
    136: "neighbor advertisement",
    137: "redirect",
    138: "router renumbering",
    139: "node information query",
    140: "node information reply",
    141: "inverse neighbor discovery solicitation",
    142: "inverse neighbor discovery advertisement",
    143: "multicast listener report v2",
    144: "home agent address discovery request",
    145: "home agent address discovery reply",
    146: "mobile prefix solicitation",
    147: "mobile prefix advertisement",
    148: "certification path solicitation",
    149: "certification path advertisement",
    151: "multicast router advertisement",
    152: "multicast router solicitation",
    153: "multicast router termination",
}
ICMP6_ND = frozenset(
    {130, 131, 132, 133, 134, 135, 136, 137, 141, 142, 143, 148, 149, 151, 152, 153}
)
# Quoted ICMPv6 messages by type, as an error's INNER names them.
QUOTED_ICMP6_NAMES = {
    1: "destination unreachable",
    2: "packet too big",
    3: "time exceeded",
    4: "parameter problem",
    128: "echo",
    129: "echo reply",
}

# P4: names of quoted ICMP types (F10: ICMP_UNDEFINED past the table).
QUOTED_ICMP_NAMES = (
    "ICMP_ECHO_REPLY",
    "1",
    "2",
    "ICMP_DEST_UNREACHABLE",
    "ICMP_SOURCE_QUENCH",
    "ICMP_REDIRECT",
    "6",
    "7",
    "ICMP_ECHO",
    "ICMP_ROUTER_ADVERT",
    "ICMP_ROUTER_SOLICIT",
    "ICMP_TIME_EXCEEDED",
    "ICMP_PARAMETER_PROBLEM",
    "ICMP_TIMESTAMP",
    "ICMP_TIMESTAMP_REPLY",
    "ICMP_INFO_REQUEST",
    "ICMP_INFO_REPLY",
    "ICMP_ADDRESS_REQUEST",
    "ICMP_ADDRESS_REPLY",
)


MAX_QUOTED = 300  # characters of a text from outside (a config, a path) that a message shows


def printable(text: str, limit: int = MAX_QUOTED) -> str:
    """``text`` as a log or terminal may show it: every character that is not
    printable escaped (bytes that were not UTF-8 as ``\\xNN``), cut to
    ``limit`` characters.  For anything read from a file or the command line."""
    if len(text) <= limit and text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch.isprintable():
            out.append(ch)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}")
    shown = "".join(out)
    return shown if len(shown) <= limit else shown[:limit] + "..."


def render(kind: str, **fields) -> str:
    """One of the daemon's own lines or warnings (``PROCESS_MESSAGES``), every
    field made printable (the log lines are ``forms.line``'s)."""
    return PROCESS_MESSAGES[kind].format(**{k: printable(str(v)) for k, v in fields.items()})


def port_list(ports: list[int], full: bool) -> str:
    """`` [port P]``, `` [ports P1,P2]``, `` [ports P1,...,P10,...]`` or nothing."""
    if not ports:
        return ""
    if len(ports) == 1 and not full:
        return f" [port {ports[0]}]"
    return " [ports " + ",".join(map(str, ports)) + (",...]" if full else "]")


def lifetime(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} sec"
    return f"{seconds // 60} min, {seconds % 60} sec"
