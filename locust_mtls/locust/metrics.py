"""`GET /mtls/metrics`: the run's mTLS counters in Prometheus' text format, and the same
instruments on Locust's OpenTelemetry meter when Locust runs with `--otel`.

A custom collector reads the run's totals at scrape time (on a master, every worker's
latest counters summed), so nothing is counted twice and a scrape of the master sees the
whole run. Metric names, labels and failure kinds are documented in docs/prometheus.md.
prometheus_client is imported at the first scrape: the matrix's cells, whose envs hold only
what a cell needs, import this module (through plugin.py) but never serve it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from locust_mtls.engine import failures
from locust_mtls.engine.stats import MtlsStats, StrategyStats

# `row` tells apart every row (user classes whose settings differ in anything that
# changes a result); the others are for grouping: no two rows ever share a series.
LABELS = ("row", "strategy", "concurrency", "keepalive")
# `kind` label of locust_mtls_failures_total: every failed request is in exactly one kind.
FAILURE_KINDS = (
    "wrong_identity", "missing_certificate", "bleed", "unreported", "crash", "transport", "http",
)  # fmt: skip
# Handshake histogram bounds in seconds, for Prometheus and OpenTelemetry alike: a loopback
# handshake takes ~1-5 ms, a remote one 10-300 ms, a loaded server's up to seconds. Steps
# of 1-1.5-2-3-5-7.5 from 1 ms to 2 s, so a quantile is read within about a third.
HANDSHAKE_BUCKETS = (
    0.001, 0.0015, 0.002, 0.003, 0.005, 0.0075,
    0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
    1.0, 1.5, 2.0,
)  # fmt: skip
METRIC_NAMES = (
    "locust_mtls_requests_total",
    "locust_mtls_requests_by_certificate_total",
    "locust_mtls_in_flight_at_stop_total",
    "locust_mtls_failures_total",
    "locust_mtls_crashes_total",
    "locust_mtls_identities_in_use",
    "locust_mtls_handshake_seconds_bucket",
    "locust_mtls_handshake_seconds_count",
    "locust_mtls_handshake_seconds_sum",
)

# `cert` label of locust_mtls_requests_by_certificate_total: the bases of the rates
# (settings.RATE_BASES): bleed is a share of "without", wrong identity of "with".
CERT_LABELS = {"with": "with_cert", "without": "without_cert"}

# Per strategy: the share of the requests sent without a certificate that bled one, over
# the last 30 s (docs/prometheus.md; the Grafana dashboard plots the same per kind).
BLEED_RATE_QUERY = (
    'sum by (strategy) (rate(locust_mtls_failures_total{kind="bleed"}[30s]))'
    ' / sum by (strategy) (rate(locust_mtls_requests_by_certificate_total{cert="without"}[30s]))'
)


def scrape_config(target: str, interval: str = "5s", base_path: str = "") -> str:
    """A prometheus.yml that scrapes one Locust web server (docs/prometheus.md)."""
    return (
        "scrape_configs:\n"
        "  - job_name: locust-mtls\n"
        f"    scrape_interval: {interval}\n"
        f"    metrics_path: {base_path}/mtls/metrics\n"
        "    static_configs:\n"
        f"      - targets: ['{target}']\n"
    )


def labels_of(row: StrategyStats) -> list[str]:
    return [
        row.row or row.strategy,
        row.strategy,
        row.concurrency or "greenlet",
        "on" if row.keepalive else "off",
    ]


def failures_by_kind(row: StrategyStats) -> dict[str, int]:
    """Failed requests of one row split into FAILURE_KINDS (they sum to `row.failures`)."""
    http = sum(n for name, n in row.failure_classes.items() if name.startswith("HTTP "))
    crash = row.failure_classes.get(failures.CLIENT_CRASH, 0)
    counts = {
        "wrong_identity": row.wrong_identity,
        "missing_certificate": row.missing_certificate,
        "bleed": row.bleed,
        "unreported": row.unreported,
        "crash": crash,
        "http": http,
    }
    counts["transport"] = max(row.failures - sum(counts.values()), 0)
    return {kind: counts[kind] for kind in FAILURE_KINDS}


def handshake_buckets(row: StrategyStats) -> tuple[list[tuple[str, int]], float]:
    """Cumulative (upper bound, count) pairs and the sum in seconds of the row's handshakes."""
    seconds = sorted((ms / 1000, n) for ms, n in row.handshake_histogram.items())
    buckets, seen, index = [], 0, 0
    for bound in (*HANDSHAKE_BUCKETS, float("inf")):
        while index < len(seconds) and seconds[index][0] <= bound:
            seen += seconds[index][1]
            index += 1
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), seen))
    return buckets, sum(value * n for value, n in seconds)


class MtlsCollector:
    """A prometheus_client collector over the run's current totals."""

    def __init__(self, current_stats: Callable[[], MtlsStats]):
        self.current_stats = current_stats

    def collect(self) -> Iterator:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        requests = CounterMetricFamily(
            "locust_mtls_requests", "mTLS requests checked and counted", labels=LABELS
        )
        by_certificate = CounterMetricFamily(
            "locust_mtls_requests_by_certificate",
            "mTLS requests by whether they presented a client certificate (with, without)",
            labels=(*LABELS, "cert"),
        )
        in_flight = CounterMetricFamily(
            "locust_mtls_in_flight_at_stop",
            "requests written to the target whose answer the stop of the test cut off",
            labels=LABELS,
        )
        failed = CounterMetricFamily(
            "locust_mtls_failures",
            f"failed mTLS requests by kind ({', '.join(FAILURE_KINDS)})",
            labels=(*LABELS, "kind"),
        )
        crashes = CounterMetricFamily(
            "locust_mtls_crashes", "native-thread engine crashes (restarts)", labels=LABELS
        )
        identities = GaugeMetricFamily(
            "locust_mtls_identities_in_use", "client identities presented so far", labels=LABELS
        )
        handshakes = HistogramMetricFamily(
            "locust_mtls_handshake_seconds", "TLS handshake time", labels=LABELS
        )
        for row in self.current_stats().rows.values():
            labels = labels_of(row)
            requests.add_metric(labels, row.requests)
            for cert, counter in CERT_LABELS.items():
                by_certificate.add_metric([*labels, cert], getattr(row, counter))
            in_flight.add_metric(labels, row.in_flight_at_stop)
            for kind, count in failures_by_kind(row).items():
                failed.add_metric([*labels, kind], count)
            crashes.add_metric(labels, row.crashes)
            identities.add_metric(labels, len(row.identities_in_use))
            buckets, total = handshake_buckets(row)
            handshakes.add_metric(labels, buckets, total)
        yield from (requests, by_certificate, in_flight, failed, crashes, identities, handshakes)


def exposition(current_stats: Callable[[], MtlsStats]) -> bytes:
    """The Prometheus text format of the run's totals now."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MtlsCollector(current_stats))
    return generate_latest(registry)


def install(web_ui, current_stats: Callable[[], MtlsStats], base_path: str = "") -> None:
    """Serve `GET {base_path}/mtls/metrics` from Locust's web server."""
    from flask import Response
    from prometheus_client import CONTENT_TYPE_LATEST

    # Unprotected like Prometheus' own /metrics endpoints: a scraper has no login form.
    @web_ui.app.route(f"{base_path}/mtls/metrics")
    def mtls_metrics():
        return Response(exposition(current_stats), content_type=CONTENT_TYPE_LATEST)
