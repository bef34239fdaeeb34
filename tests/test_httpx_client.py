"""httpx's strategies against the echo server over real TLS, one request at a time (what
greenlets do) and on plain threads. Loops are bounded in count."""

from collections import Counter

import httpx
import pytest
from packaging.version import Version

from locust_mtls.strategies import create
from locust_mtls.tls.contexts import FrozenSSLContext

from test_strategies import hammer, send


def test_verify_path_drops_every_certificate_from_0_28_on(trust, identities, pki_server):
    # httpx 0.28 _config.py create_ssl_context returns for verify=<str> before `if cert:`
    # (0.29.0 too); 0.27 still loaded the certificate.
    dropped = Version(httpx.__version__) >= Version("0.28")
    client = create("httpx-verify-path", trust).new_client()
    verdicts = [send(client, pki_server.url, i, identities)[0] for i in (identities[0], None)]
    assert verdicts == ["missing_certificate" if dropped else "ok", "ok"]
    _, outcome = send(client, pki_server.url, identities[1], identities)
    assert outcome.reported == ("none" if dropped else identities[1].fingerprint)
    assert outcome.status == 200  # the server serves it: nothing fails, nothing says
    client.close()


def test_a_shared_ca_context_gets_every_clients_chain(trust, identities, pki_server):
    """No race needed: each Client(verify=ctx, cert=...) loads its chain into the one
    context, so every new connection presents the chain loaded last."""
    strategy = create("httpx-shared-ca-context", trust)
    client = strategy.new_client()
    first, second = identities[0], identities[1]
    assert send(client, pki_server.url, first, identities)[0] == "ok"
    _, outcome = send(client, pki_server.url, None, identities)
    assert outcome.reported == first.fingerprint  # bleed
    assert send(client, pki_server.url, second, identities)[0] == "ok"  # loads second's
    verdict, outcome = send(client, pki_server.url, first, identities)  # a new connection
    assert (verdict, outcome.reported) == ("wrong_identity", second.fingerprint)
    assert not isinstance(strategy.context, FrozenSSLContext)  # the user's own context
    client.close()


@pytest.mark.parametrize("keepalive", [False, True], ids=["new-connection", "keep-alive"])
def test_a_client_per_identity_stays_clean_on_threads(trust, identities, pki_server, keepalive):
    verdicts = hammer(
        create("httpx-client-per-identity", trust), pki_server.url, identities, keepalive=keepalive
    )
    assert verdicts == Counter(ok=sum(verdicts.values()))


def test_handshakes_and_requests_written_come_from_httpcores_trace(trust, identities, pki_server):
    client = create("httpx-client-per-identity", trust).new_client()
    _, first = send(client, pki_server.url, identities[0], identities, keepalive=True)
    _, again = send(client, pki_server.url, identities[0], identities, keepalive=True)
    assert len(first.connections.full_ms) == 1 and first.connections.versions[0].startswith("TLS")
    assert again.connections.full_ms == []  # the kept-alive connection
    assert first.connections.requests_written == again.connections.requests_written == 1
    client.close()
