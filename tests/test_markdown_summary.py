"""--mtls-markdown's document (locust/markdown_summary.py): the tab's rows in the console's
columns, thresholds with verdicts (built by hand in the contract's shape), the gate, and
cells that cannot break the table. A real run's numbers: tests/test_ci_results.py."""

import re

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.results import tables
from locust_mtls.results.markdown_summary import MARKDOWN_COLUMNS, markdown_summary
from locust_mtls.results.run_checks import failed_checks
from locust_mtls.tls.connections import ConnectionLog

THRESHOLDS = [
    {"expression": "identity-cache:rps>=400", "scope": "identity-cache",
     "row": "identity-cache [keep-alive off]",
     "metric": "rps", "operator": ">=", "limit": 400.0, "unit": "", "measured": 388.2,
     "passed": False, "aborted": False},
    {"expression": "handshake_p95<50ms", "scope": "", "row": "all", "metric": "handshake_p95",
     "operator": "<", "limit": 50.0, "unit": "ms", "measured": 12.5, "passed": True,
     "aborted": False},
]  # fmt: skip


def stats() -> MtlsStats:
    stats = MtlsStats(client_path="a | path")
    row = stats.row("shared-context", "greenlet", False)
    row.record(
        failed=True, failure_kind="bleed", connections=ConnectionLog([3.0]), identity_name=None
    )
    row.record(
        failed=False, failure_kind=None, connections=ConnectionLog([5.0]), identity_name="client-1"
    )
    return stats


def table_lines(text: str, heading: str) -> list[str]:
    section = text.split(heading)[1].split("###")[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_table_thresholds_and_a_failed_gate():
    totals = stats()
    document = {**totals.to_dict(), "thresholds": THRESHOLDS}
    text = markdown_summary(totals, THRESHOLDS, failed_checks(document, "bleed"))
    header, rule, row = table_lines(text, "## locust-mtls summary")
    assert header.startswith(
        "| Strategy | Mode | Requests | RPS | Wrong identity | Missing certificate | Cert bleed |"
    )
    assert rule.count("---:") == 9  # the console's nine numbers, right-aligned
    (tab_row,) = tables.rows(totals)
    cells = [cell.strip() for cell in row.strip("|").split(" | ")]
    # the full row name, as the console prints it (the tab's strategy column drops the modes)
    assert cells[:4] == [
        "shared-context [keep-alive off]",
        "greenlet, keep-alive off",
        "2",
        str(tab_row["rps"]),
    ]
    assert cells[6] == "1"  # bleed (after wrong identity and missing certificate)
    threshold_rows = table_lines(text, "### Thresholds")[2:]
    assert threshold_rows == [
        "| `identity-cache:rps>=400` | identity-cache [keep-alive off] | 388.2 | >= 400 "
        "| **FAILED** |",
        "| `handshake_p95<50ms` | all | 12.5 ms | < 50 ms | passed |",
    ]
    gate = text.split("### Gate")[1]
    assert "**FAILED**: 2 check(s) failed" in gate
    line = "- identity-cache:rps>=400 [identity-cache [keep-alive off]]: rps: measured 388.2"
    assert line + ", limit >= 400" in gate
    line = "- shared-context [keep-alive off]: cert bleed: 1 in 1 requests sent without a "
    assert line + "certificate (must be 0)" in gate
    # The path the row takes (before any row, the run's: requests' own), prose, not a cell.
    assert "Client path: One SSLContext for all users" in text
    assert "Client path: a | path" in markdown_summary(MtlsStats(client_path="a | path"), [], [])


def test_a_passed_gate_and_cells_that_cannot_break_the_table():
    totals = MtlsStats(client_path="p")
    totals.row("x|y").record(
        failed=False, failure_kind=None, connections=ConnectionLog([1.0]), identity_name="a|b"
    )
    text = markdown_summary(totals, [], [])
    (row,) = table_lines(text, "## locust-mtls summary")[2:]
    assert row.startswith("| x\\|y | ")  # an escaped pipe stays in its cell
    assert len(re.split(r"(?<!\\)\|", row.strip()[1:-1])) == len(MARKDOWN_COLUMNS)
    assert "No thresholds" in text and "**passed**" in text.split("### Gate")[1]
    assert markdown_summary(MtlsStats(), [], []).count("No mTLS requests.") == 1
