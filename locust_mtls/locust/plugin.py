"""Locust glue: `--mtls-*` options, the out-of-the-box echo server, the web UI tab,
worker reports, the summary file and the exit-code gate.

Importing this module (user.py does) registers the listeners on Locust's global
events. Every option is also a `LOCUST_MTLS_*` environment variable and a
locust.conf key. In a distributed run the master owns the echo server, the summary
file and the gate, all from the counters of every worker summed (distributed.py).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

import gevent
from locust import events
from locust.runners import (
    STATE_MISSING,
    STATE_RUNNING,
    STATE_SPAWNING,
    WORKER_REPORT_INTERVAL,
    MasterRunner,
    WorkerRunner,
)

from locust_mtls.config.input_checks import check_output_dir, check_output_file, check_users
from locust_mtls.config.options import OPTIONS, env_var
from locust_mtls.config.validation import (
    preflight,
    run_options_from,
    settings_from,
    watch_interval,
)
from locust_mtls.engine.run import MtlsRun
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.engine.timeline import Timeline
from locust_mtls.errors import ConfigError
from locust_mtls.locust import charts, ci_results, metrics, otel, rotation, thresholds, web_ui
from locust_mtls.locust.distributed import WorkerReports
from locust_mtls.results import tables
from locust_mtls.results.files import write_output
from locust_mtls.results.run_checks import safety_checks
from locust_mtls.tls import key_material

logger = logging.getLogger("locust_mtls")


@events.init_command_line_parser.add_listener
def add_options(parser) -> None:
    # Before Locust parses (os.environ keeps the password) and forks --processes workers.
    key_material.scrub_secret_environment()
    # On the parser itself, not an argument group: only LocustArgumentParser
    # understands include_in_web_ui / is_secret.
    for name, default, help_text, extra in OPTIONS:
        parser.add_argument(name, default=default, help=help_text, env_var=env_var(name), **extra)


def run_options(environment, options=None, **checks) -> RunOptions:
    """The validated options of `options` (default: the environment's), loaded once.

    Identities are loaded and the target probed once per distinct set of options: at
    init, or when the web UI's form checks new ones; a test start reuses them, so none
    of that happens inside the run's clock (10,000 identities take seconds).
    """
    options = options or environment.parsed_options
    key = options_key(options)
    cached = getattr(environment, "mtls_run_options", None)
    if cached is None or cached[0] != key:
        cached = environment.mtls_run_options = (key, run_options_from(options, **checks))
    return cached[1]


def options_key(options) -> tuple:
    values = vars(options)
    return tuple(sorted((k, str(v)) for k, v in values.items() if k.startswith("mtls_"))) + (
        str(values.get("host")),
    )


def mtls_run(environment) -> MtlsRun:
    """This environment's MtlsRun (built at init, fresh counters at each test start)."""
    run = getattr(environment, "mtls_run", None)
    if run is None:
        run = environment.mtls_run = MtlsRun(run_options(environment))
    return run


def is_worker(environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


def run_totals(environment) -> MtlsStats:
    """The run's counters: this process's, plus every worker's on a master."""
    run = getattr(environment, "mtls_run", None)
    local = run.stats if run is not None else None
    reports = getattr(environment, "mtls_worker_reports", None)
    if reports is None:
        return local if local is not None else MtlsStats()
    return reports.total(local)


def fail(error: ConfigError) -> None:
    sys.stderr.write(f"locust-mtls: error: {error}\n")
    sys.exit(ConfigError.exit_code)


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None or not hasattr(options, "mtls_strategy"):
        return  # a library use of Locust without our options
    key_material.forbid_core_dumps()  # master, workers (forked before init) and local runs
    environment.mtls_started_at = time.time()
    # A Ctrl-C lands in whichever greenlet runs (often a user's): gevent would print a
    # KeyboardInterrupt traceback before passing it to Locust's main greenlet, which
    # handles it. NOT_ERROR is gevent's hook for that (Hub.handle_error).
    hub = gevent.get_hub()
    hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
    try:
        settings_from(options)  # cheap checks first: no server started for a typo
        if is_worker(environment):
            # A worker runs with the master's options, which arrive with each spawn
            # message (test_start); its own may point at files only the master has.
            environment.events.report_to_master.add_listener(
                lambda data, **_: report_to_master(environment, data)
            )
            return
        check_users(options)  # before Locust's runner meets a negative -u
        thresholds.start(environment, lambda: run_totals(environment))
        check_output_file(options.mtls_summary_file, "--mtls-summary-file")
        check_output_dir(options.mtls_crash_dir, "--mtls-crash-dir")
        ci_results.check_paths(options)
        if not environment.host:
            start_embedded_echo_server(environment)
        mtls_run(environment)
    except ConfigError as error:
        fail(error)
    if isinstance(environment.runner, MasterRunner):
        reports = environment.mtls_worker_reports = WorkerReports()
        environment.events.worker_report.add_listener(
            lambda client_id, data, **_: reports.receive(client_id, data)
        )
        gevent.spawn(watch_for_lost_workers, environment, reports)
    environment.mtls_timeline = Timeline()
    gevent.spawn(sample_timeline, environment)
    if environment.web_ui is not None:
        web_ui.install(
            environment.web_ui,
            lambda: run_totals(environment),
            base_path=options.web_base_path or "",
            validate=lambda form: form_error(environment, form),
        )
        totals, base_path = (lambda: run_totals(environment)), options.web_base_path or ""
        metrics.install(environment.web_ui, totals, base_path)
        charts.install(environment.web_ui, lambda: environment.mtls_timeline, base_path)
        thresholds.install(environment.web_ui, environment, totals, base_path)
    if getattr(options, "otel", False):
        otel.install(lambda: run_totals(environment))
    if options.mtls_summary_file:
        gevent.spawn(write_summary_every_second, environment)
    seconds = watch_interval(options)
    if seconds > 0:
        gevent.spawn(rotation.watch_identities, environment, seconds)


def start_embedded_echo_server(environment) -> None:
    """No --host: generate certs/ if missing and serve the echo server on 127.0.0.1."""
    from locust_mtls.server.echo import start_echo_server_process
    from locust_mtls.tls.pki import generate_pki

    options = environment.parsed_options
    # Bad input: one line, before certs/ or a server exist. Files the user named are
    # loaded now, once (run_options caches them for the host the server will get).
    user_files = options.mtls_identities or options.mtls_cert
    validated = run_options_from(options, probe=False) if user_files else preflight(options)
    generate_pki(options.mtls_certs_dir, option="--mtls-certs-dir")
    server = start_echo_server_process(options.mtls_certs_dir)
    environment.mtls_echo_server = server
    # The server's own trust, for the end-of-run query even if the web form changes ours.
    environment.mtls_echo_server_ca = os.path.join(options.mtls_certs_dir, "ca.pem")
    environment.host = options.host = server.url
    if not user_files:
        options.mtls_identities = os.path.join(options.mtls_certs_dir, "identities.json")
    else:
        environment.mtls_run_options = (options_key(options), validated)
    logger.info("embedded mTLS echo server on %s (pid %d)", server.url, server.pid)


def form_error(environment, form) -> str | None:
    """Why the web UI's start form cannot start a test (one line), or None."""
    values = {key: value for key, value in form.items() if key.startswith("mtls_")}
    options = type(environment.parsed_options)(**{**vars(environment.parsed_options), **values})
    options.host = form.get("host") or environment.host
    try:
        # An untrusted server would fail every request: say so in the form, like a typo.
        run_options(environment, options, untrusted_is_an_error=True)
    except ConfigError as error:
        return f"locust-mtls: {error}"
    return None


@events.test_start.add_listener
def on_test_start(environment, **_kwargs) -> None:
    if getattr(environment, "parsed_options", None) is None:
        return
    reports = getattr(environment, "mtls_worker_reports", None)
    if reports is not None:
        reports.clear()  # every worker starts this test from zero too
    if getattr(environment, "mtls_timeline", None) is not None:
        environment.mtls_timeline.clear()
    # Options may have changed in the web UI's start form (or come from the master).
    previous = getattr(environment, "mtls_run", None)
    try:
        options = run_options(environment)
        if previous is not None and not previous.stats.rows and previous.options is options:
            return  # built at init for these very options, nothing counted yet
        environment.mtls_run = MtlsRun(options)
    except ConfigError as error:
        where = "worker" if is_worker(environment) else "start"
        logger.error("locust-mtls: error at %s: %s", where, error)
        environment.runner.quit()
        return
    if previous is not None:
        previous.close()


def watch_for_lost_workers(environment, reports: WorkerReports) -> None:
    """Master: Locust marks a worker "missing" after 3 missed heartbeats (and fires no
    event for it); one that reported counters is then lost, with its last report kept."""
    while not getattr(environment, "mtls_finished", False):
        for client_id, worker in list(environment.runner.clients.items()):
            if worker.state == STATE_MISSING:
                reports.mark_lost(client_id, WORKER_REPORT_INTERVAL)
        gevent.sleep(1.0)


def report_to_master(environment, data: dict) -> None:
    """Worker: add this process's cumulative counters to Locust's periodic report."""
    run = getattr(environment, "mtls_run", None)
    if run is not None:
        WorkerReports.attach(data, run.stats)


def summary_document(environment, totals: MtlsStats, extra: dict | None = None) -> dict:
    """The run's totals as --mtls-summary-file holds them, plus `extra`."""
    document = totals.to_dict()
    reports = getattr(environment, "mtls_worker_reports", None)
    if reports is not None:
        document["workers_reported"] = sorted(reports.by_worker)
    document.update(extra or {})
    return document


def write_summary(environment, document: dict | None = None) -> None:
    """Rewrite --mtls-summary-file atomically with `document` (default: the run's totals
    now); never on a worker."""
    path = environment.parsed_options.mtls_summary_file
    if not path or is_worker(environment) or getattr(environment, "mtls_run", None) is None:
        return
    document = document or summary_document(environment, run_totals(environment))
    write_output(path, json.dumps(document, indent=1), "--mtls-summary-file")


def sample_timeline(environment) -> None:
    """Sample the run's totals into the timeline while a test runs (master or local)."""
    while not getattr(environment, "mtls_finished", False):
        timeline = environment.mtls_timeline
        gevent.sleep(timeline.interval)
        if environment.runner is not None and environment.runner.state in (
            STATE_SPAWNING,
            STATE_RUNNING,
        ):
            timeline.sample(run_totals(environment))


def write_summary_every_second(environment) -> None:
    # A crash of the Locust process itself then loses at most one second of counters.
    while not getattr(environment, "mtls_finished", False):
        write_summary(environment)
        gevent.sleep(1.0)


@events.quitting.add_listener
def on_quitting(environment, **_kwargs) -> None:
    if environment.runner is not None and not isinstance(environment.runner, MasterRunner):
        environment.runner.stop()  # Ctrl-C/SIGTERM quit with users running: stop them first
    run = getattr(environment, "mtls_run", None)
    server = getattr(environment, "mtls_echo_server", None)
    if run is not None:
        run.close()
        run.stats.finished = environment.mtls_finished = True
    if run is not None and not is_worker(environment):
        totals = run_totals(environment)
        server_counts = echo_server_counts(server, environment)
        verdicts = thresholds.finish(environment, totals)
        extra = {"echo_server": server_counts} if server_counts else {}
        extra["thresholds"] = verdicts
        # One document for the summary file, the CI files and the exit code's gate.
        document = summary_document(environment, totals, extra)
        write_summary(environment, document)
        ci_results.write_ci_results(environment, totals, document)
        write_reports(environment, totals, environment.mtls_started_at)
        print_summary(totals, server_counts, environment.parsed_options.mtls_crash_dir)
        set_exit_code(environment, document)
        thresholds.report(environment, verdicts)
    if server is not None:
        server.stop()
        environment.mtls_echo_server = None


def echo_server_counts(server, environment) -> dict | None:
    """What the embedded echo server saw, to check the client's counters against."""
    from locust_mtls.server.echo import fetch_stats

    if server is None:
        return None
    try:
        return fetch_stats(server.url, environment.mtls_echo_server_ca, timeout=2.0)
    except (OSError, RuntimeError, ValueError) as error:
        logger.warning("locust-mtls: could not read the echo server's counters: %s", error)
        return None


def write_reports(environment, totals: MtlsStats, started_at: float) -> None:
    """The mTLS table next to Locust's own: `{--csv}_mtls.csv` and inside `--html`."""
    options = environment.parsed_options
    if getattr(options, "csv_prefix", None):
        write_output(f"{options.csv_prefix}_mtls.csv", tables.csv_text(totals), "--csv")
    html_file = getattr(options, "html_file", None)
    # Locust writes the report just before quitting; an older file is another run's.
    if html_file and os.path.exists(html_file) and os.path.getmtime(html_file) >= started_at:
        with open(html_file, encoding="utf-8") as file:
            report = file.read()
        report = tables.insert_into_report(report, totals)
        timeline = getattr(environment, "mtls_timeline", None)
        if timeline is not None:
            timeline.sample(totals)  # the last seconds, up to the end of the run
            report = charts.insert_into_report(report, timeline)
        write_output(html_file, report, "--html")  # on a full disk Locust's report stays


def set_exit_code(environment, document: dict) -> None:
    """Exit code 1 on a failed gate; otherwise leave it to Locust (--exit-code-on-error).

    The gate is results/run_checks.py's safety checks of the summary `document`, the very
    checks the JUnit file and the Markdown summary report.
    """
    options = environment.parsed_options
    identity_check = getattr(options, "mtls_identity_check", "auto")
    hits: dict[str, dict[str, int]] = {}
    for check in safety_checks(document, options.mtls_fail_on, identity_check):
        if check.failed:
            hits.setdefault(check.row, {})[check.counter] = check.count
    for name, counts in hits.items():
        logger.error("locust-mtls: %s failed its mTLS gate: %s", name, counts)
    if hits:
        # Keep a higher code a locustfile may have set; never lower it to 1.
        environment.process_exit_code = max(environment.process_exit_code or 0, 1)


def print_summary(
    totals: MtlsStats, server_counts: dict | None = None, crash_dir: str = ""
) -> None:
    print(tables.text_table(totals))
    for line in tables.unchecked_lines(totals):
        print(line)
    if server_counts is not None:
        print(f"echo server saw {server_counts['requests']} requests")
    crashes = sum(row.crashes for row in totals.rows.values())
    if crashes:
        print(f"locust-mtls: {crashes} client crash(es); stacks in {os.path.abspath(crash_dir)}")
