"""`locust-mtls audit`: a locustfile people already have, run unchanged, every request
checked against the identity the embedded echo server reports (Locust in a subprocess)."""

import json
import subprocess
import sys

import pytest

import locust_mtls
from locust_mtls.tls import requests_path

from conftest import row_of

# The locustfile as Locust's documentation shows it: cert= per request, verify=True, half
# the requests without a certificate, a new connection each.
PLAIN = """
import itertools
from locust import {base}, constant, task

CERT = ("certs/client-1.pem", "certs/client-1.key")


class Plain({base}):
    wait_time = constant(0)

    def on_start(self):
        self.sent = itertools.count()

    @task
    def get(self):
        cert = CERT if next(self.sent) % 2 else None
        self.client.get("/", cert=cert, verify=True, headers={{"Connection": "close"}})
"""

OWN_SESSION = """
import requests
from locust import User, constant, task


class OwnSession(User):
    wait_time = constant(0.2)

    @task
    def get(self):
        requests.get(self.environment.host, verify=False, timeout=5)
"""

FAST = """
from locust import FastHttpUser, constant, task


class Fast(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
"""

SHARED = requests_path.locust_uses_preloaded_context() or requests_path.uses_preloaded_context()


def audit(tmp_path, source: str, *options: str):
    (tmp_path / "theirs.py").write_text(source)
    summary = tmp_path / "summary.json"
    done = subprocess.run(
        [
            sys.executable, "-m", "locust_mtls.cli", "audit", "-f", "theirs.py", "--headless",
            "--only-summary", "-u", "4", "-r", "4", "-t", "3s",
            "--mtls-summary-file", str(summary), *options,
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    document = json.loads(summary.read_text()) if summary.exists() else {}
    return done, document


@pytest.mark.skipif(not SHARED, reason="neither Locust nor requests share a context here")
def test_plain_httpuser_bleeds_and_fails_the_gate(tmp_path):
    done, summary = audit(tmp_path, PLAIN.format(base="HttpUser"))
    assert done.returncode == 1, done.stderr[-2000:]
    row = row_of(summary, "audit:Plain")
    assert row["requests"] > 0 and row["bleed"] > 0
    assert "failed its mTLS gate" in done.stderr
    if requests_path.locust_uses_preloaded_context():
        assert "Locust's shared preloaded SSLContext" in row["client_path"]
        assert "Locust's shared preloaded SSLContext" in summary["client_path"]


def test_verify_with_a_ca_path_takes_the_shared_context_out(tmp_path):
    source = PLAIN.format(base="HttpUser").replace("verify=True", 'verify="certs/ca.pem"')
    done, summary = audit(tmp_path, source)
    assert done.returncode == 0, done.stderr[-2000:]
    row = row_of(summary, "audit:Plain")
    assert row["requests"] > 0 and row["bleed"] == row["wrong_identity"] == 0
    assert "verify='certs/ca.pem'" in row["client_path"]


@pytest.mark.skipif(
    "MtlsHttpUser" not in locust_mtls.__all__, reason="locust_mtls.MtlsHttpUser not built yet"
)
def test_the_same_file_on_mtls_httpuser_is_clean(tmp_path):
    source = PLAIN.format(base="MtlsHttpUser").replace(
        "from locust import MtlsHttpUser,",
        "from locust_mtls import MtlsHttpUser\nfrom locust import",
    )
    done, summary = audit(tmp_path, source)
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(row["bleed"] == 0 for row in summary["strategies"].values())


def test_fast_http_user_without_a_certificate_is_audited_clean(tmp_path):
    done, summary = audit(tmp_path, FAST)
    assert done.returncode == 0, done.stderr[-2000:]
    row = row_of(summary, "audit:Fast")
    assert row["requests"] > 0 and row["bleed"] == row["wrong_identity"] == 0
    assert "FastHttpUser" in row["client_path"]


def test_options_of_our_own_user_classes_are_named_once_as_ignored(tmp_path):
    done, summary = audit(tmp_path, FAST, "--mtls-keepalive", "off", "--mtls-ciphers", "AES128")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if "locust-mtls audit: ignored" in line]
    assert len(lines) == 1, done.stderr[-2000:]
    assert "--mtls-keepalive off, --mtls-ciphers AES128" in lines[0]
    assert row_of(summary, "audit:Fast")["requests"] > 0


def test_nothing_is_said_when_no_such_option_is_given():
    from locust_mtls.config.options import default_options
    from locust_mtls.locust.audit import IGNORED, ignored_options_line

    assert ignored_options_line(default_options()) is None
    given = default_options(mtls_tls_version="1.2", mtls_resumption="on")
    assert ignored_options_line(given).startswith(
        "locust-mtls audit: ignored --mtls-tls-version 1.2, --mtls-resumption on: "
    )
    assert {"--mtls-strategy", "--mtls-concurrency", "--mtls-keepalive"} <= set(IGNORED)


def test_a_client_built_outside_locust_is_not_audited_and_says_so(tmp_path):
    done, summary = audit(tmp_path, OWN_SESSION)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "no request was audited" in done.stdout
    assert not [name for name in summary["strategies"] if name.startswith("audit:")]


def test_a_missing_locustfile_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "locust_mtls.cli", "audit", "-f", "nowhere.py", "--headless"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "locust-mtls audit: error: -f nowhere.py: no such locustfile; give the path of your "
        "locustfile"
    ]


def test_require_fails_an_audit_whose_target_reports_nothing(tmp_path):
    # The options the user gave reach the audited rows: a header nobody sets is a target
    # that reports nothing, and --mtls-identity-check require fails the run.
    done, summary = audit(
        tmp_path, FAST, "--mtls-identity-header", "X-Nobody-Sets-This",
        "--mtls-identity-check", "require",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr[-2000:]
    row = row_of(summary, "audit:Fast")
    assert row["requests"] > 0 and row["unreported"] == row["requests"]
    assert row["identity_check"] == "require"
    assert "failed its mTLS gate" in done.stderr
    done, summary = audit(tmp_path, FAST, "--mtls-identity-header", "X-Nobody-Sets-This")
    assert done.returncode == 0, done.stderr[-2000:]  # auto: counted, not failed


def test_an_untrusted_server_is_counted_by_failure_class_under_the_audited_row(
    tmp_path, generated_pki, server_identities
):
    import shutil
    from pathlib import Path

    from locust_mtls.server.echo import EchoServer

    shutil.copytree(Path(generated_pki.ca_file).parent, tmp_path / "certs")  # their cert= files
    cert, key = server_identities.untrusted
    with EchoServer(cert, key, generated_pki.ca_file) as untrusted:
        done, summary = audit(
            tmp_path, PLAIN.format(base="HttpUser"), "--host", untrusted.url,
            "--mtls-identities", "certs/identities.json",
        )  # fmt: skip
    row = row_of(summary, "audit:Plain")
    assert row["requests"] > 0 and row["failures"] == row["requests"]
    assert row["failure_classes"] == {"server certificate not trusted": row["requests"]}
    assert "no request was audited" not in done.stdout
