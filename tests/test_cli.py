"""The command line (docs/contract.md C1, F13, L2, L3), option by option."""

from __future__ import annotations

import fcntl
import io
import signal
import subprocess
import sys

import pytest

import pyiplog
from pyiplog import cli
from pyiplog.cli import print_help
from pyiplog.config.parser import Config, read_config
from pyiplog.loader import OPTS, UsageError, config_path, load, tokenize
from pyiplog.options import FatalError, Options, normalise

IPLOG = [sys.executable, "-m", "pyiplog"]


NO_CONFIG = Config()


def parse(*argv, config=NO_CONFIG):
    """The loader on ``argv`` over ``config``: (Loaded, help text, warnings)."""
    loaded = load(tokenize(list(argv)), config)
    out = io.StringIO()
    if loaded.action == "help":
        print_help(loaded.options, out)
    return loaded, out.getvalue(), "".join(f"{w}\n" for w in loaded.warnings)


def opts(*argv, **kw) -> Options:
    return parse(*argv, **kw)[0].options


BOOLS = [(o.long, o.short, o.field) for o in OPTS if o.kind == "bool"]


@pytest.mark.parametrize("longs,short,field", BOOLS, ids=[b[0][0] for b in BOOLS])
def test_every_boolean_option(longs, short, field):
    default = getattr(Options(), field)
    for name in longs:
        assert getattr(opts(f"--{name}"), field) is True
        for word, value in (
            ("true", True),
            ("yes", True),
            ("false", False),
            ("no", False),
            ("TRUE", True),
            ("No", False),
        ):
            assert getattr(opts(f"--{name}={word}"), field) is value
        assert getattr(opts(f"--{name}=toggle"), field) is (not default)
        assert getattr(opts(f"--{name}=false", f"--{name}=toggle"), field) is True
        with pytest.raises(FatalError) as exc:
            opts(f"--{name}=maybe")
        assert str(exc.value) == (
            'Arguments must be either "yes", "true", "no", "false" or "toggle".\nYou gave "maybe"'
        )
    if short:
        # A short letter always switches the feature on, whatever came before.
        assert getattr(opts(f"--{longs[0]}=false", f"-{short}"), field) is True


def test_boolean_value_only_after_equals():
    # '--log-ip false' is not a way to pass the value: 'false' is a stray argument.
    with pytest.raises(UsageError, match="unexpected argument 'false'"):
        opts("--log-ip", "false")


@pytest.mark.parametrize(
    "argv,field,value",
    [
        (["-u", "iplog"], "user", "iplog"),
        (["-uiplog"], "user", "iplog"),
        (["--user=iplog"], "user", "iplog"),
        (["--user", "1000"], "user", "1000"),
        (["-g", "nogroup"], "group", "nogroup"),
        (["--group=65534"], "group", "65534"),
        (["-l", "/var/log/iplog"], "logfile", "/var/log/iplog"),
        (["--logfile=/tmp/x"], "logfile", "/tmp/x"),
        (["--pid-file=/run/iplog/iplog.pid"], "pid_file", "/run/iplog/iplog.pid"),
        (["-i", "eth0,eth1"], "interfaces", ("eth0", "eth1")),
        (["--interface=eth0"], "interfaces", ("eth0",)),
        (["-a", "192.0.2.0/24,198.51.100.0/24"], "promisc", ("192.0.2.0/24", "198.51.100.0/24")),
        (["-d"], "ignore_dns", True),
        (["--ignore"], "ignore_dns", True),
        (["-o"], "no_fork", True),
        (["--no-fork"], "no_fork", True),
        (["-L"], "stdout", True),
        (["--stdout"], "stdout", True),
        (["-N"], "disable_resolver", True),
        (["--disable-resolver"], "disable_resolver", True),
        (["--facility=local3"], "facility", "local3"),
        (["--facility=LOG_AUTH"], "facility", "auth"),
        (["--priority=log_info"], "priority", "info"),
        (["--priority", "debug"], "priority", "debug"),
        (["-r", "x.pcap"], "read_file", "x.pcap"),
        (["--read-file=-"], "read_file", "-"),
        (["--check-config"], "check_config", True),
        (["--no-f"], "no_fork", True),  # getopt_long: unambiguous prefixes
    ],
)
def test_options_with_values_and_flags(argv, field, value):
    assert getattr(opts(*argv), field) == value


def test_short_options_bundle():
    o = opts("-NDwol", "/tmp/log")
    assert (o.disable_resolver, o.log_dest, o.log_ip, o.no_fork, o.logfile) == (
        True,
        True,
        True,
        True,
        "/tmp/log",
    )


def test_promisc_turns_on_log_dest():
    assert opts("-a", "192.0.2.0/24").log_dest is True


def test_stdout_and_logfile_override_each_other():
    cmd, _, err = parse("-l", "/tmp/a", "-L")
    assert cmd.options.stdout and err == "Warning: Overriding --logfile\n"
    cmd, _, err = parse("-L", "-l", "/tmp/a")
    assert not cmd.options.stdout and cmd.options.logfile == "/tmp/a"
    assert err == "Warning: Overriding --stdout\n"


@pytest.mark.parametrize("name", ["facility", "priority"])
def test_unknown_facility_or_priority_warns_and_falls_back(name):
    cmd, _, err = parse(f"--{name}=bogus")
    assert err == f'Invalid {name}: "bogus" - falling back to default.\n'
    assert getattr(cmd.options, name) == getattr(Options(), name)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--frobnicate"], "unrecognized option '--frobnicate'"),
        (["-j"], "invalid option -- 'j'"),
        (["stray"], "unexpected argument 'stray'"),
        (["--", "stray"], "unexpected argument 'stray'"),
        (["-u"], "option requires an argument -- 'u'"),
        (["--user"], "option '--user' requires an argument"),
        (["--stdout=yes"], "option '--stdout' doesn't allow an argument"),
        (["--detect"], "option '--detect' is ambiguous"),
    ],
)
def test_usage_errors(argv, message):
    with pytest.raises(UsageError) as exc:
        opts(*argv)
    assert str(exc.value) == message


def test_usage_error_exit_status_and_stderr():
    p = subprocess.run(IPLOG + ["--frobnicate"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == (
        "iplog: unrecognized option '--frobnicate'\nTry 'iplog --help' for more information.\n"
    )


def test_help_marks_values_in_force():
    _, out, _ = parse("--log-ip", "--tcp=false", "-h", "--udp=false")
    by_opt = {}
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("--"):
                by_opt[word.split("[")[0]] = line
    assert by_opt["--log-ip"].startswith(" *-w")
    assert by_opt["--tcp"].startswith("   ")  # turned off before -h
    assert by_opt["--udp"].startswith(" *")  # turned off only after -h
    assert by_opt["--log-dest"].startswith("  -D")


def test_help_and_version_exit_zero():
    p = subprocess.run(IPLOG + ["-h"], capture_output=True, text=True)
    assert p.returncode == 0 and "--detect-portscan[=true|false|toggle]" in p.stdout
    p = subprocess.run(IPLOG + ["-v"], capture_output=True, text=True)
    assert p.returncode == 0
    assert p.stdout == (
        "iplog version 2.2.3\nby Ryan McCabe <odin@numb.org>\nhttp://ojnk.sourceforge.net/\n"
        f"pyiplog {pyiplog.__version__}\n"
    )


def test_options_override_config_file():
    config = Config(settings=(("log_ip", True), ("user", "iplog"), ("tcp", False)))
    o = opts("--log-ip=false", config=config)
    assert (o.log_ip, o.user, o.tcp) == (False, "iplog", False)


def test_config_path_option(tmp_path):
    conf = tmp_path / "c.conf"
    conf.write_text("set log_dest\n")
    tokens = tokenize(["--log-ip", "-C", str(conf)])
    loaded = load(tokens, read_config(config_path(tokens)))
    assert loaded.options.log_dest and loaded.options.config_file == str(conf)


# --- normalisation (docs/contract.md C1) ---------------------------------------------------


def test_nothing_to_log_is_fatal():
    with pytest.raises(FatalError, match=r"^Told not to log anything\.  Exiting\.$"):
        normalise(Options(tcp=False, udp=False, icmp=False))


def test_promisc_with_get_ident_is_fatal():
    with pytest.raises(FatalError, match=r"^The promisc and get_ident flags are not compatible\.$"):
        normalise(Options(promisc=("192.0.2.0/24",), get_ident=True))


@pytest.mark.parametrize(
    "given,expected",
    [
        (
            dict(disable_resolver=True),
            dict(
                tcp_resolve=False,
                udp_resolve=False,
                icmp_resolve=False,
                syn_flood=False,
                dns_cache=False,
            ),
        ),
        (
            dict(tcp_resolve=False, udp_resolve=False, icmp_resolve=False),
            dict(disable_resolver=True, dns_cache=False, syn_flood=False),
        ),
        (dict(tcp_resolve=False), dict(syn_flood=False, disable_resolver=False, dns_cache=True)),
        (dict(icmp=False, udp=False), dict(smurf=False, ping_flood=False, udp_scan=False)),
        (
            dict(tcp=False),
            dict(portscan=False, null_scan=False, fin_scan=False, xmas_scan=False, syn_scan=True),
        ),
        (dict(icmp=False), dict(ping_flood=False, smurf=True)),
        (dict(udp=False, ignore_dns=True), dict(udp_scan=False, ignore_dns=False, smurf=True)),
        (dict(promisc=("192.0.2.0/24",)), dict(log_dest=True)),
    ],
)
def test_normalisation(given, expected):
    result, _ = normalise(Options(**given))
    for field, value in expected.items():
        assert getattr(result, field) == value, field


# --- -k and -R through the pid file (docs/contract.md L1, L6) --------------------------------


def test_kill_and_restart_signal_the_process_holding_the_pid_file(tmp_path):
    pid_file = tmp_path / "iplog.pid"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl,os,signal,sys,time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'{os.getpid()}\\n'.encode())\n"
            "signal.signal(signal.SIGHUP, lambda *a: print('HUP', flush=True))\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)",
            str(pid_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "ready\n"
        p = subprocess.run(IPLOG + [f"--pid-file={pid_file}", "-R"], capture_output=True, text=True)
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
        assert child.stdout.readline() == "HUP\n"
        p = subprocess.run(IPLOG + [f"--pid-file={pid_file}", "-k"], capture_output=True, text=True)
        assert (p.returncode, p.stdout, p.stderr) == (0, "", "")
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()


@pytest.mark.parametrize("action", ["-k", "-R"])
def test_a_stale_pid_file_names_a_live_stranger_who_is_left_alone(tmp_path, action):
    """iplog is dead; its pid was reused by an unrelated process (logrotate's
    postrotate runs iplog -R): nothing is signalled."""
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        path = tmp_path / "iplog.pid"
        path.write_text(f"{stranger.pid}\n")
        p = subprocess.run(IPLOG + [f"--pid-file={path}", action], capture_output=True, text=True)
        assert (p.returncode, p.stdout) == (1, "")
        assert p.stderr == f"iplog is not running (stale pid file {path})\n"
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_kill_without_a_pid_file_says_not_running_and_where_it_looked(tmp_path):
    path = tmp_path / "iplog.pid"
    p = subprocess.run(IPLOG + [f"--pid-file={path}", "-k"], capture_output=True, text=True)
    assert (p.returncode, p.stderr) == (1, f"iplog is not running (no pid file {path})\n")


@pytest.mark.parametrize(
    "content,message",
    [
        ("", 'Fatal: Error reading pid from "{path}".'),
        ("abc\n", 'Fatal: Bad pid in {path}: "abc"'),
        ("999999999\n", "Fatal: Can't send process signal 15 to 999999999: No such process"),
    ],
)
def test_kill_errors_with_the_lock_held(tmp_path, content, message):
    path = tmp_path / "iplog.pid"
    path.write_text(content)
    with open(path) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as a running iplog holds it
        p = subprocess.run(IPLOG + [f"--pid-file={path}", "-k"], capture_output=True, text=True)
    assert p.returncode == 255
    assert p.stderr == message.format(path=path) + "\n"


def test_pid_file_must_come_before_kill(tmp_path):
    path = tmp_path / "iplog.pid"
    path.write_text("abc\n")
    p = subprocess.run(
        IPLOG + ["-C", "/dev/null", "-k", f"--pid-file={path}"], capture_output=True, text=True
    )
    assert p.stderr == "iplog is not running (no pid file /var/run/iplog.pid)\n"


def test_fatal_errors_go_to_stderr_with_255():
    p = subprocess.run(
        IPLOG + ["-C", "/dev/null", "--tcp=no", "--udp=no", "--icmp=no", "-o", "-L"],
        capture_output=True,
        text=True,
    )
    assert (p.returncode, p.stdout) == (255, "")
    assert p.stderr == "Fatal: Told not to log anything.  Exiting.\n"


def test_main_runs_with_normalised_options():
    seen = []
    status = cli.main(["-C", "/dev/null", "-N", "-o"], run=lambda o, c, reload: seen.append(o) or 0)
    assert status == 0 and seen[0].dns_cache is False and seen[0].tcp_resolve is False


def test_status_reads_the_options_after_it_and_never_turns_into_another_action():
    """``iplog --status --pid-file=X --json``: X is asked; ``--status -k``
    only asks (an action before --status, as 2.2.3 reads -k, still wins)."""
    config = Config()
    assert load(tokenize(["--status", "--pid-file=/run/x.pid"]), config).options.pid_file == (
        "/run/x.pid"
    )
    assert load(tokenize(["--status", "-k"]), config).action == "status"
    assert load(tokenize(["--status", "-R"]), config).action == "status"
    assert load(tokenize(["-k", "--status"]), config).action == "kill"
