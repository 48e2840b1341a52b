"""Operating iplog as installed: the unit's ExecStart line, a
config kept from C iplog (no pid-file line), and real logrotate with the
shipped snippet, in a private mount namespace (its own /run, so the
default pid file /var/run/iplog.pid is not the host's)."""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from live import ENV, IPLOG, ROOT, needs_root, needs_tools, wait_for
from packets import T0, ether, ip_tcp, write_pcap

SCENARIO = r"""
import json, os, signal, socket, subprocess, sys, time
work, iplog, start, rotate = sys.argv[1], sys.argv[2:3], sys.argv[3], sys.argv[4]
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)  # ours alone
log = os.path.join(work, "log", "iplog")
daemon = subprocess.Popen(start.split())
deadline = time.monotonic() + 15
while not (os.path.exists(log) and "iplog started." in open(log).read()):
    assert time.monotonic() < deadline and daemon.poll() is None, "not started"
    time.sleep(0.05)
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sender.bind(("127.0.0.1", 0))
results = []
for round in range(4):
    for i in range(500):
        sender.sendto(b"x", ("127.0.0.1", 30000 + round * 500 + i))
        time.sleep(0.0005)
    time.sleep(0.5)
    if round < 3:
        p = subprocess.run(["logrotate", "-f", "-s", os.path.join(work, "state"), rotate],
                           capture_output=True, text=True)
        results.append([p.returncode, p.stderr])
        time.sleep(0.5)
pid_file = open("/var/run/iplog.pid").read().strip()
daemon.send_signal(signal.SIGTERM)
daemon.wait(10)
print(json.dumps({"rotations": results, "pid": pid_file == str(daemon.pid),
                  "sport": sender.getsockname()[1]}))
"""


@needs_root
@needs_tools("logrotate", "unshare")
def test_logrotate_under_the_unit_with_a_kept_config():
    """Three forced rotations under traffic: every line in the new log or a
    rotated one; the snippet's reload finds the daemon through the pid file
    that the unit's start line made."""
    work = Path(tempfile.mkdtemp(prefix="pyiplog-ops-"))
    (work / "log").mkdir()
    conf = work / "iplog.conf"
    conf.write_text(
        f"logfile {work}/log/iplog\ninterface lo\nset disable_resolver\n"
        "set tcp false\nset icmp false\nset udp_scan false\n"
    )  # no pid-file line
    unit = (ROOT / "initscripts" / "iplog.service").read_text()
    start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)
    assert start == "/usr/local/sbin/iplog -o"
    iplog = " ".join(IPLOG)
    start = start.replace("/usr/local/sbin/iplog", f"{iplog} -C {conf}")
    snippet = (ROOT / "initscripts" / "iplog.logrotate").read_text()
    snippet = (
        snippet.replace("/var/log/iplog", f"{work}/log/iplog")
        .replace("create 0640 iplog nogroup", "create 0640 root root")
        .replace("/usr/local/sbin/iplog -R", f"{iplog} -C {conf} -R")
        .replace("compress\n", "nocompress\n", 1)
    )
    rotate = work / "logrotate.conf"
    rotate.write_text(snippet)
    p = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            "-c",
            SCENARIO,
            str(work),
            iplog,
            start,
            str(rotate),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout.splitlines()[-1])
    assert result["rotations"] == [[0, ""]] * 3 and result["pid"]
    files = sorted((work / "log").iterdir())
    assert [f.name for f in files] == ["iplog", "iplog.1", "iplog.2", "iplog.3"]
    lines = [x[16:] for f in files for x in f.read_text().splitlines()]
    dgrams = [
        x
        for x in lines
        if x.startswith("UDP: dgram to ") and f" from 127.0.0.1:{result['sport']} " in x
    ]
    assert len(dgrams) == len(set(dgrams)) == 2000  # every line, once
    assert sum(x == "iplog started." for x in lines) == 4
    subprocess.run(["rm", "-rf", str(work)])


@needs_root
def test_the_sysv_script_start_status_reload_stop(tmp_path):
    """The article's RedHat-style script (fixed): exit codes and what the
    log says, with the config it reads passed to iplog (-C)."""
    conf = tmp_path / "iplog.conf"
    log = tmp_path / "iplog.log"
    conf.write_text(
        f"logfile {log}\ninterface lo\nset disable_resolver\npid-file {tmp_path}/run/iplog.pid\n"
    )
    env = {**ENV, "IPLOG": f"{ROOT}/.venv/bin/iplog", "CONF": str(conf)}
    script = ROOT / "initscripts" / "iplog.init"

    def run(action):
        return subprocess.run(
            ["sh", str(script), action], capture_output=True, text=True, env=env, timeout=30
        )

    assert (run("status").returncode, run("reload").returncode) == (3, 7)  # stopped
    p = run("start")
    assert (p.returncode, p.stdout) == (0, "Starting iplog: ok\n")
    pid = (tmp_path / "run" / "iplog.pid").read_text().strip()
    assert run("status").stdout == f"iplog (pid {pid}) is running\n"
    assert run("reload").returncode == 0
    p = run("stop")
    assert (p.returncode, p.stdout) == (0, "Stopping iplog: ok\n")
    assert run("status").returncode == 3
    assert [x[16:] for x in log.read_text().splitlines()] == [
        "iplog started.",
        f"Restarting iplog (pid {pid}).",
        "iplog started.",
        "Caught signal 15, exiting.",
    ]


def test_make_install_stands_alone_and_uninstall_removes_it(tmp_path):
    """`make install` from a copy of the checkout into a staging root; the
    copy removed, the installed iplog still analyses a capture; `make
    uninstall` leaves only /etc/iplog.conf (the administrator's)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(
        ROOT,
        checkout,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", "out", "__pycache__", "build"),
    )
    (checkout / ".venv").symlink_to(ROOT / ".venv")  # the build environment, not installed
    stage = tmp_path / "root"
    for d in (
        "etc/logrotate.d",
        "etc/fail2ban/filter.d",
        "etc/fail2ban/jail.d",
        "etc/systemd/system",
        "etc/logwatch/conf",
        "etc/crowdsec",
    ):
        (stage / d).mkdir(parents=True)
    make = ["make", "-s", f"DESTDIR={stage}", "PYTHON=/usr/bin/python3"]
    p = subprocess.run([*make, "-C", str(checkout), "install"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    shutil.rmtree(checkout)
    python = stage / "opt" / "pyiplog" / "bin" / "python"
    assert (stage / "usr/local/sbin/iplog").readlink() == Path("/opt/pyiplog/bin/iplog")
    assert (stage / "opt/pyiplog/bin/iplog").read_text().startswith("#!/opt/pyiplog/bin/python")
    capture = write_pcap(tmp_path / "c.pcap", [(T0, ether(ip_tcp(dport=22)))])
    p = subprocess.run(
        [str(python), "-m", "pyiplog", "-C", "/dev/null", "-N", "-r", capture],
        capture_output=True,
        text=True,
        cwd="/",
        env={"TZ": "UTC", "PATH": "/bin"},
    )
    assert p.stdout.splitlines()[1] == (
        "Nov 14 22:13:20 TCP: ssh connection attempt from 198.51.100.7:40000"
    ), p.stderr
    installed = {x.relative_to(stage) for x in stage.rglob("*") if not x.is_dir()}
    assert {
        Path(x)
        for x in (
            "etc/iplog.conf",
            "etc/logrotate.d/iplog",
            "etc/fail2ban/filter.d/iplog.conf",
            "etc/fail2ban/jail.d/iplog.conf",
            "etc/systemd/system/iplog.service",
            "usr/local/share/man/man8/iplog.8",
            "usr/local/share/doc/pyiplog/iplog.schema.json",
            "usr/local/share/doc/pyiplog/iplog.status.schema.json",
            "etc/logwatch/conf/logfiles/iplog.conf",
            "etc/logwatch/conf/services/iplog.conf",
            "etc/logwatch/scripts/services/iplog",
            "etc/crowdsec/parsers/s01-parse/pyiplog-2-lines.yaml",
            "etc/crowdsec/scenarios/pyiplog-alarm.yaml",
        )
    } <= installed
    p = subprocess.run([*make, "-C", str(ROOT), "uninstall"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    left = {x.relative_to(stage) for x in stage.rglob("*") if not x.is_dir()}
    assert left == {Path("etc/iplog.conf")}


@needs_root
def test_the_debian_lsb_script_and_its_exit_codes(tmp_path):
    """/etc/init.d/iplog for update-rc.d systems: LSB exit codes, and a stale
    pid file naming a live stranger neither blocks start nor is signalled."""
    conf = tmp_path / "iplog.conf"
    log = tmp_path / "iplog.log"
    pid_file = tmp_path / "run" / "iplog.pid"
    conf.write_text(f"logfile {log}\ninterface lo\nset disable_resolver\npid-file {pid_file}\n")
    env = {**ENV, "IPLOG": f"{ROOT}/.venv/bin/iplog", "CONF": str(conf)}
    script = ROOT / "initscripts" / "iplog.debian"

    def run(action):
        return subprocess.run(
            ["sh", str(script), action], capture_output=True, text=True, env=env, timeout=30
        ).returncode

    stranger = subprocess.Popen(["sleep", "60"])
    try:
        pid_file.parent.mkdir()
        pid_file.write_text(f"{stranger.pid}\n")  # left by a crash; the pid reused
        assert (run("status"), run("reload"), run("stop")) == (1, 7, 0)
        assert run("start") == 0
        pid = int(pid_file.read_text())
        assert pid != stranger.pid
        assert (run("start"), run("status"), run("reload")) == (0, 0, 0)
        assert (run("stop"), run("stop"), run("status"), run("bogus")) == (0, 0, 3, 2)
        assert stranger.poll() is None  # never signalled
    finally:
        stranger.kill()
        stranger.wait()
    assert [x[16:] for x in log.read_text().splitlines()] == [
        "iplog started.",
        f"Restarting iplog (pid {pid}).",
        "iplog started.",
        "Caught signal 15, exiting.",
    ]


# --- the systemd unit ----------------------------------------------------------------------

UNIT = ROOT / "initscripts" / "iplog.service"


@needs_tools("systemd-analyze", "man")
def test_the_unit_verifies_and_is_rated_ok(tmp_path):
    man = tmp_path / "man"
    for section, page in (("8", "iplog.8"), ("5", "iplog.conf.5")):
        (man / f"man{section}").mkdir(parents=True)
        shutil.copy(ROOT / "man" / page, man / f"man{section}" / page)
    unit = tmp_path / "iplog.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/sbin/iplog", f"{ROOT}/.venv/bin/iplog"))
    p = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        env={**ENV, "MANPATH": str(man)},
    )
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
    p = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True
    )
    level = re.search(r"Overall exposure level for iplog.service: ([\d.]+) (\w+)", p.stdout)
    assert level and float(level.group(1)) < 5.0 and level.group(2) in ("OK", "SAFE"), p.stdout


def bounding_set() -> list[str]:
    caps = re.search(r"^CapabilityBoundingSet=(.+)$", UNIT.read_text(), re.M).group(1).split()
    return [c.removeprefix("CAP_").lower() for c in caps]


@contextlib.contextmanager
def as_the_unit_starts_it(caps: list[str]):
    """(argv, directory): iplog as the unit runs it (-u nobody -g nogroup, the
    log and the pid file in a directory nobody owns), with only ``caps``."""
    base = Path(tempfile.mkdtemp(prefix="pyiplog-caps-"))
    base.chmod(0o755)
    owned = base / "owned"
    owned.mkdir()
    shutil.chown(owned, "nobody")
    bounding = ",".join(f"+{c}" for c in caps)
    argv = [
        "setpriv",
        f"--bounding-set=-all,{bounding}",
        *IPLOG,
        "-C",
        "/dev/null",
        "-N",
        "-o",
        "-i",
        "lo",
        "-u",
        "nobody",
        "-g",
        "nogroup",
        "-l",
        f"{owned}/iplog",
        f"--pid-file={owned}/iplog.pid",
    ]
    try:
        yield argv, owned
    finally:
        shutil.rmtree(base)


@needs_root
@needs_tools("setpriv")
@pytest.mark.parametrize(
    "missing,why",
    [
        ("net_raw", "unable to open lo: Operation not permitted"),
        ("setuid", "Unable to drop privileges: Operation not permitted"),
        ("setgid", "Unable to drop privileges: Operation not permitted"),
        ("chown", "Unable to hand the log to the user iplog runs as: Operation not permitted"),
        ("dac_override", "Permission denied"),
    ],
)
def test_every_capability_of_the_unit_is_needed(missing, why):
    """The unit's bounding set less one: iplog cannot start, and says why."""
    assert missing in bounding_set()
    with as_the_unit_starts_it([c for c in bounding_set() if c != missing]) as (argv, _):
        p = subprocess.run(argv, capture_output=True, text=True, env=ENV, timeout=20)
    assert p.returncode == 255 and why in p.stderr, p.stderr


@needs_root
@needs_tools("setpriv")
def test_the_units_reload_needs_kill_and_has_it():
    """ExecReload's `iplog -R` runs in the unit's bounding set and signals the
    daemon, which runs as nobody by then: CAP_KILL.  Without it, -R fails
    and says why; with the unit's set it reloads and exits 0."""
    assert "kill" in bounding_set()
    with as_the_unit_starts_it(bounding_set()) as (argv, owned):
        proc = subprocess.Popen(argv, env=ENV, stderr=subprocess.PIPE, text=True)
        try:
            log = owned / "iplog"
            assert wait_for(lambda: log.exists() and "iplog started." in log.read_text())
            pid = int((owned / "iplog.pid").read_text())

            def reload(caps):
                bounding = ",".join(f"+{c}" for c in caps)
                return subprocess.run(
                    ["setpriv", f"--bounding-set=-all,{bounding}", *IPLOG, "-C", "/dev/null",
                     f"--pid-file={owned}/iplog.pid", "-R"],
                    capture_output=True, text=True, env=ENV, timeout=20,
                )  # fmt: skip

            p = reload([c for c in bounding_set() if c != "kill"])
            assert (p.returncode, p.stderr) == (
                255,
                f"Fatal: Can't send process signal 1 to {pid}: Operation not permitted\n",
            )
            p = reload(bounding_set())
            assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
            assert wait_for(lambda: log.read_text().count("iplog started.") == 2)
        finally:
            proc.terminate()
            proc.wait(10)


@needs_root
@needs_tools("setpriv")
def test_the_units_capabilities_are_enough():
    """The same start with the whole bounding set (no CAP_NET_ADMIN): it runs."""
    with as_the_unit_starts_it(bounding_set()) as (argv, owned):
        proc = subprocess.Popen(argv, env=ENV, stderr=subprocess.PIPE, text=True)
        try:
            log = owned / "iplog"
            assert wait_for(lambda: log.exists() and "iplog started." in log.read_text()), (
                proc.stderr.read() if proc.poll() is not None else ""
            )
            assert log.stat().st_uid != 0  # handed to nobody
        finally:
            proc.terminate()
            proc.wait(10)
    assert proc.returncode == 0


# --- the Debian package ---------------------------------------------------------------------


@functools.cache
def built_deb() -> Path:
    """`make deb`, once for the tests that need the package."""
    p = subprocess.run(["make", "-s", "-C", str(ROOT), "deb"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return next((ROOT / "build").glob("pyiplog_*.deb"))


# The machine as an overlay in $W (in the mount namespace of `unshare`):
# what a scenario installs lands in $W/upper, the machine stays as it was.
OVERLAY = r"""
mount -t tmpfs tmpfs "$W"
mkdir "$W/upper" "$W/work" "$W/merged"
mount -t overlay overlay -o "lowerdir=/,upperdir=$W/upper,workdir=$W/work" "$W/merged"
mount --rbind /proc "$W/merged/proc"; mount --rbind /sys "$W/merged/sys"
mount --rbind /dev "$W/merged/dev"; mount -t tmpfs tmpfs "$W/merged/run"
"""


def in_overlay(scenario: str, tmp_path: Path, *args: str) -> dict[str, str]:
    """Run a scenario (``W`` first, then ``args``) in a private mount
    namespace over an overlay of this machine; its output's sections,
    each after its "--- NAME" line."""
    work = tmp_path / "overlay"
    work.mkdir()
    script = scenario.replace("$OVERLAY", OVERLAY)
    p = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
         "sh", str(work), *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    parts = p.stdout.split("--- ")
    return {part.split("\n", 1)[0]: part.split("\n", 1)[1] for part in parts[1:]}


DEB_SCENARIO = r"""
set -e
W=$1; DEB=$2
$OVERLAY
cp "$DEB" "$W/merged/tmp/pyiplog.deb"
chroot "$W/merged" sh -e -c '
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
    dpkg -i /tmp/pyiplog.deb >/dev/null
    getent passwd iplog >/dev/null
    sed -i "s/^#interface eth0/interface lo/" /etc/iplog.conf
    /etc/init.d/iplog start >/dev/null
    python3 -c "import socket; s=socket.socket(); s.settimeout(1); s.connect_ex((\"127.0.0.1\", 7))"
    sleep 1
    /etc/init.d/iplog stop >/dev/null
    echo "--- log"; cat /var/log/iplog
    echo "--- owner"; stat -c %U /var/log/iplog
    dpkg --purge pyiplog >/dev/null
    echo "--- left"
    for f in /opt/pyiplog /usr/sbin/iplog /etc/iplog.conf /etc/init.d/iplog \
             /etc/logrotate.d/iplog /lib/systemd/system/iplog.service /var/log/iplog \
             /etc/fail2ban/filter.d/iplog.conf /usr/share/doc/pyiplog; do
        [ -e "$f" ] && echo "$f"
    done
    rm /tmp/pyiplog.deb
    true
'
echo "--- upper"
cd "$W/upper" && find . -xdev \( -type f -o -type l \) | sort
"""


@needs_root
@needs_tools("dpkg-deb", "unshare", "chroot")
def test_the_deb_installs_runs_and_purges_clean(tmp_path):
    """`make deb`; installed with dpkg on an overlay of this machine (in a
    mount namespace: the machine itself is left as it was), started by its
    init script with the example config, a connection attempt logged, then
    purged: nothing of it left."""
    sections = in_overlay(DEB_SCENARIO, tmp_path, str(built_deb()))
    log = [x[16:] for x in sections["log"].splitlines()]
    assert log[0] == "iplog started." and log[-1] == "Caught signal 15, exiting."
    assert any(x.startswith("TCP: echo connection attempt from ") for x in log), log
    assert sections["owner"].strip() == "iplog"
    assert sections["left"] == ""
    left = [
        x
        for x in sections["upper"].splitlines()
        if not re.match(
            # dpkg's own records, logs and caches; the system account (kept);
            # the lock useradd takes
            r"\./(var/lib/dpkg/|var/log/|var/cache/|etc/(passwd|group|shadow|gshadow)-?$"
            r"|etc/\.pwd\.lock$|tmp/)",
            x,
        )
    ]
    assert left == [], left


@needs_tools("lintian", "dpkg-deb")
def test_lintian_finds_nothing_unexplained():
    """lintian on the package: every finding fixed, or overridden with the
    reason in packaging/deb/lintian-overrides."""
    deb = built_deb()
    p = subprocess.run(
        ["lintian", "--tag-display-limit", "0", str(deb)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    findings = [
        x
        for x in (p.stdout + p.stderr).splitlines()
        if re.match(r"[EWIN]: ", x) and "root privileges" not in x
    ]
    assert findings == []


@needs_tools("man")
@pytest.mark.parametrize("page", ["iplog.8", "iplog.conf.5"])
def test_the_man_pages_render_without_warnings(page):
    p = subprocess.run(
        ["man", "--warnings", "-l", str(ROOT / "man" / page)],
        capture_output=True,
        text=True,
        env={**ENV, "MANWIDTH": "80"},
    )
    assert (p.returncode, p.stderr) == (0, "")
    assert "iplog started.." not in p.stdout  # a sentence's full stop after the message's


UPGRADE_SCENARIO = r"""
set -e
W=$1; OLD=$2; NEW=$3
$OVERLAY
cp "$OLD" "$W/merged/tmp/old.deb"; cp "$NEW" "$W/merged/tmp/new.deb"
chroot "$W/merged" sh -e -c '
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
    dpkg -i /tmp/old.deb >/dev/null
    sed -i "s/^#interface eth0/interface lo/" /etc/iplog.conf
    /etc/init.d/iplog start >/dev/null
    echo "--- before"; cat /var/run/iplog/iplog.pid
    apt-get install -y -q /tmp/new.deb >/tmp/apt.out 2>&1 || { cat /tmp/apt.out; exit 1; }
    echo "--- version"; dpkg-query -W -f "\${Version}" pyiplog; echo
    echo "--- status"; /etc/init.d/iplog status >/dev/null && echo running || echo stopped
    echo "--- after"; cat /var/run/iplog/iplog.pid
    echo "--- conf"; grep "^interface" /etc/iplog.conf
    /etc/init.d/iplog stop >/dev/null
    echo "--- log"; cat /var/log/iplog
    dpkg --purge pyiplog >/dev/null
    true
'
"""


def newer_deb(deb: Path, tmp_path: Path) -> Path:
    """The same package, one Debian revision later (what an upgrade brings)."""
    tree = tmp_path / "newer"
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    control.write_text(control.read_text().replace("Version: 0.1.0-1", "Version: 0.1.0-2"))
    out = tmp_path / "pyiplog_0.1.0-2.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(tree), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@needs_root
@needs_tools("dpkg-deb", "unshare", "chroot", "apt-get")
def test_an_upgrade_with_apt_leaves_iplog_running(tmp_path):
    """Installed, configured (its conffile edited), running from its init
    script; a newer package installed with apt non-interactively: iplog runs
    again (a new process, the same pid file and log), the edit kept."""
    deb = built_deb()
    found = in_overlay(UPGRADE_SCENARIO, tmp_path, str(deb), str(newer_deb(deb, tmp_path)))
    sections = {name: text.strip() for name, text in found.items()}
    assert sections["version"] == "0.1.0-2"
    assert sections["status"] == "running"
    assert sections["before"] != sections["after"]  # the new code runs
    assert sections["conf"] == "interface lo"
    log = [x[16:] for x in sections["log"].splitlines()]
    assert log.count("iplog started.") == 2, log
    assert log.count("Caught signal 15, exiting.") == 2, log


TAKEOVER_SCENARIO = r"""
set -e
W=$1; DEB=$2; SRC=$3
$OVERLAY
cp "$DEB" "$W/merged/tmp/pyiplog.deb"
chroot "$W/merged" sh -e -c '
    export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
    make -s -C "$1" install >/dev/null 2>&1
    echo "--- dpkg"; dpkg -i /tmp/pyiplog.deb 2>&1 && echo installed || echo "refused $?"
    echo "--- local"; /usr/local/sbin/iplog -v | head -1
    echo "--- package"; dpkg-query -W -f "\${Status}" pyiplog 2>/dev/null || true; echo
    true
' sh "$SRC"
"""


@needs_root
@needs_tools("dpkg-deb", "unshare", "chroot")
def test_the_deb_refuses_to_install_over_make_install(tmp_path):
    """`make install`, then the package: dpkg stops before unpacking, with
    the way out; the installed copy still works."""
    sections = in_overlay(TAKEOVER_SCENARIO, tmp_path, str(built_deb()), str(ROOT))
    assert "pyiplog: /opt/pyiplog holds a copy installed by 'make install'" in sections["dpkg"]
    assert "Remove it first ('make uninstall' in its checkout)" in sections["dpkg"]
    assert sections["dpkg"].rstrip().endswith("refused 1"), sections["dpkg"]
    assert sections["local"].strip() == "iplog version 2.2.3"
    assert "installed" not in sections["package"].replace("not-installed", "")
