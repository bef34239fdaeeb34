"""`locust-mtls report RESULTS_DIR`: summary.md and report.html from results.jsonl alone.

The row schema is documented in `locust_mtls.matrix.cells.cell_row` and docs/matrix.md. plotly is
imported only while the HTML is built; the page inlines plotly.js once and loads nothing
from the network.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import json
import re
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

from locust_mtls.errors import ConfigError
from locust_mtls.matrix.outcomes import (
    ENV_FACTS,
    OUTCOMES,
    STRATEGIES,
    version_key,
    versions_text,
)
from locust_mtls.matrix.verdict import verdict_lines
from locust_mtls.results.files import check_output_file


def load_rows(results_dir: str | Path) -> list[dict]:
    """Every row of RESULTS_DIR/results.jsonl; ConfigError naming the file or line if bad."""
    path = Path(results_dir) / "results.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path} not found; pass the --out directory of `locust-mtls matrix`")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ConfigError(f"{path}:{number} is not JSON; delete that line") from None
    return rows


def aggregate(rows: list[dict]) -> dict:
    """The repeats of one cell summed up: worst outcome, its rate, crashes, rps mean/min/max.

    `text` is one line (summary.md); `lines` the same in short lines for a heatmap square.
    """
    worst = min((row["outcome"] for row in rows), key=list(OUTCOMES).index)
    count = sum(row["outcome"] == worst for row in rows)
    total_requests = sum(row.get("requests") or 0 for row in rows)
    rps = [row["rps"] for row in rows if row.get("rps")]
    # Rows written before `crashes` existed count their one recorded crash.
    crashes = sum(row.get("crashes") or (1 if row.get("crash") else 0) for row in rows)
    field = {"wrong-identity": "wrong_identity", "bleed": "bleed", "errors": "failures"}.get(worst)
    if field:
        bad = sum(row.get(field) or 0 for row in rows)
        if worst == "errors":
            bad -= sum((row.get("wrong_identity") or 0) + (row.get("bleed") or 0) for row in rows)
        lines = [f"{OUTCOMES[worst][0]} {percent(bad, total_requests)}"]
        bleed = sum(row.get("bleed") or 0 for row in rows)
        if worst == "wrong-identity" and bleed:  # both at once is common on shared contexts
            lines.append(f"bleed {percent(bleed, total_requests)}")
    elif worst == "clean":
        lines = ["clean", f"{statistics.mean(rps):.0f} rps"] if rps else ["clean"]
    else:
        lines = [f"{OUTCOMES[worst][0]} {count}/{len(rows)}"]
        if worst == "crashed":
            lines.append(
                f"{crashes} crash{'es' if crashes > 1 else ''}, {short(total_requests)} req"
            )
    text = " ".join(lines) if worst == "clean" else ", ".join(lines)
    if worst == "crashed":  # "crash 3/3" (runs), plus the restarts when more crashes than runs
        text = lines[0] + (f" ({crashes} crashes)" if crashes > count else "")
    return {
        "outcome": worst,
        "text": text,
        "lines": lines,
        "runs": len(rows),
        "crashes": crashes,
        "requests": total_requests,
        "rps": statistics.mean(rps) if rps else 0.0,
        "rps_min": min(rps, default=0.0),
        "rps_max": max(rps, default=0.0),
        "details": [row.get("detail", "") for row in rows],
    }


def short(count: int) -> str:
    """812, 2.4k, 31k, 1.2M: a request count that fits a small square."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M"


def percent(part: int, whole: int) -> str:
    """'50%', or '<1%' for a small non-zero share."""
    if not whole:
        return "n/a"
    share = 100 * part / whole
    return "<1%" if 0 < share < 1 else f"{share:.0f}%"


def cell_groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    """The runs of each cell: (strategy, (python, versions, concurrency, keepalive)) -> rows."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        column = (row["python"], versions_text(row), row["concurrency"], row["keepalive"])
        groups.setdefault((row["strategy"], column), []).append(row)
    return groups


def grid(rows: list[dict]) -> tuple[list[str], list[tuple], dict]:
    """Strategies (rows), columns (python, requests, concurrency, keepalive), aggregates."""
    groups = cell_groups(rows)
    names = {row["strategy"] for row in rows}
    strategies = [s for s in STRATEGIES if s in names] + sorted(names - set(STRATEGIES))
    columns = sorted({column for _, column in groups}, key=column_order)
    return strategies, columns, {key: aggregate(group) for key, group in groups.items()}


def column_order(column: tuple) -> tuple:
    """Sort by python, requests version (numerically), concurrency, keep-alive on first."""
    python, versions, concurrency, keepalive = column
    numbers = [version_key(v) for v in re.findall(r"\d+(?:\.\d+)+", versions)]
    return (version_key(python), numbers, concurrency, not keepalive)


def environment_facts(rows: list[dict]) -> list[dict]:
    """One entry per (python, requests) environment: the exact versions it reported."""
    facts: dict[tuple, dict] = {}
    for row in rows:
        key = (row["python"], row["requests_version"], row.get("locust_version") or "")
        entry = facts.setdefault(key, {"python_label": row["python"], "paths": set()})
        entry["labels"] = row.get("env_labels") or []
        entry.update({k: v for k, v in (row.get("environment") or {}).items() if v})
        if row.get("client_path"):
            entry["paths"].add(row["client_path"])
    return [
        facts[key]  # by python, Locust, requests
        for key in sorted(facts, key=lambda k: [version_key(part) for part in (k[0], k[2], k[1])])
    ]


def summary_markdown(rows: list[dict]) -> str:
    """A Markdown table to paste into a PR: strategies x (requests, concurrency, keep-alive)."""
    strategies, columns, cells = grid(rows)
    many_pythons = len({column[0] for column in columns}) > 1
    headers = []
    for python, version, concurrency, keepalive in columns:
        prefix = f"py{python} " if many_pythons else ""
        headers.append(
            f"{prefix}{version}<br>{concurrency}<br>keep-alive {'on' if keepalive else 'off'}"
        )
    lines = ["| strategy | " + " | ".join(headers) + " |", "|---" * (len(columns) + 1) + "|"]
    for strategy in strategies:
        marker = (
            " (must be clean)"
            if any(row["strategy"] == strategy and row.get("must_be_clean") for row in rows)
            else ""
        )
        texts = [cells[(strategy, c)]["text"] if (strategy, c) in cells else "" for c in columns]
        lines.append(f"| {strategy}{marker} | " + " | ".join(texts) + " |")
    lines += ["", *verdict_lines(rows), "", "Environments:", ""]
    for entry in environment_facts(rows):
        versions = ", ".join(f"{name} {entry.get(name, '?')}" for name in ENV_FACTS)
        labels = "".join(f" ({label})" for label in entry.get("labels") or ())
        lines.append(f"- py{entry['python_label']}: {versions}{labels}")
    first = rows[0] if rows else {}
    lines += [
        "",
        f"{len(rows)} cell runs, {first.get('users', '?')} users, {first.get('run_time_s', '?')} s "
        f"each, host {first.get('host', '?')}. Cells: worst outcome over repeats; crash/hung "
        "= runs with that outcome / runs; wrong id, bleed, errors = share of all requests.",
    ]
    return "\n".join(lines) + "\n"


def write_reports(results_dir: str | Path) -> tuple[Path, Path]:
    """Rebuild summary.md and report.html in RESULTS_DIR from its results.jsonl."""
    results_dir = Path(results_dir)
    rows = load_rows(results_dir)
    summary_path = results_dir / "summary.md"
    summary_path.write_text(summary_markdown(rows))
    html_path = results_dir / "report.html"
    if importlib.util.find_spec("plotly") is None:  # keep the tables, say how to get charts
        print(
            "report.html has no charts: plotly is not installed (pip install plotly)",
            file=sys.stderr,
        )
        body = f"<pre>{html.escape(summary_markdown(rows))}</pre>"
        html_path.write_text(f"<!doctype html><meta charset='utf-8'><title>matrix</title>{body}")
    else:
        from locust_mtls.matrix.report_html import report_html  # imports plotly

        html_path.write_text(report_html(rows))
    return summary_path, html_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `locust-mtls report`."""
    parser.add_argument(
        "results", nargs="?", default="results", help="the --out directory of a matrix run"
    )
    parser.add_argument("--junit", default="", metavar="FILE", help="also write JUnit XML")


def run(args: argparse.Namespace) -> int:
    """Rebuild the reports; print where they are and the verdict."""
    from locust_mtls.matrix.junit_cases import write_matrix_junit  # it imports this module

    check_output_file(args.junit, "--junit")
    summary_path, html_path = write_reports(args.results)
    print(f"wrote {summary_path} and {html_path} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    rows = load_rows(args.results)
    if args.junit:
        write_matrix_junit(args.junit, rows)
        print(f"wrote {args.junit}")
    print("\n".join(verdict_lines(rows)))
    return 0
