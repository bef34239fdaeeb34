"""metrics: /mtls/metrics in Prometheus' text format, from a run's totals: unit checks,
a live run of shared-context next to identity-cache, a master with two workers, Debian's
Prometheus scraping a run, and the Grafana dashboard's queries against what is exported."""

import json
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from locust_mtls.engine import failures
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust import metrics
from locust_mtls.tls.connections import ConnectionLog

from conftest import LocustWithWebUI

REPO = Path(__file__).resolve().parent.parent
STRATEGIES = str(REPO / "locustfiles" / "strategies.py")
MTLS = str(REPO / "locustfiles" / "mtls.py")
GRAFANA = REPO / "docs" / "grafana" / "locust-mtls.json"


def sample_stats() -> MtlsStats:
    stats = MtlsStats()
    shared = stats.row("shared-context", "native-threads", False)
    shared.record(
        failed=True, failure_kind="bleed", connections=ConnectionLog([0.7]), identity_name=None
    )
    shared.record(
        failed=True,
        failure_kind=None,
        connections=ConnectionLog([30.0]),
        identity_name="client-1",
        failure_class=failures.CLIENT_CRASH,
    )
    shared.record(
        failed=True,
        failure_kind=None,
        identity_name="client-1",
        failure_class="HTTP 5xx",
    )
    shared.record(
        failed=True,
        failure_kind=None,
        connections=ConnectionLog([9000.0]),
        identity_name=None,
        failure_class=failures.CONNECTION_REFUSED,
    )
    shared.record(
        failed=False, failure_kind=None, connections=ConnectionLog([3.0]), identity_name="client-2"
    )
    shared.record_crash({"signal": "SIGSEGV"})
    stats.row("identity-cache")
    return stats


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(parsed: dict, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    return sum(
        v for (n, have), v in parsed.items() if n == name and set(labels.items()) <= set(have)
    )


def test_every_failed_request_is_in_exactly_one_kind():
    shared = sample_stats().rows["shared-context [native-threads, keep-alive off]"]
    kinds = metrics.failures_by_kind(shared)
    assert kinds == {
        "wrong_identity": 0,
        "missing_certificate": 0,
        "bleed": 1,
        "unreported": 0,
        "crash": 1,
        "transport": 1,
        "http": 1,
    }
    assert sum(kinds.values()) == shared.failures


def test_exposition_labels_counters_and_histogram():
    parsed = samples(metrics.exposition(sample_stats).decode())
    labels = {"strategy": "shared-context", "concurrency": "native-threads", "keepalive": "off"}
    assert value(parsed, "locust_mtls_requests_total", **labels) == 5
    # The bases of the rates: bleed of the requests sent without a certificate.
    by_cert = "locust_mtls_requests_by_certificate_total"
    assert value(parsed, by_cert, cert="without", **labels) == 2
    assert value(parsed, by_cert, cert="with", **labels) == 3
    assert value(parsed, "locust_mtls_failures_total", kind="bleed", **labels) == 1
    assert value(parsed, "locust_mtls_crashes_total", **labels) == 1
    assert value(parsed, "locust_mtls_handshake_seconds_count", **labels) == 4
    assert value(parsed, "locust_mtls_handshake_seconds_bucket", le="0.001", **labels) == 1
    assert value(parsed, "locust_mtls_handshake_seconds_bucket", le="0.005", **labels) == 2
    assert value(parsed, "locust_mtls_handshake_seconds_bucket", le="2.0", **labels) == 3
    assert value(parsed, "locust_mtls_handshake_seconds_bucket", le="+Inf", **labels) == 4
    assert value(parsed, "locust_mtls_requests_total", strategy="identity-cache") == 0
    assert {name for name, _ in parsed} == set(metrics.METRIC_NAMES)


def test_handshakes_of_3_40_and_700_ms_land_in_distinct_buckets():
    stats = MtlsStats()
    row = stats.row("identity-cache")
    row.record(failed=False, connections=ConnectionLog([3.0, 40.0, 700.0]), identity_name=None)
    buckets, _ = metrics.handshake_buckets(row)
    grown, before = [], 0  # the first bound each handshake counts under
    for bound, count in buckets:
        if count > before:
            grown.append(bound)
        before = count
    assert grown == ["0.003", "0.05", "0.75"]


def scrape_until(locust: LocustWithWebUI, done, deadline: float) -> dict:
    """Scrape /mtls/metrics until done(parsed) or the deadline; the last parse."""
    parsed: dict = {}
    while time.monotonic() < deadline and locust.process.poll() is None:
        body = locust.get("/mtls/metrics")
        if body is not None:
            parsed = samples(body)
            if done(parsed):
                return parsed
        time.sleep(0.5)
    return parsed


def test_bleed_is_counted_for_shared_context_only_side_by_side(tmp_path):
    args = ["-f", STRATEGIES, "SharedContextUser", "IdentityCacheUser"]
    args += ["-u", "4", "-r", "4", "-t", "20s", "--autoquit", "0"]
    with LocustWithWebUI(args, tmp_path) as locust:

        def both_busy(parsed):
            return all(
                value(parsed, "locust_mtls_requests_total", strategy=s) > 100
                for s in ("shared-context", "identity-cache")
            )

        parsed = scrape_until(locust, both_busy, time.monotonic() + 60)
        assert both_busy(parsed), locust.log.read_text()[-2000:]
    bleed = {
        s: value(parsed, "locust_mtls_failures_total", kind="bleed", strategy=s)
        for s in ("shared-context", "identity-cache")
    }
    assert bleed["shared-context"] > 0 and bleed["identity-cache"] == 0
    assert value(parsed, "locust_mtls_handshake_seconds_count", strategy="identity-cache") > 0


def test_master_exports_the_sum_of_its_two_workers(tmp_path):
    from test_distributed import two_workers

    from bench.nginx import free_port

    port = str(free_port())
    master_args = ["-f", MTLS, "--master", "--expect-workers", "2"]
    master_args += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
    master_args += ["-u", "6", "-r", "6", "-t", "5s", "--autoquit", "20"]
    master_args += ["--mtls-strategy", "shared-context", "--mtls-keepalive", "off"]
    with LocustWithWebUI(master_args, tmp_path, "master.log") as master:
        workers = two_workers(tmp_path, port)
        try:

            def settled(parsed):
                # After the stop, each worker's last report arrived: the totals are final
                # when they equal Locust's own request count (its own sum of both workers).
                stats = json.loads(master.get("/stats/requests") or "{}")
                return stats.get("state") == "stopped" and value(
                    parsed, "locust_mtls_requests_total"
                ) == sum(
                    row["num_requests"] for row in stats["stats"] if row["name"] != "Aggregated"
                )

            parsed = scrape_until(master, settled, time.monotonic() + 60)
            assert settled(parsed), (tmp_path / "master.log").read_text()[-2000:]
            stats = json.loads(master.get("/stats/requests"))
            assert len(stats["workers"]) == 2
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(timeout=30)
    assert value(parsed, "locust_mtls_requests_total") > 50
    assert 0 < value(parsed, "locust_mtls_failures_total", kind="bleed")


def prometheus_or_skip() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("needs Debian's prometheus: apt-get install prometheus")
    return binary


def prometheus_query(port: int, query: str) -> list[dict]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_a_run_and_answers_the_bleed_rate_per_strategy(tmp_path):
    binary = prometheus_or_skip()
    from bench.nginx import free_port

    args = ["-f", STRATEGIES, "SharedContextUser", "IdentityCacheUser"]
    args += ["-u", "4", "-r", "4", "-t", "60s", "--autoquit", "0"]
    with LocustWithWebUI(args, tmp_path) as locust:
        prometheus_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(metrics.scrape_config(f"127.0.0.1:{locust.port}", interval="1s"))
        command = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"]
        command += [f"--web.listen-address=127.0.0.1:{prometheus_port}"]
        with open(tmp_path / "prometheus.log", "w") as log:
            prometheus = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            rates: dict[str, float] = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(rates) < 2:
                time.sleep(1)
                try:
                    result = prometheus_query(prometheus_port, metrics.BLEED_RATE_QUERY)
                except OSError:
                    continue
                rates = {r["metric"]["strategy"]: float(r["value"][1]) for r in result}
                rates = {s: rate for s, rate in rates.items() if rate == rate}  # not NaN
        finally:
            prometheus.kill()
            prometheus.wait(timeout=30)
    assert len(rates) == 2, (tmp_path / "prometheus.log").read_text()[-2000:]
    assert rates["identity-cache"] == 0
    # A share of the requests sent without a certificate: with keep-alive on, those that
    # opened a connection after one with a certificate (about half of them).
    assert 0.2 < rates["shared-context"] <= 1


def grafana_queries() -> list[str]:
    dashboard = json.loads(GRAFANA.read_text())
    panels = [p for p in dashboard["panels"] if p.get("type") != "row"]
    assert panels, "the dashboard has no panels"
    queries = []
    for panel in panels:
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        queries += [target["expr"] for target in panel["targets"]]
    return queries


def test_every_grafana_panel_queries_a_metric_the_endpoint_exports():
    parsed = samples(metrics.exposition(sample_stats).decode())
    exported = {name for name, _ in parsed}
    labels = {label for _, labelset in parsed for label, _ in labelset}  # row, kind, cert, le…
    for query in grafana_queries():
        names = set(re.findall(r"\blocust_mtls_\w+", query))
        assert names and names <= exported, query
        for label in re.findall(r"(\w+)\s*(?:=|!=|=~)\s*\"", query):
            assert label in labels, query
        for label in re.findall(r"by\s*\(([^)]*)\)", query):
            assert {x.strip() for x in label.split(",")} <= labels, query


def test_grafana_dashboard_imports_with_a_prometheus_input_and_one_series_per_row():
    """Grafana's Import asks for the data source named in __inputs; every panel and query
    uses it; no query sums two rows into one series (each groups by `row`)."""
    dashboard = json.loads(GRAFANA.read_text())
    (source,) = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    required = {(item["type"], item["id"]) for item in dashboard["__requires"]}
    panel_types = {panel["type"] for panel in dashboard["panels"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    assert {("panel", kind) for kind in panel_types} <= required
    assert "${datasource}" not in GRAFANA.read_text()  # no variable left to pick by hand
    for panel in dashboard["panels"]:
        for item in (panel, *panel["targets"]):
            assert item["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        for target in panel["targets"]:
            groups = re.findall(r"by\s*\(([^)]*)\)", target["expr"])
            assert groups, target["expr"]
            for group in groups:
                assert "row" in {label.strip() for label in group.split(",")}, target["expr"]
            assert "{{row}}" in target["legendFormat"], panel["title"]


def test_rows_that_differ_only_in_tls_settings_are_distinct_series_promtool_clean(tmp_path):
    from locust_mtls.locust import otel
    from locust_mtls.settings import RunSettings, TlsSettings

    stats = MtlsStats()
    for count, tls in enumerate((TlsSettings(), TlsSettings(resumption=True), TlsSettings("1.2"))):
        row = stats.row_for(RunSettings("identity-cache", tls=tls))
        for _ in range(count + 1):
            row.record(failed=False, identity_name="client-1")
    text = metrics.exposition(lambda: stats).decode()
    series = [labels for name, labels in samples(text) if name == "locust_mtls_requests_total"]
    assert len(series) == len(set(series)) == 3  # nothing for Prometheus to drop
    assert {dict(labels)["row"] for labels in series} == set(stats.rows)
    assert {otel.attributes(row)["row"] for row in stats.rows.values()} == set(stats.rows)
    if shutil.which("promtool"):
        (tmp_path / "metrics.txt").write_text(text)
        with open(tmp_path / "metrics.txt") as file:
            checked = subprocess.run(
                ["promtool", "check", "metrics"], stdin=file, capture_output=True, text=True
            )
        assert checked.returncode == 0, checked.stdout + checked.stderr
