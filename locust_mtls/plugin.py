"""Locust glue: `--mtls-*` options, the out-of-the-box echo server, counters on disk.

Importing this module (user.py does) registers the listeners on Locust's global
events. Every option is also a `LOCUST_MTLS_*` environment variable and a
locust.conf key.
"""

from __future__ import annotations

import logging
import os
import sys

import gevent
from locust import events
from locust.runners import WorkerRunner

from .errors import ConfigError
from .mtls_run import MtlsRun
from .options import FAIL_ON_KINDS, run_options_from, settings_from
from .strategies import STRATEGIES

logger = logging.getLogger("locust_mtls")


@events.init_command_line_parser.add_listener
def add_options(parser) -> None:
    def option(name, **kwargs):
        # On the parser itself, not an argument group: only LocustArgumentParser
        # understands include_in_web_ui / is_secret.
        env_var = "LOCUST_" + name.lstrip("-").upper().replace("-", "_")
        parser.add_argument(name, env_var=env_var, **kwargs)

    option(
        "--mtls-strategy",
        default="identity-cache",
        help=f"client strategy: {', '.join(STRATEGIES)}",
    )
    option(
        "--mtls-concurrency",
        default="greenlet",
        help="greenlet (Locust's way) or native-threads (OS threads in a child process)",
    )
    option("--mtls-keepalive", default="on", help="on, or off for a new TLS connection per request")
    option(
        "--mtls-no-cert-fraction",
        default="0.5",
        help="fraction of requests sent without a client certificate (0..1)",
    )
    option(
        "--mtls-identities",
        default="",
        help="identities.json (default: certs/identities.json, generated when no --host)",
    )
    option(
        "--mtls-cert",
        default="",
        help="one client certificate (PEM or PKCS#12) instead of --mtls-identities",
    )
    option("--mtls-key", default="", help="its key, when not in the --mtls-cert file")
    option(
        "--mtls-key-password",
        default="",
        is_secret=True,
        help="password of the key or PKCS#12 file",
    )
    option("--mtls-ca", default="", help="CA file that signed the server's certificate")
    option(
        "--mtls-identity-header",
        default="X-Client-Cert-Fingerprint",
        help="response header carrying the SHA-256 fingerprint of the client cert the server saw",
    )
    option(
        "--mtls-trust-env",
        default="off",
        include_in_web_ui=False,
        help="on: let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE change requests' verify path",
    )
    option("--mtls-timeout", default="5,30", help="connect,read timeouts in seconds")
    option(
        "--mtls-fail-on",
        default="wrong-identity,bleed,crash",
        help="exit code 1 when any of these happened (empty: never)",
    )
    option(
        "--mtls-summary-file",
        default="",
        include_in_web_ui=False,
        help="JSON counters, rewritten every second and at exit",
    )
    option(
        "--mtls-crash-dir",
        default="mtls-crashes",
        include_in_web_ui=False,
        help="where native-thread crashes leave faulthandler stacks",
    )
    option(
        "--mtls-certs-dir",
        default="certs",
        include_in_web_ui=False,
        help="where the embedded echo server's PKI is generated",
    )


def mtls_run(environment) -> MtlsRun:
    """This environment's MtlsRun (built at init, rebuilt at each test start)."""
    run = getattr(environment, "mtls_run", None)
    if run is None:
        run = environment.mtls_run = MtlsRun(run_options_from(environment.parsed_options))
    return run


def fail(error: ConfigError) -> None:
    sys.stderr.write(f"locust-mtls: error: {error}\n")
    sys.exit(ConfigError.exit_code)


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    options = environment.parsed_options
    if options is None or not hasattr(options, "mtls_strategy"):
        return  # a library use of Locust without our options
    try:
        settings_from(options)  # cheap checks first: no server started for a typo
        if not environment.host and not isinstance(environment.runner, WorkerRunner):
            start_embedded_echo_server(environment)
        mtls_run(environment)
    except ConfigError as error:
        fail(error)
    if options.mtls_summary_file:
        gevent.spawn(write_summary_every_second, environment)


def start_embedded_echo_server(environment) -> None:
    """No --host: generate certs/ if missing and serve the echo server on 127.0.0.1."""
    from .echo_server import start_echo_server_process
    from .pki import generate_pki

    options = environment.parsed_options
    generate_pki(options.mtls_certs_dir)
    server = start_echo_server_process(options.mtls_certs_dir)
    environment.mtls_echo_server = server
    environment.host = options.host = server.url
    if not options.mtls_identities and not options.mtls_cert:
        options.mtls_identities = os.path.join(options.mtls_certs_dir, "identities.json")
    logger.info("embedded mTLS echo server on %s (pid %d)", server.url, server.pid)


@events.test_start.add_listener
def on_test_start(environment, **_kwargs) -> None:
    if getattr(environment, "parsed_options", None) is None:
        return
    # Options may have changed in the web UI's start form (or come from the master).
    previous = getattr(environment, "mtls_run", None)
    try:
        environment.mtls_run = MtlsRun(run_options_from(environment.parsed_options))
    except ConfigError as error:
        logger.error("locust-mtls: %s", error)
        environment.runner.quit()
        return
    if previous is not None:
        previous.close()


def write_summary(environment) -> None:
    run = getattr(environment, "mtls_run", None)
    if run is not None and environment.parsed_options.mtls_summary_file:
        run.stats.write(environment.parsed_options.mtls_summary_file)


def write_summary_every_second(environment) -> None:
    # A crash of the Locust process itself then loses at most one second of counters.
    while True:
        write_summary(environment)
        gevent.sleep(1.0)


@events.quitting.add_listener
def on_quitting(environment, **_kwargs) -> None:
    run = getattr(environment, "mtls_run", None)
    if run is None:
        return
    run.close()
    run.stats.finished = True
    write_summary(environment)
    print_summary(run)
    set_exit_code(environment, run)
    server = getattr(environment, "mtls_echo_server", None)
    if server is not None:
        server.stop()


def set_exit_code(environment, run: MtlsRun) -> None:
    kinds = [
        FAIL_ON_KINDS[k.strip()]
        for k in environment.parsed_options.mtls_fail_on.split(",")
        if k.strip()
    ]
    for name, stats in run.stats.by_strategy.items():
        hits = {kind: getattr(stats, kind) for kind in kinds if getattr(stats, kind)}
        if hits:
            logger.error("locust-mtls: %s failed its mTLS gate: %s", name, hits)
            environment.process_exit_code = 1


def print_summary(run: MtlsRun) -> None:
    print(f"\nmTLS summary ({run.stats.client_path})")
    print(
        f"{'strategy':<20}{'mode':<16}{'requests':>9}{'rps':>8}{'wrong id':>9}{'bleed':>7}"
        f"{'crashes':>8}{'hs p50':>8}{'hs p95':>8}"
    )
    for name, data in run.stats.to_dict()["strategies"].items():
        mode = f"{data['concurrency']}/{'ka' if data['keepalive'] else 'no-ka'}"
        print(
            f"{name:<20}{mode:<16}{data['requests']:>9}{data['rps']:>8}{data['wrong_identity']:>9}"
            f"{data['bleed']:>7}{data['crashes']:>8}{data['handshake_ms']['p50']:>8}"
            f"{data['handshake_ms']['p95']:>8}"
        )
