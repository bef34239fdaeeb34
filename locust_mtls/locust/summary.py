"""What a run leaves when it ends (master or local): the summary document, the summary
file (also rewritten every second while users run), the CSV and HTML report sections,
the console table and the exit code's gate. Words come from results/.
"""

from __future__ import annotations

import json
import logging
import os

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust import charts
from locust_mtls.locust.state import RunState
from locust_mtls.results import tables
from locust_mtls.results.files import write_output
from locust_mtls.results.run_checks import safety_checks

logger = logging.getLogger("locust_mtls")


def summary_document(state: RunState, totals: MtlsStats, extra: dict | None = None) -> dict:
    """The run's totals as --mtls-summary-file holds them, plus `extra`."""
    document = totals.to_dict()
    if state.worker_reports is not None:
        document["workers_reported"] = sorted(state.worker_reports.by_worker)
        document["workers"] = worker_identities(state)
    if state.partition_changes:
        document["partition_changes"] = state.partition_changes
    document.update(extra or {})
    return document


def worker_identities(state: RunState) -> dict:
    """Per worker: the identities it loaded and, in a partitioned run, those it presented
    (disjoint slices: each identity from one worker only)."""
    workers = {}
    for client_id, snapshot in sorted(state.worker_reports.by_worker.items()):
        entry = {"identities_loaded": snapshot.get("identities_loaded", 0)}
        if state.partitioned:
            rows = snapshot.get("strategies", {}).values()
            used = sorted({name for row in rows for name in row.get("identities_in_use", ())})
            entry["identities_in_use"] = used
        workers[client_id] = entry
    return workers


def write_summary(state: RunState, path: str, document: dict | None = None) -> None:
    """Rewrite the summary file atomically with `document` (default: the totals now)."""
    if path and state.run is not None:
        document = document or summary_document(state, state.totals())
        write_output(path, json.dumps(document, indent=1), "--mtls-summary-file")


def write_reports(options, state: RunState, totals: MtlsStats) -> None:
    """The mTLS table next to Locust's own: `{--csv}_mtls.csv` and inside `--html`."""
    if getattr(options, "csv_prefix", None):
        write_output(f"{options.csv_prefix}_mtls.csv", tables.csv_text(totals), "--csv")
    html_file = getattr(options, "html_file", None)
    # Locust writes the report just before quitting; an older file is another run's.
    if html_file and os.path.exists(html_file) and os.path.getmtime(html_file) >= state.started_at:
        with open(html_file, encoding="utf-8") as file:
            report = file.read()
        report = tables.insert_into_report(report, totals)
        state.sample_timeline()  # the last seconds, up to the end of the run
        report = charts.insert_into_report(report, state.timeline)
        write_output(html_file, report, "--html")  # on a full disk Locust's report stays


def gate_failed(options, document: dict) -> bool:
    """Whether the mTLS gate failed: results/run_checks.py's safety checks of the summary
    `document`, the very checks the JUnit file and the Markdown summary report."""
    identity_check = getattr(options, "mtls_identity_check", "auto")
    hits: dict[str, dict[str, int]] = {}
    for check in safety_checks(document, options.mtls_fail_on, identity_check):
        if check.failed:
            hits.setdefault(check.row, {})[check.counter] = check.count
    for name, counts in hits.items():
        logger.error("locust-mtls: %s failed its mTLS gate: %s", name, counts)
    incomplete = document.get("workers_incomplete") or {}
    if incomplete and not getattr(options, "mtls_allow_incomplete", False):
        logger.error(
            "locust-mtls: the counts are incomplete (%s sent no final report): the gate "
            "fails; pass --mtls-allow-incomplete to judge them anyway",
            ", ".join(sorted(incomplete)),
        )
        return True
    return bool(hits)


def print_summary(totals: MtlsStats, server_counts: dict | None, crash_dir: str) -> None:
    print(tables.text_table(totals))
    for line in tables.unchecked_lines(totals):
        print(line)
    if server_counts is not None:
        print(f"echo server saw {server_counts['requests']} requests")
    crashes = sum(row.crashes for row in totals.rows.values())
    if crashes:
        print(f"locust-mtls: {crashes} client crash(es); stacks in {os.path.abspath(crash_dir)}")
