"""Traffic scenarios for the detection suites, as (ts, frame) lists.

The monitored host H is 192.0.2.10; clients are in 198.51.100.0/24.  Both
directions are in every capture, as a tap or ``tcpdump`` on H records them.
Run ``python tests/scenarios.py`` to print how many alarm lines each
scenario gives with the default and with the classic counting.
"""

from __future__ import annotations

import struct

from packets import (
    ACK,
    CWR,
    ECE,
    FIN,
    PSH,
    SYN,
    T0,
    ether,
    icmp_msg,
    ip,
    ip_udp,
    tcp_seg,
)

H = "192.0.2.10"
C = "198.51.100.105"


def tcp(src, dst, sport, dport, flags, df=True, payload=b"", urp=0):
    return ip(src, dst, 6, tcp_seg(sport, dport, flags, payload, urp=urp), df=df)


def connection(t, client, sport, dport, server=H, ecn=False):
    """A complete, answered TCP connection starting at ``t``."""
    syn_flags = SYN | (ECE | CWR if ecn else 0)
    synack = SYN | ACK | (ECE if ecn else 0)
    data_flags = PSH | ACK | (CWR if ecn else 0)
    return [
        (t, tcp(client, server, sport, dport, syn_flags)),
        (t + 0.001, tcp(server, client, dport, sport, synack)),
        (t + 0.002, tcp(client, server, sport, dport, ACK)),
        (t + 0.003, tcp(client, server, sport, dport, data_flags, payload=b"GET / HTTP/1.1\r\n")),
        (
            t + 0.004,
            tcp(
                server,
                client,
                dport,
                sport,
                ACK | (ECE if ecn else 0),
                payload=b"HTTP/1.1 200 OK\r\n",
            ),
        ),
        (t + 0.005, tcp(client, server, sport, dport, FIN | ACK)),
        (t + 0.006, tcp(server, client, dport, sport, FIN | ACK)),
        (t + 0.007, tcp(client, server, sport, dport, ACK)),
    ]


def exchange(t, client, sport, dport, server=H, size=40):
    """A UDP request and its reply."""
    return [
        (t, ip_udp(client, server, sport, dport, payload=b"q" * size)),
        (t + 0.002, ip_udp(server, client, dport, sport, payload=b"r" * size)),
    ]


def echo(t, src, dst, ident, seq):
    request = ip(src, dst, 1, icmp_msg(8, 0, struct.pack("!HH", ident, seq), b"p" * 56))
    reply = ip(dst, src, 1, icmp_msg(0, 0, struct.pack("!HH", ident, seq), b"p" * 56))
    return [(t, request), (t + 0.0005, reply)]


def frames(packets):
    return [(ts, ether(d)) for ts, d in sorted(packets, key=lambda p: p[0])]


# --- benign -----------------------------------------------------------------------------


def proxy_client():
    """The article's squid user: 60 connections to 3128 and 5 to 110 in 2 minutes."""
    out = []
    for i in range(60):
        out += connection(T0 + i * 2, C, 1200 + i, 3128)
    for i in range(5):
        out += connection(T0 + 1 + i * 20, C, 1300 + i, 110)
    return frames(out)


def web_burst():
    out = []
    for i in range(40):
        out += connection(T0 + i * 0.25, C, 40000 + i, 443 if i % 3 else 80)
    return frames(out)


def passive_ftp():
    out = connection(T0, C, 5000, 21)
    for i in range(40):
        out += connection(T0 + 1 + i * 1.5, C, 5001 + i, 30000 + i * 7)
    return frames(out)


def dns_server():
    """200 queries in a minute to H's DNS server from changing ports, answered."""
    out = []
    for i in range(200):
        out += exchange(T0 + i * 0.3, C, 30000 + i * 13 % 30000, 53)
    return frames(out)


def dns_client():
    """H as the client: answers come from the server's port 53 to H's ports (2.2.3's
    "UDP: scan/flood detected [ports 1025,...] from ns [port 53]")."""
    out = []
    for i in range(200):
        out += exchange(T0 + i * 0.3, H, 1025 + i, 53, server="198.51.100.53")
    return frames(out)


def slow_ping():
    out = []
    for i in range(180):
        out += echo(T0 + i, C, H, 777, i)
    return frames(out)


def user_ping():
    """The fastest ping an unprivileged user may run: 5 a second, for a minute."""
    out = []
    for i in range(300):
        out += echo(T0 + i * 0.2, C, H, 778, i)
    return frames(out)


def telemetry():
    """One-way statsd/syslog: 20 datagrams a second to one port for a minute."""
    return frames(
        [(T0 + i * 0.05, ip_udp(C, H, 45000, 8125, payload=b"metric:1|c")) for i in range(1200)]
    )


def quic():
    out = []
    for i in range(5000):
        out.append((T0 + i * 0.002, ip_udp(C, H, 50123, 443, payload=b"Q" * 1200)))
        out.append((T0 + i * 0.002 + 0.001, ip_udp(H, C, 443, 50123, payload=b"R" * 1200)))
    return frames(out)


def ecn_connections():
    out = []
    for i in range(20):
        out += connection(T0 + i * 3, C, 41000 + i, 80, ecn=True)
    return frames(out)


def full_accept_queue():
    """A load test of a server that cannot keep up: 600 connections to 8081
    in 3 s; for every second one its accept queue is full, so it drops the
    client's ACK and sends its SYN-ACK again a second later.  The client
    completes every connection (its request, its FIN)."""
    out = []
    for i in range(600):
        t, sport = T0 + i * 0.005, 20000 + i
        out += [
            (t, tcp(C, H, sport, 8081, SYN)),
            (t + 0.001, tcp(H, C, 8081, sport, SYN | ACK)),
            (t + 0.002, tcp(C, H, sport, 8081, ACK)),
        ]
        if i % 2:
            t += 1.0
            out += [
                (t + 0.001, tcp(H, C, 8081, sport, SYN | ACK)),
                (t + 0.002, tcp(C, H, sport, 8081, ACK)),
            ]
        out += [
            (t + 0.003, tcp(C, H, sport, 8081, PSH | ACK, payload=b"GET / HTTP/1.0\r\n\r\n")),
            (t + 0.004, tcp(H, C, 8081, sport, PSH | ACK, payload=b"HTTP/1.0 200 OK\r\n")),
            (t + 0.005, tcp(H, C, 8081, sport, FIN | ACK)),
            (t + 0.006, tcp(C, H, sport, 8081, FIN | ACK)),
            (t + 0.007, tcp(H, C, 8081, sport, ACK)),
        ]
    return frames(out)


BENIGN = {
    "proxy client (60x3128, 5x110)": proxy_client,
    "40 web connections in 10 s": web_burst,
    "passive FTP, 40 data ports": passive_ftp,
    "DNS server, 200 queries/min": dns_server,
    "DNS client, 200 answers/min": dns_client,
    "ping 1/s for 3 min": slow_ping,
    "ping 5/s for 1 min": user_ping,
    "UDP telemetry 20/s for 1 min": telemetry,
    "QUIC-like 5000 each way in 10 s": quic,
    "ECN connections": ecn_connections,
    "a server's full accept queue": full_accept_queue,
}


# --- attacks built here (the others are real captures in tests/data) -----------------------


def udp_flood():
    return frames(
        [
            (T0 + i * 0.003, ip_udp(C, H, 40000 + i % 50, 9999, payload=b"f" * 32))
            for i in range(600)
        ]
    )


def syn_flood():
    """SYNs at an open port from a source that never answers: H accepts
    each, and sends its SYN-ACK again a second later (Linux's first
    retransmission) when no ACK comes."""
    return frames(
        [(T0 + i * 0.002, tcp(C, H, 1024 + i, 80, SYN, df=False)) for i in range(600)]
        + [(T0 + i * 0.002 + 0.001, tcp(H, C, 80, 1024 + i, SYN | ACK)) for i in range(600)]
        + [(T0 + i * 0.002 + 1.001, tcp(H, C, 80, 1024 + i, SYN | ACK)) for i in range(600)]
    )


def smurf():
    """Echo replies from a whole /24 to H, which never pinged them."""
    out = []
    for i in range(400):
        src = f"203.0.113.{1 + i % 250}"
        out.append(
            (T0 + i * 0.005, ip(src, H, 1, icmp_msg(0, 0, struct.pack("!HH", 9, i), b"s" * 64)))
        )
    return frames(out)


def retimed(frames_, spacing=15.0):
    """A real scan slowed down to nmap -T1's pace: each probe ``spacing`` s apart,
    its answers right after it."""
    out, t, last = [], frames_[0][0], None
    for ts, frame in frames_:
        if last is None or ts - last > 0.0005:
            t += spacing
        else:
            t += 0.0001
        last = ts
        out.append((t, frame))
    return out


if __name__ == "__main__":  # pragma: no cover - a report for people
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from test_detection import alarms

    print(f"{'scenario':40} {'default':>8} {'classic':>8}")
    for name, make in BENIGN.items():
        f = make()
        print(f"{name:40} {len(alarms(f, False)):>8} {len(alarms(f, True)):>8}")
