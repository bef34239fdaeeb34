"""`--mtls-junit FILE` and `--mtls-markdown FILE`: what a CI pipeline reads after a run.

Both are built from the run's summary document (thresholds included) at quitting, by the
local or master runner only (a worker has only its own share of the counters), and each
replaces its file atomically. Their paths are checked at start like every file a run writes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from locust_mtls.engine.stats import MtlsStats
from locust_mtls.results.files import check_output_file, write_output
from locust_mtls.results.junit import junit_xml
from locust_mtls.results.markdown_summary import markdown_summary
from locust_mtls.results.run_checks import failed_checks, run_suite


def check_paths(options) -> None:
    """ConfigError (one line) when --mtls-junit or --mtls-markdown cannot be written."""
    check_output_file(options.mtls_junit, "--mtls-junit")
    check_output_file(options.mtls_markdown, "--mtls-markdown")


def write_ci_results(environment, state, totals: MtlsStats, document: dict) -> None:
    """Write the files asked for; `document` is the summary document of `totals`."""
    options = environment.parsed_options
    gate = (options.mtls_fail_on, getattr(options, "mtls_identity_check", "auto"))
    # Each file on its own: one that cannot be written (a full disk) is one line, and the
    # other file, the console summary and the gate still follow.
    if options.mtls_junit:
        started = state.started_at
        suite = run_suite(
            document, *gate, datetime.fromtimestamp(started, UTC), time.time() - started
        )
        write_output(options.mtls_junit, junit_xml([suite]), "--mtls-junit")
    if options.mtls_markdown:
        thresholds = document.get("thresholds", [])
        text = markdown_summary(totals, thresholds, failed_checks(document, *gate))
        write_output(options.mtls_markdown, text, "--mtls-markdown")
