"""``iplog --report`` (docs/contract.md L7) over logs made from the real
captures in iplog's three forms: its own file form, a syslog file (the
lines of the iplog tag among other daemons'), JSON lines gzipped."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from pyiplog import cli, report

from live import ENV, IPLOG, analysed

DATA = Path(__file__).resolve().parent / "data"


def iplog_r(capture: str, *args: str) -> list[str]:
    return analysed(DATA / capture, *args)


def as_syslog(lines: list[str]) -> list[str]:
    """The traditional file format rsyslog writes for the iplog tag, among
    another daemon's lines."""
    out = []
    for line in lines:
        stamp, message = line[:15], line[16:]
        out.append(f"{stamp} sensor1 sshd[77]: Accepted publickey for root")
        out.append(f"{stamp} sensor1 iplog[4242]: {message}")
    return out


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> dict[str, Path]:
    """Three logs of three captures, each in another form; their files
    dated as a daemon would have left them (their last line's day)."""
    work = tmp_path_factory.mktemp("report")
    text = work / "iplog"
    text.write_text("\n".join(iplog_r("attack-nmap-sS.pcap") + iplog_r("load-ab.pcap")) + "\n")
    syslog = work / "syslog"
    syslog.write_text("\n".join(as_syslog(iplog_r("smurf-two-networks.pcap"))) + "\n")
    js = work / "iplog.json.gz"
    with gzip.open(js, "wt") as fh:
        fh.write("\n".join(iplog_r("halfopen-nmap6-p22.pcap", "--json")) + "\n")
    for path in (text, syslog):  # 2026-12-05 08:00 UTC, after their last lines
        os.utime(path, (1796457600, 1796457600))
    return {"text": text, "syslog": syslog, "json": js}


def run_report(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(["--report", *args])
    return status, out.getvalue()


def test_the_three_forms_in_one_report(logs):
    status, out = run_report("--since", "all", "--json", *map(str, logs.values()))
    assert status == 0
    r = json.loads(out)
    assert r["alarms"] == {
        "TCP: SYN scan": 1,
        "ICMP/UDP: smurf attack": 2,
        "TCP: horizontal scan": 1,
    }
    top = {s["source"]: s for s in r["top_sources"]}
    scanner = top["198.51.100.1"]
    assert scanner["alarms"] == {"TCP: SYN scan": 1}
    assert scanner["first"].startswith("2026-11-25T12:34:28")
    assert {"ssh", "http"} <= set(scanner["ports"])
    assert top["2001:db8::1"]["alarms"] == {"TCP: horizontal scan": 1}
    assert top["2001:db8::1"]["ports"][0] == "ssh"
    assert top["192.0.2.0"]["alarms"] == {"ICMP/UDP: smurf attack": 1}
    # ab's 2000 connections: per-packet lines only, no alarm
    assert "http-alt" in [p["port"] for p in r["top_ports"]]
    assert r["first"].startswith("2026-11-25T12:34")
    assert r["last"].startswith("2026-12-05T05:")
    assert r["sources_on_several_days"] == ["198.51.100.1"]  # Nov 25 (nmap) and Dec 5 (ab)
    assert sum(r["hours"].values()) == r["lines"]


def test_text_for_a_person(logs):
    status, out = run_report("--since", "all", "--top", "2", str(logs["syslog"]))
    assert status == 0
    lines = out.splitlines()
    assert (
        lines[2] == "Years: taken from each file's last modification (the time of its last line)."
    )
    assert "Alarms by kind:" in lines
    assert "        2  ICMP/UDP: smurf attack" in lines
    top = lines.index("Top sources:")
    assert lines[top + 1].startswith("  192.0.2.0: 1 alarms (ICMP/UDP: smurf attack), 0 lines;")
    hours = lines[lines.index("Lines per hour of the day (# lines, ! alarms):") + 1 :]
    assert len(hours) == 24 and hours[5].startswith("  05  ####") and "(2 alarms)" in hours[5]
    assert not any("sshd" in x or "publickey" in x for x in lines)


def test_the_period(logs):
    until = "2026-12-05T05:18:45+00:00"
    status, out = run_report("--since", "2026-12-05T05:18:00+00:00", "--until", until, "--json",
                             str(logs["syslog"]), str(logs["text"]))  # fmt: skip
    assert status == 0
    r = json.loads(out)
    assert r["alarms"] == {"ICMP/UDP: smurf attack": 1}  # the first network's, at 05:18:41
    assert r["last"] <= "2026-12-05T05:18:45"
    # the default: the last 24 hours of now (here: of Dec 5 at 12:00, so
    # ab's lines of that morning, not nmap's of Nov 25)
    out = io.StringIO()
    with redirect_stdout(out):
        assert report.main(["--json", str(logs["text"])], now=1796472000.0) == 0
    day = json.loads(out.getvalue())
    assert day["alarms"] == {} and day["first"].startswith("2026-12-05T05:18")


def test_a_year_is_inferred_across_new_year(tmp_path):
    log = tmp_path / "iplog"
    log.write_text(
        "Dec 31 23:59:58 TCP: SYN scan detected [ports 1,2,3] from 198.51.100.9 [port 4]\n"
        "Jan  1 00:00:02 TCP: ssh connection attempt from 198.51.100.9:5\n"
    )
    jan1 = time.mktime((2027, 1, 1, 0, 1, 0, 0, 0, -1))
    os.utime(log, (jan1, jan1))
    lines = list(report.parse(log.read_text().splitlines(), jan1))
    assert [time.localtime(x[0])[:3] for x in lines] == [(2026, 12, 31), (2027, 1, 1)]


def test_rotations_oldest_first(tmp_path):
    base = tmp_path / "iplog"
    for i, name in enumerate(["iplog.2.gz", "iplog.1", "iplog", "iplog-20261201", "iplog.bak"]):
        (tmp_path / name).write_text("")
        os.utime(tmp_path / name, (1000 + i, 1000 + i))
    assert [Path(p).name for p in report.rotations(str(base))] == [
        "iplog.2.gz",
        "iplog.1",
        "iplog",
        "iplog-20261201",
    ]


def test_errors_are_one_line(tmp_path):
    p = subprocess.run(
        [*IPLOG, "--report", str(tmp_path / "missing")], capture_output=True, text=True, env=ENV
    )
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == f"iplog --report: {tmp_path / 'missing'}: No such file or directory\n"
    p = subprocess.run(
        [*IPLOG, "--report", "--since", "yesterday"], capture_output=True, text=True, env=ENV
    )
    assert p.returncode == 2 and "'yesterday' is no time" in p.stderr
