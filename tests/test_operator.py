"""The operator's view (docs/contract.md L7, L8): ``iplog --status`` asking
a live daemon between namespaces, its answers when there is none, the
metrics file read by Debian's prometheus-node-exporter, logwatch's
section."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
from prometheus_client.parser import text_string_to_metric_families

from live import (
    ENV,
    IPLOG,
    Namespaces,
    daemon_in_b,
    has_line,
    lines_of,
    needs_root,
    needs_tools,
    wait_for,
)

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers.py"
STATUS_SCHEMA = jsonschema.Draft202012Validator(
    json.loads((ROOT / "conf" / "iplog.status.schema.json").read_text())
)
A, B = Namespaces.A_ADDR, Namespaces.B_ADDR


def status(pid_file: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*IPLOG, "--status", f"--pid-file={pid_file}", *extra],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=10,
    )


def packets(state: dict) -> int:
    return sum(i["packets"] for i in state["interfaces"])


def ipv4_packets(state: dict) -> int:
    """IPv4's (the link's own IPv6 neighbour discovery comes when it will)."""
    return sum(i["packets"] - i["ipv6"] for i in state["interfaces"])


@needs_root
@needs_tools("nmap")
def test_status_and_metrics_of_a_live_daemon(tmp_path):
    """A real nmap SYN scan: --status shows it open (kind, source, target,
    ports so far), --json says the same and fits the schema; 20 datagrams
    and their 20 answers move the packet counter by exactly 40; the metrics
    file (refreshed by USR1) says the same to Prometheus's parser."""
    prom = tmp_path / "iplog.prom"
    pid_file = tmp_path / "live.pid"
    with Namespaces() as ns:
        servers = ns.popen_b(sys.executable, str(SERVERS), B, stdout=subprocess.PIPE, text=True)
        try:
            assert servers.stdout.readline().strip() == "ready"
            with daemon_in_b(ns, tmp_path, f"--metrics-file={prom}") as (log, daemon):
                ns.in_a("nmap", "-n", "-Pn", "-sS", "-p", "1-100", B, capture_output=True)
                assert wait_for(
                    lambda: any(x.startswith("TCP: SYN scan detected") for x in lines_of(log))
                ), lines_of(log)
                text = status(pid_file)
                js = status(pid_file, "--json")
                before = json.loads(js.stdout)
                code = (
                    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                    f"s.bind(({A!r}, 40053)); s.settimeout(2)\n"
                    f"for i in range(20): s.sendto(b'q', ({B!r}, 53)); s.recv(10)"
                )
                ns.in_a(sys.executable, "-c", code, check=True, timeout=20)
                assert wait_for(
                    has_line(log, f"UDP: dgram to domain from {A}:40053 (1 data bytes)")
                )
                time.sleep(0.5)
                after = json.loads(status(pid_file, "--json").stdout)
                daemon.send_signal(signal.SIGUSR1)
                assert wait_for(lambda: prom.exists() and b"iplog_open" in prom.read_bytes())
                assert wait_for(
                    lambda: (
                        (_metric(prom.read_text(), "iplog_packets_total") or 0) >= packets(after)
                    ),
                    5,
                )
                exposition = prom.read_text()
        finally:
            servers.kill()
            servers.wait()
    assert text.returncode == 0, text.stderr
    out = text.stdout.splitlines()
    assert out[0].startswith("pyiplog ") and " up " in out[0]
    assert any(x.startswith(f"  {ns.b_if}: ") and "packets seen" in x for x in out), out
    scans = [x for x in out if x.startswith("  TCP: SYN scan: ")]
    assert len(scans) == 1 and scans[0].startswith(f"  TCP: SYN scan: {A} -> {B} (ports "), out
    assert "expires" in scans[0] and "since" in scans[0]
    STATUS_SCHEMA.validate(before)
    STATUS_SCHEMA.validate(after)
    (scan,) = [s for s in before["open"]["items"] if s["kind"] == "syn_scan"]
    assert (scan["source"], scan["target"], scan["name"]) == (A, B, "TCP: SYN scan")
    assert len(scan["ports"]) == 10 and scan["packets"] >= 100
    assert before["lines"]["by_kind"]["scan_detected:syn_scan"] == 1
    assert before["open"]["by_kind"] == {"syn_scan": 1}
    assert ipv4_packets(after) - ipv4_packets(before) == 40  # 20 datagrams, 20 echoes
    assert after["lines"]["total"] > before["lines"]["total"]
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    assert families["iplog_up"].samples[0].value == 1
    (open_scan,) = families["iplog_open"].samples
    assert (open_scan.labels, open_scan.value) == ({"kind": "syn_scan"}, 1)
    kinds = {s.labels["kind"]: s.value for s in families["iplog_messages"].samples}
    assert kinds["scan_detected:syn_scan"] == 1


def _metric(text: str, name: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def test_status_says_why_there_is_no_answer(tmp_path):
    pid_file = tmp_path / "iplog.pid"
    p = status(pid_file)
    assert (p.returncode, p.stdout, p.stderr) == (
        1,
        "",
        f"iplog is not running (no pid file {pid_file})\n",
    )
    pid_file.write_text("12345\n")
    p = status(pid_file)
    assert (p.returncode, p.stderr) == (1, f"iplog is not running (stale pid file {pid_file})\n")
    # A process holds the lock and listens, but never answers (a daemon
    # stuck, for the test): --status gives up after a second.
    fd = os.open(pid_file, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(f"{pid_file}.sock")
    mute.listen(1)
    try:
        started = time.monotonic()
        p = status(pid_file)
        took = time.monotonic() - started
    finally:
        mute.close()
        os.close(fd)
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == "iplog (pid 12345): the daemon did not answer within 1 s\n"
    assert took < 5


@needs_root
def test_a_planted_socket_path_is_not_followed(tmp_path):
    """Where the status socket goes, a link left by someone else (to a file
    of root's) is refused, the file untouched; the daemon runs without."""
    target = tmp_path / "precious"
    target.write_text("keep\n")
    pid_file = tmp_path / "iplog.pid"
    os.symlink(target, f"{pid_file}.sock")
    log = tmp_path / "log"
    daemon = subprocess.Popen(
        [*IPLOG, "-C", "/dev/null", "-N", "-o", "-i", "lo", "-l", str(log),
         f"--pid-file={pid_file}"],
        env=ENV, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_for(has_line(log, "iplog started."))
        p = status(pid_file)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=10)
    assert target.read_text() == "keep\n" and os.path.islink(f"{pid_file}.sock")
    assert err.startswith("Warning: no status socket (")
    assert "exists and is no socket (not replaced)" in err
    assert p.returncode == 1 and "is not the daemon's socket" in p.stderr


@needs_root
@needs_tools("prometheus-node-exporter", "curl")
def test_node_exporter_serves_the_metrics(tmp_path):
    """Debian's node_exporter, its textfile collector on a directory the
    daemon writes, scraped with curl inside a namespace of the test's."""
    textfiles = tmp_path / "node-exporter"
    textfiles.mkdir()
    prom = textfiles / "iplog.prom"
    with Namespaces() as ns:
        exporter = ns.popen_b(
            "prometheus-node-exporter",
            "--web.listen-address=127.0.0.1:9100",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with daemon_in_b(ns, tmp_path, f"--metrics-file={prom}"):
                assert wait_for(prom.exists)
                scrape = subprocess.run(
                    ["ip", "netns", "exec", ns.b, "curl", "-sf", "--retry", "5",
                     "--retry-connrefused", "--retry-delay", "1", "http://127.0.0.1:9100/metrics"],
                    capture_output=True, text=True, timeout=30,
                )  # fmt: skip
        finally:
            exporter.terminate()
            exporter.wait(10)
    assert scrape.returncode == 0, scrape.stderr
    families = {f.name: f for f in text_string_to_metric_families(scrape.stdout)}
    assert families["iplog_up"].samples[0].value == 1
    assert families["node_textfile_scrape_error"].samples[0].value == 0
    assert {s.labels["interface"] for s in families["iplog_packets"].samples} == {ns.b_if}
    assert list(textfiles.iterdir()) == [prom]  # no temporary file left


def test_metrics_are_written_whole_and_never_through_a_link(tmp_path):
    from pyiplog import metrics

    path = tmp_path / "iplog.prom"
    state = json.loads((ROOT / "tests" / "data" / "status-sample.json").read_text())
    data = metrics.exposition(state)
    metrics.write(str(path), data)
    assert path.read_bytes() == data and oct(path.stat().st_mode & 0o777) == "0o644"
    families = {f.name for f in text_string_to_metric_families(data.decode())}
    assert {"iplog_up", "iplog_packets", "iplog_open", "iplog_lookups_started"} <= families
    # a link planted where the temporary file would go is never written
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    for name in ("iplog.prom.tmp", ".iplog-metrics-x"):
        os.symlink(victim, tmp_path / name)
    metrics.write(str(path), data)
    assert victim.read_text() == "keep\n"


@needs_root
@needs_tools("logwatch", "unshare")
def test_logwatch_prints_the_section(tmp_path):
    """Debian's logwatch with the shipped service, logfile group and script
    (bound over /etc/logwatch in a mount namespace of the test's), over a
    log made from the real nmap capture."""
    etc = tmp_path / "etc"
    for part, name in (
        ("conf/logfiles", "logfiles/iplog.conf"),
        ("conf/services", "services/iplog.conf"),
        ("scripts/services", "scripts/iplog"),
    ):
        (etc / part).mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "initscripts" / "logwatch" / name, etc / part / "iplog")
    (etc / "conf/logfiles/iplog").rename(etc / "conf/logfiles/iplog.conf")
    (etc / "conf/services/iplog").rename(etc / "conf/services/iplog.conf")
    logs = tmp_path / "log"
    logs.mkdir()
    p = subprocess.run(
        [*IPLOG, "-C", "/dev/null", "-N", "-r", str(ROOT / "tests/data/attack-nmap-sS.pcap")],
        capture_output=True, text=True, env=ENV, check=True,
    )  # fmt: skip
    (logs / "iplog").write_text(p.stdout)
    script = (
        f"mount --bind {etc} /etc/logwatch && exec logwatch --service iplog --range All"
        f" --output stdout --logdir {logs}"
    )
    env = {**ENV, "PATH": f"{Path(IPLOG[0]).parent}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    section = out.stdout[out.stdout.index("iplog Begin") :]
    section = section[: section.index("iplog End")]
    lines = [x.strip() for x in section.splitlines()]
    assert "1  TCP: SYN scan" in lines, section
    assert any(
        x.startswith("198.51.100.1: 1 alarms (TCP: SYN scan), ") and "ports " in x for x in lines
    ), section
    assert "Top targeted ports:" in lines
