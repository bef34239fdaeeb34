"""httpx over HTTP/2 (`http2=True`) against nginx offering h2 on loopback: the shared CA
context bleeds the same way, the per-identity frozen contexts stay clean, and
MtlsHttpxUser with `client_options = {"http2": True}` runs checked and counted.
Skipped, with the install command, where nginx is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from bench import nginx
from locust_mtls.errors import ConfigError
from locust_mtls.strategies import create
from locust_mtls.strategies import httpx_client as httpx_strategies
from locust_mtls.tls.contexts import HTTP2_ALPN, FrozenSSLContext

from conftest import row_of, run_locust
from test_strategies import send

pytestmark = pytest.mark.skipif(
    nginx.missing_reason() is not None, reason=str(nginx.missing_reason())
)


@pytest.fixture(scope="module")
def h2_server(generated_pki):
    with nginx.start_nginx(
        generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file, http2=True
    ) as server:
        yield server


def http_version(client, identity, url) -> str:
    return client.session_for(identity).get(url).http_version


def test_a_shared_ca_context_bleeds_over_http2_too(trust, identities, h2_server):
    client = create("httpx-h2-shared-ca-context", trust).new_client()
    first, second = identities[0], identities[1]
    assert http_version(client, first, h2_server.url) == "HTTP/2"  # h2 taken, not http/1.1
    assert send(client, h2_server.url, first, identities)[0] == "ok"
    _, outcome = send(client, h2_server.url, None, identities)
    assert outcome.reported == first.fingerprint  # bleed: the chain loaded last
    assert send(client, h2_server.url, second, identities)[0] == "ok"
    verdict, outcome = send(client, h2_server.url, first, identities)  # a new connection
    assert (verdict, outcome.reported) == ("wrong_identity", second.fingerprint)
    client.close()


def test_frozen_contexts_offering_h2_stay_clean(trust, identities, h2_server):
    strategy = create("httpx-h2-client-per-identity", trust)
    client = strategy.new_client()
    assert http_version(client, identities[0], h2_server.url) == "HTTP/2"
    outcomes = [
        send(client, h2_server.url, identity, identities, keepalive=keepalive)
        for identity in (identities[0], None, identities[1], identities[0])
        for keepalive in (False, True)
    ]
    assert [verdict for verdict, _ in outcomes] == ["ok"] * 8
    # Handshakes: a keep-alive-off request may take the connection an earlier request of
    # its identity kept open (0), but then closes it, so the next request makes one (1).
    assert [len(o.connections.full_ms) for _, o in outcomes] == [0, 1, 1, 1, 1, 1, 0, 1]
    context = strategy.context_for(identities[0], HTTP2_ALPN)
    assert isinstance(context, FrozenSSLContext)
    with pytest.raises(RuntimeError, match="frozen"):
        context.set_alpn_protocols(["http/1.1"])  # httpcore sets HTTP2_ALPN only
    client.close()


def test_http2_without_h2_is_one_line_with_the_install_command(trust, monkeypatch):
    monkeypatch.setattr(
        httpx_strategies.importlib.util, "find_spec", lambda name: None if name == "h2" else 1
    )
    with pytest.raises(ConfigError) as error:
        create("httpx-h2-client-per-identity", trust)
    assert str(error.value) == (
        "strategy httpx-h2-client-per-identity sends HTTP/2 with httpx, which needs the h2 "
        "package; pip install 'locust-mtls[httpx]'"
    )


H2_LOCUSTFILE = """
from locust import constant, task
from locust_mtls import MtlsHttpxUser

class Api(MtlsHttpxUser):
    wait_time = constant(0)
    client_options = {"http2": True}

    @task
    def orders(self):
        with self.client.get("/orders", catch_response=True) as response:
            if response.http_version != "HTTP/2":
                response.failure(f"sent over {response.http_version}")
"""


def test_mtls_httpx_user_with_http2_runs_clean_over_h2(tmp_path, h2_server, generated_pki):
    locustfile = tmp_path / "api.py"
    locustfile.write_text(textwrap.dedent(H2_LOCUSTFILE))
    summary = tmp_path / "summary.json"
    identities_file = os.path.join(os.path.dirname(generated_pki.ca_file), "identities.json")
    done = run_locust(
        "-f", str(locustfile), "--host", h2_server.url, "--mtls-identities", identities_file,
        "--mtls-summary-file", str(summary), cwd=tmp_path, users=4, run_time="2s",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    row = row_of(json.loads(summary.read_text()), "httpx/identity-cache")
    assert row["requests"] > 20 and row["failures"] == 0, row
    assert row["wrong_identity"] == row["bleed"] == row["missing_certificate"] == 0


# Locust (and its gevent patching) is imported in a child, never in the test process.
USER_CLASS_WITHOUT_H2 = """
import locust  # first, as in a locustfile: gevent patches ssl before anything imports it
import importlib.util
from locust_mtls.locust.httpx_user import MtlsHttpxUser
from locust_mtls.strategies import httpx_client

class Api(MtlsHttpxUser):
    abstract = True
    client_options = {"http2": True}

print(Api.options_error())  # h2 is installed here (the test extra)
find_spec = importlib.util.find_spec
httpx_client.importlib.util.find_spec = lambda name: None if name == "h2" else find_spec(name)
print(Api.options_error())
print(MtlsHttpxUser.options_error())  # HTTP/1.1 needs no h2
"""


def test_a_user_class_asking_http2_without_h2_is_refused_at_start():
    done = subprocess.run(
        [sys.executable, "-c", USER_CLASS_WITHOUT_H2], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "None",
        "Api: client_options http2=True sends HTTP/2 with httpx, which needs the h2 package; "
        "pip install 'locust-mtls[httpx]'",
        "None",
    ]
