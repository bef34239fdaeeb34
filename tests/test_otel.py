"""otel: handshake times recorded once each from the totals' growing histogram."""

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust import otel


class RecordingHistogram:
    """Stands in for an OpenTelemetry histogram (the SDK is an optional extra)."""

    def __init__(self):
        self.values: list[tuple[float, dict]] = []

    def record(self, value, attributes):
        self.values.append((value, attributes))


def test_each_handshake_is_recorded_once_with_the_row_labels():
    stats, histogram, recorded = MtlsStats(), RecordingHistogram(), {}
    row = stats.row("identity-cache", "native-threads", False)
    row.record(failed=False, failure_kind=None, handshakes_ms=[2.0, 2.0], identity_name=None)
    otel.record_new_handshakes(stats, histogram, recorded)
    row.record(failed=False, failure_kind=None, handshakes_ms=[40.0], identity_name=None)
    otel.record_new_handshakes(stats, histogram, recorded)
    otel.record_new_handshakes(stats, histogram, recorded)
    labels = {"strategy": "identity-cache", "concurrency": "native-threads", "keepalive": "off"}
    assert histogram.values == [(0.002, labels), (0.002, labels), (0.04, labels)]
