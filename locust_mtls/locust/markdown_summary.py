"""`--mtls-markdown FILE`: the run's summary in Markdown, for `$GITHUB_STEP_SUMMARY` or a PR
comment: the mTLS table, the thresholds with their verdicts, then the gate's verdict.

The table is the tab's row data (web_ui.rows) in the console table's columns, so its
numbers are the ones the console printed; verdicts come from results/run_checks.py, like
the JUnit file's.
"""

from __future__ import annotations

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust.web_ui import COLUMNS, rows
from locust_mtls.results.run_checks import (
    threshold_limit,
    threshold_measured,
    threshold_name,
)

# The console table's columns (web_ui.text_table), then the cells of its second line.
MARKDOWN_COLUMNS = (
    "strategy",
    "mode",
    "requests",
    "rps",
    "wrong_identity",
    "bleed",
    "unreported",
    "crashes",
    "handshake_p50_ms",
    "handshake_p95_ms",
    "tls",
    "identity_checked",
)
NUMBER_COLUMNS = set(MARKDOWN_COLUMNS[2:10])
TITLES = dict(COLUMNS)


def cell(value) -> str:
    """A table cell: a pipe or a line break would end the cell or the row."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], body: list[list], right: set[int] = frozenset()) -> list[str]:
    rule = ["---:" if index in right else "---" for index in range(len(header))]
    return [
        "| " + " | ".join(line) + " |"
        for line in [header, rule, *([cell(value) for value in row] for row in body)]
    ]


def mtls_table(stats: MtlsStats) -> list[str]:
    right = {i for i, key in enumerate(MARKDOWN_COLUMNS) if key in NUMBER_COLUMNS}
    body = [[row[key] for key in MARKDOWN_COLUMNS] for row in rows(stats)]
    if not body:
        return ["No mTLS requests."]
    return table([TITLES[key] for key in MARKDOWN_COLUMNS], body, right)


def thresholds_table(thresholds: list[dict]) -> list[str]:
    if not thresholds:
        return ["No thresholds (`--mtls-threshold`)."]
    body = [
        [
            f"`{threshold_name(verdict)}`",
            threshold_measured(verdict),
            threshold_limit(verdict),
            "passed" if verdict.get("passed") else "**FAILED**",
        ]
        for verdict in thresholds
    ]
    return table(["Threshold", "Measured", "Limit", "Verdict"], body, {1})


def markdown_summary(stats: MtlsStats, thresholds: list[dict], failed: list[str]) -> str:
    """The whole document; `failed` is one line per failed threshold or gated counter."""
    lines = ["## locust-mtls summary", "", f"Client path: {stats.client_path}", ""]
    lines += mtls_table(stats)
    lines += ["", "### Thresholds", "", *thresholds_table(thresholds), "", "### Gate", ""]
    if failed:
        lines += [f"**FAILED**: {len(failed)} check(s) failed", ""]
        lines += [f"- {cell(line)}" for line in failed]
    else:
        lines.append("**passed**: every threshold held, no gated mTLS counter above 0")
    return "\n".join(lines) + "\n"
