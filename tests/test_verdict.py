"""verdict: must-be-clean strategies judged, and every baseline's failures named."""

from test_report import ROWS, row

from locust_mtls.matrix import outcomes
from locust_mtls.matrix.verdict import verdict_lines


def test_verdict_is_clean_when_only_unsafe_by_design_strategies_fail():
    rows = [
        r for r in ROWS if r["strategy"] in ("requests-default", "locked-load", "identity-cache")
    ]
    assert outcomes.failing_rows(rows) == []
    verdict = verdict_lines(rows)
    assert verdict[0] == "All must-be-clean strategies are clean: identity-cache (2 runs)."
    assert verdict[1:] == [
        "Baselines (not must-be-clean): requests-default: crashed on 2.32.3 (native-threads, "
        "3/3 runs); bled a certificate on 2.32.3 (greenlet, 2/2 runs); clean on 2.34.2.",
        "locked-load: sent a wrong identity on 2.32.3 (1/1 runs).",
    ]
    quiet = [r for r in rows if r["strategy"] != "locked-load"] + [row("locked-load")]
    assert "locked-load: clean in all 1 runs - NOT the failure" in verdict_lines(quiet)[-1]
    assert [r["strategy"] for r in outcomes.failing_rows(ROWS)] == ["thread-local"]
