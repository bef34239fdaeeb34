"""The benchmark's arithmetic and wiring (bench/), without running a benchmark."""

from __future__ import annotations

import json
import os
import ssl
import urllib.request

import pytest

from bench import glance, nginx
from bench.cells import Cell, window_rates
from bench.clients import AB, FASTHTTPUSER, HTTPUSER, MTLS_FASTHTTP, S_TIME_NEW, S_TIME_REUSE
from bench.report import NOTES_MARKER, aggregate, render, targets
from bench.run import parse_args, throughput_cells, write
from bench.server_counts import ServerCounter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_window_starts_after_warmup_where_the_server_count_moves_and_ends_at_its_last():
    samples = [(0.0, 0.0, 10), (1.0, 0.5, 10)]  # start-up: imports, no request yet
    samples += [(1.0 + t / 10, 0.5 + t / 10, 10 + 100 * t) for t in range(1, 31)]  # 3 s
    samples += [(5.0, 4.0, 3010), (6.0, 4.5, 3010)]  # shutdown
    rates = window_rates(samples)
    # from 1.6 s (0.5 s after the first moving sample) to 4.0 s, where 3010 was first seen
    assert rates["requests"] == 3010 - 610
    assert rates["elapsed_s"] == pytest.approx(2.4)
    assert rates["rps"] == pytest.approx(1000.0)
    assert rates["client_cpu_ms_per_request"] == pytest.approx(1.0)
    assert window_rates([(0.0, 0.0, 5), (1.0, 1.0, 5)]) == {}  # nothing served


def _run(client, rps, cpu, keepalive=False, kind="throughput", users=16, rss=50.0, processes=1):
    cell = Cell("nginx", client, "greenlet", keepalive, users, kind, processes)
    return {
        "cell": cell.to_dict(),
        "rps": rps,
        "client_cpu_ms_per_request": cpu,
        "rss_peak_mb": rss,
        "failures": 0,
    }


def test_fraction_of_the_best_c_reference_on_the_same_path_never_a_resumed_one():
    runs = [_run(MTLS_FASTHTTP, rate, cpu) for rate, cpu in ((700, 1.3), (800, 1.2), (600, 1.5))]
    runs += [_run(AB, 800, 0.8), _run(S_TIME_NEW, 400, 0.9), _run(S_TIME_REUSE, 900, 0.3)]
    runs += [_run(AB, 20000, 0.02, keepalive=True), _run(MTLS_FASTHTTP, 7000, 0.1, True)]
    rows = {(r["client"], r["keepalive"]): r for r in aggregate(runs)}
    ours = rows[(MTLS_FASTHTTP, False)]
    assert (ours["rps"], ours["rps_min"], ours["rps_max"], ours["runs"]) == (700, 600, 800, 3)
    assert ours["client_cpu_ms_per_request"] == 1.3
    assert ours["x_best_c_cpu"] == pytest.approx(0.8 / 1.3, abs=1e-3)  # ab, not s_time -reuse
    assert rows[(S_TIME_REUSE, False)]["x_best_c_cpu"] == pytest.approx(0.8 / 0.3, abs=1e-3)
    assert rows[(MTLS_FASTHTTP, True)]["x_best_c_cpu"] == 0.2


def test_targets_compare_cpu_per_request_with_plain_fasthttpuser_and_rps_with_ab():
    runs = [_run(MTLS_FASTHTTP, 700, 1.26), _run(FASTHTTPUSER, 720, 1.2), _run(AB, 800, 0.8)]
    runs += [_run(MTLS_FASTHTTP, 7000, 0.15, True), _run(FASTHTTPUSER, 7000, 0.14, True)]
    runs += [_run(MTLS_FASTHTTP, 7000, 0.15, True, processes=2)]
    checks = {c["target"]: c for c in targets(aggregate(runs), 1000)}
    off = checks["nginx, keep-alive off: CPU per request, mtls-fasthttp / fasthttpuser"]
    assert (off["measured"], off["met"]) == (1.05, True)
    on = checks["nginx, keep-alive on: CPU per request, mtls-fasthttp / fasthttpuser"]
    assert (on["measured"], on["met"]) == (1.07, False)
    of_ab = checks["nginx, keep-alive off: req/s, mtls-fasthttp / ab"]
    assert (of_ab["measured"], of_ab["met"]) == (0.88, True)
    cpu = checks["nginx, keep-alive off: mtls-fasthttp client CPU per request"]
    assert (cpu["measured"], cpu["met"]) == (1.26, False)
    # The same goal as a multiple of ab's CPU in this run: 1.2 ms where ab took 0.74 ms.
    of_ab_cpu = checks[
        "nginx, keep-alive off: CPU per request, mtls-fasthttp / ab (1.2 ms where ab took 0.74 ms)"
    ]
    assert (of_ab_cpu["measured"], of_ab_cpu["goal"], of_ab_cpu["met"]) == (1.57, "<= 1.62x", True)
    missing = checks["nginx, keep-alive off: CPU per request, requests-default / identity-cache"]
    assert missing["met"] is None


def test_quick_mode_has_references_baselines_ours_and_the_scale_out_cell():
    args = parse_args(["--quick", "--targets", "echo", "--out", "/tmp/x"])
    cells = throughput_cells(args)
    assert args.reps == 1
    assert len(cells) <= 15
    for keepalive in (True, False):
        clients = {c.client for c in cells if c.keepalive == keepalive and c.processes == 1}
        assert {HTTPUSER, FASTHTTPUSER, MTLS_FASTHTTP, "identity-cache"} <= clients
    assert [c.client for c in cells if c.processes == 2] == [MTLS_FASTHTTP]


def _result(rows) -> dict:
    return {
        "command": "python -m bench",
        "date": "today",
        "duration_s": 1.0,
        "environment": {"requests": "2.34.2", "CPUs": 2},
        "seconds": 1,
        "reps": 1,
        "users": 16,
        "identities": 10,
        "server_cpus": [0],
        "client_cpus": [1],
        "load_average_before_after": [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]],
        "blocks": {"create_urllib3_context": {"min_ms": 0.1, "median_ms": 0.2}},
        "targets": [],
        "rows": rows,
    }


def test_write_keeps_the_hand_written_notes(tmp_path):
    out = str(tmp_path / "benchmarks")
    (tmp_path / "benchmarks.md").write_text(f"old tables\n{NOTES_MARKER}\nmy findings\n")
    result = _result(aggregate([_run(HTTPUSER, 100, 2.0), _run(AB, 200, 1.0)]))
    write(out, result, render(result))
    text = (tmp_path / "benchmarks.md").read_text()
    assert "old tables" not in text
    assert text.endswith(f"{NOTES_MARKER}\nmy findings\n")
    assert "| plain `HttpUser` `cert=`, `verify=ca` | greenlet | off | 100 (100-100) " in text


def test_the_glance_comes_first_on_the_page(tmp_path):
    result = _result(aggregate([_run(MTLS_FASTHTTP, 700, 1.3), _run(AB, 800, 0.8)]))
    page = render(result, glance.lines(result))
    assert page.index("## Last run at a glance") < page.index("## Environment")
    assert "| `MtlsFastHttpUser` | off | 700 | 1.30 | 0.61 |" in page


def test_benchmarks_page_numbers_come_from_docs_benchmarks_json():
    """Every number docs/benchmarks.md generates (all above the hand-written notes, the
    glance included) is the committed run's, re-rendered."""
    with open(os.path.join(REPO, "docs", "benchmarks.json")) as file:
        result = json.load(file)
    with open(os.path.join(REPO, "docs", "benchmarks.md")) as file:
        page = file.read()
    assert NOTES_MARKER in page
    generated = page[: page.index(NOTES_MARKER)]
    assert generated == render(result, glance.lines(result)) + "\n", (
        "docs/benchmarks.md differs from docs/benchmarks.json: run `python -m bench` "
        "(it rewrites both) or `python -m bench --rerender`, never edit the numbers by hand"
    )


def _counts_served_requests(counter: ServerCounter, url: str, ca_file: str) -> None:
    try:
        before = counter.read()
        assert counter.read() == before  # reading the counter is not counted
        context = ssl.create_default_context(cafile=ca_file)
        for _ in range(3):
            urllib.request.urlopen(url + "/", context=context, timeout=10).read()
        assert counter.read() == before + 3
    finally:
        counter.close()


def test_echo_server_counter_counts_requests_not_its_own_reads(echo_pki, echo_server):
    counter = ServerCounter(echo_server.url + "/stats", echo_pki.ca_file)
    _counts_served_requests(counter, echo_server.url, echo_pki.ca_file)


@pytest.mark.skipif(nginx.missing_reason() is not None, reason=nginx.INSTALL_COMMAND)
def test_nginx_stub_status_counter_subtracts_its_own_reads(generated_pki):
    pki = generated_pki
    with nginx.start_nginx(pki.server_cert, pki.server_key, pki.ca_file, status=True) as server:
        _counts_served_requests(ServerCounter(server.status_url), server.url, pki.ca_file)
