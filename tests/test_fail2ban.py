"""The fail2ban filter, with Debian's real fail2ban-regex: it
matches every alarm line that names an attacking source, in the log file's
form and syslog's, with log_dest and log_ip on and off, IPv6 too, from logs
iplog wrote from the real nmap/hping3 captures; and no ordinary line."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from pyiplog import cli, runner

from live import needs_tools, run_iplog

ROOT = Path(__file__).resolve().parent.parent
FILTER = ROOT / "initscripts" / "fail2ban" / "filter.d" / "iplog.conf"
CAPTURES = sorted((ROOT / "tests" / "data").glob("*.pcap"))
NAMES = {bytes([198, 51, 100, 1]): "attacker.example", bytes([127, 0, 0, 1]): "localhost"}

# An alarm that names its attacker, by iplog's texts (not smurf: its source
# is the amplifiers' /24; not the distributed floods and decoy scans, whose
# sources may be forged: "from N sources").
ALARM = re.compile(
    r" (?:(?!ICMP/UDP: smurf)\S+: .* detected .*from (?!\d+ sources)|TCP: Bogus TCP flags set by "
    r"|(?:Oversized IP fragment|Duplicate IP fragments|Overlapping IP fragments"
    r"|Too many IP fragments) .*from )"
)


@pytest.fixture(scope="module")
def file_lines() -> list[str]:
    """iplog's log lines for every real capture: -N with and without -D and
    classic counting; names with -w (and -D).  Made once for both forms."""

    def logged(run: tuple[Path, tuple[str, ...]]) -> list[str]:
        capture, args = run
        return run_iplog("-C", "/dev/null", "-N", *args, "-r", str(capture)).stdout.splitlines()

    runs = [(c, a) for c in CAPTURES for a in ((), ("-D",), ("--classic-detection",))]
    lines = []
    with ThreadPoolExecutor(os.cpu_count()) as pool:  # one iplog a CPU
        for out in pool.map(logged, runs):
            lines += out
    for capture in CAPTURES:
        for args in (("-w",), ("-w", "-D")):
            argv = ["-C", "/dev/null", *args, "-r", str(capture)]
            with redirect_stdout(io.StringIO()) as out:
                cli.main(argv, run=lambda o, c, _: runner.run_file(o, c, lookup=NAMES.get))
            lines += out.getvalue().splitlines()
    # Texts no capture here has: fragment attacks, IPv6 sources.
    lines += [
        "Nov 14 22:13:20 Overlapping IP fragments from 203.0.113.9",
        "Nov 14 22:13:20 Too many IP fragments to 192.0.2.10 from 203.0.113.9",
        "Nov 14 22:13:21 TCP: SYN scan detected [ports 1,2,3] from 2001:db8::7 [port 40000]",
        "Nov 14 22:13:22 TCP: port scan detected to 2001:db8::1 [port 80] from 2001:db8::66"
        " [ports 1,2]",
        "Nov 14 22:13:22 TCP: Bogus TCP flags set by 2001:db8::7:40000 (dest port 25)",
        "Nov 14 22:13:22 TCP: Bogus TCP flags set by 2001:db8::7:40000 (dest 2001:db8:1::10:25)",
        "Nov 14 22:13:22 Duplicate IP fragments to 2001:db8:1::10 from 2001:db8::7",
        "Nov 14 22:13:23 ICMP/UDP: smurf attack detected from 198.51.100.0",
        "Nov 14 22:13:23 ICMP/UDP: smurf attack detected from 2001:db8:5::",
        "Nov 14 22:13:24 TCP: SYN scan mode expired for 203.0.113.5 - received a total of 12"
        " packets (240 bytes).",
    ]
    return lines


def syslog_form(line: str) -> str:
    return f"{line[:15]} gateway iplog[4242]: {line[16:]}"


def fail2ban_regex(tmp_path, lines: list[str], out: str) -> list[str]:
    conf = tmp_path / "filter.d"
    conf.mkdir(exist_ok=True)
    shutil.copy("/etc/fail2ban/filter.d/common.conf", conf)
    shutil.copy(FILTER, conf)
    log = tmp_path / "iplog.log"
    log.write_text("\n".join(lines) + "\n")
    p = subprocess.run(
        ["fail2ban-regex", "-o", out, str(log), str(conf / "iplog.conf")],
        capture_output=True,
        text=True,
        check=True,
    )
    return p.stdout.splitlines()


@needs_tools("fail2ban-regex")
@pytest.mark.parametrize("form", ["file", "syslog"])
def test_the_filter_matches_every_alarm_and_nothing_else(tmp_path, file_lines, form):
    lines = file_lines
    alarms = [x for x in lines if ALARM.search(x)]
    assert len(alarms) >= 50 and len(lines) - len(alarms) >= 1000  # both kinds, plenty
    if form == "syslog":
        lines = [syslog_form(x) for x in lines]
        alarms = [syslog_form(x) for x in alarms]
    matched = fail2ban_regex(tmp_path, lines, "msg")
    assert sorted(matched) == sorted(alarms)
    hosts = fail2ban_regex(tmp_path, lines, "ip")
    expected = []
    for alarm in alarms:
        source = re.search(
            r"(?:from|set by) (?:\S+ \()?([0-9a-f.:]+?)\)?(?::\d+ \(dest|"
            r" \[|$)",
            alarm,
        )
        expected.append(source.group(1))
    assert sorted(hosts) == sorted(expected)
