"""iplog.conf (docs/contract.md C2, F7, F14, F15): every rule form and every error text."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pyiplog.config.parser import nameserver_rules, parse_config, read_config
from pyiplog.config.rules import FilterRule, Filters, PortSpec
from pyiplog.options import Options

ROOT = Path(__file__).resolve().parent.parent
HOSTS = {"gw.example": ["192.0.2.1"], "multi.example": ["192.0.2.5", "192.0.2.6"]}


def parse(text: str):
    return parse_config(text, "test.conf", resolve=lambda name: HOSTS.get(name, []))


def one_rule(text: str) -> str:
    config = parse(text)
    assert config.errors == ()
    assert len(config.filters) == 1
    return str(config.filters[0])


def error(text: str) -> str:
    config = parse(text)
    assert len(config.errors) == 1, config.errors
    assert config.filters == ()
    return config.errors[0]


def ip(addr: str) -> int:
    a, b, c, d = map(int, addr.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


# --- set and parameter rules ------------------------------------------------------

SET_WORDS = [
    "tcp",
    "udp",
    "icmp",
    "frag",
    "smurf",
    "bogus",
    "log_ip",
    "log_dest",
    "stdout",
    "no_fork",
    "verbose",
    "fin_scan",
    "syn_scan",
    "udp_scan",
    "portscan",
    "fool_nmap",
    "xmas_scan",
    "null_scan",
    "get_ident",
    "dns_cache",
    "syn_flood",
    "ignore_dns",
    "ping_flood",
    "scans_only",
    "traceroute",
    "udp_resolve",
    "tcp_resolve",
    "icmp_resolve",
    "disable_resolver",
    # pyiplog's own
    "classic_detection",
    "json",
    "ack_scan",
    "proto_scan",
    "horizontal_scan",
    "ping_sweep",
    "distributed_flood",
    "decoy_scan",
    "icmp6_nd",
]


@pytest.mark.parametrize("word", SET_WORDS)
def test_set_every_keyword(word):
    assert parse(f"set {word} false").settings == ((word, False),)
    assert parse(f"SET {word.upper()} yes").settings == ((word, True),)
    assert parse(f"set {word}").settings == ((word, True),)  # bare set means true
    assert parse(f"set {word} no").apply(Options()).__getattribute__(word) is False


@pytest.mark.parametrize(
    "text,expected",
    [
        ("user iplog", ("user", "iplog")),
        ("group nogroup", ("group", "nogroup")),
        ("logfile /var/log/iplog", ("logfile", "/var/log/iplog")),
        ("pid-file /var/run/iplog/iplog.pid", ("pid_file", "/var/run/iplog/iplog.pid")),
        ("interface eth0,eth1", ("interfaces", ("eth0", "eth1"))),
        ("interfaces eth0", ("interfaces", ("eth0",))),  # matched on its first 9 letters
        ("facility log_local5", ("facility", "local5")),
        ("facility DAEMON", ("facility", "daemon")),
        ("priority log_info", ("priority", "info")),
        ("ignore udp", ("udp", False)),  # a filter without qualifier switches the protocol
        ("log icmp", ("icmp", True)),
        (
            "set metrics_file /var/lib/prometheus/node-exporter/iplog.prom",
            ("metrics_file", "/var/lib/prometheus/node-exporter/iplog.prom"),
        ),
    ],
)
def test_parameter_rules(text, expected):
    config = parse(text)
    assert config.errors == () and config.settings[0] == expected


def test_promisc_sets_log_dest():
    assert parse("promisc 192.168.255.0/24").settings == (
        ("promisc", ("192.168.255.0/24",)),
        ("log_dest", True),
    )


# --- every error text ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text,message",
    [
        ("frobnicate 1", "Invalid rule: frobnicate"),
        ("set", "Missing set target"),
        ("set nothing", 'Invalid "set" target: nothing'),
        ("set tcp maybe", "Invalid boolean token: maybe"),
        ("user", "Missing user parameter"),
        ("group", "Missing group parameter"),
        ("logfile", "Missing log file parameter"),
        ("priority", "Missing syslog priority parameter"),
        ("facility", "Missing syslog facility parameter"),
        ("interface", "Missing interface parameter"),
        ("promisc", "Missing network parameter"),
        ("ignore", "Missing protocol parameter"),
        ("ignore gre from 1.2.3.4", "Invalid protocol: gre"),
        ("ignore tcp frum 1.2.3.4", "Invalid filter keyword: frum"),
        ("ignore icmp sport 53", "Invalid filter keyword: sport"),
        ("ignore tcp type echo", "Invalid filter keyword: type"),
        ("ignore tcp from 1.2.3.4 from 1.2.3.5", '"from" already set.'),
        ("ignore udp dport 53 dport 54", '"dport" already set.'),
        ("ignore icmp type", "Missing ICMP type"),
        ("ignore tcp from", "Missing address parameter"),
        ("ignore tcp to", "Missing address parameter"),
        ("ignore tcp sport", "Missing port parameter"),
        ("ignore tcp dport", "Missing port parameter"),
        ("ignore icmp type bogus", "Unknown ICMP type: bogus"),
        ("ignore icmp type 19", "Unknown ICMP type: 19"),
        ("ignore icmp type EC", "Unknown ICMP type: EC"),  # F15: no prefix matching
        ("ignore tcp dport nosuchservice", 'Invalid port: "nosuchservice"'),
        ("ignore tcp from 1.2.3.4/1.2.x", "Invalid mask: 1.2.x"),
        ("ignore tcp from 1.2.3.4/33", "Invalid mask: must be in range 1 - 32"),
        ("ignore tcp from 1.2.3.4/0", "Invalid mask: must be in range 1 - 32"),
        ("ignore tcp from typo.example", "Unknown host: typo.example"),  # F14
        ("ignore tcp dport 70000", "Error: Ports must be between 1 and 65535"),
        (
            "ignore tcp dport 100:20",
            "Error: Minimum port (100) is greater than the maximum port (20)",
        ),
    ],
)
def test_error_texts(text, message):
    assert error(text) == f"[line 1] {message}"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "interface eth0 eth1",
            '[line 1] Unexpected "eth1" after "interface eth0" (a list is one word: eth0,eth1)',
        ),
        (
            "interface eth0 ← note",
            '[line 1] Unexpected "←" after "interface eth0" (a list is one word: eth0,←,note)',
        ),
        ("user iplog extra", '[line 1] Unexpected "extra" after "user iplog"'),
        ("group adm x", '[line 1] Unexpected "x" after "group adm"'),
        ("logfile /var/log/iplog now", '[line 1] Unexpected "now" after "logfile /var/log/iplog"'),
        ("pid-file /run/x.pid y", '[line 1] Unexpected "y" after "pid-file /run/x.pid"'),
        ("set log_ip true maybe", '[line 1] Unexpected "maybe" after "set log_ip true"'),
        ("facility daemon x", '[line 1] Unexpected "x" after "facility daemon"'),
        ("promisc 10.0.0.0/8 x", '[line 1] Unexpected "x" after "promisc 10.0.0.0/8"'),
        ("threshold portscan 5 7", '[line 1] Unexpected "7" after "threshold portscan 5"'),
        ("lookup_rate 5 6", '[line 1] Unexpected "6" after "lookup_rate 5"'),
        ("set metrics_file /a.prom b", '[line 1] Unexpected "b" after "set metrics_file /a.prom"'),
        ("set metrics_file", "[line 1] Missing metrics file parameter"),
    ],
)
def test_a_rule_takes_exactly_its_arguments(text, message):
    config = parse(text)
    assert config.errors == (message,)
    assert config.settings == ()  # the rule is skipped


def test_a_rule_and_its_comment_are_still_one_rule():
    config = parse("interface eth0  # the uplink\nset log_ip true /* on */\n")
    assert config.errors == ()
    assert dict(config.settings) == {"interfaces": ("eth0",), "log_ip": True}


@pytest.mark.parametrize("name", ["facility", "priority"])
def test_bad_facility_or_priority_falls_back(name):
    config = parse(f"{name} bogus")
    assert config.errors == (f'[line 1] Invalid {name}: "bogus" - falling back to default.',)
    assert getattr(
        config.apply(Options(**{name: "local0" if name == "facility" else "info"})), name
    ) == getattr(Options(), name)


def test_unterminated_comment_keeps_what_came_before():
    config = parse("user iplog\n/* never\nclosed\nset tcp false\n")
    assert config.settings == (("user", "iplog"),)
    assert config.errors == ("test.conf: Parse Error: Unterminated comment.",)


def test_bad_lines_are_skipped_and_the_rest_loads():
    config = parse(
        "ignore tcp dport 8080\nset bogusword\nignore udp dport 99999\n"
        "ignore icmp type nope\nlog tcp dport 22\n"
    )
    assert config.errors == (
        '[line 2] Invalid "set" target: bogusword',
        "[line 3] Error: Ports must be between 1 and 65535",
        "[line 4] Unknown ICMP type: nope",
    )
    assert [(str(r), r.line) for r in config.filters] == [
        ("ignore tcp dport 8080", 1),
        ("log tcp dport 22", 5),
    ]


# --- comments -----------------------------------------------------------------------


def test_comments():
    config = parse(
        "# a comment\n"
        "user iplog # the rest is ignored\n"
        "group#not-a-comment x\n"
        "/* one line */ set log_ip\n"
        "set log_dest /* inside */ true\n"
        "set tcp /* spans\n"
        "lines */ set udp false\n"
        "/*\n** block\n*/\n"
        "set verbose\n"
    )
    assert config.errors == ("[line 3] Invalid rule: group#not-a-comment",)
    assert config.settings == (
        ("user", "iplog"),
        ("log_ip", True),
        ("log_dest", True),
        ("tcp", True),
        ("udp", False),
        ("verbose", True),
    )


def test_comment_closing_inside_a_token():
    config = parse("/* comment ends in the middle of this*/token\nset verbose\n")
    assert config.errors == () and config.settings == (("verbose", True),)


# --- filters: addresses, ports, ICMP types ----------------------------------------------


@pytest.mark.parametrize(
    "text,expected",
    [
        ("ignore tcp from *", "ignore tcp from *"),
        ("ignore tcp from 192.0.2.7", "ignore tcp from 192.0.2.7"),
        ("ignore udp from 127.1.2/24", "ignore udp from 127.1.2.0/24"),
        ("ignore udp from 127.1.2/255.255.255.0", "ignore udp from 127.1.2.0/24"),
        ("ignore udp from 10", "ignore udp from 10.0.0.0"),
        ("ignore udp from 10/8", "ignore udp from 10.0.0.0/8"),
        ("ignore udp from 192.0.2.7/*", "ignore udp from *"),  # F14: '*' mask is any
        ("ignore udp from 0.0.0.0", "ignore udp from *"),
        ("ignore tcp to !192.0.2.0/24", "ignore tcp to !192.0.2.0/24"),
        ("ignore tcp from gw.example", "ignore tcp from 192.0.2.1"),
        ("ignore tcp from 2001:db8::/32", "ignore tcp from 2001:db8::/32"),
        ("ignore tcp dport 80", "ignore tcp dport 80"),
        ("ignore tcp dport *", "ignore tcp dport *"),
        ("ignore tcp dport 0", "ignore tcp dport *"),
        ("ignore tcp dport 0:0", "ignore tcp dport *"),
        ("ignore tcp dport 1024:", "ignore tcp dport 1024:65535"),
        ("ignore tcp dport :1023", "ignore tcp dport 0:1023"),
        ("ignore tcp dport 20:21", "ignore tcp dport 20:21"),
        ("ignore tcp dport !80", "ignore tcp dport !80"),
        ("log tcp dport 1045:1055 sport ftp-data", "log tcp sport 20 dport 1045:1055"),
        ("ignore tcp dport telnet", "ignore tcp dport 23"),
        ("ignore udp sport domain", "ignore udp sport 53"),
        ("ignore tcp dport 1024: sport 20", "ignore tcp sport 20 dport 1024:65535"),
        (
            "IGNORE TCP FROM 192.0.2.1 TO 192.0.2.2 SPORT 1 DPORT 2",
            "ignore tcp from 192.0.2.1 to 192.0.2.2 sport 1 dport 2",
        ),
        (
            "ignore tcp dport 2 sport 1 to 192.0.2.2 from 192.0.2.1",
            "ignore tcp from 192.0.2.1 to 192.0.2.2 sport 1 dport 2",
        ),
    ],
)
def test_filter_forms(text, expected):
    assert one_rule(text) == expected


@pytest.mark.parametrize(
    "word,number",
    [
        ("echoreply", 0),
        ("unreach", 3),
        ("sourcequench", 4),
        ("redirect", 5),
        ("echo", 8),
        ("routeradvert", 9),
        ("routersolicit", 10),
        ("timxceed", 11),
        ("paramprob", 12),
        ("tstamp", 13),
        ("tstampreply", 14),
        ("ireq", 15),
        ("ireqreply", 16),
        ("maskreq", 17),
        ("maskreply", 18),
        ("ICMP_ECHO", 8),
        ("icmp_unreach", 3),
        ("TIMESTAMP_REPLY", 14),
        ("ICMP_DEST_UNREACHABLE", 3),
        ("address_reply", 18),
        ("0", 0),
        ("18", 18),
    ],
)
def test_icmp_types(word, number):
    assert one_rule(f"ignore icmp type {word}") == f"ignore icmp type {number}"
    assert one_rule(f"ignore icmp type !{word}") == f"ignore icmp type !{number}"


def test_host_name_gives_a_rule_per_address():
    config = parse("ignore tcp from multi.example to gw.example")
    assert [str(r) for r in config.filters] == [
        "ignore tcp from 192.0.2.5 to 192.0.2.1",
        "ignore tcp from 192.0.2.6 to 192.0.2.1",
    ]


# --- the matcher ---------------------------------------------------------------------------


def filters(text: str, dns=()) -> Filters:
    config = parse(text)
    assert config.errors == ()
    return Filters(config.filters, dns)


def test_port_negation_inverts_the_match():  # F7
    f = filters("ignore tcp dport !80")
    assert not f.ignored("tcp", ip("192.0.2.1"), ip("192.0.2.2"), 1000, 80)
    assert f.ignored("tcp", ip("192.0.2.1"), ip("192.0.2.2"), 1000, 81)
    f = filters("ignore udp sport !1024:")
    assert f.ignored("udp", 1, 2, 53, 9) and not f.ignored("udp", 1, 2, 5353, 9)


def test_address_masks_and_negation():
    f = filters("ignore udp from 127.1.2/24")
    assert f.ignored("udp", ip("127.1.2.200"), 5) and not f.ignored("udp", ip("127.1.3.1"), 5)
    f = filters("ignore tcp from !192.0.2.0/24")
    assert f.ignored("tcp", ip("198.51.100.1"), 5) and not f.ignored("tcp", ip("192.0.2.9"), 5)
    f = filters("ignore tcp to 192.0.2.10")
    assert f.ignored("tcp", 5, ip("192.0.2.10")) and not f.ignored("tcp", 5, ip("192.0.2.11"))


def test_zero_address_in_a_packet_matches_every_rule():
    f = filters("ignore udp from 192.0.2.1")
    assert f.ignored("udp", 0, ip("192.0.2.2"))


def test_icmp_type_rules():
    f = filters("ignore icmp type !echo")
    assert not f.ignored("icmp", 1, 2, icmp_type=8) and f.ignored("icmp", 1, 2, icmp_type=0)


def test_protocols_are_separate():
    f = filters("ignore tcp dport 53")
    assert f.ignored("tcp", 1, 2, 9, 53) and not f.ignored("udp", 1, 2, 9, 53)


def test_log_rules_come_before_ignore_rules():
    f = filters("ignore tcp dport 1:2000\nlog tcp dport 22\n")
    assert not f.ignored("tcp", 1, 2, 9, 22) and f.ignored("tcp", 1, 2, 9, 23)


def test_dns_rules_beat_log_rules(tmp_path):
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search example\nnameserver 192.0.2.53\nnameserver 2001:db8::53\n")
    dns = nameserver_rules(str(resolv))
    assert [str(r) for r in dns] == [
        "ignore udp from 192.0.2.53 sport 53",
        "ignore udp from 2001:db8::53 sport 53",
    ]
    f = filters("log udp sport 53", dns)
    assert f.ignored("udp", ip("192.0.2.53"), 2, 53, 4000)
    assert not f.ignored("udp", ip("192.0.2.54"), 2, 53, 4000)


def test_no_rule_means_logged():
    assert not Filters().ignored("tcp", 1, 2, 3, 4)
    assert FilterRule("ignore", "tcp", dport=PortSpec(5, 5)).matches(1, 2, 3, 5, -1)


# --- the seed article's configuration and the man page's examples ------------------------------


def test_example_config_from_the_article():
    config = read_config(str(ROOT / "conf" / "iplog.conf.example"))
    assert config.errors == ()
    o = config.apply(Options())
    assert (o.user, o.group, o.pid_file, o.logfile, o.facility, o.priority) == (
        "iplog",
        "nogroup",
        "/var/run/iplog/iplog.pid",
        "/var/log/iplog",
        "daemon",
        "info",
    )
    assert (o.log_ip, o.log_dest, o.portscan, o.interfaces, o.icmp) == (
        True,
        False,
        True,
        (),  # the article's "interface eth0" is left to the administrator
        False,
    )
    assert [str(r) for r in config.filters] == [
        "ignore tcp dport 8080",
        "ignore tcp dport 53",
        "ignore udp dport 53",
        "ignore udp dport 1024",
        "ignore udp dport 2837",
    ]


def test_man_page_examples_uncommented():
    text = (ROOT / "conf" / "iplog.conf.example").read_text()
    examples = [
        line[1:]
        for line in text.splitlines()
        if line.startswith("#ignore")
        or line.startswith("#log")
        or line.startswith("#promisc")
        or line.startswith("#set")
        or line.startswith("#threshold")
    ]
    assert len(examples) == 21
    config = parse("\n".join(examples))
    assert config.errors == ()
    # The switches of the scans 2.2.3 never named, and a tuning.
    o = config.apply(Options())
    switches = ("ack_scan", "proto_scan", "horizontal_scan", "ping_sweep", "distributed_flood")
    assert [getattr(o, name) for name in (*switches, "decoy_scan")] == [False] * 6
    assert o.icmp6_nd is True
    assert o.metrics_file == "/var/lib/prometheus/node-exporter/iplog.prom"
    assert o.tuning == (("threshold", "distributed_flood", 5000),)
    assert [str(r) for r in config.filters] == [
        "ignore udp from 192.168.0.1 sport 53",
        "ignore udp from 192.168.0.2 sport 53",
        "log tcp sport 20 dport 1045:1055",
        "ignore tcp sport 20 dport 1024:65535",
        "ignore tcp dport 80",
        "ignore icmp type 3",
        "ignore icmp type !8",
        "ignore udp from 127.1.2.0/24",
        "ignore udp from 127.1.2.0/24",
        "ignore tcp from 2001:db8:ff::/48 dport 22",
    ]


def test_article_extra_rules():
    config = parse(
        "ignore tcp sport 25\nignore tcp dport 25\nignore udp sport 53\nignore udp dport 53\n"
    )
    assert config.errors == () and len(config.filters) == 4


def test_missing_file_is_not_an_error(tmp_path):
    config = read_config(str(tmp_path / "absent.conf"))
    assert config.errors == () and config.settings == () and config.filters == ()


# --- --check-config ----------------------------------------------------------------------------


def run_check(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pyiplog", "--check-config", "-C", str(path)],
        capture_output=True,
        text=True,
    )


def test_check_config_reports_three_bad_lines(tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text(
        "user iplog\n"
        "ignore tcp dport 8080\n"
        "set frobnicate\n"
        "ignore udp from 192.0.2.0/24 dport 53\n"
        "ignore tcp dport 99999\n"
        "log tcp dport 22\n"
        "ignore icmp type nonsense\n"
    )
    p = run_check(conf)
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        '[line 3] Invalid "set" target: frobnicate',
        "[line 5] Error: Ports must be between 1 and 65535",
        "[line 7] Unknown ICMP type: nonsense",
    ]
    rules = [line for line in p.stdout.splitlines() if line.startswith(("log ", "ignore "))]
    assert rules == [
        "log tcp dport 22  # line 6",
        "ignore tcp dport 8080  # line 2",
        "ignore udp from 192.0.2.0/24 dport 53  # line 4",
    ]
    assert "user iplog" in p.stdout.splitlines()


def test_check_config_shows_ipv6_rules(tmp_path):
    """IPv6 addresses, prefixes, '!' and ICMPv6 types (docs/contract.md P5), in RFC 5952
    form, each rule as it reads back; a bad prefix or type is an error."""
    conf = tmp_path / "iplog.conf"
    conf.write_text(
        "ignore tcp from 2001:DB8:0:0::/32 dport 22\n"
        "log udp to !2001:db8:1::/48\n"
        "ignore icmp type 128 from fe80::1\n"
        "ignore icmp type ICMP6_DST_UNREACH to ::ffff:192.0.2.1\n"
        "ignore icmp type nd_neighbor_solicit\n"
        "ignore tcp from 2001:db8::/129\n"
        "ignore icmp type 100\n"
        "promisc 2001:db8:1::/48,192.0.2.0/24\n"
    )
    p = run_check(conf)
    assert p.returncode == 1
    assert p.stderr.splitlines() == [
        "[line 6] Invalid mask: must be in range 1 - 128",
        "[line 7] Unknown ICMP type: 100",
    ]
    rules = [line for line in p.stdout.splitlines() if line.startswith(("log ", "ignore "))]
    assert rules == [
        "log udp to !2001:db8:1::/48  # line 2",
        "ignore tcp from 2001:db8::/32 dport 22  # line 1",
        "ignore icmp type 128 from fe80::1  # line 3",
        "ignore icmp type icmp6_dst_unreach to ::ffff:192.0.2.1  # line 4",
        "ignore icmp type 135  # line 5",
    ]
    assert "promisc 2001:db8:1::/48,192.0.2.0/24" in p.stdout.splitlines()
    again = tmp_path / "again.conf"
    again.write_text("\n".join(r.split("  #")[0] for r in rules) + "\n")
    p = run_check(again)
    assert p.returncode == 0, p.stderr
    assert [line.split("  #")[0] for line in p.stdout.splitlines() if "icmp type" in line] == [
        "ignore icmp type 128 from fe80::1",
        "ignore icmp type icmp6_dst_unreach to ::ffff:192.0.2.1",
        "ignore icmp type 135",
    ]


def test_check_config_clean_example_exits_zero():
    p = run_check(ROOT / "conf" / "iplog.conf.example")
    assert (p.returncode, p.stderr) == (0, "")
    assert "set icmp false" in p.stdout.splitlines()


# --- detection tuning (pyiplog) -----------------------------------------------------------


def test_threshold_and_window_rules():
    config = parse(
        "threshold syn_scan 20\nwindow portscan 600\nwindow reply 1.5\nthreshold udp_flood 500\n"
    )
    assert config.errors == ()
    o = config.apply(Options())
    assert o.tuning == (
        ("threshold", "syn_scan", 20),
        ("window", "portscan", 600.0),
        ("window", "reply", 1.5),
        ("threshold", "udp_flood", 500),
    )


@pytest.mark.parametrize(
    "text,message",
    [
        ("threshold", "Missing threshold parameter"),
        ("window portscan", "Missing window parameter"),
        ("threshold nosuch 3", "Unknown detector: nosuch"),
        ("threshold portscan many", "Invalid threshold: many"),
        ("threshold portscan 2.5", "Invalid threshold: 2.5"),
        ("window portscan -1", "Invalid window: -1"),
        ("threshold reply 3", "Invalid threshold: reply has only a window"),
        (
            "window udp_stream 3",
            "Invalid window: udp_stream has only a threshold (udp_flood's window)",
        ),
        ("threshold ping_sweep 0", "Invalid threshold: 0"),
    ],
)
def test_tuning_errors(text, message):
    assert parse(text).errors == (f"[line 1] {message}",)


def test_the_scans_2_2_3_never_named_are_tuned_and_shown(tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text(
        "threshold ack_scan 20\nwindow horizontal_scan 60\nthreshold udp_stream 5000\n"
        "threshold distributed_flood 3000\nwindow ping_sweep 30\nset decoy_scan false\n"
    )
    out = run_check(conf).stdout.splitlines()
    for line in (
        "threshold ack_scan 20",  # also the Maimon scan's
        "window ack_scan 300",
        "threshold horizontal_scan 10",
        "window horizontal_scan 60",
        "threshold udp_stream 5000",
        "threshold distributed_flood 3000",
        "window distributed_flood 1",
        "threshold ping_sweep 32",
        "window ping_sweep 30",
        "threshold proto_scan 10",
        "set decoy_scan false",
        "set ack_scan true",
    ):
        assert line in out, line
    conf.write_text("set classic_detection\nthreshold ack_scan 20\n")  # 2.2.3's kinds only
    out = run_check(conf).stdout.splitlines()
    assert not [x for x in out if "ack_scan" in x and x.startswith(("threshold", "window"))]


def test_check_config_shows_the_numbers_in_force(tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text("threshold syn_scan 20\nwindow reply 1.5\n")
    out = run_check(conf).stdout.splitlines()
    assert "threshold syn_scan 20" in out and "window syn_scan 300" in out
    assert "threshold portscan 10" in out and "threshold syn_flood 200" in out
    assert "window reply 1.5" in out and "threshold null_scan 10" in out
    conf.write_text("set classic_detection\nthreshold portscan 30\n")
    out = run_check(conf).stdout.splitlines()
    assert "threshold portscan 30" in out and "window portscan 50" in out
    assert "threshold ping_flood 70" in out and "window reply 3" not in out


def test_the_config_is_parsed_in_a_child_without_lark_here(tmp_path):
    """read_config parses in a child process (config.parser.parse_apart): the
    daemon never loads Lark and its grammar (about 7 MB for its whole life)."""
    conf = tmp_path / "iplog.conf"
    conf.write_text("ignore tcp dport 8080\nset bogus false\nnonsense here\n")
    code = (
        "import sys; from pyiplog.config.parser import read_config;"
        f" c = read_config({str(conf)!r}, True);"
        " print('lark' in sys.modules, [str(r) for r in c.filters], c.settings, c.errors)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == (
        "False ['ignore tcp dport 8080'] (('bogus', False),) ('[line 3] Invalid rule: nonsense',)"
    )


@pytest.mark.parametrize(
    "text,expected",
    [
        ("capture_buffer 16", ((("capture_buffer", 16),), ())),
        (
            "capture_buffer 0",
            ((), ('[line 1] Invalid capture buffer: "0" (megabytes, 1 to 1024)',)),
        ),
        (
            "capture_buffer 2k",
            ((), ('[line 1] Invalid capture buffer: "2k" (megabytes, 1 to 1024)',)),
        ),
        ("capture_buffer", ((), ("[line 1] Missing capture buffer parameter",))),
    ],
)
def test_capture_buffer(text, expected):
    config = parse(text)
    assert (config.settings, config.errors) == expected


def test_capture_buffer_on_the_command_line_and_in_check_config(tmp_path):
    conf = tmp_path / "iplog.conf"
    conf.write_text("capture_buffer 16\n")
    assert "capture_buffer 16" in run_check(conf).stdout.splitlines()
    p = subprocess.run(
        [sys.executable, "-m", "pyiplog", "-C", str(conf), "--capture-buffer=2000", "-r", "-"],
        capture_output=True,
        text=True,
    )
    assert (p.returncode, p.stderr) == (
        255,
        'Fatal: Invalid capture buffer: "2000" (megabytes, 1 to 1024)\n',
    )
