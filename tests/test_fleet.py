"""A sensor in a fleet: the shipped rsyslog snippets carry a live iplog's
lines (text and JSON) from one namespace to a central rsyslog in another,
intact, one file for the fleet."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from live import IPLOG, Namespaces, needs_root, needs_tools, wait_for

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = ROOT / "initscripts" / "rsyslog"
A, B = Namespaces.A_ADDR, Namespaces.B_ADDR


def central_config(work: Path, fleet: Path) -> Path:
    """The central host's rsyslog: the shipped snippet, its file and port
    made the test's."""
    snippet = (SNIPPETS / "iplog-central.conf").read_text()
    snippet = snippet.replace("/var/log/iplog-fleet.log", str(fleet))
    conf = work / "central.conf"
    conf.write_text(f'global(workDirectory="{work}")\n{snippet}')
    return conf


def sensor_config(work: Path) -> Path:
    """A sensor's rsyslog: /dev/log (its own, in the sensor's mount
    namespace) and the shipped forwarding snippet, aimed at A."""
    snippet = (SNIPPETS / "iplog-forward.conf").read_text().replace("central.example", A)
    conf = work / "sensor.conf"
    conf.write_text(f'global(workDirectory="{work}")\nmodule(load="imuxsock")\n{snippet}')
    return conf


# The sensor's side, in a mount namespace of its own: a /dev with the
# devices iplog needs and rsyslog's /dev/log, then rsyslog and iplog.
SENSOR = """
set -e
mkdir -p {work}/dev
for d in null zero random urandom; do touch {work}/dev/$d; mount --bind /dev/$d {work}/dev/$d; done
mount --bind {work}/dev /dev
rsyslogd -n -f {conf} -i {work}/sensor-rsyslog.pid &
for i in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
exec {iplog} -C /dev/null -N -o -i {iface} --pid-file={work}/iplog.pid {extra}
"""


@needs_root
@needs_tools("rsyslogd", "nmap", "unshare", "crowdsec", "cscli")
@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
def test_lines_reach_the_central_file_intact(tmp_path, json_lines):
    """...and CrowdSec on the central host bans the scanner from them."""
    work = tmp_path
    fleet = work / "iplog-fleet.log"
    with Namespaces() as ns:
        central = subprocess.Popen(
            ["ip", "netns", "exec", ns.a, "rsyslogd", "-n", "-f", str(central_config(work, fleet)),
             "-i", str(work / "central-rsyslog.pid")],
        )  # fmt: skip
        script = SENSOR.format(
            work=work,
            conf=sensor_config(work),
            iplog=" ".join(IPLOG),
            iface=ns.b_if,
            extra="--json" if json_lines else "",
        )
        sensor = subprocess.Popen(
            ["ip", "netns", "exec", ns.b, "unshare", "-m", "sh", "-c", script],
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert wait_for(lambda: fleet.exists() and "iplog started." in fleet.read_text(), 15)
            ns.in_a("nmap", "-n", "-Pn", "-sS", "-p", "1-50", B, capture_output=True, timeout=60)
            assert wait_for(lambda: "SYN scan detected" in fleet.read_text(), 15), (
                fleet.read_text()[-2000:]
            )
        finally:
            sensor.send_signal(signal.SIGTERM)
            sensor.wait(10)
            subprocess.run(["pkill", "-F", str(work / "sensor-rsyslog.pid")])
            central.terminate()
            central.wait(10)
        lines = fleet.read_text().splitlines()
    stamp = r"[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    host = socket.gethostname()  # the sensor's name (the namespaces share it)
    shape = re.compile(rf"{stamp} {re.escape(host)} iplog\[(\d+)\]: (.*)")
    matched = [shape.fullmatch(line) for line in lines]
    assert all(matched), [x for x, m in zip(lines, matched, strict=True) if not m][:3]
    messages = [m[2] for m in matched]
    if json_lines:
        objs = [json.loads(x) for x in messages]
        assert all(o["host"] == host for o in objs)
        assert objs[0]["message"] == "iplog started."
        scans = [o for o in objs if o["event"] == "scan_start"]
        assert scans and scans[0]["scan"] == "syn_scan" and scans[0]["src"] == A
        messages = [o["message"] for o in objs]
    assert messages[0] == "iplog started."
    assert any(
        x.startswith("TCP: SYN scan detected [ports ")
        and x.endswith("]")
        and f" from {A} [port" in x
        for x in messages
    ), messages[-5:]
    assert decisions(work / "crowdsec", "syslog", {"fleet": lines}) == {(A, "ban")}


# --- CrowdSec ------------------------------------------------------------------------

HUB = Path("/var/lib/crowdsec/hub")  # Debian's offline hub
CROWDSEC = ROOT / "initscripts" / "crowdsec"


def crowdsec_config(work: Path, labels: str) -> Path:
    """CrowdSec in ``work``: no Central API, its local API on 127.0.0.1 of
    the test's namespace, the hub's syslog and date parsers, pyiplog's
    parsers and scenario, ``work/logs/*.log`` read once (``type: labels``)."""
    conf = work / "conf"
    for d in ("parsers/s00-raw", "parsers/s01-parse", "parsers/s02-enrich", "scenarios"):
        (conf / d).mkdir(parents=True)
    (work / "data").mkdir()
    (conf / "parsers/s00-raw/syslog-logs.yaml").symlink_to(
        HUB / "parsers/s00-raw/crowdsecurity/syslog-logs.yaml"
    )
    (conf / "parsers/s02-enrich/dateparse-enrich.yaml").symlink_to(
        HUB / "parsers/s02-enrich/crowdsecurity/dateparse-enrich.yaml"
    )
    for part in ("parsers", "scenarios"):  # acquis.d holds only an example
        for item in (CROWDSEC / part).rglob("*.yaml"):
            shutil.copy(item, conf / item.relative_to(CROWDSEC))
    shutil.copytree("/etc/crowdsec/patterns", conf / "patterns")
    (conf / "simulation.yaml").write_text("simulation: false\n")
    (conf / "profiles.yaml").write_text(
        "name: default_ip_remediation\nfilters:\n"
        ' - Alert.Remediation == true && Alert.GetScope() == "Ip"\n'
        "decisions:\n - type: ban\n   duration: 4h\non_success: break\n"
    )
    (conf / "acquis.yaml").write_text(
        f"filenames:\n  - {work}/logs/*.log\nlabels:\n  type: {labels}\nmode: cat\n"
    )
    config = conf / "config.yaml"
    config.write_text(
        f"""common:
  daemonize: false
  log_media: stdout
  log_level: info
  working_dir: .
config_paths:
  config_dir: {conf}/
  data_dir: {work}/data/
  simulation_path: {conf}/simulation.yaml
  hub_dir: {HUB}/
  index_path: {HUB}/.index.json
crowdsec_service:
  acquisition_path: {conf}/acquis.yaml
  parser_routines: 1
db_config:
  type: sqlite
  db_path: {work}/data/crowdsec.db
  use_wal: false
api:
  client:
    credentials_path: {conf}/local_api_credentials.yaml
  server:
    listen_uri: 127.0.0.1:8080
    profiles_path: {conf}/profiles.yaml
prometheus:
  enabled: false
"""
    )
    return config


def decisions(
    work: Path, labels: str, logs: dict[str, list[str]], scenario: str = "pyiplog/iplog-alarm"
) -> set[tuple[str, str]]:
    """CrowdSec fed ``logs`` (name -> lines): the (source, decision) of every
    alert of ``scenario`` it raised, read back from its local API."""
    config = crowdsec_config(work, labels)
    (work / "logs").mkdir()
    for name, lines in logs.items():
        (work / "logs" / f"{name}.log").write_text("".join(x + "\n" for x in lines))
    ns = f"pyiplog-cs{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)

        def run(*cmd, **kw):
            return subprocess.run(["ip", "netns", "exec", ns, *cmd], **kw)

        creds = config.parent / "local_api_credentials.yaml"
        run("cscli", "-c", config, "machines", "add", "pyiplog-test", "--auto", "--force",
            "-f", creds, check=True, capture_output=True)  # fmt: skip
        agent = run("crowdsec", "-c", config, capture_output=True, text=True, timeout=60)
        assert "Acquisition is finished" in agent.stdout + agent.stderr, agent.stderr[-2000:]
        api = subprocess.Popen(
            ["ip", "netns", "exec", ns, "crowdsec", "-c", str(config), "-no-cs"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            alerts = None
            for _ in range(50):
                p = run("cscli", "-c", config, "alerts", "list", "-o", "json",
                        capture_output=True, text=True)  # fmt: skip
                if p.returncode == 0:
                    alerts = json.loads(p.stdout) or []
                    break
                time.sleep(0.2)
            assert alerts is not None, p.stderr
        finally:
            api.terminate()
            api.wait(10)
    finally:
        subprocess.run(["ip", "netns", "del", ns])
    return {
        (a["source"]["value"], d["type"]) for a in alerts for d in a["decisions"]
        if a["scenario"] == scenario
    }  # fmt: skip


def iplog_lines(capture: str, *args: str) -> list[str]:
    p = subprocess.run(
        [*IPLOG, "-C", "/dev/null", "-N", *args, "-r", str(ROOT / "tests" / "data" / capture)],
        capture_output=True, text=True, check=True, env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip
    return p.stdout.splitlines()


@needs_root
@needs_tools("crowdsec", "cscli")
def test_crowdsec_bans_the_real_scanner_in_iplogs_file_form(tmp_path):
    """A SYN scan, nmap -D's decoys, a random-source SYN flood, a smurf
    through two networks, and a scan line that names only a host name:
    one decision, for the real scanner."""
    lines = (
        iplog_lines("attack-nmap-sS.pcap")
        + iplog_lines("sweep-nmap-D.pcap")
        + iplog_lines("sweep-hping-rand-source.pcap")
        + iplog_lines("smurf-two-networks.pcap")
        + ["Dec  5 06:00:00 TCP: SYN scan detected [ports 1,2,3] from scanner.example [port 4]"]
    )
    assert any("with decoys detected" in x for x in lines)
    assert any("distributed SYN flood detected" in x for x in lines)
    assert any("reflecting networks" in x for x in lines)
    assert decisions(tmp_path, "iplog", {"iplog": lines}) == {("198.51.100.1", "ban")}


@needs_root
@needs_tools("crowdsec", "cscli")
def test_crowdsec_reads_syslog_and_json_lines(tmp_path):
    """The syslog form (a central file, the iplog tag among others') and
    JSON lines: the IPv6 scanner and the ping flooder, each once."""
    syslog = []
    for line in iplog_lines("ipv6-nmap-sS.pcap") + iplog_lines("attack-hping-icmp.pcap"):
        syslog.append(f"{line[:15]} sensor7 sshd[9]: Connection closed by 203.0.113.9")
        syslog.append(f"{line[:15]} sensor7 iplog[4242]: {line[16:]}")
    assert decisions(tmp_path / "syslog", "syslog", {"fleet": syslog}) == {
        ("2001:db8::1", "ban"),
        ("198.51.100.1", "ban"),
    }
    js = iplog_lines("halfopen-nmap6-p22.pcap", "--json") + iplog_lines(
        "smurf-two-networks.pcap", "--json"
    )
    assert decisions(tmp_path / "json", "iplog", {"iplog": js}) == {("2001:db8::1", "ban")}


def sensor_lines(capture: Path, host: str, target: str, *args: str) -> list[str]:
    """What the sensor ``host`` writes (JSON lines) for the part of a real
    capture addressed to or sent by ``target``, its address: iplog -r with
    ``-a`` of that address, run under that host name (a UTS namespace of
    the test's)."""
    part = capture.parent / f"{host}.pcap"
    subprocess.run(
        ["tcpdump", "-r", str(capture), "-w", str(part), f"host {target}"],
        check=True, capture_output=True,
    )  # fmt: skip
    mask = "128" if ":" in target else "32"  # the sensor's own address is its side
    script = (
        f"hostname {host} && exec {' '.join(IPLOG)} -C /dev/null -N --json -a {target}/{mask}"
        f" {' '.join(args)}"
    )
    p = subprocess.run(
        ["unshare", "-u", "sh", "-c", f"{script} -r {part}"],
        capture_output=True, text=True, check=True, env={**os.environ, "TZ": "UTC"},
    )  # fmt: skip
    lines = p.stdout.splitlines()
    assert all(json.loads(x)["host"] == host for x in lines)
    return lines


@needs_root
@needs_tools("crowdsec", "cscli", "tcpdump", "unshare")
def test_a_scan_spread_over_the_fleet_is_seen_and_a_poller_is_not(tmp_path):
    """nmap -sS of port 22 over 60 hosts that all serve it, each host a
    sensor of its own: one half-open probe on each, no sensor alarms, the
    fleet scenario bans the scanner.  A client that completed a connection
    to each of 22 sensors (router-neighbours.pcap: a poller) and the
    ordinary IPv6 session on five more: nothing."""
    data = ROOT / "tests" / "data"
    work = tmp_path / "captures"
    work.mkdir()
    shutil.copy(data / "halfopen-nmap-p22.pcap", work)
    shutil.copy(data / "router-neighbours.pcap", work)
    shutil.copy(data / "ipv6-ordinary.pcap", work)
    scanned = []
    for i in range(1, 23):  # 22 sensors: the scenario bans at 20
        lines = sensor_lines(work / "halfopen-nmap-p22.pcap", f"sensor{i}", f"203.0.113.{i}")
        assert not any("detected" in json.loads(x)["message"] for x in lines)
        assert sum(json.loads(x)["event"] == "probe_failed" for x in lines) == 1
        scanned += lines
    assert decisions(
        tmp_path / "scan", "iplog", {"fleet": scanned}, "pyiplog/iplog-fleet-probe"
    ) == {("198.51.100.1", "ban")}
    quiet = []
    for i in range(1, 23):
        quiet += sensor_lines(
            work / "router-neighbours.pcap", f"web{i}", f"2001:db8:b::{0x100 + i:x}"
        )
    for i in range(1, 6):
        quiet += sensor_lines(work / "ipv6-ordinary.pcap", f"desk{i}", "2001:db8::2")
    # no completed connection is a failed probe; the one datagram whose
    # answer came from another address of its server (bound to ::) is
    failed = [o for o in map(json.loads, quiet) if o["event"] == "probe_failed"]
    assert [(o["host"], o["proto"], o["dport"], o["reason"]) for o in failed] == [
        ("web2", "udp", 53, "unanswered")
    ]
    assert (
        decisions(tmp_path / "quiet", "iplog", {"fleet": quiet}, "pyiplog/iplog-fleet-probe")
        == set()
    )
