"""The `--mtls-*` options Locust gets: name, default, help and how the web UI shows them.

Plain data (no Locust import), registered by plugin.py on Locust's parser. Each option
is also a `LOCUST_MTLS_*` environment variable and a locust.conf key (`mtls-strategy =
shared-context`). Values are checked by validation.py; `choices` are checked by argparse.
`parse_options` reads them the same way without Locust, for checks that need no run.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

from locust_mtls.results.thresholds import EXAMPLES, METRICS
from locust_mtls.settings import (
    CONCURRENCY_MODES,
    DEFAULT_CONTEXT_CACHE,
    DEFAULT_FAIL_ON,
    FAIL_ON_KINDS,
    IDENTITY_CHECK_MODES,
    NO_CERT_SPLITS,
    TLS_VERSIONS,
)
from locust_mtls.strategies import STRATEGIES
from locust_mtls.tls.reported_identity import IDENTITY_FORMATS

HIDDEN = {"include_in_web_ui": False}  # command line, env and locust.conf only
ON_OFF = ["on", "off"]

# (option, default, help, extra keywords). Options with `choices` are dropdowns in the
# web UI's start form, and argparse rejects any other value, from the command line, the
# environment or locust.conf, with one line listing the valid ones (exit code 2).
OPTIONS = (
    (
        "--mtls-strategy",
        "identity-cache",
        "client strategy (other clients' need their library installed: docs/results/clients.md)",
        {"choices": list(STRATEGIES)},
    ),
    (
        "--mtls-concurrency",
        "greenlet",
        "greenlet (Locust's way), native-threads (OS threads in a child process), or asyncio "
        "(one event loop in that child: aiohttp's strategy)",
        {"choices": list(CONCURRENCY_MODES)},
    ),
    ("--mtls-keepalive", "on", "off: a new TLS connection per request", {"choices": ON_OFF}),
    (
        "--mtls-no-cert-fraction",
        "",
        "fraction of requests sent without a client certificate (0..1); not given: 0.5 for "
        "MtlsUser (the probe that shows bleed), 0 for the other user classes",
        {},
    ),
    (
        "--mtls-no-cert-split",
        "requests",
        "requests: every user mixes cert and no-cert requests; users: that fraction of users "
        "never sends a cert",
        {"choices": list(NO_CERT_SPLITS)},
    ),
    (
        "--mtls-identities",
        "",
        "identities.json (default: certs/identities.json, generated when no --host)",
        {},
    ),
    (
        "--mtls-identity-header",
        "X-Client-Cert-Fingerprint",
        "response header that says which client certificate the server saw",
        {},
    ),
    (
        "--mtls-identity-check",
        "auto",
        "require: a response must report the identity (else a failure); auto: check it "
        "when reported, count the rest as unreported; off: no check",
        {"choices": list(IDENTITY_CHECK_MODES)},
    ),
    (
        "--mtls-identity-format",
        "auto",
        "how the header reports it (docs/gateways.md): auto recognises the value",
        {"choices": list(IDENTITY_FORMATS)},
    ),
    (
        "--mtls-cert",
        "",
        "one client certificate (PEM or PKCS#12) instead of --mtls-identities",
        HIDDEN,
    ),
    ("--mtls-key", "", "its key, when not in the --mtls-cert file", HIDDEN),
    (
        "--mtls-key-password",
        "",
        "password of the key or PKCS#12 file (shows in `ps`: prefer the file or the env var)",
        {**HIDDEN, "is_secret": True},
    ),
    (
        "--mtls-key-password-file",
        "",
        "file whose first line is that password (not visible in `ps`)",
        HIDDEN,
    ),
    ("--mtls-ca", "", "CA file that signed the server's certificate", HIDDEN),
    (
        "--mtls-trust-env",
        "off",
        "on: let REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE change requests' verify path",
        {**HIDDEN, "choices": ON_OFF},
    ),
    ("--mtls-timeout", "5,30", "connect,read timeouts in seconds", HIDDEN),
    (
        "--mtls-fail-on",
        DEFAULT_FAIL_ON,
        f"exit code 1 when any of these happened: {','.join(FAIL_ON_KINDS)} (empty: never; "
        "the default adds unreported under --mtls-identity-check require)",
        HIDDEN,
    ),
    (
        "--mtls-threshold",
        [],
        # argparse formats help with %: a literal one is written %%.
        f"repeatable: [STRATEGY:]METRIC OP VALUE, e.g. {EXAMPLES.replace('%', '%%')}; exit code "
        f"1 when one fails (docs/ci.md, Thresholds). Metrics: {', '.join(METRICS)}",
        {**HIDDEN, "action": "append", "metavar": "EXPR"},
    ),
    (
        "--mtls-abort-on-threshold",
        False,
        "stop the run as soon as a --mtls-threshold on bleed, wrong_identity, unreported, "
        "crashes or failures (<, <=, ==) has failed",
        {**HIDDEN, "action": "store_true"},
    ),
    (
        "--mtls-partition",
        "off",
        "on: worker i of N loads and presents only its slice of the identities (each identity "
        "from one worker only); every worker must list the same identities",
        {**HIDDEN, "choices": ON_OFF},
    ),
    (
        "--mtls-report-timeout",
        "10",
        "seconds the master waits at stop (after --stop-timeout) for every worker's final "
        "counts; a worker whose counts do not come fails the gate",
        HIDDEN,
    ),
    (
        "--mtls-allow-incomplete",
        False,
        "pass the gate even when a worker's final counts never came (lost or silent workers)",
        {**HIDDEN, "action": "store_true"},
    ),
    (
        "--mtls-summary-file",
        "",
        "JSON counters, rewritten every second and at exit (by the master in a distributed run)",
        HIDDEN,
    ),
    (
        "--mtls-junit",
        "",
        "JUnit XML for CI: a testcase per threshold and per gated counter of each row",
        HIDDEN,
    ),
    (
        "--mtls-markdown",
        "",
        "Markdown summary (mTLS table, thresholds, gate) for $GITHUB_STEP_SUMMARY or a PR",
        HIDDEN,
    ),
    (
        "--mtls-crash-dir",
        "mtls-crashes",
        "where native-thread crashes leave faulthandler stacks",
        HIDDEN,
    ),
    ("--mtls-certs-dir", "certs", "where the embedded echo server's PKI is generated", HIDDEN),
    (
        "--mtls-resumption",
        "off",
        "on: offer each identity's TLS sessions again on its new connections (identity-cache, "
        "per-thread-session, thread-local)",
        {"choices": ON_OFF},
    ),
    (
        "--mtls-tls-version",
        "auto",
        "TLS version of client connections: 1.2, 1.3 or auto (1.2 to 1.3)",
        {"choices": list(TLS_VERSIONS)},
    ),
    ("--mtls-ciphers", "", "OpenSSL cipher string for TLS 1.2 (empty: urllib3's default)", {}),
    (
        "--mtls-context-cache",
        str(DEFAULT_CONTEXT_CACHE),
        "identity contexts kept per process (least recently used evicted; 0: no bound)",
        HIDDEN,
    ),
    (
        "--mtls-watch-identities",
        "0",
        "seconds between checks of the identities file; a changed file rotates the "
        "identities mid-test (0: never)",
        HIDDEN,
    ),
)


# Options that name files: on a worker, its own value (command line, environment or
# locust.conf) wins over the master's, because files are each host's; a worker that was
# given none takes the master's, as Locust hands every option over.
HOST_FILES = (
    "mtls_identities",
    "mtls_cert",
    "mtls_key",
    "mtls_ca",
    "mtls_certs_dir",
    "mtls_key_password",
    "mtls_key_password_file",
)


def host_files(own, given) -> dict:
    """Of HOST_FILES: this host's own values where it was given one, else those of
    `given` (the master's options)."""
    defaults = {dest(name): default for name, default, _help, _extra in OPTIONS}
    chosen = {}
    for name in HOST_FILES:
        mine = getattr(own, name, defaults[name])
        chosen[name] = mine if mine != defaults[name] else getattr(given, name, defaults[name])
    return chosen


def dest(option: str) -> str:
    """`--mtls-no-cert-fraction` -> `mtls_no_cert_fraction` (argparse's attribute name)."""
    return option.lstrip("-").replace("-", "_")


def env_var(option: str) -> str:
    """`--mtls-no-cert-fraction` -> `LOCUST_MTLS_NO_CERT_FRACTION`."""
    return "LOCUST_" + option.lstrip("-").upper().replace("-", "_")


LOCUST_ONLY_KEYWORDS = ("include_in_web_ui", "is_secret")  # LocustArgumentParser's own
TRUE_WORDS = ("true", "yes", "on", "1")  # a store_true option's env value that sets it


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        # Locust's parser says only this line (no usage), exit code 2.
        self.exit(2, f"{self.prog}: error: {message}\n")


def plain_parser() -> argparse.ArgumentParser:
    """OPTIONS on a plain argparse parser named like Locust's, plus the one option of
    Locust's that the checks read (--host)."""
    parser = _OneLineParser(prog="locust", add_help=False)
    parser.add_argument("-H", "--host", default=None)
    for name, default, help_text, extra in OPTIONS:
        keywords = {k: v for k, v in extra.items() if k not in LOCUST_ONLY_KEYWORDS}
        parser.add_argument(name, default=default, help=help_text, **keywords)
    return parser


def parse_options(args: Sequence[str], environ: Mapping[str, str] = os.environ):
    """`args` parsed as Locust would parse our options, without Locust: an option not in
    `args` comes from its `LOCUST_MTLS_*` variable (checked like a command-line value, as
    ConfigArgParse does), else its default. SystemExit(2) with one line on bad input."""
    given = {arg.partition("=")[0] for arg in args}
    from_environment = []
    for name, _default, _help, extra in OPTIONS:
        value = environ.get(env_var(name))
        if value is None or name in given:
            continue
        if extra.get("action") == "store_true":
            from_environment += [name] if value.strip().lower() in TRUE_WORDS else []
        elif extra.get("action") == "append":  # ConfigArgParse's list syntax: [a, b]
            items = value.strip().removeprefix("[").removesuffix("]").split(",")
            from_environment += [f"{name}={item.strip()}" for item in items if item.strip()]
        else:
            from_environment.append(f"{name}={value}")
    return plain_parser().parse_args([*from_environment, *args])


def options_given(options, names) -> list[str]:
    """'--name value' for each option of `names` given a value other than its default."""
    defaults = {name: default for name, default, *_ in OPTIONS}
    given = []
    for name in names:
        value = getattr(options, name.lstrip("-").replace("-", "_"), defaults[name])
        if value != defaults[name]:
            given.append(f"{name} {value}")
    return given


def default_options(**values) -> argparse.Namespace:
    """Every option at its default (plus `values`, e.g. host): what a library use of
    Locust, whose Environment has no parsed options, runs with."""
    defaults = vars(plain_parser().parse_args([]))
    return argparse.Namespace(**{**defaults, **values})
