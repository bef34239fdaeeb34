"""urllib3's strategies against the echo server over real TLS, one request at a time
and on plain threads. Loops are bounded in count."""

import time
from collections import Counter

import gevent
import pytest

from locust_mtls.engine.checkpoint import Sent
from locust_mtls.engine.runners import ThreadEngine
from locust_mtls.settings import RunSettings
from locust_mtls.strategies import create

from test_strategies import hammer, send


def test_a_shared_context_bleeds_with_one_connection_per_request(trust, identities, pki_server):
    """util/ssl_.py ssl_wrap_socket loads a connection's cert_file into the context it was
    given: the next connection without a certificate, in its own pool, presents it."""
    client = create("urllib3-shared-context", trust).new_client()
    for identity in identities[:2]:
        assert send(client, pki_server.url, identity, identities)[0] == "ok"
        verdict, outcome = send(client, pki_server.url, None, identities)
        assert (verdict, outcome.reported) == ("bleed", identity.fingerprint)
        assert len(outcome.connections.full_ms) == 1  # a new connection, no reuse
    client.close()


@pytest.mark.parametrize("keepalive", [False, True], ids=["new-connection", "keep-alive"])
def test_ca_certs_and_a_cert_per_request_stay_clean_on_threads(
    trust, identities, pki_server, keepalive
):
    verdicts = hammer(
        create("urllib3-ca-certs", trust), pki_server.url, identities, keepalive=keepalive
    )
    assert verdicts == Counter(ok=sum(verdicts.values()))


def test_each_certificate_has_a_pool_of_its_own(trust, identities, pki_server):
    # What makes urllib3-ca-certs safe with keep-alive: poolmanager.py keys a pool by
    # key_cert_file, so a kept-alive connection never serves another certificate.
    strategy = create("urllib3-ca-certs", trust)
    client = strategy.new_client()
    for identity in (identities[0], None, identities[1], identities[0]):
        assert send(client, pki_server.url, identity, identities, keepalive=True)[0] == "ok"
    (manager,) = client.sessions().values()
    assert len(manager.pools) == 3
    client.close()


def test_a_crash_on_native_threads_is_counted_for_another_client_too(
    trust, identities, pki_server, tmp_path, monkeypatch
):
    """The engine child isolates a SIGSEGV whatever library it runs (here forced right
    after its first answer, as the shared context's OpenSSL races do on their own)."""
    monkeypatch.setenv("LOCUST_MTLS_ENGINE_CRASH_AFTER", "1")
    settings = RunSettings(
        "urllib3-shared-context", concurrency="native-threads", crash_dir=str(tmp_path)
    )
    crashes = []
    engine = ThreadEngine(settings, trust, identities, on_crash=crashes.append)
    try:
        outcome = engine.call(0, "GET", pki_server.url, Sent(identities[0], None))
        deadline = time.monotonic() + 10
        while not crashes and time.monotonic() < deadline:
            gevent.sleep(0.05)  # the engine's reader is a greenlet
    finally:
        engine.close()
    assert outcome.reported == identities[0].fingerprint  # written before the signal
    assert [(r["signal"], r["strategy"]) for r in crashes] == [
        ("SIGSEGV", "urllib3-shared-context")
    ]
