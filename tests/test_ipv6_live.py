"""IPv6 live (docs/contract.md P5), as root: two network namespaces joined by
a veth pair with 2001:db8::1 (A) and 2001:db8::2 (B); the daemon watches B.
Real nmap -6 scans and a ping flood from A are reported; an ordinary
connection and ping are logged as 2.2.3 logs them for IPv4; the neighbour
and multicast listener discovery of a link going up alarms nothing and is
logged only with ``set icmp6_nd true``; names come from PTR records under
ip6.arpa."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from benign import resolv_conf

from live import (
    Namespaces,
    daemon_in_b,
    has_line,
    lines_of,
    needs_root,
    needs_tools,
    on_lo,
    stop,
    wait_for,
)

TOOLS = needs_tools("nmap", "ping")

SERVERS = Path(__file__).resolve().parent / "servers.py"
A6, B6 = Namespaces.A_ADDR6, Namespaces.B_ADDR6
# Lines of single packets (A refuses the echo server's late answers to
# nmap's UDP probes with port unreachables).
PER_PACKET = (
    "connection attempt",
    "dgram to",
    "ICMPv6: echo",
    f"ICMPv6: {A6}: port unreachable to",
    "last message repeated",
)


def per_packet(line: str) -> bool:
    return any(p in line for p in PER_PACKET)


def connect_from_a(ns, port, sport):
    code = (
        f"import socket; socket.create_connection(({B6!r}, {port}), 3, ({A6!r}, {sport})).close()"
    )
    ns.in_a(sys.executable, "-c", code, check=True, timeout=10)


@needs_root
@TOOLS
@pytest.mark.parametrize("promisc", [(), ("-a", "2001:db8::2/128")], ids=["own", "promisc"])
def test_scans_and_ordinary_traffic_over_ipv6(tmp_path, promisc):
    """The daemon on B's own addresses, and with B's address as its promisc
    network (the kernel filter made from an IPv6 prefix; log_dest on)."""
    to = f" to {B6}" if promisc else ""
    with Namespaces(ipv6=True) as ns:
        servers = ns.popen_b(sys.executable, str(SERVERS), B6, stdout=subprocess.PIPE, text=True)
        try:
            assert servers.stdout.readline().strip() == "ready"
            with daemon_in_b(ns, tmp_path, *promisc) as (log, daemon):
                connect_from_a(ns, 80, 45678)
                ns.in_a("ping", "-6", "-n", "-c", "1", B6, check=True, capture_output=True)
                assert wait_for(
                    has_line(log, f"TCP: http connection attempt{to} from {A6}:45678")
                ), lines_of(log)
                assert wait_for(has_line(log, f"ICMPv6: echo from {A6}{to} (64 bytes)"))

                scans = {
                    "TCP: SYN scan detected": ["-sS", "-p", "1-200"],
                    "TCP: FIN scan detected": ["-sF", "-p", "1-200"],
                    "UDP: scan/flood detected": ["-sU", "--max-retries", "1", "-p", "1-100"],
                }
                for alarm, how in scans.items():
                    ns.in_a("nmap", "-6", "-n", "-Pn", *how, B6, capture_output=True, timeout=120)
                    assert wait_for(
                        lambda alarm=alarm: any(
                            line.startswith(f"{alarm}{to} [ports ") and f" from {A6} [port" in line
                            for line in lines_of(log)
                        ),
                        timeout=15,
                    ), (alarm, lines_of(log)[-5:])
                ns.in_a("ping", "-6", "-n", "-f", "-c", "500", B6, capture_output=True, timeout=60)
                assert wait_for(has_line(log, f"ICMP: ping flood detected{to} from {A6}"))
                time.sleep(0.5)
                daemon.send_signal(signal.SIGUSR1)
                stats = wait_for(
                    lambda: [x for x in lines_of(log) if x.startswith("Statistics for ")]
                )
                lines = lines_of(log)
        finally:
            servers.kill()
            servers.wait()
    # the USR1 statistics count the IPv6 packets: nearly all of them here
    seen, ipv6 = map(int, re.match(r".*: (\d+) packets seen \((\d+) IPv6\)", stats[0]).groups())
    assert 1000 < ipv6 <= seen, stats
    alarms = [line for line in lines if not per_packet(line) and line not in stats]
    assert [line.split(" [")[0] for line in alarms] == [
        "iplog started.",
        f"TCP: SYN scan detected{to}",
        f"TCP: FIN scan detected{to}",
        f"UDP: scan/flood detected{to}",
        f"ICMP: ping flood detected{to} from {A6}",
    ], alarms


@needs_root
@TOOLS
def test_neighbour_discovery_of_a_link_alarms_nothing(tmp_path):
    """A's link goes down and up (duplicate address detection, router
    solicitations, MLD reports), the neighbour caches are flushed and A and
    B ping each other three times: one daemon logs the echoes only, one with
    ``set icmp6_nd true`` the discovery too; neither alarms."""
    conf = tmp_path / "nd.conf"
    conf.write_text("set icmp6_nd true\n")
    with (
        Namespaces(ipv6=True) as ns,
        daemon_in_b(ns, tmp_path) as (log, _),
        daemon_in_b(ns, tmp_path, config=conf, name="nd") as (nd_log, _),
    ):
        keep = f"net.ipv6.conf.{ns.a_if}.keep_addr_on_down=1"  # 2001:db8::1 stays
        ns.in_a("sysctl", "-qw", keep, check=True)
        subprocess.run(["ip", "-n", ns.a, "link", "set", ns.a_if, "down"], check=True)
        subprocess.run(["ip", "-n", ns.a, "link", "set", ns.a_if, "up"], check=True)
        time.sleep(3)  # A's DAD, router solicitations, MLD reports
        for _ in range(3):
            for ns_name, dev in ((ns.a, ns.a_if), (ns.b, ns.b_if)):
                subprocess.run(["ip", "-n", ns_name, "neigh", "flush", "dev", dev], check=True)
            # B asks for A first (A's advertisement comes to B), then A pings B
            subprocess.run(
                ["ip", "netns", "exec", ns.b, "ping", "-6", "-n", "-c", "1", A6],
                capture_output=True,
                timeout=10,
            )
            ns.in_a("ping", "-6", "-n", "-c", "1", B6, capture_output=True, timeout=10)
        assert wait_for(
            lambda: any("neighbor advertisement" in line for line in lines_of(nd_log))
        ), lines_of(nd_log)
        time.sleep(1)
        plain, with_nd = lines_of(log), lines_of(nd_log)
    assert plain[0] == "iplog started."
    echoes = {f"ICMPv6: echo from {A6} (64 bytes)", f"ICMPv6: echo reply from {A6} (64 bytes)"}
    assert set(plain[1:]) <= echoes | {"last message repeated 1 times"}, plain
    assert f"ICMPv6: echo from {A6} (64 bytes)" in plain
    discovery = [line for line in with_nd[1:] if not per_packet(line)]
    assert discovery and all(line.startswith("ICMPv6: ") for line in discovery), discovery
    names = {line.split(" from ")[0] for line in discovery}
    assert {"ICMPv6: neighbor solicitation", "ICMPv6: neighbor advertisement"} <= names, names
    assert not [line for line in with_nd if "detected" in line or "scan" in line]


@needs_root
@TOOLS
@pytest.mark.parametrize("promisc", [(), ("-a", "2001:db8::/64")], ids=["own", "promisc"])
def test_nmap_host_discovery_is_a_neighbour_sweep(tmp_path, promisc):
    """nmap -6 -sn over 64 addresses of the link (B's among them): its
    neighbour solicitations go to solicited-node groups, which the kernel
    filter keeps; those nmap repeats, unanswered, are a neighbour sweep
    from A (docs/contract.md D5)."""
    to = " to 2001:db8::3," if promisc else " from "
    with Namespaces(ipv6=True) as ns, daemon_in_b(ns, tmp_path, *promisc) as (log, _):
        ns.in_a("nmap", "-6", "-n", "-sn", "2001:db8::/122", capture_output=True, timeout=120)
        assert wait_for(
            lambda: any(
                line.startswith("ICMPv6: neighbour sweep detected") and to in line
                for line in lines_of(log)
            ),
            timeout=15,
        ), lines_of(log)
        lines = lines_of(log)
    sweeps = [line for line in lines if "neighbour sweep detected" in line]
    assert len(sweeps) == 1 and sweeps[0].endswith(f" from {A6}"), lines
    assert f"{B6}," not in sweeps[0]  # B answered for its own address


@needs_root
@needs_tools("dnsmasq")
def test_names_come_from_ptr_records_under_ip6_arpa(tmp_path):
    """Real dnsmasq on B answers PTR queries for A's address; the daemon
    (names resolved, log_ip) prints A by its name, looked up under ip6.arpa."""
    queries = tmp_path / "dnsmasq.log"
    with Namespaces(ipv6=True) as ns, resolv_conf(ns.b, B6):
        dnsmasq = ns.popen_b(
            "dnsmasq",
            "-d",
            "-k",
            "-C",
            "/dev/null",
            f"--listen-address={B6}",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            f"--host-record=scanner6.example,{A6}",
            "--log-queries",
            f"--log-facility={queries}",
            f"--pid-file={tmp_path}/dnsmasq.pid",
            "--user=root",
        )
        # dnsmasq has UDP 53: the test servers must not race it for the port.
        servers = ns.popen_b(
            sys.executable, str(SERVERS), B6, "--no-udp", stdout=subprocess.PIPE, text=True
        )
        try:
            assert servers.stdout.readline().strip() == "ready"
            assert wait_for(lambda: "started" in (queries.read_text() if queries.exists() else ""))
            with daemon_in_b(ns, tmp_path, "-w", resolve=True) as (log, _):
                # The first lines may come before the name (lookups never hold
                # a line back): a connection from a new port until one has it.
                for sport in range(45678, 45688):
                    connect_from_a(ns, 80, sport)
                    if wait_for(lambda: any("scanner6.example" in x for x in lines_of(log)), 1):
                        break
                named = f"TCP: http connection attempt from scanner6.example ({A6}):{sport}"
                assert wait_for(has_line(log, named)), lines_of(log)
        finally:
            servers.kill()
            dnsmasq.terminate()
            servers.wait()
            dnsmasq.wait(10)
    arpa = ".".join(reversed(ipaddress.IPv6Address(A6).exploded.replace(":", ""))) + ".ip6.arpa"
    assert f"query[PTR] {arpa} from {B6}" in queries.read_text()


@needs_root
@needs_tools("ping")
def test_loopback_ipv6(tmp_path):
    """What the issue began with: ``ping -6 ::1`` and a connection to
    ``[::1]:2727`` (refused) each give their line on lo."""
    log = tmp_path / "lo.log"
    proc = on_lo("/dev/null", log, tmp_path / "iplog.pid")
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        sport = s.getsockname()[1]
        with contextlib.suppress(OSError):
            s.connect(("::1", 2727))
        s.close()
        subprocess.run(["ping", "-6", "-n", "-c", "1", "::1"], check=True, capture_output=True)
        assert wait_for(has_line(log, f"TCP: port 2727 connection attempt from ::1:{sport}"))
        assert wait_for(has_line(log, "ICMPv6: echo from ::1 (64 bytes)"))
    finally:
        stop(proc)
