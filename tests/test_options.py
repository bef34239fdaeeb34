"""Bad input: one line naming the option or file, exit code 2, nothing half-written.

BAD_INPUT is also the table in docs/troubleshooting.md: `python tests/test_options.py`
rewrites the table from it, and test_the_troubleshooting_table_matches_the_cases fails
when they differ.

Most cases are about our own options: they go through the option table's own parser and
the start checks in this process (milliseconds each). A few run the real `locust` command
(in subprocesses, in parallel) to prove the wiring, or need Locust's own options; the echo
server's cases run `locust-mtls serve`.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from locust_mtls.config.input_checks import check_host, check_output_dir
from locust_mtls.config.options import parse_options
from locust_mtls.config.validation import preflight, probe_host, run_options_from, settings_from
from locust_mtls.errors import ConfigError
from locust_mtls.results.files import check_output_file
from locust_mtls.results.thresholds import parse_thresholds
from locust_mtls.strategies import STRATEGIES
from locust_mtls.tls.pki import generate_pki

ROOT = Path(__file__).resolve().parent.parent
MTLS = str(ROOT / "locustfiles" / "mtls.py")
DOC = ROOT / "docs" / "troubleshooting.md"
TABLE_START, TABLE_END = "<!-- bad-input table: start -->", "<!-- bad-input table: end -->"
PASSWORD = "s3cret-Pa55"
IDS = ("--mtls-identities", "pki/identities.json")
ENC = ("--mtls-cert", "enc/client-1.pem", "--mtls-key", "enc/client-1.key")
NOT_UTF8 = os.fsdecode(b"\xff")  # how Python hands over an argv byte that is not UTF-8
IN_PROCESS, LOCUST, SERVE = "options", "locust", "serve"


@dataclass(frozen=True)
class Case:
    """One bad input: what the user did, the options, and the exact line they get."""

    case: str
    args: tuple[str, ...]
    message: str  # {port}: the test's closed or non-TLS port
    # IN_PROCESS: our option parser and start checks, here; LOCUST: a real `locust`
    # start-up (the wiring, and Locust's own options); SERVE: `locust-mtls serve`.
    runs: str = IN_PROCESS
    unprivileged: bool = False  # checked as user nobody (root may read any file)


STRATEGY_NAMES = ", ".join(map(repr, STRATEGIES))
BAD_INPUT = [
    Case(
        "unknown strategy",
        ("--mtls-strategy", "fastest"),
        "locust: error: argument --mtls-strategy: invalid choice: 'fastest' "
        f"(choose from {STRATEGY_NAMES})",
        runs=LOCUST,
    ),
    Case(
        "unknown concurrency",
        ("--mtls-concurrency", "fibers"),
        "locust: error: argument --mtls-concurrency: invalid choice: 'fibers' "
        "(choose from 'greenlet', 'native-threads', 'asyncio')",
    ),
    Case(
        "a concurrency the strategy's client cannot run on",
        ("--mtls-strategy", "aiohttp-per-request-context", "--mtls-concurrency", "greenlet"),
        "locust-mtls: error: --mtls-concurrency greenlet: strategy aiohttp-per-request-context "
        "drives aiohttp, which runs on asyncio; pass --mtls-concurrency asyncio (or "
        "concurrency = 'asyncio' on the class)",
    ),
    Case(
        "identities file missing",
        ("--mtls-identities", "missing.json"),
        "locust-mtls: error: --mtls-identities: missing.json not found; "
        "create it with 'locust-mtls certs'",
        runs=LOCUST,
    ),
    Case(
        "identities file is not JSON",
        ("--mtls-identities", "broken.json"),
        "locust-mtls: error: --mtls-identities: broken.json is not valid JSON (Expecting "
        "property name enclosed in double quotes: line 1 column 2 (char 1)); "
        "regenerate with 'locust-mtls certs --force'",
    ),
    Case(
        "identities entry names a missing file",
        ("--mtls-identities", "lost/identities.json"),
        "locust-mtls: error: --mtls-identities: lost/gone.pem not found; "
        "fix the path or run 'locust-mtls certs'",
    ),
    Case(
        "cert and key swapped",
        (
            "--mtls-cert",
            "pki/client-1.key",
            "--mtls-key",
            "pki/client-1.pem",
            "--mtls-ca",
            "pki/ca.pem",
        ),
        "locust-mtls: error: --mtls-cert: pki/client-1.key holds a private key and "
        "pki/client-1.pem a certificate: cert and key are swapped; swap them",
    ),  # fmt: skip
    Case(
        "key does not match cert",
        (
            "--mtls-cert",
            "pki/client-1.pem",
            "--mtls-key",
            "pki/client-2.key",
            "--mtls-ca",
            "pki/ca.pem",
        ),
        "locust-mtls: error: --mtls-cert: pki/client-2.key does not match pki/client-1.pem "
        "(different public key); regenerate with 'locust-mtls certs --force'",
    ),  # fmt: skip
    Case(
        "encrypted key, no password",
        (
            "--mtls-cert",
            "enc/client-1.pem",
            "--mtls-key",
            "enc/client-1.key",
            "--mtls-ca",
            "pki/ca.pem",
        ),
        "locust-mtls: error: --mtls-cert: enc/client-1.key is an encrypted private key; "
        "pass its password with --mtls-key-password",
    ),  # fmt: skip
    Case(
        "encrypted key, wrong password",
        (
            "--mtls-cert",
            "enc/client-1.pem",
            "--mtls-key",
            "enc/client-1.key",
            "--mtls-key-password",
            "wrong",
            "--mtls-ca",
            "pki/ca.pem",
        ),
        "locust-mtls: error: --mtls-cert: enc/client-1.key: wrong password for the "
        "private key; fix it",
    ),  # fmt: skip
    Case(
        "CA file is not PEM",
        (*IDS, "--mtls-ca", "not-a-ca.pem"),
        "locust-mtls: error: --mtls-ca: not-a-ca.pem: cannot load CA certificates "
        "(NO_CERTIFICATE_OR_CRL_FOUND); give a PEM file of CA certificates",
    ),
    Case(
        "--host is http://",
        (*IDS, "--host", "http://127.0.0.1:{port}"),
        "locust-mtls: error: --host http://127.0.0.1:{port} is not https://; "
        "mTLS needs an https:// URL",
    ),
    Case(
        "nothing listens on --host",
        (*IDS, "--host", "https://127.0.0.1:{port}"),
        "locust-mtls: error: --host https://127.0.0.1:{port}: nothing listens on "
        "127.0.0.1:{port}; start the server or fix the port",
        runs=LOCUST,
    ),
    Case(
        "--host does not speak TLS",
        (*IDS, "--host", "https://127.0.0.1:{tcp_port}"),
        "locust-mtls: error: --host https://127.0.0.1:{tcp_port} does not speak TLS on "
        "127.0.0.1:{tcp_port}; point --host at the server's https port",
    ),
    Case(
        "no-cert fraction out of range",
        ("--mtls-no-cert-fraction", "1.5"),
        "locust-mtls: error: --mtls-no-cert-fraction must be between 0 and 1, not '1.5'",
    ),
    Case(
        "timeout not CONNECT,READ",
        ("--mtls-timeout", "5"),
        "locust-mtls: error: --mtls-timeout must be CONNECT,READ seconds like 5,30, not '5'",
    ),
    Case(
        "unknown --mtls-fail-on kind",
        ("--mtls-fail-on", "slowness"),
        "locust-mtls: error: --mtls-fail-on: unknown 'slowness'; "
        "use any of wrong-identity, missing-certificate, bleed, crash, unreported",
    ),
    Case(
        "threshold limit in a unit the metric does not take",
        ("--mtls-threshold", "handshake_p95<50us"),
        "locust-mtls: error: --mtls-threshold 'handshake_p95<50us': handshake_p95 takes ms "
        "(the default) or s, not 'us'; e.g. handshake_p95<=50ms",
    ),
    Case(
        "abort on threshold without a count threshold",
        ("--mtls-threshold", "rps>=1", "--mtls-abort-on-threshold"),
        "locust-mtls: error: --mtls-abort-on-threshold needs a --mtls-threshold on a count that "
        "only grows (bleed, wrong_identity, unreported, crashes, failures with <, <= or ==), "
        "e.g. --mtls-threshold bleed<=0",
        runs=LOCUST,
    ),
    Case(
        "--host port out of range",
        (*IDS, "--host", "https://127.0.0.1:99999"),
        "locust-mtls: error: --host https://127.0.0.1:99999: the port must be a number "
        "from 1 to 65535",
    ),
    Case(
        "--host port not a number",
        (*IDS, "--host", "https://127.0.0.1:abc"),
        "locust-mtls: error: --host https://127.0.0.1:abc: the port must be a number "
        "from 1 to 65535",
    ),
    Case(
        "--host IPv6 address without brackets",
        (*IDS, "--host", "https://::1:18443"),
        "locust-mtls: error: --host https://::1:18443: an IPv6 address needs brackets, "
        "like https://[::1]:8443",
    ),
    Case(
        "--host with a trailing space",
        (*IDS, "--host", "https://127.0.0.1:{port} "),
        "locust-mtls: error: --host 'https://127.0.0.1:{port} ' has spaces around it; remove them",
    ),
    Case(
        "key is a device",
        ("--mtls-cert", "pki/client-1.pem", "--mtls-key", "dev-zero", "--mtls-ca", "pki/ca.pem"),
        "locust-mtls: error: --mtls-cert: dev-zero is not a regular file (a device or a "
        "pipe); name a file",
    ),
    Case(
        "identities file is a FIFO",
        ("--mtls-identities", "fifo.json"),
        "locust-mtls: error: --mtls-identities: fifo.json is not a regular file (a device "
        "or a pipe); name a file",
    ),
    Case(
        '"ca" in the identities file is a directory',
        ("--mtls-identities", "cadir/identities.json"),
        'locust-mtls: error: --mtls-identities: cadir/pki ("ca" in cadir/identities.json) '
        "is a directory; name a file",
    ),
    Case(
        "identities file names no CA",
        ("--mtls-identities", "noca/identities.json"),
        "locust-mtls: error: no CA to trust: pass --mtls-ca FILE (the CA that signed the "
        'server\'s certificate), or list "ca" in the identities file',
    ),
    Case(
        "timeout infinite",
        ("--mtls-timeout", "inf,inf"),
        "locust-mtls: error: --mtls-timeout must be CONNECT,READ seconds like 5,30, not 'inf,inf'",
    ),
    Case(
        "summary file in a missing directory",
        ("--mtls-summary-file", "missing/s.json"),
        "locust-mtls: error: --mtls-summary-file missing/s.json: directory {cwd}/missing "
        "does not exist; create it",
    ),
    Case(
        "summary file is a directory",
        ("--mtls-summary-file", "pki"),
        "locust-mtls: error: --mtls-summary-file pki is a directory; name a file",
    ),
    Case(
        "JUnit file in a missing directory",
        ("--mtls-junit", "missing/junit.xml"),
        "locust-mtls: error: --mtls-junit missing/junit.xml: directory {cwd}/missing "
        "does not exist; create it",
    ),
    Case(
        "Markdown summary is a directory",
        ("--mtls-markdown", "pki"),
        "locust-mtls: error: --mtls-markdown pki is a directory; name a file",
    ),
    Case(
        "crash dir is a file",
        ("--mtls-crash-dir", "not-a-ca.pem"),
        "locust-mtls: error: --mtls-crash-dir not-a-ca.pem is a file, not a directory; "
        "name a directory",
    ),
    Case(
        "certs dir is a file",
        ("--mtls-certs-dir", "not-a-ca.pem"),
        "locust-mtls: error: --mtls-certs-dir not-a-ca.pem is a file, not a directory; "
        "choose another --mtls-certs-dir",
    ),
    Case(
        "key password file missing",
        (*IDS, "--mtls-key-password-file", "nope.txt"),
        "locust-mtls: error: --mtls-key-password-file: nope.txt not found; fix the path "
        "or run 'locust-mtls certs'",
    ),
    Case(
        "TLS version not 1.2, 1.3 or auto",
        ("--mtls-tls-version", "1.4"),
        "locust: error: argument --mtls-tls-version: invalid choice: '1.4' "
        "(choose from 'auto', '1.2', '1.3')",
    ),
    Case(
        "cipher string OpenSSL does not know",
        ("--mtls-ciphers", "NOT-A-CIPHER"),
        "locust-mtls: error: --mtls-ciphers 'NOT-A-CIPHER': OpenSSL accepts no cipher in it; "
        "give an OpenSSL cipher string like ECDHE-RSA-AES128-GCM-SHA256 (see 'openssl ciphers -v')",
    ),
    Case(
        "resumption not on or off",
        ("--mtls-resumption", "maybe"),
        "locust: error: argument --mtls-resumption: invalid choice: 'maybe' "
        "(choose from 'on', 'off')",
    ),
    Case(
        "negative context cache",
        ("--mtls-context-cache", "-1"),
        "locust-mtls: error: --mtls-context-cache must be a whole number >= 0, not '-1'",
    ),
    Case(
        "NUL in a path in the identities file",
        ("--mtls-identities", "nul/identities.json"),
        'locust-mtls: error: --mtls-identities: nul/identities.json: identities[0] "cert" '
        "holds a NUL character (\\u0000); fix the entry",
    ),
    Case(
        "identities file nested 100,000 deep",
        ("--mtls-identities", "deep.json"),
        "locust-mtls: error: --mtls-identities: deep.json is not valid JSON (nested too "
        "deeply); regenerate with 'locust-mtls certs --force'",
    ),
    Case(
        "identities file with a 5,000-digit number",
        ("--mtls-identities", "digits.json"),
        "locust-mtls: error: --mtls-identities: digits.json is not valid JSON (a number longer "
        "than 4300 digits); regenerate with 'locust-mtls certs --force'",
    ),
    Case(
        "--host IPv6 address without its closing bracket",
        (*IDS, "--host", "https://[::1:28443"),
        "locust-mtls: error: --host https://[::1:28443: the brackets do not match; "
        "write one like https://[::1]:8443",
    ),
    Case(
        "key password not UTF-8 (and wrong)",
        (*ENC, "--mtls-key-password", NOT_UTF8, "--mtls-ca", "pki/ca.pem"),
        "locust-mtls: error: --mtls-cert: enc/client-1.key: wrong password for the "
        "private key; fix it",
    ),
    Case(
        'a lone surrogate ("\\ud800") as a password in the identities file',
        ("--mtls-identities", "surrogate-password/identities.json"),
        "locust-mtls: error: --mtls-identities: surrogate-password/identities.json: "
        'identities[0] "password" holds a lone surrogate (\\ud800), not text; fix the entry',
    ),
    Case(
        'a lone surrogate ("\\ud800") as a certificate path in the identities file',
        ("--mtls-identities", "surrogate-cert/identities.json"),
        "locust-mtls: error: --mtls-identities: surrogate-cert/identities.json: "
        'identities[0] "cert" holds a lone surrogate (\\ud800), not text; fix the entry',
    ),
    Case(
        "negative number of users",
        ("-u", "-5"),
        "locust-mtls: error: -u/--users must be 0 or more, not -5",
        runs=LOCUST,
    ),
    Case(
        "CA file holds only a CRL",
        (*IDS, "--mtls-ca", "crl.pem"),
        "locust-mtls: error: --mtls-ca: crl.pem: cannot load CA certificates (only CRLs, no "
        "certificate); give a PEM file of CA certificates",
    ),
    Case(
        "echo server's CA file holds only a CRL",
        ("--certs", "pki", "--ca", "crl.pem"),
        "locust-mtls serve: error: crl.pem: cannot load CA certificates (only CRLs, no "
        "certificate); give a PEM file of CA certificates",
        runs=SERVE,
    ),
    Case(
        "identities file in a directory this user may not enter",
        ("--mtls-identities", "locked/identities.json"),
        "locust-mtls: error: --mtls-identities: locked/identities.json: permission denied "
        "(the file or a directory above it); fix the permissions",
        unprivileged=True,
    ),
    Case(
        "--host with a query",
        (*IDS, "--host", "https://127.0.0.1:{port}/api?x=1"),
        "locust-mtls: error: --host https://127.0.0.1:{port}/api?x=1 has a query or fragment; "
        "give --host as https://HOST[:PORT][/PATH] and the query in each request's path",
    ),
    Case(
        "--mtls-key without --mtls-cert",
        ("--mtls-key", "pki/client-1.key", "--mtls-ca", "pki/ca.pem"),
        "locust-mtls: error: --mtls-key without --mtls-cert; pass the certificate it belongs "
        "to with --mtls-cert",
    ),
    Case(
        "--mtls-cert and --mtls-identities together",
        ("--mtls-cert", "pki/client-1.pem", "--mtls-identities", "broken.json"),
        "locust-mtls: error: --mtls-cert and --mtls-identities both given; pass one "
        "(--mtls-cert for one identity, --mtls-identities for a file of them)",
    ),
    Case(
        "empty identity name",
        ("--mtls-identities", "noname/identities.json"),
        "locust-mtls: error: --mtls-identities: noname/identities.json: identities[0] needs a "
        '"name"; fix the entry',
    ),
    Case(
        "watch interval not a number",
        ("--mtls-watch-identities", "nan"),
        "locust-mtls: error: --mtls-watch-identities must be seconds >= 0, not 'nan'",
    ),
    Case(
        "watch interval infinite",
        ("--mtls-watch-identities", "inf"),
        "locust-mtls: error: --mtls-watch-identities must be seconds >= 0, not 'inf'",
    ),
    Case(
        "identity header empty",
        ("--mtls-identity-header", ""),
        "locust-mtls: error: --mtls-identity-header '' is not an HTTP header name; give one "
        "like X-Client-Cert-Fingerprint",
    ),
    Case(
        "identity header not a header name",
        ("--mtls-identity-header", "X Client Cert"),
        "locust-mtls: error: --mtls-identity-header 'X Client Cert' is not an HTTP header "
        "name; give one like X-Client-Cert-Fingerprint",
    ),
    Case(
        "echo server's handshake delay not a number",
        ("--certs", "pki", "--delay-ms", "nan"),
        "locust-mtls serve: error: --delay-ms must be 0 or more, and finite, not nan",
        runs=SERVE,
    ),
    Case(
        "echo server's handshake delay infinite",
        ("--certs", "pki", "--delay-ms", "inf"),
        "locust-mtls serve: error: --delay-ms must be 0 or more, and finite, not inf",
        runs=SERVE,
    ),
    Case(
        "summary file is a device",
        ("--mtls-summary-file", "dev-full"),
        "locust-mtls: error: --mtls-summary-file dev-full is not a regular file (a device or "
        "a pipe); name a file",
        runs=LOCUST,
    ),
    Case(
        "JUnit file is a FIFO",
        ("--mtls-junit", "fifo.json"),
        "locust-mtls: error: --mtls-junit fifo.json is not a regular file (a device or a "
        "pipe); name a file",
    ),
]


def write_bad_files(directory: Path, pki_dir: str) -> None:
    """The files the cases name, relative to `directory` (each case's working dir)."""
    from cryptography.hazmat.primitives import serialization

    shutil.copytree(pki_dir, directory / "pki")
    (directory / "broken.json").write_text("{not json\n")
    (directory / "deep.json").write_text("[" * 100_000)
    (directory / "digits.json").write_text(
        '{"identities": [{"name": "a", "n": %s}]}' % ("1" * 5000)
    )
    (directory / "lost").mkdir()
    (directory / "lost" / "identities.json").write_text(
        '{"ca": "../pki/ca.pem", "identities": [{"name": "a", "cert": "gone.pem"}]}\n'
    )
    (directory / "not-a-ca.pem").write_text("this is not a certificate\n")
    (directory / "crl.pem").write_bytes(crl_pem())
    os.mkfifo(directory / "fifo.json")
    for name, numbers in (("dev-zero", (1, 5)), ("dev-full", (1, 7))):  # our own nodes
        os.mknod(directory / name, stat.S_IFCHR | 0o666, os.makedev(*numbers))
    pair = '"cert": "../pki/client-1.pem", "key": "../pki/client-1.key"'
    one = '"identities": [{"name": "a", ' + pair + "}]"
    entries = {  # directory: identities.json's text
        "cadir": '{"ca": "pki", ' + one + "}",
        "noca": "{" + one + "}",
        "nul": '{"identities": [{"name": "a", "cert": "a\\u0000.pem"}]}',
        "surrogate-password": '{"identities": [{"name": "a", '
        + pair
        + ', "password": "\\ud800"}]}',
        "surrogate-cert": '{"identities": [{"name": "a", "cert": "\\ud800.pem"}]}',
        "noname": '{"identities": [{"name": "", ' + pair + "}]}",
        "locked": "{" + one + "}",
    }
    for name, text in entries.items():
        (directory / name).mkdir()
        (directory / name / "identities.json").write_text(text + "\n")
    (directory / "cadir" / "pki").mkdir()
    (directory / "locked").chmod(0)
    (directory / "enc").mkdir()
    shutil.copy(directory / "pki" / "client-1.pem", directory / "enc")
    plain_key = (directory / "pki" / "client-1.key").read_bytes()
    key = serialization.load_pem_private_key(plain_key, None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    descriptor = os.open(directory / "enc" / "client-1.key", os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(encrypted)


def crl_pem() -> bytes:
    """A PEM file holding one (empty) certificate revocation list and no certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    now = datetime.now(UTC)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "a CA")]))
        .last_update(now)
        .next_update(now + timedelta(days=1))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM)


def listing(directory: Path) -> set[str]:
    return {str(path.relative_to(directory)) for path in directory.rglob("*")}


def start_checks(options) -> None:
    """What plugin.on_init checks at start, in its order, without Locust (the LOCUST rows
    prove that on_init runs them): values, the files a run writes, then identities, CA
    and target (or, with no --host, the certs dir of the embedded server)."""
    settings_from(options)
    parse_thresholds(options.mtls_threshold, STRATEGIES)
    check_output_file(options.mtls_summary_file, "--mtls-summary-file")
    check_output_dir(options.mtls_crash_dir, "--mtls-crash-dir")
    check_output_file(options.mtls_junit, "--mtls-junit")
    check_output_file(options.mtls_markdown, "--mtls-markdown")
    if options.host:
        run_options_from(options)
    else:
        if options.mtls_identities or options.mtls_cert:
            run_options_from(options, probe=False)
        else:
            preflight(options)
        generate_pki(options.mtls_certs_dir, option="--mtls-certs-dir")


@contextlib.contextmanager
def as_nobody(unprivileged: bool):
    """With `unprivileged`, nobody's effective uid and gid while the block runs, if root."""
    if not unprivileged or os.geteuid() != 0:
        yield
        return
    os.setegid(65534)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def check_in_process(case: Case, cwd: Path, ports: dict) -> SimpleNamespace:
    """The case's options through parse_options and start_checks, in `cwd`: the line a
    user would get (argparse's, or "locust-mtls: error: ..." as plugin.fail prints it)."""
    before = listing(cwd)
    stderr, returncode = io.StringIO(), 0
    args = [arg.format(**ports) for arg in case.args]
    with contextlib.chdir(cwd), contextlib.redirect_stderr(stderr), as_nobody(case.unprivileged):
        try:
            start_checks(parse_options(args, environ={}))
        except SystemExit as exit:
            returncode = exit.code
        except ConfigError as error:
            stderr.write(f"locust-mtls: error: {error}\n")
            returncode = error.exit_code
    lines = stderr.getvalue().splitlines()
    return SimpleNamespace(
        returncode=returncode, stderr="", lines=lines, written=listing(cwd) - before, cwd=cwd
    )


def run_command(command: list[str], cwd: Path, timeout: float = 60) -> SimpleNamespace:
    """Run `command` in `cwd`; what came out and what it wrote."""
    before = listing(cwd)
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    return SimpleNamespace(
        returncode=done.returncode,
        stderr=done.stderr,
        # Locust's own log lines start with "[date]"; the rest is what we print.
        lines=[line for line in done.stderr.splitlines() if not line.startswith("[")],
        written=listing(cwd) - before,
        cwd=cwd,
    )


def run_locust(case: Case, cwd: Path, ports: dict) -> SimpleNamespace:
    """`locust` with the case's options, a summary file and an HTML report asked for."""
    locust = os.path.join(os.path.dirname(sys.executable), "locust")
    # Not --csv: Locust itself opens its CSV files before any plugin can check options.
    reports = ["--mtls-summary-file", "summary.json", "--html", "report.html"]
    command = [locust, "-f", MTLS, "--headless", "-t", "3s", *reports]
    return run_command(command + [arg.format(**ports) for arg in case.args], cwd)


def run_serve(case: Case, cwd: Path, ports: dict) -> SimpleNamespace:
    """`locust-mtls serve` with the case's options (on any free port, should it start)."""
    command = [sys.executable, "-m", "locust_mtls.cli", "serve", *case.args, "--port", "0"]
    return run_command(command, cwd, timeout=30)


RUNNERS = {LOCUST: run_locust, SERVE: run_serve}


@pytest.fixture(scope="module")
def ports(closed_port, plain_tcp_listener):
    return {"port": closed_port, "tcp_port": plain_tcp_listener}


@pytest.fixture(scope="module")
def results(generated_pki, tmp_path_factory, ports):
    """Every case: the commands in parallel, the in-process checks meanwhile; the
    unprivileged ones last (a child forked while this process is nobody would be too)."""
    pki_dir = os.path.dirname(generated_pki.ca_file)
    directories = {}
    for number, case in enumerate(BAD_INPUT):
        directories[case.case] = tmp_path_factory.mktemp(f"bad-input-{number}")
        write_bad_files(directories[case.case], pki_dir)
    done = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        started = {
            case.case: pool.submit(RUNNERS[case.runs], case, directories[case.case], ports)
            for case in BAD_INPUT
            if case.runs != IN_PROCESS
        }
        for case in BAD_INPUT:
            if case.runs == IN_PROCESS and not case.unprivileged:
                done[case.case] = check_in_process(case, directories[case.case], ports)
        done.update({name: future.result() for name, future in started.items()})
    for case in BAD_INPUT:
        if case.unprivileged:
            done[case.case] = check_in_process(case, directories[case.case], ports)
    return done


@pytest.mark.parametrize("case", BAD_INPUT, ids=[case.case for case in BAD_INPUT])
def test_bad_input_is_one_line_exit_code_2_and_writes_nothing(case, results, ports):
    result = results[case.case]
    assert "Traceback" not in result.stderr
    expected = case.message.format(**ports, cwd=result.cwd)
    assert [argparse_neutral(line) for line in result.lines] == [argparse_neutral(expected)]
    assert result.returncode == 2
    assert result.written == set()  # no summary, report, certs/ or crash dir


def argparse_neutral(line: str) -> str:
    """argparse's 'choose from' list is quoted on some CPython releases and not on others
    (changed in 3.12.8 / 3.13.1): compare the names, not the quoting."""
    return re.sub(
        r"\(choose from ([^)]*)\)", lambda m: f"(choose from {m[1].replace(chr(39), '')})", line
    )


def render_table() -> str:
    """The Markdown table of BAD_INPUT, as docs/troubleshooting.md holds it."""
    placeholders = {"port": "PORT", "tcp_port": "PORT", "cwd": "."}
    rows = ["| case | options | message (stderr, exit code 2) |", "|---|---|---|"]
    for case in BAD_INPUT:
        command = ["locust-mtls", "serve"] if case.runs == SERVE else []
        args = " ".join(shell_word(arg.format(**placeholders)) for arg in [*command, *case.args])
        message = case.message.format(**placeholders).replace("|", "\\|")
        rows.append(f"| {case.case} | `{args}` | `{message}` |")
    return "\n".join(rows)


def shell_word(arg: str) -> str:
    """`arg` as a shell would need it typed; bytes that are not UTF-8 as bash's $'\\xff'."""
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes: the bytes Python could not decode
        raw = os.fsencode(arg)
        return "$'" + "".join(chr(b) if b < 0x80 else f"\\x{b:02x}" for b in raw) + "'"
    return shlex.quote(arg)


def doc_with_table(text: str) -> str:
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{render_table()}\n{TABLE_END}{tail}"


def test_the_troubleshooting_table_matches_the_cases():
    text = DOC.read_text()
    assert text == doc_with_table(text), "run `python tests/test_options.py` to update it"


# -- the same checks without Locust: values a user may type in the web UI form --


def options(**changes) -> SimpleNamespace:
    """Parsed options with the plugin's own defaults (plugin_options imports no Locust)."""
    from locust_mtls.config.options import OPTIONS

    defaults = {name.lstrip("-").replace("-", "_"): default for name, default, *_ in OPTIONS}
    return SimpleNamespace(**{"host": None, **defaults, **changes})


def test_good_options_give_run_options(generated_pki, pki_server):
    ids = os.path.join(os.path.dirname(generated_pki.ca_file), "identities.json")
    given = options(host=pki_server.url, mtls_identities=ids, mtls_timeout="1,2")
    run = run_options_from(given)
    assert settings_from(given).timeout == (1.0, 2.0)
    assert len(run.identities) == len(generated_pki.identities)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(mtls_timeout="0,5"), "--mtls-timeout must be CONNECT,READ seconds"),
        (dict(mtls_timeout="a,b"), "--mtls-timeout must be CONNECT,READ seconds"),
        (dict(mtls_keepalive="maybe"), "--mtls-keepalive must be on or off"),
        (dict(mtls_trust_env="maybe"), "--mtls-trust-env must be on or off"),
        (dict(mtls_no_cert_fraction="half"), "--mtls-no-cert-fraction must be between 0 and 1"),
        (dict(mtls_strategy="fastest"), "unknown strategy 'fastest'"),
        (dict(mtls_concurrency="fibers"), "--mtls-concurrency must be one of"),
        (dict(mtls_identity_check="maybe"), "--mtls-identity-check must be one of auto, requ"),
        (dict(mtls_identity_format="md5"), "--mtls-identity-format must be one of auto, sha256"),
        (dict(mtls_fail_on="bleed,unreported,typo"), "--mtls-fail-on: unknown 'typo'"),
    ],
)
def test_preflight_checks_values_before_anything_starts(changes, message):
    with pytest.raises(ConfigError, match=message):
        preflight(options(**changes))


def test_preflight_checks_named_files_before_certs_exist(tmp_path):
    with pytest.raises(ConfigError, match="--mtls-ca: .*nope.pem not found"):
        preflight(options(mtls_ca=str(tmp_path / "nope.pem")))
    preflight(options(mtls_certs_dir=str(tmp_path / "certs")))  # default certs: made later


def test_settings_for_a_user_class_override(generated_pki):
    settings = settings_from(options(), "shared-context", concurrency="native-threads")
    assert (settings.strategy, settings.concurrency) == ("shared-context", "native-threads")
    assert (settings.identity_check, settings.identity_format) == ("auto", "auto")
    settings = settings_from(options(), identity_check="require", identity_format="sha1")
    assert (settings.identity_check, settings.identity_format) == ("require", "sha1")
    with pytest.raises(ConfigError, match="--mtls-identity-check must be one of .*'strict'"):
        settings_from(options(), identity_check="strict")  # a typo in a user-class attribute


def test_a_base_path_in_host_is_accepted():
    """Paths are appended to it, as Locust's HttpSession does (only a query is refused)."""
    for url in ("https://127.0.0.1:8443/api", "https://[::1]:8443/api/v1/", "https://host"):
        check_host(url)


def test_the_probe_tolerates_faults_the_run_will_count(generated_pki):
    """Only "nothing listens" and "not TLS" stop a run: a server that drops or delays
    handshakes is the very thing under test."""
    from locust_mtls.server.echo import EchoServer, InjectedFaults

    files = (generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file)
    for faults in (InjectedFaults(drop_percent=100), InjectedFaults(delay_ms=300)):
        with EchoServer(*files, faults=faults) as server:
            probe_host(server.url, generated_pki.ca_file, timeout=0.1)


def test_the_ca_bundle_is_never_written_next_to_the_users_ca(generated_pki, tmp_path, monkeypatch):
    from locust_mtls.tls.ca_bundles import with_certifi

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    users = tmp_path / "etc"
    users.mkdir()
    shutil.copy(generated_pki.ca_file, users / "ca.pem")
    bundle = with_certifi(str(users / "ca.pem"))
    assert sorted(os.listdir(users)) == ["ca.pem"]
    assert bundle.startswith(str(tmp_path / "cache" / "locust-mtls"))
    assert os.stat(os.path.dirname(bundle)).st_mode & 0o777 == 0o700
    assert (users / "ca.pem").read_bytes() in Path(bundle).read_bytes()
    assert with_certifi(str(users / "ca.pem")) == bundle  # one file per content


def test_an_explicit_ca_wins_over_the_identities_files_bundle(generated_pki, tmp_path):
    ids = os.path.join(os.path.dirname(generated_pki.ca_file), "identities.json")
    own_ca = tmp_path / "own-ca.pem"
    own_ca.write_bytes(Path(generated_pki.ca_file).read_bytes())
    listed = run_options_from(options(mtls_identities=ids), probe=False)
    assert listed.trust.ca_bundle_file == generated_pki.ca_bundle_file
    explicit = run_options_from(options(mtls_identities=ids, mtls_ca=str(own_ca)), probe=False)
    assert explicit.trust.ca_file == str(own_ca)
    assert explicit.trust.ca_bundle_file != generated_pki.ca_bundle_file


def test_the_key_password_may_come_from_a_file(generated_pki, tmp_path):
    from test_reliability import encrypt_key

    client = generated_pki.identities[0]
    key = encrypt_key(client.key_file, tmp_path, "from-a-file")
    (tmp_path / "password.txt").write_text("from-a-file\n")
    given = options(
        mtls_cert=client.cert_file,
        mtls_key=key,
        mtls_ca=generated_pki.ca_file,
        mtls_key_password_file=str(tmp_path / "password.txt"),
    )
    loaded = run_options_from(given, probe=False)
    assert loaded.identities[0].fingerprint == client.fingerprint
    with pytest.raises(ConfigError, match="both given; pass one"):
        run_options_from(options(**{**vars(given), "mtls_key_password": "x"}), probe=False)


def test_a_password_that_is_not_utf8_is_tried_as_the_bytes_given(generated_pki, tmp_path):
    """A Latin-1 password file (once decoded with errors="replace": always "wrong"), and
    the same bytes typed in a Latin-1 terminal (argv as surrogate escapes)."""
    from test_reliability import encrypt_key

    client = generated_pki.identities[0]
    latin1 = "café".encode("latin-1")
    key = encrypt_key(client.key_file, tmp_path, latin1)
    (tmp_path / "password.txt").write_bytes(latin1 + b"\r\n")
    given = options(mtls_cert=client.cert_file, mtls_key=key, mtls_ca=generated_pki.ca_file)
    for password in ({"mtls_key_password_file": str(tmp_path / "password.txt")},
                     {"mtls_key_password": os.fsdecode(latin1)}):  # fmt: skip
        loaded = run_options_from(options(**{**vars(given), **password}), probe=False)
        assert loaded.identities[0].fingerprint == client.fingerprint


def test_parse_options_reads_the_environment_like_locust(monkeypatch):
    """Each option's LOCUST_MTLS_* variable, checked like the command line; the command
    line wins; a list for a repeatable option."""
    environ = {
        "LOCUST_MTLS_STRATEGY": "shared-context",
        "LOCUST_MTLS_THRESHOLD": "[bleed<=0, rps>=1]",
        "LOCUST_MTLS_ABORT_ON_THRESHOLD": "true",
        "LOCUST_MTLS_TIMEOUT": "1,2",
    }
    parsed = parse_options(["--mtls-timeout", "3,4"], environ)
    assert parsed.mtls_strategy == "shared-context"
    assert parsed.mtls_threshold == ["bleed<=0", "rps>=1"]
    assert parsed.mtls_abort_on_threshold is True
    assert parsed.mtls_timeout == "3,4"
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as exited:
        parse_options([], {"LOCUST_MTLS_STRATEGY": "fastest"})
    assert exited.value.code == 2
    unknown = next(case for case in BAD_INPUT if case.case == "unknown strategy")
    assert argparse_neutral(stderr.getvalue().strip()) == argparse_neutral(unknown.message)


if __name__ == "__main__":  # rewrite the table in docs/troubleshooting.md
    DOC.write_text(doc_with_table(DOC.read_text()))
    print(f"updated {DOC}")
