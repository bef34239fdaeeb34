"""Locust glue: `--mtls-*` options, the out-of-the-box echo server, the web UI tab,
worker reports, the summary file and the exit-code gate.

Importing this module (every user class module does) registers the listeners on
Locust's global events. Every option is also a `LOCUST_MTLS_*` environment variable and
a locust.conf key. The run's state is one `RunState` at `environment.mtls` (state.py).
In a distributed run the master owns the echo server, the summary file and the gate,
all from the counters of every worker summed (distributed.py).
"""

from __future__ import annotations

import logging
import os

import gevent
from locust import events
from locust.runners import STATE_RUNNING, STATE_SPAWNING, MasterRunner, WorkerRunner

from locust_mtls.config.input_checks import (
    check_host,
    check_output_dir,
    check_output_file,
    check_users,
)
from locust_mtls.config.options import OPTIONS, env_var
from locust_mtls.config.user_settings import partitioned
from locust_mtls.config.validation import preflight, probe_host, settings_from, watch_interval
from locust_mtls.engine.run import MtlsRun
from locust_mtls.errors import ConfigError, exit_with
from locust_mtls.locust import (
    charts,
    ci_results,
    cluster,
    metrics,
    otel,
    rotation,
    summary,
    thresholds,
    web_ui,
    workers,
)
from locust_mtls.locust.state import RunState, options_key, state_of
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


def is_worker(environment) -> bool:
    return isinstance(environment.runner, WorkerRunner)


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None or not hasattr(options, "mtls_strategy"):
        return  # a library use of Locust: the users build the state with our defaults
    key_material.forbid_core_dumps()  # master, workers (forked before init) and local runs
    state = state_of(environment)
    # A Ctrl-C lands in whichever greenlet runs (often a user's): gevent would print a
    # KeyboardInterrupt traceback before passing it to Locust's main greenlet, which
    # handles it. NOT_ERROR is gevent's hook for that (Hub.handle_error).
    hub = gevent.get_hub()
    hub.NOT_ERROR = (*hub.NOT_ERROR, KeyboardInterrupt)
    try:
        settings_from(options)  # cheap checks first: no server started for a typo
        if is_worker(environment):
            # A worker runs with the master's options, which arrive with each spawn
            # message (test_start), but its own files (cluster.py).
            workers.start_worker(environment, state)
            cluster.start_worker(environment, state)
            return
        check_users(options)  # before Locust's runner meets a negative -u
        thresholds.start(environment, state)
        check_output_file(options.mtls_summary_file, "--mtls-summary-file")
        check_output_dir(options.mtls_crash_dir, "--mtls-crash-dir")
        ci_results.check_paths(options)
        if environment.user_classes:  # else (run_single_user) at test start, when known
            choose_target(environment, state)
        state.partitioned = partitioned(options, environment.user_classes)
        state.mtls_run()
    except ConfigError as error:
        exit_with(error)
    if isinstance(environment.runner, MasterRunner):
        workers.start_master(environment, state)
        cluster.start_master(environment, state)
    gevent.spawn(sample_timeline, environment, state)
    if environment.web_ui is not None:
        base_path = options.web_base_path or ""
        web_ui.install(
            environment.web_ui,
            state.totals,
            base_path=base_path,
            validate=lambda form: form_error(environment, state, form),
        )
        metrics.install(environment.web_ui, state.totals, base_path)
        charts.install(environment.web_ui, lambda: state.timeline, base_path)
        thresholds.install(environment.web_ui, state, base_path)
    if getattr(options, "otel", False):
        otel.install(state.totals)
    if options.mtls_summary_file:
        gevent.spawn(write_summary_every_second, state, options.mtls_summary_file)
    seconds = watch_interval(options)
    if seconds > 0:
        gevent.spawn(rotation.watch_identities, environment, seconds)


def class_hosts(environment) -> dict[str, str]:
    """{class name: host} of the user classes that name their own target."""
    return {cls.__name__: cls.host for cls in environment.user_classes if cls.host}


def choose_target(environment, state: RunState) -> None:
    """--host, else the user classes' own hosts (as plain Locust uses them), else the
    embedded echo server; a class host gets the same checks and probe as --host."""
    state.target_chosen = True
    if environment.host:
        return
    hosts = class_hosts(environment)
    if not hosts:
        start_embedded_echo_server(environment, state)
        return
    for name, host in hosts.items():
        try:
            check_host(host)
        except ConfigError as error:
            raise ConfigError(f"{name}.host: {error}") from None
    ca_file = state.validated().trust.ca_file
    for host in sorted(set(hosts.values())):
        probe_host(host, ca_file)


def start_embedded_echo_server(environment, state: RunState) -> None:
    """No host anywhere: generate certs/ if missing and serve the echo server on 127.0.0.1."""
    from locust_mtls.server.echo import start_echo_server_process
    from locust_mtls.tls.pki import generate_pki

    options = state.options
    # Bad input: one line, before certs/ or a server exist. Files the user named are
    # loaded now, once (validated() caches them for the host the server will get).
    user_files = options.mtls_identities or options.mtls_cert
    if user_files:
        state.validated(probe=False)
    else:
        preflight(options)
    generate_pki(options.mtls_certs_dir, option="--mtls-certs-dir")
    server = start_echo_server_process(options.mtls_certs_dir)
    state.echo_server = server
    # The server's own trust, for the end-of-run query even if the web form changes ours.
    state.echo_server_ca = os.path.join(options.mtls_certs_dir, "ca.pem")
    environment.host = options.host = server.url
    if not user_files:
        options.mtls_identities = os.path.join(options.mtls_certs_dir, "identities.json")
    else:
        state.run_options_key = options_key(options)
    logger.info("embedded mTLS echo server on %s (pid %d)", server.url, server.pid)


def form_error(environment, state: RunState, form) -> str | None:
    """Why the web UI's start form cannot start a test (one line), or None."""
    values = {key: value for key, value in form.items() if key.startswith("mtls_")}
    options = type(state.options)(**{**vars(state.options), **values})
    options.host = form.get("host") or environment.host
    try:
        # An untrusted server would fail every request: say so in the form, like a typo.
        state.validated(options, untrusted_is_an_error=True)
    except ConfigError as error:
        return f"locust-mtls: {error}"
    return None


@events.test_start.add_listener
def on_test_start(environment, **_kwargs) -> None:
    state = getattr(environment, "mtls", None)
    if state is None:
        return
    if state.worker_reports is not None:
        state.worker_reports.clear()  # every worker starts this test from zero too
    state.timeline.clear()
    # Options may have changed in the web UI's start form (or come from the master).
    previous = state.run
    try:
        if is_worker(environment):
            cluster.use_host_files(environment, state)
        elif not state.target_chosen:
            choose_target(environment, state)
        options = state.validated()
        if previous is not None and not previous.stats.rows and previous.options is options:
            return  # built at init for these very options, nothing counted yet
        state.run = MtlsRun(options)
        state.settings_of_class.clear()
    except ConfigError as error:
        where = "worker" if is_worker(environment) else "start"
        logger.error("locust-mtls: error at %s: %s", where, error)
        environment.runner.quit()
        return
    if previous is not None:
        previous.close()


def sample_timeline(environment, state: RunState) -> None:
    """Sample the run's totals into the timeline while a test runs (master or local)."""
    while not state.finished:
        gevent.sleep(state.timeline.interval)
        if environment.runner is not None and environment.runner.state in (
            STATE_SPAWNING,
            STATE_RUNNING,
        ):
            state.sample_timeline()


def write_summary_every_second(state: RunState, path: str) -> None:
    # A crash of the Locust process itself then loses at most one second of counters.
    while not state.finished:
        summary.write_summary(state, path)
        gevent.sleep(1.0)


@events.test_stop.add_listener
def on_test_stop(environment, **_kwargs) -> None:
    """Users stopped (local or worker): the engines' last answers are checked and counted."""
    state = getattr(environment, "mtls", None)
    if state is not None:
        workers.drain(state)


@events.quitting.add_listener
def on_quitting(environment, **_kwargs) -> None:
    state = getattr(environment, "mtls", None)
    if state is None or state.finished:
        return  # Locust fires quitting twice on SIGTERM (its handler's shutdown, then main's)
    if environment.runner is not None:
        # Ctrl-C/SIGTERM quit with users running: stop them first (on a master, its
        # workers' too, and their final counts come in: workers.collect_final_reports).
        environment.runner.stop()
    run = state.run
    if run is not None:
        workers.drain(state)
        run.close()
        run.stats.finished = True
    state.finished = True
    if run is not None and not is_worker(environment):
        finish(environment, state)
    if state.echo_server is not None:
        state.echo_server.stop()
        state.echo_server = None


def finish(environment, state: RunState) -> None:
    """Master or local: the summary file, CI files, reports, console and exit code."""
    options = environment.parsed_options
    totals = state.totals()
    server_counts = echo_server_counts(state)
    verdicts = thresholds.finish(environment, state, totals)
    extra = {"echo_server": server_counts} if server_counts else {}
    extra["thresholds"] = verdicts
    # One document for the summary file, the CI files and the exit code's gate.
    document = summary.summary_document(state, totals, extra)
    summary.write_summary(state, options.mtls_summary_file, document)
    ci_results.write_ci_results(environment, state, totals, document)
    summary.write_reports(options, state, totals)
    summary.print_summary(totals, server_counts, options.mtls_crash_dir)
    if summary.gate_failed(options, document):
        # Keep a higher code a locustfile may have set; never lower it to 1.
        environment.process_exit_code = max(environment.process_exit_code or 0, 1)
    thresholds.report(environment, verdicts)


def echo_server_counts(state: RunState) -> dict | None:
    """What the embedded echo server saw, to check the client's counters against."""
    from locust_mtls.server.echo import fetch_stats

    if state.echo_server is None:
        return None
    try:
        return fetch_stats(state.echo_server.url, state.echo_server_ca, timeout=2.0)
    except (OSError, RuntimeError, ValueError) as error:
        logger.warning("locust-mtls: could not read the echo server's counters: %s", error)
        return None
