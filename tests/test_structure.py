"""The package's shape: no import cycle, constants equal dpkt's,
every restart-only setting declared on the setting."""

from __future__ import annotations

import ast
from pathlib import Path

import dpkt
import pcap

from pyiplog import constants
from pyiplog.options import RESTART_FIELDS, Options

PACKAGE = Path(__file__).resolve().parent.parent / "pyiplog"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, modules: set[str], types: bool = False) -> set[str]:
    return top_level_imports_of(path.read_text(), path, modules, types)


def top_level_imports_of(
    source: str, path: Path, modules: set[str], types: bool = False
) -> set[str]:
    """The pyiplog modules ``path`` imports, at its top or in a function
    (a deferred import is still a dependency), under TYPE_CHECKING too when
    ``types``; with the packages that loads."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                if types:
                    visit(node.body)
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                found.add(base)
                found.update(f"{base}.{a.name}" for a in node.names)
            else:
                visit(ast.iter_child_nodes(node))

    visit(ast.parse(source).body)
    targets = set()
    for target in found & modules:
        while target:  # importing a.b.c runs a and a.b first
            targets.add(target)
            target = target.rpartition(".")[0]
    ancestors = {name.rsplit(".", n)[0] for n in range(1, name.count(".") + 1)}
    return targets & modules - ancestors - {name}  # its own packages are loaded before it


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of imports in ``graph`` (module -> modules it loads), or None."""
    done: set[str] = set()

    def walk(name: str, stack: list[str]) -> list[str] | None:
        if name in stack:
            return stack[stack.index(name) :] + [name]
        if name in done:
            return None
        for other in sorted(graph[name]):
            cycle = walk(other, [*stack, name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = walk(name, [])
        if cycle:
            return cycle
    return None


def test_no_import_cycle():
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: top_level_imports(path, set(paths)) for name, path in paths.items()}
    assert find_cycle(graph) is None


def test_no_cycle_between_detectors_even_for_types():
    paths = {module_name(p): p for p in (PACKAGE / "detect").glob("*.py")}
    graph = {name: top_level_imports(path, set(paths), types=True) for name, path in paths.items()}
    assert find_cycle(graph) is None


def test_capture_and_engine_do_not_reach_into_the_config_parser():
    """Addresses are parsed where the rules live (config.rules)."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    for name in ("capture.py", "engine.py"):
        imported = top_level_imports(PACKAGE / name, modules, types=True)
        assert "pyiplog.config.parser" not in imported, name
        assert "pyiplog.config.rules" in imported, name


def test_the_checker_sees_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    # Through a package's __init__: a module that imports a package's module
    # loads the package first.
    source = "from .config.rules import Filters\n"
    modules = {"pyiplog.x", "pyiplog.config", "pyiplog.config.rules"}
    path = PACKAGE / "x.py"
    assert top_level_imports_of(source, path, modules) == {"pyiplog.config", "pyiplog.config.rules"}
    # Imports for types only count when asked for.
    typed = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .y import Y\n"
    modules = {"pyiplog.x", "pyiplog.y"}
    assert top_level_imports_of(typed, path, modules) == set()
    assert top_level_imports_of(typed, path, modules, types=True) == {"pyiplog.y"}


def test_constants_are_dpkts_and_pypcaps():
    assert constants.ETH_TYPE_IP == dpkt.ethernet.ETH_TYPE_IP
    assert constants.ETH_TYPE_IP6 == dpkt.ethernet.ETH_TYPE_IP6
    assert constants.ETH_TYPES_VLAN == (
        dpkt.ethernet.ETH_TYPE_8021Q,
        dpkt.ethernet.ETH_TYPE_8021AD,
        dpkt.ethernet.ETH_TYPE_QINQ1,
    )
    for name in ("IP_RF", "IP_DF", "IP_MF", "IP_OFFMASK"):
        assert getattr(constants, name) == getattr(dpkt.ip, name), name
    for name in ("FIN", "SYN", "RST", "PUSH", "ACK", "URG", "ECE", "CWR"):
        assert getattr(constants, f"TH_{name}") == getattr(dpkt.tcp, f"TH_{name}"), name
    for name in ("ICMP", "TCP", "UDP"):
        assert getattr(constants, f"IPPROTO_{name}") == getattr(dpkt.ip, f"IP_PROTO_{name}")
    assert constants.DLT_LINUX_SLL2 == dpkt.pcap.DLT_LINUX_SLL2
    assert constants.DLT_IPV4 == dpkt.pcap.DLT_IPV4
    assert constants.DLT_EN10MB == pcap.DLT_EN10MB == dpkt.pcap.DLT_EN10MB


def test_restart_only_settings():
    """What a reload (SIGHUP) cannot change: capture, identity, files, syslog."""
    assert set(RESTART_FIELDS) == {
        "no_fork",
        "stdout",
        "user",
        "group",
        "logfile",
        "pid_file",
        "interfaces",
        "promisc",
        "capture_buffer",
        "facility",
        "priority",
        "read_file",
        "config_file",
        "json",
    }
    running = Options(user="iplog", logfile="/var/log/iplog", log_ip=False)
    new = Options(user="root", logfile="/tmp/x", log_ip=True).keeping(running)
    assert (new.user, new.logfile, new.log_ip) == ("iplog", "/var/log/iplog", True)
