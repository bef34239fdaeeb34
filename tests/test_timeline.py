"""timeline: per-interval rates from cumulative samples; the ring keeps a whole run."""

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.engine.timeline import SERIES, Timeline


def requests(row, count: int, kind: str | None = None) -> None:
    for _ in range(count):
        row.record(failed=kind is not None, failure_kind=kind, identity_name=None)


def test_rates_are_per_interval_and_share_of_that_intervals_requests():
    stats, timeline = MtlsStats(), Timeline(interval=2.0)
    shared = stats.row("shared-context")
    requests(shared, 10)
    timeline.sample(stats, now=100.0)
    requests(shared, 30)
    requests(shared, 10, "bleed")
    timeline.sample(stats, now=102.0)
    stats.row("identity-cache", "native-threads", False)  # appears later, no requests yet
    requests(shared, 4, "wrong_identity")
    shared.record_crash({"signal": "SIGSEGV"})
    timeline.sample(stats, now=104.0)

    series = timeline.series()
    row = series["rows"]["shared-context"]
    assert row["t"] == [2.0, 4.0]
    assert row["requests_per_s"] == [20.0, 2.0]
    assert row["bleed_pct"] == [25.0, 0.0]
    assert row["wrong_identity_pct"] == [0.0, 100.0]
    assert row["crashes"] == [0, 1]
    later = series["rows"]["identity-cache [native-threads, keep-alive off]"]
    assert later["t"] == [4.0] and later["requests_per_s"] == [0.0]
    assert later["concurrency"] == "native-threads" and later["keepalive"] is False
    assert {key for key, *_ in SERIES} <= set(row)


def test_a_full_ring_halves_its_resolution_and_keeps_the_start():
    stats, timeline = MtlsStats(), Timeline(interval=1.0, capacity=10)
    row = stats.row("identity-cache")
    for second in range(11):
        requests(row, 5)
        timeline.sample(stats, now=float(second))
    assert len(timeline.samples) <= 10
    assert timeline.interval == 2.0
    assert timeline.samples[0][0] == 0.0 and timeline.samples[-1][0] == 10.0
    assert set(timeline.series()["rows"]["identity-cache"]["requests_per_s"]) == {5.0}


def test_nothing_is_sampled_before_the_first_row_and_clear_starts_over():
    stats, timeline = MtlsStats(), Timeline()
    timeline.sample(stats, now=1.0)
    assert timeline.samples == [] and timeline.series()["rows"] == {}
    requests(stats.row("identity-cache"), 1)
    timeline.sample(stats, now=2.0)
    timeline.clear()
    assert timeline.samples == []
