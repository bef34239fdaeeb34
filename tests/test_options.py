"""Bad input: one line naming the option or file, exit code 2, nothing half-written.

BAD_INPUT is also the table in docs/troubleshooting.md (and in README.md once it holds
the table's markers): `python tests/test_options.py` rewrites the tables from it, and
test_the_troubleshooting_table_matches_the_cases fails when they differ. Every case runs
the real `locust` command (in subprocesses, in parallel).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from locust_mtls.config.validation import preflight, probe_host, run_options_from, settings_from
from locust_mtls.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
MTLS = str(ROOT / "locustfiles" / "mtls.py")
DOC = ROOT / "docs" / "troubleshooting.md"
TABLE_START, TABLE_END = "<!-- bad-input table: start -->", "<!-- bad-input table: end -->"
PASSWORD = "s3cret-Pa55"
IDS = ("--mtls-identities", "pki/identities.json")


@dataclass(frozen=True)
class Case:
    """One bad input: what the user did, the options, and the exact line they get."""

    case: str
    args: tuple[str, ...]
    message: str  # {port}: the test's closed or non-TLS port


STRATEGY_NAMES = (
    "'requests-default', 'shared-context', 'per-thread-session', 'thread-local', "
    "'locked-context', 'locked-load', 'identity-cache', 'locust-httpuser'"
)
BAD_INPUT = [
    Case(
        "unknown strategy",
        ("--mtls-strategy", "fastest"),
        "locust: error: argument --mtls-strategy: invalid choice: 'fastest' "
        f"(choose from {STRATEGY_NAMES})",
    ),
    Case(
        "unknown concurrency",
        ("--mtls-concurrency", "fibers"),
        "locust: error: argument --mtls-concurrency: invalid choice: 'fibers' "
        "(choose from 'greenlet', 'native-threads')",
    ),
    Case(
        "identities file missing",
        ("--mtls-identities", "missing.json"),
        "locust-mtls: error: --mtls-identities: missing.json not found; "
        "create it with 'locust-mtls certs'",
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
        "use any of wrong-identity, bleed, crash, unreported",
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
        ("--mtls-cert", "pki/client-1.pem", "--mtls-key", "/dev/zero", "--mtls-ca", "pki/ca.pem"),
        "locust-mtls: error: --mtls-cert: /dev/zero is not a regular file (a device or a "
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
]


def write_bad_files(directory: Path, pki_dir: str) -> None:
    """The files the cases name, relative to `directory` (each case's working dir)."""
    from cryptography.hazmat.primitives import serialization

    shutil.copytree(pki_dir, directory / "pki")
    (directory / "broken.json").write_text("{not json\n")
    (directory / "lost").mkdir()
    (directory / "lost" / "identities.json").write_text(
        '{"ca": "../pki/ca.pem", "identities": [{"name": "a", "cert": "gone.pem"}]}\n'
    )
    (directory / "not-a-ca.pem").write_text("this is not a certificate\n")
    os.mkfifo(directory / "fifo.json")
    one = (
        '"identities": [{"name": "a", "cert": "../pki/client-1.pem", "key": "../pki/client-1.key"}]'
    )
    for name, ca in (("cadir", '"ca": "pki", '), ("noca", "")):
        (directory / name).mkdir()
        (directory / name / "pki").mkdir()
        (directory / name / "identities.json").write_text("{" + ca + one + "}\n")
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


def listing(directory: Path) -> set[str]:
    return {str(path.relative_to(directory)) for path in directory.rglob("*")}


def run_case(case: Case, cwd: Path, ports: dict) -> SimpleNamespace:
    """Run `locust` with the case's options in `cwd`; what came out and what it wrote."""
    before = listing(cwd)
    locust = os.path.join(os.path.dirname(sys.executable), "locust")
    # Not --csv: Locust itself opens its CSV files before any plugin can check options.
    reports = ["--mtls-summary-file", "summary.json", "--html", "report.html"]
    command = [locust, "-f", MTLS, "--headless", "-t", "3s", *reports]
    command += [arg.format(**ports) for arg in case.args]
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    return SimpleNamespace(
        returncode=done.returncode,
        stderr=done.stderr,
        # Locust's own log lines start with "[date]"; the rest is what we print.
        lines=[line for line in done.stderr.splitlines() if not line.startswith("[")],
        written=listing(cwd) - before,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def ports(closed_port, plain_tcp_listener):
    return {"port": closed_port, "tcp_port": plain_tcp_listener}


@pytest.fixture(scope="module")
def results(generated_pki, tmp_path_factory, ports):
    """Every case at once (a few Locust start-ups in parallel keep this file fast)."""
    pki_dir = os.path.dirname(generated_pki.ca_file)
    directories = []
    for number, _ in enumerate(BAD_INPUT):
        directory = tmp_path_factory.mktemp(f"bad-input-{number}")
        write_bad_files(directory, pki_dir)
        directories.append(directory)
    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(run_case, BAD_INPUT, directories, [ports] * len(BAD_INPUT))
        return dict(zip((case.case for case in BAD_INPUT), done, strict=True))


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
        args = " ".join(case.args).format(**placeholders)
        message = case.message.format(**placeholders).replace("|", "\\|")
        rows.append(f"| {case.case} | `{args}` | `{message}` |")
    return "\n".join(rows)


def doc_with_table(text: str) -> str:
    head, rest = text.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{render_table()}\n{TABLE_END}{tail}"


def docs_with_the_table() -> list[Path]:
    """docs/troubleshooting.md, and README.md too once it carries the table's markers."""
    readme = ROOT / "README.md"
    has_markers = readme.exists() and TABLE_START in readme.read_text()
    return [DOC, readme] if has_markers else [DOC]


@pytest.mark.parametrize("doc", docs_with_the_table(), ids=lambda path: path.name)
def test_the_troubleshooting_table_matches_the_cases(doc):
    text = doc.read_text()
    assert text == doc_with_table(text), "run `python tests/test_options.py` to update it"


def test_readme_documents_every_option_and_its_table_only_real_ones():
    from locust_mtls.config.options import OPTIONS

    readme = (ROOT / "README.md").read_text()
    known = {name for name, *_ in OPTIONS}
    assert {name for name in known if f"`{name}" not in readme} == set()
    table = readme.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `(--mtls-[a-z-]+)`", table, re.M))
    assert listed - known == set()
    # the CI gate's options sit in the table next to --mtls-fail-on and --mtls-summary-file
    ci = {"--mtls-threshold", "--mtls-abort-on-threshold", "--mtls-junit", "--mtls-markdown"}
    assert ci <= listed


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


def test_the_probe_tolerates_faults_the_run_will_count(generated_pki):
    """Only "nothing listens" and "not TLS" stop a run: a server that drops or delays
    handshakes is the very thing under test."""
    from locust_mtls.server.echo import EchoServer, InjectedFaults

    files = (generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file)
    for faults in (InjectedFaults(drop_percent=100), InjectedFaults(delay_ms=300)):
        with EchoServer(*files, faults=faults) as server:
            probe_host(server.url, generated_pki.ca_file, timeout=0.1)


def test_the_ca_bundle_is_never_written_next_to_the_users_ca(generated_pki, tmp_path, monkeypatch):
    from locust_mtls.config.validation import ensure_ca_bundle

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    users = tmp_path / "etc"
    users.mkdir()
    shutil.copy(generated_pki.ca_file, users / "ca.pem")
    bundle = ensure_ca_bundle(str(users / "ca.pem"))
    assert sorted(os.listdir(users)) == ["ca.pem"]
    assert bundle.startswith(str(tmp_path / "cache" / "locust-mtls"))
    assert os.stat(os.path.dirname(bundle)).st_mode & 0o777 == 0o700
    assert (users / "ca.pem").read_bytes() in Path(bundle).read_bytes()
    assert ensure_ca_bundle(str(users / "ca.pem")) == bundle  # one file per content


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


if __name__ == "__main__":  # rewrite the table in docs/troubleshooting.md (and README.md)
    for doc in docs_with_the_table():
        doc.write_text(doc_with_table(doc.read_text()))
        print(f"updated {doc}")
