"""`--mtls-markdown FILE`: the run's summary in Markdown, for `$GITHUB_STEP_SUMMARY` or a PR
comment: the mTLS table, the thresholds with their verdicts, then the gate's verdict.

The table is the tab's row data (tables.rows) in the console table's columns, so its
numbers are the ones the console printed; verdicts come from results/run_checks.py, like
the JUnit file's.
"""

from __future__ import annotations

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.results.tables import COLUMNS, client_path_lines, rows
from locust_mtls.results.run_checks import threshold_limit
from locust_mtls.results.thresholds import measured_text

# The console table's columns (tables.text_table), then the cells of its second line:
# the rates say what they are a share of (settings.RATE_BASES).
MARKDOWN_COLUMNS = (
    "strategy",
    "mode",
    "requests",
    "rps",
    "wrong_identity",
    "missing_certificate",
    "bleed",
    "unreported",
    "crashes",
    "handshake_p50_ms",
    "handshake_p95_ms",
    "wrong_identity_rate",
    "missing_certificate_rate",
    "bleed_rate",
    "tls",
    "identity_checked",
)
NUMBER_COLUMNS = set(MARKDOWN_COLUMNS[2:11])
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
    # The strategy cell is the row's full name (settings.row_name), as the console and the
    # thresholds' Row column say it: the tab's strategy column drops the modes, and two
    # rows of one strategy (keep-alive on and off, TLS 1.2 and 1.3) would look alike.
    # rows() lists the rows in to_dict() order, then one per lost worker (named so).
    names = list(stats.to_dict()["strategies"])
    body = [
        [names[index] if index < len(names) else row["strategy"]]
        + [row[key] for key in MARKDOWN_COLUMNS[1:]]
        for index, row in enumerate(rows(stats))
    ]
    if not body:
        return ["No mTLS requests."]
    return table([TITLES[key] for key in MARKDOWN_COLUMNS], body, right)


def thresholds_table(thresholds: list[dict]) -> list[str]:
    if not thresholds:
        return ["No thresholds (`--mtls-threshold`)."]
    body = [
        [
            f"`{verdict['expression']}`",
            verdict.get("row") or "all",  # one verdict per row a scoped threshold covers
            measured_text(verdict),
            threshold_limit(verdict),
            verdict_text(verdict),
        ]
        for verdict in thresholds
    ]
    return table(["Threshold", "Row", "Measured", "Limit", "Verdict"], body, {2})


def verdict_text(verdict: dict) -> str:
    text = "passed" if verdict.get("passed") else "**FAILED**"
    return text + (" (aborted the run)" if verdict.get("aborted") else "")


def markdown_summary(stats: MtlsStats, thresholds: list[dict], failed: list[str]) -> str:
    """The whole document; `failed` is one line per failed threshold or gated counter."""
    paths = client_path_lines(stats)
    lines = ["## locust-mtls summary", ""]
    if len(paths) == 1:
        lines += [f"Client path: {paths[0]}", ""]
    else:
        lines += ["Client paths:", "", *(f"- {cell(line)}" for line in paths), ""]
    lines += mtls_table(stats)
    lines += ["", "### Thresholds", "", *thresholds_table(thresholds), "", "### Gate", ""]
    if failed:
        lines += [f"**FAILED**: {len(failed)} check(s) failed", ""]
        lines += [f"- {cell(line)}" for line in failed]
    else:
        lines.append("**passed**: every threshold held, no gated mTLS counter above 0")
    return "\n".join(lines) + "\n"
