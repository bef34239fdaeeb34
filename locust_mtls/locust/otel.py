"""The /mtls/metrics instruments on Locust's OpenTelemetry meter (`locust --otel`).

Locust 2.47 sets the global MeterProvider when `--otel` is given and the SDK is installed
(`pip install locust[otel]`); our instruments then leave through Locust's exporters.
Counters are observable (read from the run's totals at each export, so a master exports
the workers' sum); OpenTelemetry has no observable histogram, so handshake times are
recorded from the growth of the totals' handshake histogram every few seconds.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import gevent

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust.metrics import (
    CERT_LABELS,
    HANDSHAKE_BUCKETS,
    LABELS,
    failures_by_kind,
    labels_of,
)

logger = logging.getLogger("locust_mtls")
HANDSHAKE_RECORD_INTERVAL = 5.0


def attributes(row) -> dict[str, str]:
    return dict(zip(LABELS, labels_of(row), strict=True))


def install(current_stats: Callable[[], MtlsStats]) -> bool:
    """Register the instruments on the global meter; False when the SDK is missing."""
    try:
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
    except ImportError:
        logger.warning("locust-mtls: --otel without opentelemetry: pip install 'locust[otel]'")
        return False
    meter = metrics.get_meter("locust_mtls")

    def requests(_options):
        return [Observation(r.requests, attributes(r)) for r in current_stats().rows.values()]

    def by_certificate(_options):
        return [
            Observation(getattr(row, counter), {**attributes(row), "cert": cert})
            for row in current_stats().rows.values()
            for cert, counter in CERT_LABELS.items()
        ]

    def failed(_options):
        return [
            Observation(count, {**attributes(row), "kind": kind})
            for row in current_stats().rows.values()
            for kind, count in failures_by_kind(row).items()
        ]

    def in_flight(_options):
        rows = current_stats().rows.values()
        return [Observation(r.in_flight_at_stop, attributes(r)) for r in rows]

    def crashes(_options):
        return [Observation(r.crashes, attributes(r)) for r in current_stats().rows.values()]

    meter.create_observable_counter("locust_mtls.requests", [requests], description="requests")
    meter.create_observable_counter(
        "locust_mtls.requests_by_certificate", [by_certificate], description="with, without"
    )
    meter.create_observable_counter("locust_mtls.failures", [failed], description="by kind")
    meter.create_observable_counter(
        "locust_mtls.in_flight_at_stop", [in_flight], description="cut off by the stop"
    )
    meter.create_observable_counter("locust_mtls.crashes", [crashes], description="crashes")
    gevent.spawn(record_handshakes, current_stats, handshake_histogram(meter))
    return True


def handshake_histogram(meter):
    """`locust_mtls.handshake` in seconds, on /mtls/metrics' buckets: the SDK's default
    ones (0, 5, 10, ... 10000) would put every handshake into the first."""
    # The advisory exists since opentelemetry-api 1.30 (open-telemetry/opentelemetry-python
    # #4361); locust[otel] needs the SDK >= 1.38, and the SDK's OTLP exporters honour it.
    return meter.create_histogram(
        "locust_mtls.handshake", unit="s", explicit_bucket_boundaries_advisory=HANDSHAKE_BUCKETS
    )


def record_handshakes(current_stats: Callable[[], MtlsStats], histogram) -> None:
    recorded: dict[str, Counter] = {}
    while True:
        gevent.sleep(HANDSHAKE_RECORD_INTERVAL)
        record_new_handshakes(current_stats(), histogram, recorded)


def record_new_handshakes(stats: MtlsStats, histogram, recorded: dict[str, Counter]) -> None:
    """Record every handshake the totals gained since the last call."""
    for name, row in stats.rows.items():
        new = row.handshake_histogram - recorded.get(name, Counter())
        for ms, count in new.items():
            for _ in range(count):
                histogram.record(ms / 1000, attributes(row))
        recorded[name] = Counter(row.handshake_histogram)
