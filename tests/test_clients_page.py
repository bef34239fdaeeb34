"""docs/results/clients.md: made from a client matrix's rows and the registry, never stale."""

from pathlib import Path

import pytest

from locust_mtls.matrix.aggregate import load_rows
from locust_mtls.matrix.clients_page import clients_page, share_range, write_clients_page
from locust_mtls.settings import SAFE
from locust_mtls.strategies import STRATEGIES

DOCS = Path(__file__).resolve().parent.parent / "docs" / "results"
COMMAND = "locust-mtls report docs/results/PAGE.jsonl --clients-page docs/results/PAGE.md"


def row(strategy, client, concurrency="greenlet", keepalive=False, repeat=1, **counters):
    base = {"requests": 100, "with_cert": 50, "without_cert": 50, "failures": 0, "crashes": 0,
            "wrong_identity": 0, "bleed": 0, "missing_certificate": 0, "rps": 10.0}  # fmt: skip
    base.update(counters)
    failed = base["wrong_identity"] + base["bleed"] + base["missing_certificate"]
    outcome = "crashed" if base["crashes"] else "bleed" if base["bleed"] else "clean"
    return {
        **base, "failures": base["failures"] + failed, "strategy": strategy, "client": client,
        "client_version": "1.0", "requests_version": "", "python": "3.11", "repeat": repeat,
        "concurrency": concurrency, "keepalive": keepalive, "outcome": outcome, "users": 16,
        "run_time_s": 8, "repeats": 2, "host": "embedded", "load_average": 1.5,
        "log_file": "cells/x.log", "crash": {"signal": "SIGSEGV", "stack_file": "x"}
        if base["crashes"] else None,
    }  # fmt: skip


@pytest.mark.parametrize("page", ["clients", "clients-http2"])
def test_the_page_is_made_again_from_its_rows_unchanged(page):
    made = clients_page(load_rows(DOCS / f"{page}.jsonl"), f"docs/results/{page}.md")
    assert made == (DOCS / f"{page}.md").read_text(), f"stale: run `{COMMAND}`"


def test_every_other_clients_failing_pattern_names_its_cause_and_a_safe_pattern_instead():
    for name, cls in STRATEGIES.items():
        if cls.library == "requests":
            continue
        assert cls.pattern, name
        if cls.safety != SAFE:
            assert cls.cause and cls.library in cls.cause and "line" in cls.cause, name
            fix = STRATEGIES[cls.instead]
            assert (fix.safety, fix.library) == (SAFE, cls.library), name


def test_shares_are_ranges_over_the_runs_of_what_each_can_happen_to():
    rows = [row("urllib3-shared-context", "urllib3", bleed=30), row("x", "x", bleed=50)]
    assert share_range(rows, "bleed") == "60–100 %"  # of the 50 sent without a certificate
    assert share_range(rows, "wrong_identity") == "–"
    assert share_range([row("x", "x", missing_certificate=0.2)], "missing_certificate") == "<1 %"
    assert share_range([row("x", "x", bleed=10, failures=5)], "errors") == "5 %"  # of all 100


def test_the_page_says_per_pattern_what_failed_why_and_what_to_write_instead(tmp_path):
    rows = [
        row("urllib3-shared-context", "urllib3", bleed=50),
        row("urllib3-shared-context", "urllib3", "native-threads", bleed=40, crashes=1),
        row("urllib3-ca-certs", "urllib3"),
        row("identity-cache", "requests"),  # requests' rows are not this page's
    ]
    page, data = write_clients_page(rows, tmp_path / "clients.md")
    text = page.read_text()
    assert (
        "| urllib3 1.0 | [`urllib3-shared-context`](#urllib3-shared-context) | unsafe | "
        "80–100 % | – | – | 1 of 1 runs (native-threads, keep-alive off) |" in text
    )
    assert "identity-cache" not in text and "cells/x.log" not in data.read_text()
    assert STRATEGIES["urllib3-shared-context"].cause in text
    assert STRATEGIES["urllib3-ca-certs"].pattern in text.split("**Write instead**")[1]
    assert clients_page(load_rows(data), str(page)) == text  # made again from what it wrote


def test_a_page_says_what_its_rows_do_not_measure_and_names_only_their_clients():
    http1 = clients_page([row("httpx-shared-ca-context", "httpx", bleed=50)])
    assert "Not measured here: httpx with `http2=True`" in http1
    http2 = clients_page([row("httpx-h2-shared-ca-context", "httpx", bleed=50)])
    assert "`http2=True`" not in http2.split("## ")[0]  # above the sections: measured
    assert "Not measured here: niquests' `AsyncSession`." in http2
    assert "\nhttpx, each with the patterns users write" in http2  # no other client named
