"""`locust-mtls report RESULTS_DIR`: summary.md and report.html from results.jsonl alone.

The row schema is documented in `locust_mtls.matrix.cells.cell_row` and docs/matrix.md. plotly is
imported only while the HTML is built; the page inlines plotly.js once and loads nothing
from the network.
"""

from __future__ import annotations

import argparse
import html
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

from locust_mtls.errors import ConfigError
from locust_mtls.matrix.aggregate import environment_facts, grid, load_rows, settings_facts
from locust_mtls.matrix.clients_page import write_clients_page
from locust_mtls.matrix.junit_cases import write_matrix_junit
from locust_mtls.matrix.outcomes import CLIENT_FACTS, ENV_FACTS
from locust_mtls.matrix.verdict import verdict_lines
from locust_mtls.results.files import check_output_file

CELLS_EXPLAINED = (
    "Cells: every kind of failure a cell's runs showed, worst first (the worst also colours "
    "report.html), each with the runs that showed it / the cell's runs when it ran more than "
    "once; bleed with its share of the requests sent without a certificate (no-cert), wrong "
    "id with its share of those sent with one (with-cert), errors with their share of all "
    "requests; crash with the run "
    "of the first crash when later than run 1, and all crashes when the engine crashed again "
    "after restarting."
)


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
        names = [*ENV_FACTS, *(name for name in CLIENT_FACTS if name in entry)]
        versions = ", ".join(f"{name} {entry.get(name, '?')}" for name in names)
        labels = "".join(f" ({label})" for label in entry.get("labels") or ())
        lines.append(f"- py{entry['python_label']}: {versions}{labels}")
    lines += ["", f"Settings: {'; '.join(settings_facts(rows))}.", "", CELLS_EXPLAINED]
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
        "results",
        nargs="*",
        default=["results"],
        help="the --out directory of a matrix run, several with --clients-page (default: results)",
    )
    parser.add_argument("--junit", default="", metavar="FILE", help="also write JUnit XML")
    parser.add_argument(
        "--clients-page",
        default="",
        metavar="PAGE.md",
        help="write only the other clients' page (docs/results/clients.md) and its rows "
        "(PAGE.jsonl); RESULTS may be such a .jsonl file",
    )


def run(args: argparse.Namespace) -> int:
    """Rebuild the reports; print where they are and the verdict."""
    if args.clients_page:
        check_output_file(args.clients_page, "--clients-page")
        rows = [row for results in args.results for row in load_rows(results)]
        page, data = write_clients_page(rows, args.clients_page)
        print(f"wrote {page} and {data}")
        return 0
    if len(args.results) != 1:
        raise ConfigError("pass one results directory (several only with --clients-page)")
    (args.results,) = args.results
    check_output_file(args.junit, "--junit")
    summary_path, html_path = write_reports(args.results)
    print(f"wrote {summary_path} and {html_path} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)")
    rows = load_rows(args.results)
    if args.junit:
        write_matrix_junit(args.junit, rows)
        print(f"wrote {args.junit}")
    print("\n".join(verdict_lines(rows)))
    return 0
