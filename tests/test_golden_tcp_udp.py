"""Golden tests, TCP and UDP (docs/contract.md P2, P3, D2): pcaps in, exact lines out.

Every capture here is written with dpkt and read back by the real
``iplog -r`` through libpcap.  Stamps are UTC; T0 is Nov 14 22:13:20.
"""

from __future__ import annotations

import pytest

from packets import (
    ACK,
    ATTACKER,
    CWR,
    ECE,
    FIN,
    OTHER,
    PSH,
    RST,
    SYN,
    T0,
    TARGET,
    URG,
    ip_tcp,
    ip_udp,
    timed,
)

S = "Nov 14 22:13:20 "  # stamp of T0 (packets 0.01 s apart stay in this second)
A, D = ATTACKER, TARGET


def syns(ports, df=False, src=ATTACKER, sport=40000, flags=SYN):
    return [ip_tcp(src=src, dport=p, sport=sport, df=df, flags=flags) for p in ports]


# --- SYN scan, port scan, and 2.2.3's double counting --------------------------------


def test_syn_scan_below_threshold(iplog_r):
    lines = iplog_r(timed(syns(range(1001, 1010))))
    assert lines == [
        f"{S}TCP: port {p} connection attempt from {A}:40000" for p in range(1001, 1010)
    ]


def test_syn_scan_at_threshold(iplog_r):
    lines = iplog_r(timed(syns(range(1001, 1013))))
    assert lines == [
        f"{S}TCP: port {p} connection attempt from {A}:40000" for p in range(1001, 1010)
    ] + [
        f"{S}TCP: SYN scan detected [ports 1001,1002,1003,1004,1005,1006,1007,1008,1009,"
        f"1010,...] from {A} [port 40000]",
        f"Nov 14 22:14:10 TCP: SYN scan mode expired for {A} - received a total of 12 packets"
        " (240 bytes).",
    ]


def test_syn_scan_log_dest(iplog_r):
    lines = iplog_r(timed(syns([21, 22, 23, 25, 80, 110, 143, 443, 3128, 8080])), "-D")
    assert lines == [
        f"{S}TCP: ftp connection attempt to {D} from {A}:40000",
        f"{S}TCP: ssh connection attempt to {D} from {A}:40000",
        f"{S}TCP: telnet connection attempt to {D} from {A}:40000",
        f"{S}TCP: smtp connection attempt to {D} from {A}:40000",
        f"{S}TCP: http connection attempt to {D} from {A}:40000",
        f"{S}TCP: pop3 connection attempt to {D} from {A}:40000",
        f"{S}TCP: imap2 connection attempt to {D} from {A}:40000",
        f"{S}TCP: https connection attempt to {D} from {A}:40000",
        f"{S}TCP: port 3128 connection attempt to {D} from {A}:40000",
        f"{S}TCP: SYN scan detected to {D} [ports 21,22,23,25,80,110,143,443,3128,8080,...]"
        f" from {A} [port 40000]",
        f"Nov 14 22:14:10 TCP: SYN scan mode to {D} expired for {A} - received a total of 10"
        " packets (200 bytes).",
    ]


def test_port_scan_counts_df_syns(iplog_r):
    below = iplog_r(timed(syns(range(1001, 1015), df=True)))
    assert len(below) == 14 and all("connection attempt" in line for line in below)
    lines = iplog_r(timed([ip_tcp(dport=1001 + i, sport=50000 + i, df=True) for i in range(16)]))
    assert lines[:14] == [
        f"{S}TCP: port {1001 + i} connection attempt from {A}:{50000 + i}" for i in range(14)
    ]
    assert lines[14:] == [
        f"{S}TCP: port scan detected [ports 1001,1002,1003,1004,1005,1006,1007,1008,1009,"
        f"1010,...] from {A} [ports 50000,50001,50002,50003,50004,...]",
        f"Nov 14 22:14:10 TCP: port scan mode expired for {A} - received a total of 16 packets"
        " (320 bytes).",
    ]


def test_df_clear_syns_count_for_both_scans(iplog_r):
    # 9 DF-clear SYNs (SYN scan still under 10) also count toward the port
    # scan, so 6 DF SYNs more make 15: the port scan is detected.
    frames = timed(syns(range(1001, 1010)) + syns(range(2001, 2007), df=True))
    lines = iplog_r(frames)
    assert lines[-2:] == [
        f"{S}TCP: port scan detected [ports 1001,1002,1003,1004,1005,1006,1007,1008,1009,"
        f"2001,...] from {A} [port 40000]",
        f"Nov 14 22:14:10 TCP: port scan mode expired for {A} - received a total of 15 packets"
        " (300 bytes).",
    ]
    assert len(lines) == 16


def test_port_scan_without_syn_scan_detection(iplog_r):
    lines = iplog_r(timed(syns(range(1001, 1016))), "--detect-syn-scan=false")
    assert lines[14] == (
        f"{S}TCP: port scan detected [ports 1001,1002,1003,1004,1005,1006,"
        f"1007,1008,1009,1010,...] from {A} [port 40000]"
    )


@pytest.mark.parametrize(
    "flags,name",
    [
        (0, "null"),
        (FIN, "FIN"),
        (FIN | URG | PSH, "Xmas"),
        (URG, "Xmas"),
        (PSH, "Xmas"),
        (FIN | URG, "Xmas"),
        (FIN | PSH, "Xmas"),
        (URG | PSH, "Xmas"),
    ],
)
def test_stealth_scans_at_threshold_and_below(iplog_r, flags, name):
    assert iplog_r(timed(syns(range(1001, 1010), flags=flags))) == []  # never one by one
    lines = iplog_r(timed(syns(range(1001, 1011), flags=flags)), "-D")
    assert lines == [
        f"{S}TCP: {name} scan detected to {D} [ports 1001,1002,1003,1004,1005,1006,1007,1008,"
        f"1009,1010,...] from {A} [port 40000]",
        f"Nov 14 22:14:10 TCP: {name} scan mode to {D} expired for {A} - received a total of"
        " 10 packets (200 bytes).",
    ]


def test_stealth_detection_switched_off(iplog_r):
    frames = timed(syns(range(1001, 1011), flags=0))
    assert iplog_r(frames, "--detect-null-scan=false") == []


def test_ordinary_segments_are_silent(iplog_r):
    frames = timed(
        syns(range(1001, 1031), flags=ACK)
        + syns(range(1001, 1031), flags=RST)
        + syns(range(1001, 1031), flags=SYN | ACK)
        + syns(range(1, 30), flags=FIN | ACK)
    )
    assert iplog_r(frames) == []


# --- bogus flags --------------------------------------------------------------------


def test_bogus_flags_once_per_source(iplog_r):
    frames = timed(
        [
            ip_tcp(dport=80, sport=1111, flags=SYN | ECE | CWR),
            ip_tcp(dport=81, sport=1112, flags=SYN | ECE),
            ip_tcp(src=OTHER, dport=82, sport=2222, flags=0x40 | ACK),
            ip_tcp(dport=83, sport=1113, flags=0x80),
        ]
    )
    assert iplog_r(frames) == [
        f"{S}TCP: Bogus TCP flags set by {A}:1111 (dest port 80)",
        f"{S}TCP: Bogus TCP flags set by {OTHER}:2222 (dest port 82)",
        f"{S}TCP: Bogus TCP flags set by {A}:1113 (dest port 83)",
    ]
    assert iplog_r(frames[:1], "-D") == [f"{S}TCP: Bogus TCP flags set by {A}:1111 (dest {D}:80)"]


def test_bogus_detection_off_logs_the_attempt(iplog_r):
    frames = timed([ip_tcp(dport=80, sport=1111, flags=SYN | ECE | CWR)])
    assert iplog_r(frames, "--detect-bogus=false") == [
        f"{S}TCP: http connection attempt from {A}:1111"
    ]


# --- scans_only, filters, expiry -------------------------------------------------------


def test_scans_only(iplog_r):
    frames = timed(syns(range(1001, 1011)) + [ip_udp(dport=53)])
    assert iplog_r(frames, "-m") == [
        f"{S}TCP: SYN scan detected [ports 1001,1002,1003,1004,1005,1006,1007,1008,1009,1010"
        f",...] from {A} [port 40000]",
        f"Nov 14 22:14:10 TCP: SYN scan mode expired for {A} - received a total of 10 packets"
        " (200 bytes).",
    ]


def test_ignored_packets_are_invisible_to_detectors(iplog_r, tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text(f"ignore tcp from {A}\nignore tcp dport 2001:2005\n")
    frames = timed(syns(range(1001, 1021)) + syns(range(2001, 2011), src=OTHER))
    lines = iplog_r(frames, "-C", str(conf))
    # OTHER's 10 SYNs, 5 of them ignored: 5 attempts, no scan.
    assert lines == [
        f"{S}TCP: port {p} connection attempt from {OTHER}:40000" for p in range(2006, 2011)
    ]


def test_log_rule_beats_ignore_rule(iplog_r, tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text("ignore tcp dport 1:2000\nlog tcp dport 22\n")
    frames = timed(syns([21, 22, 23]))
    assert iplog_r(frames, "-C", str(conf)) == [f"{S}TCP: ssh connection attempt from {A}:40000"]


def test_scan_expires_after_a_pause_and_counts_again(iplog_r):
    first = timed(syns(range(1001, 1011)))
    later = timed(syns(range(1011, 1016)), start=T0 + 60)
    lines = iplog_r(first + later)
    assert lines[9:] == [
        f"{S}TCP: SYN scan detected [ports 1001,1002,1003,1004,1005,1006,1007,1008,1009,1010"
        f",...] from {A} [port 40000]",
        f"Nov 14 22:14:10 TCP: SYN scan mode expired for {A} - received a total of 10 packets"
        " (200 bytes).",
    ] + [
        f"Nov 14 22:14:20 TCP: port {p} connection attempt from {A}:40000"
        for p in range(1011, 1016)
    ]


def test_slow_scan_stays_one_scan_under_the_timeout(iplog_r):
    frames = timed(syns(range(1001, 1011)), step=45)
    lines = iplog_r(frames)
    assert lines[-2] == (
        "Nov 14 22:20:05 TCP: SYN scan detected [ports 1001,1002,1003,1004,"
        f"1005,1006,1007,1008,1009,1010,...] from {A} [port 40000]"
    )
    assert lines[-1] == (
        f"Nov 14 22:20:55 TCP: SYN scan mode expired for {A} - received a"
        " total of 10 packets (200 bytes)."
    )


def test_unrelated_sources_do_not_evict_a_scanner(iplog_r):  # F8
    frames = []
    for i, port in enumerate(range(1001, 1011)):
        frames.append(ip_tcp(dport=port, df=False))
        frames += [ip_tcp(src=f"203.0.{i}.{j}", dport=80, flags=ACK) for j in range(1, 200)]
        frames += [ip_udp(src=f"203.0.{i}.{j}", dport=9999, sport=7777) for j in range(1, 3)]
    lines = iplog_r(timed(frames, step=0.0001), "-m")
    assert lines[0] == (
        f"{S}TCP: SYN scan detected [ports 1001,1002,1003,1004,1005,1006,1007,"
        f"1008,1009,1010,...] from {A} [port 40000]"
    )


# --- UDP ---------------------------------------------------------------------------------


def test_udp_datagrams(iplog_r):
    frames = timed(
        [
            ip_udp(dport=53, sport=5353, payload=b"q" * 30),
            ip_udp(dport=8125, sport=4444, payload=b""),
            ip_udp(dport=514, sport=4444, payload=b"x" * 4, ulen=3),
        ]
    )
    assert iplog_r(frames) == [
        f"{S}UDP: dgram to domain from {A}:5353 (30 data bytes)",
        f"{S}UDP: dgram to port 8125 from {A}:4444 (0 data bytes)",
        f"{S}UDP: dgram to syslog from {A}:4444 (0 data bytes)",  # length field < 8
    ]
    assert iplog_r(frames[:2], "-D") == [
        f"{S}UDP: dgram to {D}:domain from {A}:5353 (30 data bytes)",
        f"{S}UDP: dgram to {D}:port 8125 from {A}:4444 (0 data bytes)",
    ]


def test_udp_scan_below_and_at_threshold(iplog_r):
    below = iplog_r(timed([ip_udp(dport=p, payload=b"") for p in range(2001, 2025)]))
    assert len(below) == 24
    lines = iplog_r(
        timed([ip_udp(dport=p, sport=53, payload=b"abcd") for p in range(1025, 1061)]), "-D"
    )
    assert lines[24:] == [
        f"{S}UDP: scan/flood detected to {D} [ports 1025,1026,1027,1028,1029,1030,1031,1032,"
        f"1033,1034,...] from {A} [port 53]",
        f"Nov 14 22:14:10 UDP: scan/flood mode to {D} expired for {A} - received a total of 36"
        " packets (432 bytes).",
    ]
    plain = iplog_r(timed([ip_udp(dport=p, sport=53, payload=b"abcd") for p in range(1025, 1061)]))
    assert plain[24:] == [
        f"{S}UDP: scan/flood detected [ports 1025,1026,1027,1028,1029,1030,1031,1032,"
        f"1033,1034,...] from {A} [port 53]",
        f"Nov 14 22:14:10 UDP: scan/flood mode expired for {A} - received a total of 36"
        " packets (432 bytes).",
    ]


def test_traceroute(iplog_r):
    frames = timed(
        [
            ip_udp(dport=33434, ttl=1),
            ip_udp(dport=33435, ttl=1),
            ip_udp(src=OTHER, dport=33436, ttl=1),
        ],
        step=1,
    )
    frames += timed([ip_udp(dport=33437, ttl=1), ip_udp(dport=33438, ttl=2)], start=T0 + 20)
    assert iplog_r(frames) == [
        f"{S}UDP: traceroute from {A}",
        f"Nov 14 22:13:22 UDP: traceroute from {OTHER}",
        f"Nov 14 22:13:40 UDP: traceroute from {A}",
        f"Nov 14 22:13:40 UDP: dgram to port 33438 from {A}:40000 (10 data bytes)",
    ]
    assert iplog_r(frames[:1], "-D") == [f"{S}UDP: traceroute from {A} to {D}"]


def test_udp_smurf_from_a_slash_24(iplog_r):  # F8: sources in one network
    frames = [
        ip_udp(src=f"198.51.100.{1 + i % 200}", sport=7, dport=4000 + i % 3, payload=b"z" * 2)
        for i in range(95)
    ]
    lines = iplog_r(timed(frames, step=0.001), "-m", "--detect-udp-scan=false")
    assert lines == [
        f"{S}ICMP/UDP: smurf attack detected [ports 4000,4001,4002] from 198.51.100.0 [port 7]",
        "Nov 14 22:13:50 ICMP/UDP: smurf attack mode expired for 198.51.100.0 - received a"
        " total of 95 packets (950 bytes).",
    ]
