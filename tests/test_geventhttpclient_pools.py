"""geventhttpclient's strategies against the echo server over real TLS, one request at a
time (its sockets are gevent's; no monkey-patching is needed for one at a time)."""

from locust_mtls.strategies import create

from test_strategies import send


def test_a_shared_factory_context_gets_every_users_chain(trust, identities, pki_server):
    """connectionpool.py init_ssl_context loads ssl_options' certfile into whatever the
    factory returned: two users' HTTPClients, one context, the chain loaded last."""
    strategy = create("geventhttpclient-shared-factory", trust)
    alice, bob = strategy.new_client(), strategy.new_client()
    assert send(alice, pki_server.url, identities[0], identities)[0] == "ok"
    assert send(bob, pki_server.url, identities[1], identities)[0] == "ok"
    verdict, outcome = send(alice, pki_server.url, identities[0], identities)
    assert (verdict, outcome.reported) == ("wrong_identity", identities[1].fingerprint)
    verdict, outcome = send(alice, pki_server.url, None, identities)
    assert (verdict, outcome.reported) == ("bleed", identities[1].fingerprint)


def test_a_fresh_context_per_factory_call_stays_clean(trust, identities, pki_server):
    strategy = create("geventhttpclient-fresh-factory", trust)
    users = [strategy.new_client() for _ in range(2)]
    for keepalive in (False, True):
        for user, identity in zip(users * 2, [*identities[:2], None, None], strict=True):
            assert send(user, pki_server.url, identity, identities, keepalive)[0] == "ok"


def test_a_request_counts_as_written_once_handed_over(trust, identities, pki_server):
    # No hook between connecting and writing: the conservative count (an upper bound).
    client = create("geventhttpclient-fresh-factory", trust).new_client()
    _, outcome = send(client, pki_server.url, identities[0], identities)
    assert outcome.connections.requests_written == 1 and outcome.connections.full_ms == []
