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

from packaging.version import InvalidVersion, Version

from locust_mtls.errors import ConfigError
from locust_mtls.settings import SAFE, UNSAFE
from locust_mtls.strategies import STRATEGIES as REGISTRY

# The order of the registry is the order of every table; notes and safety come from it.
STRATEGY_NOTES = {name: cls.note for name, cls in REGISTRY.items()}
STRATEGIES = tuple(REGISTRY)
UNSAFE_BY_DESIGN = tuple(name for name, cls in REGISTRY.items() if cls.safety == UNSAFE)
# requests-default is safe or not depending on the requests version: that is what it shows.
MUST_BE_CLEAN_DEFAULT = tuple(name for name, cls in REGISTRY.items() if cls.safety == SAFE)

# outcome -> (short label, colour, meaning); worst first, so a group shows its worst row.
OUTCOMES = {
    "crashed": ("crash", "#67000d", "the client died by a signal (e.g. SIGSEGV in OpenSSL)"),
    "hung": ("hung", "#54278f", "the cell did not finish within run time + margin; killed"),
    "wrong-identity": ("wrong id", "#d7301f", "the server saw another user's certificate, or none"),
    "bleed": ("bleed", "#fc8d59", "a request meant to go without a cert presented one"),
    "no-result": ("no result", "#969696", "Locust did not start or reported no requests"),
    "errors": ("errors", "#fdd835", "requests failed (e.g. TLS errors), identity checks passed"),
    "clean": ("clean", "#1a9850", "no crash, no wrong identity, no bleed, no failed request"),
}
# What makes `locust-mtls matrix` exit 1 for a strategy listed in --must-be-clean.
FAILING_OUTCOMES = ("crashed", "hung", "wrong-identity", "bleed", "no-result")
ENV_FACTS = ("requests", "urllib3", "locust", "gevent", "python", "openssl")


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


def failing_rows(rows: list[dict]) -> list[dict]:
    """Rows of a --must-be-clean strategy that crashed, hung, mismatched, bled or gave nothing."""
    return [row for row in rows if row.get("must_be_clean") and row["outcome"] in FAILING_OUTCOMES]


def mode_label(row: dict) -> str:
    """'greenlet, keep-alive off': the run mode of a row."""
    return f"{row['concurrency']}, keep-alive {'on' if row['keepalive'] else 'off'}"


def version_label(row: dict, many_pythons: bool) -> str:
    """The requests version, prefixed with the Python version when several were run."""
    return (
        f"py{row['python']} {row['requests_version']}" if many_pythons else row["requests_version"]
    )


def versions_text(row: dict) -> str:
    """'2.32.3', '2.32.0 (yanked)', or 'locust 2.42.0, requests 2.34.2' on a Locust axis."""
    text = row["requests_version"]
    if any("yanked" in label for label in row.get("env_labels") or ()):
        text += " (yanked)"
    return f"locust {row['locust_version']}, requests {text}" if row.get("locust_version") else text


def aggregate(rows: list[dict]) -> dict:
    """The repeats of one cell summed up: worst outcome, its rate, and rps mean/min/max."""
    worst = min((row["outcome"] for row in rows), key=list(OUTCOMES).index)
    count = sum(row["outcome"] == worst for row in rows)
    total_requests = sum(row.get("requests") or 0 for row in rows)
    rps = [row["rps"] for row in rows if row.get("rps")]
    field = {"wrong-identity": "wrong_identity", "bleed": "bleed", "errors": "failures"}.get(worst)
    if field:
        bad = sum(row.get(field) or 0 for row in rows)
        if worst == "errors":
            bad -= sum((row.get("wrong_identity") or 0) + (row.get("bleed") or 0) for row in rows)
        text = f"{OUTCOMES[worst][0]} {percent(bad, total_requests)}"
        bleed = sum(row.get("bleed") or 0 for row in rows)
        if worst == "wrong-identity" and bleed:  # both at once is common on shared contexts
            text += f", bleed {percent(bleed, total_requests)}"
    elif worst == "clean":
        text = f"clean {statistics.mean(rps):.0f} rps" if rps else "clean"
    else:
        text = f"{OUTCOMES[worst][0]} {count}/{len(rows)}"
    return {
        "outcome": worst,
        "text": text,
        "rps": statistics.mean(rps) if rps else 0.0,
        "rps_min": min(rps, default=0.0),
        "rps_max": max(rps, default=0.0),
        "details": [row.get("detail", "") for row in rows],
    }


def percent(part: int, whole: int) -> str:
    """'50%', or '<1%' for a small non-zero share."""
    if not whole:
        return "n/a"
    share = 100 * part / whole
    return "<1%" if 0 < share < 1 else f"{share:.0f}%"


def grid(rows: list[dict]) -> tuple[list[str], list[tuple], dict]:
    """Strategies (rows), columns (python, requests, concurrency, keepalive), aggregates."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        column = (row["python"], versions_text(row), row["concurrency"], row["keepalive"])
        groups.setdefault((row["strategy"], column), []).append(row)
    names = {row["strategy"] for row in rows}
    strategies = [s for s in STRATEGIES if s in names] + sorted(names - set(STRATEGIES))
    columns = sorted({column for _, column in groups}, key=column_order)
    return strategies, columns, {key: aggregate(group) for key, group in groups.items()}


def column_order(column: tuple) -> tuple:
    """Sort by python, requests version (numerically), concurrency, keep-alive on first."""
    python, versions, concurrency, keepalive = column
    numbers = [version_key(v) for v in re.findall(r"\d+(?:\.\d+)+", versions)]
    return (version_key(python), numbers, concurrency, not keepalive)


def version_key(text: str) -> Version:
    """Versions sort numerically (2.9 < 2.10); anything unparsable sorts first."""
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def verdict_lines(rows: list[dict]) -> list[str]:
    """One line per failing must-be-clean cell run, or one line saying all are clean."""
    failing = failing_rows(rows)
    if not failing:
        clean = sorted({row["strategy"] for row in rows if row.get("must_be_clean")})
        return [f"All must-be-clean strategies are clean: {', '.join(clean) or 'none run'}."]
    return [
        f"NOT CLEAN: {row['strategy']} on "
        f"{'' if row.get('locust_version') else 'requests '}{versions_text(row)} "
        f"(py{row['python']}, {mode_label(row)}, run {row['repeat']}): {row['detail']}"
        for row in failing
    ]


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


def run(args: argparse.Namespace) -> int:
    """Rebuild the reports; print where they are and the verdict."""
    summary_path, html_path = write_reports(args.results)
    print(f"wrote {summary_path} and {html_path} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    print("\n".join(verdict_lines(load_rows(args.results))))
    return 0
