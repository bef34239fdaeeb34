"""The benchmark's arithmetic (bench/cells.py, report.py, run.py), without running it."""

from __future__ import annotations

import pytest

from bench.cells import HTTPUSER, RAW_REQUESTS, Cell, cpu_between
from bench.report import NOTES_MARKER, aggregate, render, targets
from bench.run import parse_args, throughput_cells, write


def test_cpu_between_interpolates_and_extends_a_little_past_the_ends():
    samples = [(10.0, 0.0), (11.0, 1.0), (12.0, 3.0)]
    assert cpu_between(samples, 10.5, 11.5) == 1.5
    assert cpu_between(samples, 10.0, 12.3) == pytest.approx(3.6)  # exited right after
    assert cpu_between(samples, 8.0, 11.0) is None  # started long before the first sample
    assert cpu_between([], 1.0, 2.0) is None


def _run(client, rps, keepalive=True, kind="throughput", users=10, rss=50.0, cpu=1.0):
    cell = Cell("nginx", client, "greenlet", keepalive, users, kind)
    return {
        "cell": cell.to_dict(),
        "rps": rps,
        "rss_peak_mb": rss,
        "client_cpu_ms_per_request": cpu,
        "failures": 0,
    }


def test_aggregate_takes_median_min_max_and_ratios_to_both_baselines():
    runs = [_run("identity-cache", rate) for rate in (90, 100, 130)]
    runs += [_run(HTTPUSER, 100), _run(RAW_REQUESTS, 200), _run("identity-cache", 5, False)]
    rows = aggregate(runs)
    ours = next(r for r in rows if r["client"] == "identity-cache" and r["keepalive"])
    assert (ours["rps"], ours["rps_min"], ours["rps_max"], ours["runs"]) == (100, 90, 130, 3)
    assert ours["x_httpuser"] == 1.0
    assert ours["x_raw_requests"] == 0.5
    off = next(r for r in rows if not r["keepalive"])
    assert off["x_httpuser"] is None  # no baseline measured for keep-alive off


def test_targets_compare_rps_higher_and_memory_lower():
    runs = [
        _run("identity-cache", 100, cpu=1.0),
        _run(HTTPUSER, 110, cpu=2.0),
        _run("identity-cache", 0, kind="memory", users=1000, rss=60.0),
        _run(HTTPUSER, 0, kind="memory", users=1000, rss=50.0),
    ]
    checks = {c["target"]: c for c in targets(aggregate(runs), 1000)}
    keepalive = checks["nginx, keep-alive on: identity-cache / plain HttpUser cert="]
    assert (keepalive["ratio"], keepalive["cpu_ratio"], keepalive["met"]) == (0.91, 2.0, False)
    memory = checks["RSS, 1000 users x 10 identities: identity-cache / plain HttpUser"]
    assert (memory["ratio"], memory["met"]) == (1.2, True)
    missing = checks["nginx, keep-alive off: identity-cache / requests-default"]
    assert missing["met"] is None


def test_quick_mode_is_small_and_every_cell_has_both_baselines():
    args = parse_args(["--quick", "--targets", "echo"])
    cells = throughput_cells(args)
    assert args.reps == 1 and args.concurrency == ["greenlet"]
    assert len(cells) <= 20
    for keepalive in (True, False):
        clients = {c.client for c in cells if c.keepalive == keepalive}
        assert {HTTPUSER, RAW_REQUESTS, "identity-cache"} <= clients


def test_write_keeps_the_hand_written_notes(tmp_path):
    out = str(tmp_path / "benchmarks")
    (tmp_path / "benchmarks.md").write_text(f"old tables\n{NOTES_MARKER}\nmy findings\n")
    result = {
        "command": "python -m bench",
        "date": "today",
        "duration_s": 1.0,
        "environment": {"requests": "2.34.2"},
        "seconds": 1,
        "reps": 1,
        "users": 10,
        "identities": 10,
        "server_cpus": [0, 1],
        "client_cpus": [0, 1],
        "load_average_before_after": [1.0, 1.0],
        "blocks": {"create_urllib3_context": {"min_ms": 0.1, "median_ms": 0.2}},
        "targets": [],
        "rows": aggregate([_run(HTTPUSER, 100)]),
    }
    write(out, result, render(result))
    text = (tmp_path / "benchmarks.md").read_text()
    assert "old tables" not in text
    assert text.endswith(f"{NOTES_MARKER}\nmy findings\n")
    assert "| plain HttpUser cert= | greenlet | on | 100 (100-100)" in text
