"""`locust-mtls audit`: a locustfile people already have, run unchanged, every request
checked against the identity the embedded echo server reports (Locust in a subprocess)."""

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import locust_mtls
from locust_mtls.tls import requests_path

from conftest import processes, row_of

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
        sent = "client-1" if cert else "none"  # for the gateway's access log
        headers = {{"Connection": "close", "X-Sent": sent}}
        self.client.get("/", cert=cert, verify=True, headers=headers)
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

# FastHttpUser's documented hook, written the way that looks economical: one context built
# once and handed to every user's pool, each user's certificate given in ssl_options (and
# geventhttpclient's init_ssl_context loads it into that one context). A third of the users
# send no certificate. shared=False builds a new context per call: the safe form.
FAST_FACTORY = """
import itertools, ssl
from locust import FastHttpUser, constant, task
from locust.contrib.fasthttp import FastHttpSession

CERTS = [("certs/client-1.pem", "certs/client-1.key"),
         ("certs/client-2.pem", "certs/client-2.key"), None]
numbers = itertools.count()
built = []


class Factory(FastHttpUser):
    wait_time = constant(0)
    insecure = False

    def __init__(self, environment):
        super().__init__(environment)
        cert = CERTS[next(numbers) % len(CERTS)]
        options = {{"ca_certs": "certs/ca.pem"}}
        if cert:
            options.update(certfile=cert[0], keyfile=cert[1])
        self.client = FastHttpSession(
            base_url=self.host, request_event=environment.events.request, user=self,
            insecure=False, ssl_context_factory=self.new_context, ssl_options=options,
        )

    def new_context(self, cafile=None):
        if {shared} and built:
            return built[0]
        built.append(ssl.create_default_context(cafile=cafile))
        return built[-1]

    @task
    def get(self):
        self.client.get("/", headers={{"Connection": "close"}})
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


def test_fast_http_user_sharing_one_factory_context_is_audited_and_flagged(tmp_path):
    # Issue 30: the certificate each user meant is the one its ssl_options name; the server
    # sees whichever was loaded last into the one context, and the audit counts that.
    done, summary = audit(tmp_path, FAST_FACTORY.format(shared=True), "-u", "6", "-r", "6")
    assert done.returncode == 1, done.stderr[-2000:]
    row = row_of(summary, "audit:Factory")
    assert row["requests"] > 0 and row["bleed"] > 0 and row["wrong_identity"] > 0
    assert row["without_cert"] > 0 and row["with_cert"] > 0
    assert "ONE SSLContext from ssl_context_factory" in row["client_path"]
    assert "returned one SSLContext to several connection pools" in done.stderr
    assert "not audited" not in done.stdout


def test_fast_http_user_with_a_fresh_context_per_pool_is_audited_clean(tmp_path):
    done, summary = audit(tmp_path, FAST_FACTORY.format(shared=False), "-u", "6", "-r", "6")
    assert done.returncode == 0, done.stderr[-2000:]
    row = row_of(summary, "audit:Factory")
    assert row["requests"] > 0 and row["bleed"] == row["wrong_identity"] == 0
    assert row["without_cert"] > 0 and row["with_cert"] > 0
    assert "one SSLContext per connection pool" in row["client_path"]
    assert "several connection pools" not in done.stderr


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


@pytest.mark.gateway
@pytest.mark.skipif(not SHARED, reason="neither Locust nor requests share a context here")
@pytest.mark.parametrize("workers", [0, 2], ids=["local", "workers"])
def test_the_audit_trusts_mtls_ca_and_reports_the_bleed_the_gateway_logged(
    tmp_path, generated_pki, workers
):
    """nginx with a server certificate of a private trustme CA: --mtls-ca is trusted on
    the path verify=True takes (it is in no public bundle; on workers too, which get the
    master's options at test start), and each request nginx logged as sent without a
    certificate but carrying one is a bleed the audit counted."""
    from bench import nginx

    if nginx.missing_reason():
        pytest.skip(nginx.missing_reason())
    shutil.copytree(Path(generated_pki.ca_file).parent, tmp_path / "certs")  # their cert= files
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    # http{}'s `access_log off` cancels every access_log of its level: log in the location.
    log_format = 'log_format sent "$http_x_sent $client_cert_sha256";\n'
    access_log = f"access_log {prefix}/access.log sent;\n"
    with nginx.start_nginx(
        generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file,
        prefix=str(prefix), http_lines=nginx.ECHO_HTTP_LINES + log_format,
        location_lines=access_log + nginx.ECHO_LOCATION_LINES,
    ) as gateway:  # fmt: skip
        # --stop-timeout: users finish the request they are in (an audited session's
        # connections are Locust's, so a request cut off at stop could not be counted).
        done, summary = audit(
            tmp_path, PLAIN.format(base="HttpUser"), "--host", gateway.url,
            "--mtls-ca", "certs/ca.pem", "--stop-timeout", "5",
            *(processes(workers) if workers else ()),
        )  # fmt: skip
    row = row_of(summary, "audit:Plain")
    assert "certs/ca.pem trusted for this run only" in done.stderr, done.stderr[-2000:]
    assert row["failure_classes"] == {"cert bleed": row["bleed"]}  # nothing untrusted
    logged = Counter(
        tuple(line.split()) for line in (prefix / "access.log").read_text().splitlines()
    )
    client_1 = generated_pki.identities[0].fingerprint
    assert sum(logged.values()) == row["requests"]  # every request nginx logged, counted
    assert logged[("none", client_1)] == row["bleed"] > 0.3 * row["requests"]
    assert done.returncode == 1
    # (sent, seen): client-1 always presented itself; a no-cert request saw client-1 or none
    assert set(logged) <= {("client-1", client_1), ("none", client_1), ("none", "none")}
