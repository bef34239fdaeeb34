"""Report rebuild from results.jsonl alone: summary.md cells, verdict, offline report.html."""

import json
import re

import pytest

from locust_mtls.cli import main
from locust_mtls.errors import ConfigError
from locust_mtls.matrix import aggregate, outcomes, report
from locust_mtls.matrix.verdict import verdict_lines

ENVIRONMENT = {
    "requests": "2.32.3",
    "urllib3": "2.8.0",
    "locust": "2.47.0",
    "gevent": "26.9.0",
    "python": "3.11.7",
    "openssl": "OpenSSL 3.0.19 27 Jan 2026",
}


def row(strategy, version="2.32.3", concurrency="greenlet", keepalive=False, repeat=1, **fields):
    """A results.jsonl row as matrix_cells.cell_row writes it; counters overridable."""
    base = {
        "key": f"py3.11/requests-{version}/{concurrency}/{keepalive}/{strategy}/{repeat}",
        "strategy": strategy, "python": "3.11", "requests_version": version,
        "concurrency": concurrency, "keepalive": keepalive, "repeat": repeat, "users": 32,
        "run_time_s": 15, "host": "embedded",
        "must_be_clean": strategy in outcomes.MUST_BE_CLEAN_DEFAULT, "outcome": "clean",
        "detail": "clean", "requests": 1000, "with_cert": 500, "without_cert": 500,
        "failures": 0, "wrong_identity": 0, "bleed": 0,
        "handshakes": 1000, "handshake_ms": {"p50": 2.5, "p95": 6.0}, "rps": 400.0,
        "elapsed_s": 15.0, "crash": None, "returncode": 0,
        "environment": {**ENVIRONMENT, "requests": version},
        "client_path": f"requests {version}: shared preloaded SSLContext (verify=True)",
        "log_file": f"cells/{strategy}.log", "summary_file": f"cells/{strategy}.json",
    }  # fmt: skip
    base.update(fields)
    return base


def crashed(strategy, repeat, **fields):
    crash = {"signal": "SIGSEGV", "where": "thread-engine", "requests_done": 80,
             "stack_file": "cells/crashes/x.faulthandler.log"}  # fmt: skip
    fields = {"detail": "crashed: SIGSEGV after 80 requests, faulthandler stack saved",
              "requests": 80, "with_cert": 40, "without_cert": 40, **fields}  # fmt: skip
    return row(strategy, concurrency="native-threads", repeat=repeat, outcome="crashed",
               crash=crash, rps=0.0, **fields)  # fmt: skip


ROWS = [
    *(crashed("requests-default", r) for r in (1, 2, 3)),
    *(row("requests-default", repeat=r, outcome="bleed", bleed=500, failures=500) for r in (1, 2)),
    row("requests-default", version="2.34.2", rps=412.0),
    row("identity-cache", version="2.34.2", repeat=1, rps=500.0),
    row("identity-cache", version="2.34.2", repeat=2, rps=540.0),
    row("locked-load", outcome="wrong-identity", wrong_identity=30, failures=30),
    row("thread-local", outcome="hung", detail="hung: killed after 45 s", returncode=None),
]


@pytest.fixture
def results_dir(tmp_path):
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    return tmp_path


def test_cells_show_the_worst_outcome_and_its_rate():
    strategies, columns, cells = aggregate.grid(ROWS)
    assert strategies == ["requests-default", "thread-local", "locked-load", "identity-cache"]
    crash_column = ("3.11", "2.32.3", "native-threads", False)
    greenlet_232 = ("3.11", "2.32.3", "greenlet", False)
    greenlet_234 = ("3.11", "2.34.2", "greenlet", False)
    assert cells[("requests-default", crash_column)]["text"] == "crash 3/3 runs"
    # Every request sent without a certificate bled: 100% of them, half of all requests.
    assert cells[("requests-default", greenlet_232)]["text"] == "bleed 2/2 runs (100% of no-cert)"
    assert cells[("requests-default", greenlet_234)]["text"] == "clean 412 rps"
    assert cells[("locked-load", greenlet_232)]["text"] == "wrong id 6% of with-cert"
    assert cells[("thread-local", greenlet_232)]["text"] == "hung"
    pooled = cells[("identity-cache", greenlet_234)]
    assert (pooled["rps"], pooled["rps_min"], pooled["rps_max"]) == (520.0, 500.0, 540.0)
    mixed = aggregate.aggregate_cell([ROWS[0], row("x", repeat=2), row("x", repeat=3)])
    assert mixed["text"] == "crash 1/3 runs"
    before_issue_26 = {k: v for k, v in ROWS[3].items() if k not in ("with_cert", "without_cert")}
    assert aggregate.aggregate_cell([before_issue_26])["text"] == "bleed 50% of all"


def test_report_command_rebuilds_summary_and_html_from_jsonl_alone(results_dir, capsys):
    assert main(["report", str(results_dir)]) == 0
    assert "NOT CLEAN: thread-local" in capsys.readouterr().out
    summary = (results_dir / "summary.md").read_text()
    header, rule, *table = summary.splitlines()
    assert header.startswith("| strategy | 2.32.3<br>greenlet<br>keep-alive off |")
    assert rule.count("|---") == 4  # strategy + three columns
    bleed, crash, clean = "bleed 2/2 runs (100% of no-cert)", "crash 3/3 runs", "clean 412 rps"
    assert table[0] == f"| requests-default | {bleed} | {crash} | {clean} |"
    assert "| identity-cache (must be clean) |  |  | clean 520 rps |" in summary
    assert "NOT CLEAN: thread-local on requests 2.32.3" in summary
    assert "OpenSSL 3.0.19" in summary and "urllib3 2.8.0" in summary
    page = (results_dir / "report.html").read_text()
    page = page.replace("\\u002f", "/")  # plotly's JSON escapes "/" inside <script>
    needles = [
        "crash 3/3 runs",
        "bleed 2/2 runs (100% of no-cert)",
        "locked-load",
        "a lock around the load alone",
    ]
    needles += ["OpenSSL 3.0.19", "shared preloaded SSLContext", "x.faulthandler.log"]
    for needle in needles:
        assert needle in page


def test_report_html_is_self_contained(results_dir):
    report.write_reports(results_dir)
    page = (results_dir / "report.html").read_text()
    external = re.findall(
        r"<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", page, re.I
    )
    assert external == []
    assert page.count("<script") >= 3  # plotly.js once, then one per figure
    assert len(re.findall(r"\* plotly\.js v\d", page)) == 1  # the library is inlined once only


def test_bad_results_files_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="results.jsonl not found"):
        aggregate.load_rows(tmp_path)
    (tmp_path / "results.jsonl").write_text(json.dumps(ROWS[0]) + "\n{oops\n")
    with pytest.raises(ConfigError, match=r"results.jsonl:2 is not JSON"):
        aggregate.load_rows(tmp_path)


def test_legend_knows_every_registered_strategy():
    from locust_mtls.strategies import STRATEGIES

    assert tuple(STRATEGIES) == outcomes.STRATEGIES
    assert "locked-load" not in outcomes.MUST_BE_CLEAN_DEFAULT
    assert {"requests-default", "shared-context"}.isdisjoint(outcomes.MUST_BE_CLEAN_DEFAULT)


FIVE_VERSIONS = ("2.31.0", "2.32.3", "2.32.4", "2.32.5", "2.34.2")
MODES = [(c, k) for c in ("greenlet", "native-threads") for k in (True, False)]


def five_version_rows(repeats: int = 2) -> list[dict]:
    """A 5-version x 7-strategy x 4-mode matrix as the real one looks: requests-default
    crashes on native threads on 2.32.3/2.32.4 and bleeds there on greenlets, the unsafe
    baselines leak, the safe strategies are clean (throughput and handshakes vary)."""
    rows = []
    for v_index, version in enumerate(FIVE_VERSIONS):
        for s_index, strategy in enumerate(outcomes.STRATEGIES):
            for concurrency, keepalive in MODES:
                for repeat in range(1, repeats + 1):
                    speed = 300 + 40 * s_index + 15 * v_index + 7 * repeat
                    speed = speed if keepalive else speed / 3
                    fields = {"rps": float(round(speed)), "requests": int(speed * 15)}
                    fields["handshake_ms"] = {"p50": 0.8 + 0.7 * s_index, "p95": 3 + 4 * s_index}
                    if strategy == "requests-default" and version == "2.34.2":
                        fields["handshake_ms"] = {"p50": 180.0, "p95": 420.0}  # CA re-read
                    native = concurrency == "native-threads"
                    bad = version in ("2.32.3", "2.32.4")
                    if strategy == "requests-default" and bad and native:
                        crashes = 2 + repeat
                        detail = (f"crashed {crashes} times (last: SIGSEGV), {800 * crashes} "
                                  "requests across restarts")  # fmt: skip
                        rows.append(crashed(strategy, repeat, requests_version=version,
                                            keepalive=keepalive, crashes=crashes,
                                            run_time_s=20, no_cert_split="requests",
                                            requests=800 * crashes, detail=detail))  # fmt: skip
                        continue
                    if strategy == "requests-default" and bad:
                        half = fields["requests"] // 2
                        fields.update(outcome="bleed", bleed=half, failures=half)
                    elif strategy == "shared-context":
                        half = fields["requests"] // 2
                        fields.update(outcome="bleed", bleed=half, failures=half)
                        if native:
                            wrong = fields["requests"] // 30
                            fields.update(outcome="wrong-identity", wrong_identity=wrong,
                                          failures=half + wrong)  # fmt: skip
                    elif strategy == "locked-load" and native and not keepalive:
                        fields.update(outcome="wrong-identity", wrong_identity=3, failures=3)
                    elif strategy == "requests-default" and version == "2.31.0" and keepalive:
                        fields.update(outcome="wrong-identity", wrong_identity=40, failures=40)
                    rows.append(row(strategy, version, concurrency, keepalive, repeat,
                                    no_cert_split="requests", users=32, run_time_s=20,
                                    **fields))  # fmt: skip
    return rows


def test_a_five_version_report_names_crashes_and_settings_and_every_label_fits(tmp_path):
    rows = five_version_rows()
    verdict = verdict_lines(rows)
    assert verdict[0].startswith("All must-be-clean strategies are clean: per-thread-session")
    crash_line = next(line for line in verdict if "requests-default" in line)
    assert "crashed on 2.32.3, 2.32.4 (native-threads, 8 of 8 runs)" in crash_line
    assert "clean on 2.32.5, 2.34.2" in crash_line
    _, columns, cells = aggregate.grid(rows)
    crashing = cells[("requests-default", ("3.11", "2.32.3", "native-threads", True))]
    assert crashing["lines"] == ["crash 2/2 runs", "7 crashes, 5.6k req"]
    assert crashing["text"] == "crash 2/2 runs (7 crashes)"
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report.write_reports(tmp_path)
    page = (tmp_path / "report.html").read_text()
    for fact in (
        "no-cert split requests (each user mixes",
        "32 users",
        "20 s per run",
        "up to 2 runs per cell",
    ):
        assert fact in page
    assert "2 ms" in page and "1 s" in page  # log-axis ticks carry their unit
