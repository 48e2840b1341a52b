"""Metrics for Prometheus (docs/contract.md L8): ``set metrics_file PATH``.

Every ``METRICS_EVERY`` seconds the daemon's state (the one ``--status``
shows) becomes the Prometheus text format, made by prometheus_client
(imported only when metrics are on), and replaces PATH atomically: a
temporary file made beside it with O_EXCL (never through a link, whatever
the directory's owner left there), then renamed over PATH.  node_exporter's
textfile collector reads the directory (Debian's:
/var/lib/prometheus/node-exporter).  Off the packet path: the main loop's
housekeeping calls ``write``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

METRICS_EVERY = 15.0  # seconds between two writes (node_exporter scrapes every 15 s by default)


def exposition(state: dict) -> bytes:
    """The state in the Prometheus text format."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    def families():
        up = GaugeMetricFamily("iplog_up", "1 while the daemon runs")
        up.add_metric([], 1)
        yield up
        start = GaugeMetricFamily("iplog_start_time_seconds", "when the daemon started")
        start.add_metric([], state["started"])
        yield start
        loaded = GaugeMetricFamily(
            "iplog_config_load_time_seconds", "when the configuration was last read"
        )
        loaded.add_metric([], state["config_loaded"])
        yield loaded
        reloads = CounterMetricFamily("iplog_reloads", "reloads (SIGHUP) since start")
        reloads.add_metric([], state["reloads"])
        yield reloads
        by_iface = {
            "iplog_packets": ("packets seen (after the kernel filter)", "packets"),
            "iplog_packets_ipv6": ("IPv6 packets seen", "ipv6"),
            "iplog_kernel_drops": ("packets the kernel dropped (the ring was full)", "drops"),
        }
        for name, (text, field) in by_iface.items():
            family = CounterMetricFamily(name, text, labels=["interface"])
            for iface in state["interfaces"]:
                family.add_metric([iface["name"]], iface[field])
            yield family
        iface_up = GaugeMetricFamily(
            "iplog_interface_up", "1: captured, 0: down", labels=["interface"]
        )
        for iface in state["interfaces"]:
            iface_up.add_metric([iface["name"]], 0 if iface["down"] else 1)
        yield iface_up
        lines = CounterMetricFamily("iplog_lines", "lines written since start")
        lines.add_metric([], state["lines"]["total"])
        yield lines
        by_kind = CounterMetricFamily(
            "iplog_messages",
            "alarms and other lines by message kind (scan_detected:KIND for a scan's)",
            labels=["kind"],
        )
        for kind, count in sorted(state["lines"]["by_kind"].items()):
            by_kind.add_metric([kind], count)
        yield by_kind
        open_now = GaugeMetricFamily("iplog_open", "scans and floods open now", labels=["kind"])
        for kind, count in sorted(state["open"]["by_kind"].items()):
            open_now.add_metric([kind], count)
        yield open_now
        lookups = state["lookups"]
        if lookups is not None:
            for name, field, family_type, text in (
                ("iplog_lookups_started", "started", CounterMetricFamily, "name lookups started"),
                (
                    "iplog_lookups_refused",
                    "refused",
                    CounterMetricFamily,
                    "name lookups not started (rate limit)",
                ),
                ("iplog_lookups_in_flight", "in_flight", GaugeMetricFamily, "lookups under way"),
                ("iplog_names_cached", "cached", GaugeMetricFamily, "names cached"),
            ):
                family = family_type(name, text)
                family.add_metric([], lookups[field])
                yield family
        ident = state["ident"]
        if ident is not None:
            for field in ("asked", "refused", "abandoned"):
                family = CounterMetricFamily(f"iplog_ident_{field}", f"ident lookups {field}")
                family.add_metric([], ident[field])
                yield family
        rss = GaugeMetricFamily("iplog_resident_memory_bytes", "resident memory")
        rss.add_metric([], state["rss_kb"] * 1024)
        yield rss

    class Collector:
        def collect(self):
            return families()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector())
    return generate_latest(registry)


def write(path: str, data: bytes) -> None:
    """``data`` replaces ``path`` at once (readers see the old or the new
    file, never a part).  Raises OSError."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".iplog-metrics-", dir=directory)  # O_EXCL, 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
