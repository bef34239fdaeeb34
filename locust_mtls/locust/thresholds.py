"""`--mtls-threshold` in a Locust run: measured values from the run's totals (on a master:
every worker summed) and Locust's own stats, verdicts at the end (console, summary file,
exit code 1), live in the mTLS tab, and `--mtls-abort-on-threshold` stopping the run.

Per row, every figure comes from our counters: Locust's request names do not carry the
row (MtlsUser names say the strategy, not the mode; a locustfile may pick any name). The
run's total takes rps, fail_ratio and response times from Locust's own Aggregated line.
"""

from __future__ import annotations

import logging
from collections import Counter

import gevent
from locust.runners import STATE_RUNNING, STATE_SPAWNING

from locust_mtls.engine.stats import MtlsStats, StrategyStats, percentile
from locust_mtls.errors import ConfigError
from locust_mtls.results.thresholds import (
    Threshold,
    evaluate,
    failed_for_good,
    measured_text,
    parse_thresholds,
    verdict_line,
)
from locust_mtls.settings import RATE_BASES, rate_of
from locust_mtls.strategies import STRATEGIES

logger = logging.getLogger("locust_mtls")
COUNTS = ("requests", "failures", "bleed", "wrong_identity", "missing_certificate",
          "unreported", "crashes", *dict.fromkeys(RATE_BASES.values()))  # fmt: skip
RATES = {
    "bleed_rate": "bleed",
    "wrong_identity_rate": "wrong_identity",
    "missing_certificate_rate": "missing_certificate",
    "unreported_rate": "unreported",
    "crash_rate": "crashes",
    "fail_ratio": "failures",
}
HANDSHAKE_PERCENTILES = {"handshake_p50": 0.50, "handshake_p95": 0.95, "handshake_p99": 0.99}
RESPONSE_PERCENTILES = {"response_p50": 0.50, "response_p95": 0.95, "response_p99": 0.99}


def configured(options) -> list[Threshold]:
    """The parsed `--mtls-threshold` values; ConfigError (one line) on a bad one."""
    thresholds = parse_thresholds(getattr(options, "mtls_threshold", None), STRATEGIES)
    if getattr(options, "mtls_abort_on_threshold", False) and not any(
        t.can_fail_for_good for t in thresholds
    ):
        raise ConfigError(
            "--mtls-abort-on-threshold needs a --mtls-threshold on a count that only grows "
            "(bleed, wrong_identity, unreported, crashes, failures with <, <= or ==), "
            "e.g. --mtls-threshold bleed<=0"
        )
    return thresholds


def counter_values(counts: dict, handshakes: Counter, elapsed_s: float) -> dict:
    """{metric: value or None} from counters: None where there is nothing to measure."""
    requests = counts["requests"]
    values: dict = dict(counts)
    for rate, count in RATES.items():  # each a share of the requests it can happen to
        values[rate] = rate_of(counts, count)
    values["rps"] = requests / elapsed_s if requests and elapsed_s > 0 else None
    for metric, fraction in HANDSHAKE_PERCENTILES.items():
        values[metric] = percentile(handshakes, fraction) if handshakes else None
    return values


def row_values(stats: StrategyStats) -> dict:
    elapsed = stats.last_request_at - stats.first_request_at
    counts = {name: getattr(stats, name) for name in COUNTS}
    return counter_values(counts, stats.handshake_histogram, elapsed)


def total_values(totals: MtlsStats, locust_total=None) -> dict:
    """The run's values: our counters summed; rps, fail_ratio and response times from
    Locust's Aggregated entry (all its requests) when it has any."""
    rows = totals.rows.values()
    counts = {name: sum(getattr(row, name) for row in rows) for name in COUNTS}
    handshakes = sum((row.handshake_histogram for row in rows), Counter())
    first = min((row.first_request_at for row in rows if row.first_request_at), default=0.0)
    last = max((row.last_request_at for row in rows), default=0.0)
    values = counter_values(counts, handshakes, last - first)
    if locust_total is not None and locust_total.num_requests:
        values["rps"] = locust_total.total_rps
        values["fail_ratio"] = locust_total.fail_ratio
        values["response_avg"] = locust_total.avg_response_time
        for metric, fraction in RESPONSE_PERCENTILES.items():
            values[metric] = locust_total.get_response_time_percentile(fraction)
    return values


def measured(environment, totals: MtlsStats) -> tuple[dict, dict]:
    """(rows, total) as results.thresholds.evaluate takes them."""
    rows = {name: (row.strategy, row_values(row)) for name, row in totals.rows.items()}
    stats = getattr(environment, "stats", None)
    return rows, total_values(totals, stats.total if stats is not None else None)


def threshold_verdicts(environment, state, totals: MtlsStats) -> list[dict]:
    """Every threshold's verdict on the run so far (the summary file's "thresholds")."""
    if not state.thresholds:
        return []
    aborted = frozenset(state.threshold_aborted)
    return evaluate(state.thresholds, *measured(environment, totals), aborted=aborted)


def start(environment, state) -> None:
    """At init (master or local): parse the thresholds, and with --mtls-abort-on-threshold
    watch the safety ones while the test runs."""
    options = environment.parsed_options
    state.thresholds = configured(options)
    if state.thresholds and getattr(options, "mtls_abort_on_threshold", False):
        gevent.spawn(abort_on_failure, environment, state)


def abort_on_failure(environment, state) -> None:
    """Stop the test once a safety threshold has failed for good (k6's abortOnFail)."""
    safety = [t for t in state.thresholds if t.can_fail_for_good]
    while not state.finished:
        gevent.sleep(1.0)
        runner = environment.runner
        if runner is None or runner.state not in (STATE_SPAWNING, STATE_RUNNING):
            continue
        failed = failed_for_good(safety, *measured(environment, state.totals()))
        if not failed:
            continue
        for threshold, row, value in failed:
            state.threshold_aborted.add((threshold.expression, row))
            logger.error(
                "locust-mtls: threshold %s failed on %s (%s %g): stopping the run "
                "(--mtls-abort-on-threshold)",
                *(threshold.expression, row, threshold.metric, value),
            )
        # As Locust's own --run-time does: quit headless, stop (keep the UI) otherwise.
        if environment.parsed_options.headless:
            runner.quit()
        else:
            runner.stop()


def finish(environment, state, totals: MtlsStats) -> list[dict]:
    """At quitting: the verdicts, kept for the tab; print them with `report`."""
    state.threshold_verdicts = threshold_verdicts(environment, state, totals)
    return state.threshold_verdicts


def report(environment, verdicts: list[dict]) -> None:
    """One console line per verdict; exit code 1 when any failed (whatever
    --exit-code-on-error says; a higher code a locustfile set is kept)."""
    for entry in verdicts:
        print(verdict_line(entry))
    failed = [entry for entry in verdicts if not entry["passed"]]
    if failed:
        logger.error("locust-mtls: %d of %d threshold verdicts failed", len(failed), len(verdicts))
        environment.process_exit_code = max(environment.process_exit_code or 0, 1)


def install(web_ui, state, base_path="") -> None:
    """`/mtls/thresholds`: the verdicts so far (final ones after the run), for the tab."""
    from flask import jsonify

    environment = web_ui.environment

    @web_ui.app.route(f"{base_path}/mtls/thresholds")
    @web_ui.auth_required_if_enabled
    def mtls_thresholds():
        final = state.threshold_verdicts
        verdicts = (
            final if final is not None else threshold_verdicts(environment, state, state.totals())
        )
        # The texts the console printed (results/thresholds.py formats them once).
        texts = [{"line": verdict_line(v), "measured_text": measured_text(v)} for v in verdicts]
        return jsonify([{**v, **text} for v, text in zip(verdicts, texts, strict=True)])
