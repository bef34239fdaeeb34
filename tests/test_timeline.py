"""timeline: per-interval rates from cumulative samples; the ring keeps a whole run; a
master's intervals without a worker report are gaps."""

import time

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.engine.timeline import SERIES, Timeline
from locust_mtls.locust.distributed import WorkerReports


def requests(row, count: int, kind: str | None = None, identity: str | None = None) -> None:
    """`count` requests; a wrong identity presents one (only a request with a certificate
    can reach the server as another identity), the others none unless given."""
    identity = identity or ("client-1" if kind == "wrong_identity" else None)
    for _ in range(count):
        row.record(failed=kind is not None, failure_kind=kind, identity_name=identity)


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
    assert row["bleed_pct"] == [25.0, 0.0]  # of the requests sent without a certificate
    assert row["wrong_identity_pct"] == [0.0, 100.0]  # of those sent with one
    assert row["crashes"] == [0, 1]
    later = series["rows"]["identity-cache [native-threads, keep-alive off]"]
    assert later["t"] == [4.0] and later["requests_per_s"] == [0.0]
    assert later["bleed_pct"] == [None]  # no request: no share of anything
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


def test_shares_are_of_the_requests_that_can_have_them():
    stats, timeline = MtlsStats(), Timeline()
    row = stats.row("shared-context")
    timeline.sample(stats, now=0.0)
    requests(row, 50, identity="client-1")  # with a certificate, all right
    requests(row, 50, "bleed")  # every request without a certificate bled
    timeline.sample(stats, now=2.0)
    series = timeline.series()["rows"]["shared-context"]
    assert series["bleed_pct"] == [100.0]  # 50 of the 50 sent without one, not 50 %
    assert series["wrong_identity_pct"] == [0.0]
    assert dict((key, unit) for key, _, unit in SERIES)["bleed_pct"] == (
        "% of requests sent without a certificate"
    )


def master_timeline(report_at: dict[str, float], seconds: int = 18) -> Timeline:
    """A master sampling its totals every 2 s; each worker sends 100 requests a second
    (every request without a certificate, every one bleeding) and reports its cumulative
    counters every 3 s, starting at `report_at[worker]` s."""
    workers = {name: MtlsStats() for name in report_at}
    reports, master = WorkerReports(), Timeline(interval=2.0)
    started = time.time()  # rows note their first request in wall-clock time
    for tick in range(1, seconds * 100 + 1):  # hundredths of a second
        now = started + tick / 100
        for name, stats in workers.items():
            requests(stats.row("shared-context"), 1, "bleed")
            first, every = int(report_at[name] * 100), 300
            if tick >= first and (tick - first) % every == 0:
                data: dict = {}
                WorkerReports.attach(data, stats)
                reports.receive(name, data, now=now)
        if tick % 200 == 0:
            sources = {w: (reports.received_at[w], d) for w, d in reports.by_worker.items()}
            master.sample(reports.total(), now=now, reports=sources)
    return master


def test_a_master_draws_gaps_not_zeros_where_no_worker_report_arrived():
    """Two workers report every 3 s, the master samples every 2 s: an interval that
    brought no report is None in the series the chart draws (not 0 req/s, 0 % bleed), and
    the others read the true rate, 200 req/s (not 1.5 times it)."""
    series = master_timeline({"worker-a": 3.0, "worker-b": 3.0}).series()["rows"]
    row = series["shared-context"]
    # Samples at 4, 6, ... 18 s (none at 2 s: no report yet); reports at 3, 6, ... 18 s.
    assert row["t"] == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
    assert row["requests_per_s"] == [200.0, None, 200.0, 200.0, None, 200.0, 200.0]
    assert row["bleed_pct"] == [100.0, None, 100.0, 100.0, None, 100.0, 100.0]
    assert row["crashes"] == [0] * 7  # a cumulative count is known in every interval


def test_reports_that_straddle_a_sample_draw_no_spike():
    """Reports 0.01 s apart on either side of a sample: each worker's rate is over its own
    reports, and the one that did not report adds its latest rate, so no interval reads
    half or 300 times the rate."""
    series = master_timeline({"worker-a": 2.99, "worker-b": 3.01}).series()["rows"]
    rates = [rate for rate in series["shared-context"]["requests_per_s"] if rate is not None]
    assert rates and all(abs(rate - 200.0) < 2.0 for rate in rates), rates


def test_a_worker_that_stops_reporting_stops_adding_its_rate():
    stats = {name: MtlsStats() for name in ("a", "b")}
    reports, master = WorkerReports(), Timeline()
    for second in range(1, 17):
        for name, worker in stats.items():
            if name == "a" or second <= 6:  # b is lost after its report at 6 s
                requests(worker.row("identity-cache"), 100, identity="client-1")
            if second % 3 == 0 and (name == "a" or second <= 6):
                data: dict = {}
                WorkerReports.attach(data, worker)
                reports.receive(name, data, now=float(second))
        if second % 2 == 0:
            sources = {w: (reports.received_at[w], d) for w, d in reports.by_worker.items()}
            master.sample(reports.total(), now=float(second), reports=sources)
    rates = master.series()["rows"]["identity-cache"]["requests_per_s"]
    assert rates[-1] == 100.0  # a alone, b's last rate no longer added
