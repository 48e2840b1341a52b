"""Ordinary traffic between two network namespaces, made by the real
servers and clients of Debian: the benign suite that default
detection must stay silent on, live and on its recording.

B (198.51.100.2) is the monitored host, A (198.51.100.1) the rest of the
network.  Each scenario starts its servers, runs its clients to the end and
stops everything it started; all traffic stays on the veth pair.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from live import Namespaces, wait_for

HERE = Path(__file__).resolve().parent
TOOLS = (
    "vsftpd",
    "lftp",
    "tinyproxy",
    "curl",
    "dnsmasq",
    "getent",
    "chronyd",
    "iperf3",
    "traceroute",
    "sshd",
    "ssh",
    "scp",
    "ssh-keygen",
    "ab",
)
A, B = Namespaces.A_ADDR, Namespaces.B_ADDR
FILES = 12  # FTP data connections of each kind: more than a port scan's 10 ports


class Scene:
    """The namespaces and a work directory, with start/run helpers."""

    def __init__(self, ns: Namespaces, work: Path):
        self.ns = ns
        self.work = work
        self.procs: list[subprocess.Popen] = []

    def run(self, side: str, *cmd: str, timeout: float = 60) -> None:
        p = subprocess.run(
            ["ip", "netns", "exec", self.name(side), *cmd],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert p.returncode == 0, f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}"

    def start(self, side: str, *cmd: str) -> subprocess.Popen:
        log = open(self.work / f"{Path(cmd[0]).name}.log", "ab")  # noqa: SIM115 - the process keeps it
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.name(side), *cmd], stdout=log, stderr=log
        )
        log.close()
        self.procs.append(proc)
        return proc

    def name(self, side: str) -> str:
        return self.ns.a if side == "A" else self.ns.b

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def listening(self, side: str, port: int, udp: bool = False) -> bool:
        out = subprocess.run(
            ["ip", "netns", "exec", self.name(side), "ss", "-Hln" + ("u" if udp else "t")],
            capture_output=True,
            text=True,
        ).stdout
        return f":{port} " in out

    def file(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text)
        return path


def ftp(scene: Scene, server: str, passive: bool) -> None:
    """vsftpd on ``server``, lftp on the other side fetching FILES files."""
    addr = A if server == "A" else B
    root = scene.work / f"ftp-{server}"
    if not root.exists():
        root.mkdir()
        for i in range(FILES):
            (root / f"f{i}.txt").write_text("x" * 100)
    empty = scene.work / "vsftpd-empty"
    empty.mkdir(exist_ok=True)
    conf = scene.file(
        f"vsftpd-{server}.conf",
        f"listen=YES\nlisten_address={addr}\nbackground=NO\nanonymous_enable=YES\n"
        f"local_enable=NO\nno_anon_password=YES\nanon_root={root}\nftp_username=ftp\n"
        "pasv_enable=YES\nport_enable=YES\nconnect_from_port_20=YES\n"
        f"secure_chroot_dir={empty}\nseccomp_sandbox=NO\nisolate_network=NO\nisolate=NO\n"
        "xferlog_enable=NO\nuse_localtime=NO\n",
    )
    daemon = scene.start(server, "vsftpd", str(conf))
    assert wait_for(lambda: scene.listening(server, 21), 10), "vsftpd did not start"
    client = "B" if server == "A" else "A"
    out = scene.work / f"got-{server}-{passive}"
    out.mkdir(exist_ok=True)
    mode = "on" if passive else "off"
    scene.run(
        client,
        "lftp",
        "-c",
        f"set ftp:passive-mode {mode}; set net:max-retries 1; open ftp://{addr};"
        f" mget -O {out} *.txt; ls",
    )
    assert len(list(out.iterdir())) == FILES
    daemon.terminate()
    daemon.wait(5)


def proxy(scene: Scene) -> None:
    """tinyproxy on B fetching from a web server on A for 10 parallel curls."""
    site = scene.work / "site"
    site.mkdir(exist_ok=True)
    for i in range(40):
        (site / f"p{i}.html").write_text("<p>hello</p>\n" * 20)
    scene.start("A", "python3", "-m", "http.server", "8080", "--bind", A, "--directory", str(site))
    conf = scene.file(
        "tinyproxy.conf",
        f"Port 3128\nListen {B}\nTimeout 30\nAllow 198.51.100.0/24\nMaxClients 50\n"
        f'LogLevel Critical\nPidFile "{scene.work}/tinyproxy.pid"\nUser nobody\nGroup nogroup\n',
    )
    scene.start("B", "tinyproxy", "-d", "-c", str(conf))
    assert wait_for(lambda: scene.listening("B", 3128) and scene.listening("A", 8080), 10)
    urls = " ".join(f"http://{A}:8080/p{i}.html" for i in range(40))
    scene.run(
        "A",
        "sh",
        "-c",
        f"for u in {urls}; do echo $u; done"
        f" | xargs -P 10 -n 1 curl -sf -o /dev/null -x http://{B}:3128",
    )


def browser_burst(scene: Scene) -> None:
    """A page load: 30 connections at once to three ports of B."""
    scene.start("B", "python3", str(HERE / "servers.py"), B)
    assert wait_for(lambda: scene.listening("B", 443), 10)
    script = " ".join(
        f"curl -s -m 2 -o /dev/null http://{B}:{port}/ &" for port in (80, 443, 22) * 10
    )
    scene.run("A", "sh", "-c", script + " wait")


def load_test(scene: Scene) -> None:
    """ab: 2000 completed connections to one port of B, 10 at a time, in a
    few seconds (a benchmark, a proxy's or a crawler's pattern)."""
    site = scene.work / "load"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text("<p>hello</p>\n")
    scene.start("B", "python3", "-m", "http.server", "8081", "--bind", B, "--directory", str(site))
    assert wait_for(lambda: scene.listening("B", 8081), 10)
    scene.run("A", "ab", "-q", "-n", "2000", "-c", "10", f"http://{B}:8081/index.html")


def retrying(scene: Scene) -> None:
    """An application retrying a refused port every 200 ms, 30 times."""
    scene.run(
        "A",
        "sh",
        "-c",
        f"for i in $(seq 30); do curl -s -o /dev/null http://{B}:9/; sleep 0.2; done",
    )


def ntp(scene: Scene) -> None:
    """chronyd serving B's clock; chronyd on A polling it 8 times a second
    for 8 s.  Neither touches the system clock (-x)."""
    common = "cmdport 0\nbindcmdaddress /\n"
    server = scene.file(
        "chrony-b.conf",
        f"local stratum 8\nallow 198.51.100.0/24\nbindaddress {B}\n{common}"
        f"pidfile {scene.work}/chrony-b.pid\n",
    )
    client = scene.file(
        "chrony-a.conf",
        f"server {B} iburst minpoll -3 maxpoll -3\n{common}pidfile {scene.work}/chrony-a.pid\n",
    )
    scene.start("B", "chronyd", "-x", "-d", "-u", "root", "-f", str(server))
    assert wait_for(lambda: scene.listening("B", 123, udp=True), 10)
    poller = scene.start("A", "chronyd", "-x", "-d", "-u", "root", "-f", str(client))
    time.sleep(8)
    poller.terminate()


@contextlib.contextmanager
def resolv_conf(namespace: str, nameserver: str):
    """``ip netns exec`` gives a namespace /etc/netns/NAME/resolv.conf."""
    folder = Path("/etc/netns") / namespace
    folder.mkdir(parents=True)
    try:
        (folder / "resolv.conf").write_text(f"nameserver {nameserver}\noptions attempts:1\n")
        yield
    finally:
        shutil.rmtree(folder)
        with contextlib.suppress(OSError):
            folder.parent.rmdir()


def dns(scene: Scene) -> None:
    """dnsmasq on B; glibc's resolver on A asking 150 names at ~40 a second."""
    scene.start(
        "B",
        "dnsmasq",
        "-d",
        "-k",
        "-C",
        "/dev/null",
        f"--listen-address={B}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--address=/example.test/192.0.2.5",
        f"--pid-file={scene.work}/dnsmasq.pid",
        "--user=root",
    )
    assert wait_for(lambda: scene.listening("B", 53, udp=True), 10)
    with resolv_conf(scene.ns.a, B):
        scene.run(
            "A",
            "sh",
            "-c",
            "for i in $(seq 150); do getent ahostsv4 n$i.example.test >/dev/null; sleep 0.02; done",
        )


def iperf(scene: Scene) -> None:
    """iperf3: 2 s of TCP at 20 Mbit/s, 3 s of UDP at 10 Mbit/s, to B."""
    for args in (["-b", "20M", "-t", "2"], ["-u", "-b", "10M", "-t", "3"]):
        scene.start("B", "iperf3", "-s", "-1", "-B", B)
        assert wait_for(lambda: scene.listening("B", 5201), 10)
        scene.run("A", "iperf3", "-c", B, *args)


def traceroute(scene: Scene) -> None:
    """B's own outbound traceroutes, UDP and ICMP."""
    scene.run("B", "traceroute", "-n", "-q", "3", A)
    scene.run("B", "traceroute", "-n", "-I", "-q", "3", A)


def ssh(scene: Scene) -> None:
    """sshd on B; a login and an scp from A."""
    keys = scene.work / "ssh"
    keys.mkdir(exist_ok=True)
    for name in ("host", "client"):
        if not (keys / name).exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)],
                check=True,
            )
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    Path("/run/sshd").mkdir(exist_ok=True)
    conf = scene.file(
        "sshd_config",
        f"ListenAddress {B}\nHostKey {keys}/host\nPermitRootLogin yes\n"
        f"AuthorizedKeysFile {keys}/authorized_keys\nStrictModes no\nUsePAM no\n"
        f"PidFile {scene.work}/sshd.pid\nSubsystem sftp internal-sftp\n",
    )
    scene.start("B", shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(conf))
    assert wait_for(lambda: scene.listening("B", 22), 10)
    opts = [
        "-i",
        str(keys / "client"),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "BatchMode=yes",
    ]
    payload = scene.file("payload.bin", "y" * 200_000)
    scene.run("A", "ssh", *opts, f"root@{B}", "uname -a")
    scene.run("A", "scp", *opts, str(payload), f"root@{B}:{scene.work}/copied.bin")
    assert (scene.work / "copied.bin").stat().st_size == payload.stat().st_size


SCENARIOS = {
    "active FTP, B serving": lambda s: ftp(s, "B", passive=False),
    "passive FTP, B serving": lambda s: ftp(s, "B", passive=True),
    "active FTP, B the client": lambda s: ftp(s, "A", passive=False),
    "passive FTP, B the client": lambda s: ftp(s, "A", passive=True),
    "forward HTTP proxy on B, parallel client": proxy,
    "browser-like burst to three ports": browser_burst,
    "load test: 2000 connections to one port": load_test,
    "retrying a refused port every 200 ms": retrying,
    "steady NTP queries": ntp,
    "steady DNS queries": dns,
    "iperf3 TCP and UDP": iperf,
    "outbound traceroute, UDP and ICMP": traceroute,
    "ssh session and scp": ssh,
}


def play(ns: Namespaces, work: Path) -> list[str]:
    """Every scenario in turn; the names of those that ran."""
    os.chmod(work, 0o755)  # vsftpd and tinyproxy run as nobody
    played = []
    for name, scenario in SCENARIOS.items():
        scene = Scene(ns, work)
        try:
            scenario(scene)
        finally:
            scene.stop_all()
        played.append(name)
        time.sleep(0.5)
    return played
