"""otel: handshake times recorded once each from the totals' growing histogram."""

import pytest

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust import otel
from locust_mtls.locust.metrics import HANDSHAKE_BUCKETS
from locust_mtls.tls.connections import ConnectionLog


class RecordingHistogram:
    """Stands in for an OpenTelemetry histogram (the SDK is an optional extra)."""

    def __init__(self):
        self.values: list[tuple[float, dict]] = []

    def record(self, value, attributes):
        self.values.append((value, attributes))


def test_each_handshake_is_recorded_once_with_the_row_labels():
    stats, histogram, recorded = MtlsStats(), RecordingHistogram(), {}
    row = stats.row("identity-cache", "native-threads", False)
    row.record(
        failed=False, failure_kind=None, connections=ConnectionLog([2.0, 2.0]), identity_name=None
    )
    otel.record_new_handshakes(stats, histogram, recorded)
    row.record(
        failed=False, failure_kind=None, connections=ConnectionLog([40.0]), identity_name=None
    )
    otel.record_new_handshakes(stats, histogram, recorded)
    otel.record_new_handshakes(stats, histogram, recorded)
    labels = {
        "row": "identity-cache [native-threads, keep-alive off]",
        "strategy": "identity-cache",
        "concurrency": "native-threads",
        "keepalive": "off",
    }
    assert histogram.values == [(0.002, labels), (0.002, labels), (0.04, labels)]


def test_the_counters_reach_an_opentelemetry_reader_with_the_row_labels():
    """With the SDK installed (locust[otel]), as Locust's --otel sets it up."""
    pytest.importorskip("opentelemetry.sdk", reason="needs pip install 'locust[otel]'")
    from opentelemetry import metrics as otel_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    otel_metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    stats = MtlsStats()
    row = stats.row("shared-context", "greenlet", False)
    row.record(
        failed=True, failure_kind="bleed", connections=ConnectionLog([2.0]), identity_name=None
    )
    row.record(failed=False, failure_kind=None, identity_name="client-1")
    assert otel.install(lambda: stats)
    points = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    label = point.attributes.get("kind") or point.attributes.get("cert")
                    points[(metric.name, label)] = point
    requests = points[("locust_mtls.requests", None)]
    assert requests.value == 2
    assert dict(requests.attributes) == {
        "row": "shared-context [keep-alive off]",
        "strategy": "shared-context",
        "concurrency": "greenlet",
        "keepalive": "off",
    }
    assert points[("locust_mtls.failures", "bleed")].value == 1
    assert points[("locust_mtls.requests_by_certificate", "without")].value == 1  # bleed's base
    assert points[("locust_mtls.requests_by_certificate", "with")].value == 1
    assert points[("locust_mtls.failures", "transport")].value == 0


def test_handshakes_of_3_40_and_700_ms_land_in_distinct_buckets():
    """The SDK's default buckets (0, 5, 10, ... 10000) would put all three into one."""
    pytest.importorskip("opentelemetry.sdk", reason="needs pip install 'locust[otel]'")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    meter = MeterProvider(metric_readers=[reader]).get_meter("test")
    histogram = otel.handshake_histogram(meter)
    for seconds in (0.003, 0.04, 0.7):
        histogram.record(seconds, {"strategy": "identity-cache"})
    (metric,) = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
    (point,) = metric.data.data_points
    assert tuple(point.explicit_bounds) == HANDSHAKE_BUCKETS
    filled = [index for index, count in enumerate(point.bucket_counts) if count]
    assert [point.explicit_bounds[index] for index in filled] == [0.003, 0.05, 0.75]
