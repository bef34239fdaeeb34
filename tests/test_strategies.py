"""requests' strategies against the echo server over real TLS, without Locust (the other
clients' in tests/test_<their module>.py).

Native threads here are plain `threading` threads in the test process; greenlet-style
behaviour is the same code run one request at a time. Loops are bounded in count.
"""

import ssl
import threading
from collections import Counter

import pytest

from locust_mtls import settings
from locust_mtls.engine.checks import failure_for
from locust_mtls.engine.execution import execute_request
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.strategies import LIBRARIES, STRATEGIES, create
from locust_mtls.strategies.identity_cache import IdentityCache
from locust_mtls.tls import requests_path
from locust_mtls.tls.contexts import FrozenSSLContext

HEADER = "X-Client-Cert-Fingerprint"
# requests-default is safe wherever requests keeps no shared preloaded context (2.32.5+).
SAFE = [
    name
    for name, cls in STRATEGIES.items()
    if cls.library == "requests"
    and (
        cls.safety == settings.SAFE
        or (name == "requests-default" and not requests_path.uses_preloaded_context())
    )
]


def send(client, url, identity, identities, keepalive=False):
    outcome = execute_request(
        client, "GET", url, identity, identity_header=HEADER, keepalive=keepalive
    )
    assert outcome.error is None, outcome.error
    failure = failure_for(IdentityChecker(identities).verdict(identity, outcome.reported))
    return (failure.kind if failure else "ok"), outcome


def hammer(strategy, url, identities, threads=8, requests_per_thread=24, keepalive=False):
    """Each thread: its own client, one identity, every other request without a cert."""
    verdicts = Counter()
    lock = threading.Lock()

    def work(number):
        client = strategy.new_client()
        identity = identities[number % len(identities)]
        for i in range(requests_per_thread):
            verdict, _ = send(client, url, identity if i % 2 else None, identities, keepalive)
            with lock:
                verdicts[verdict] += 1
        client.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sum(verdicts.values()) == threads * requests_per_thread
    return verdicts


def test_registry_names_every_strategy():
    assert list(STRATEGIES) == [
        "requests-default",
        "shared-context",
        "per-thread-session",
        "thread-local",
        "locked-context",
        "locked-load",
        "identity-cache",
        "locust-httpuser",
        "niquests-shared-session",
        "niquests-session-per-identity",
        "httpx-verify-path",
        "httpx-shared-ca-context",
        "httpx-client-per-identity",
        "httpx-h2-shared-ca-context",
        "httpx-h2-client-per-identity",
        "urllib3-shared-context",
        "urllib3-ca-certs",
        "aiohttp-per-request-context",
        "geventhttpclient-shared-factory",
        "geventhttpclient-fresh-factory",
    ]
    for cls in STRATEGIES.values():
        assert "Shares:" in cls.__doc__ and "Locks:" in cls.__doc__ and "Cost:" in cls.__doc__
        # Another client's strategies are named after it, then after what they share.
        assert cls.library in LIBRARIES
        assert cls.library == "requests" or cls.name.startswith(f"{cls.library}-")


@pytest.mark.parametrize("name", SAFE)
@pytest.mark.parametrize("keepalive", [False, True], ids=["new-connection", "keep-alive"])
def test_safe_strategies_stay_clean_on_native_threads(
    name, keepalive, trust, identities, pki_server
):
    verdicts = hammer(create(name, trust), pki_server.url, identities, keepalive=keepalive)
    assert verdicts == Counter(ok=sum(verdicts.values()))


@pytest.mark.parametrize("name", SAFE)
def test_safe_strategies_stay_clean_one_at_a_time(name, trust, identities, pki_server):
    client = create(name, trust).new_client()
    for identity in [identities[0], None, identities[1], None, identities[0]]:
        assert send(client, pki_server.url, identity, identities)[0] == "ok"


@pytest.mark.parametrize("name", ["shared-context", "locked-load"])
def test_shared_mutable_contexts_bleed_even_one_request_at_a_time(
    name, trust, identities, pki_server
):
    # What greenlets do: no race needed. Once any chain is in the shared context, a
    # request without a certificate opens its connection with that context.
    client = create(name, trust).new_client()
    assert send(client, pki_server.url, identities[0], identities)[0] == "ok"
    verdict, outcome = send(client, pki_server.url, None, identities)
    assert verdict == "bleed"
    assert outcome.reported == identities[0].fingerprint


def test_forced_interleaving_is_caught_as_wrong_identity(trust, identities, pki_server):
    """Thread A loads its chain, thread B loads another before A's handshake: A presents B's
    certificate. The interleaving is forced with events, so the detector is tested
    deterministically, not by hoping for a race."""
    strategy = create("shared-context", trust)
    a_loaded, b_loaded, a_done = threading.Event(), threading.Event(), threading.Event()

    class PausingContext(ssl.SSLContext):
        def load_cert_chain(self, certfile, *args, **kwargs):
            if threading.current_thread().name == "A":
                super().load_cert_chain(certfile, *args, **kwargs)
                a_loaded.set()
                assert b_loaded.wait(10)  # let B load its chain over ours
            else:
                assert a_loaded.wait(10)  # B loads only after A
                super().load_cert_chain(certfile, *args, **kwargs)
                b_loaded.set()
                assert a_done.wait(10)  # and connects only after A's handshake

    strategy.context.__class__ = PausingContext
    verdicts = {}

    def run(name, identity):
        try:
            verdicts[name] = send(strategy.new_client(), pki_server.url, identity, identities)[0]
        except AssertionError as error:  # shown in the final assert, not lost in a thread
            verdicts[name] = f"error: {error}"
        finally:
            if name == "A":
                a_done.set()

    threads = [
        threading.Thread(target=run, args=("A", identities[0]), name="A"),
        threading.Thread(target=run, args=("B", identities[1]), name="B"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert verdicts == {"A": "wrong_identity", "B": "ok"}


def test_identity_cache_shares_one_frozen_context_per_identity(trust, identities, pki_server):
    strategy = IdentityCache(trust)
    clients = [strategy.new_client() for _ in range(3)]
    for client in clients:
        for identity in (identities[0], None):
            assert send(client, pki_server.url, identity, identities)[0] == "ok"
    contexts = {id(strategy.context_for(identities[0])), id(strategy.context_for(None))}
    assert len(contexts) == 2
    assert isinstance(strategy.context_for(identities[0]), FrozenSSLContext)


def test_urllib3_is_kept_from_reloading_the_ca_into_our_contexts(trust, identities, pki_server):
    # If requests handed urllib3 a CA path, urllib3 would call load_verify_locations()
    # on the frozen context at each new connection, and the freeze would refuse it.
    client = create("identity-cache", trust).new_client()
    for _ in range(3):
        assert send(client, pki_server.url, identities[0], identities, keepalive=False)[0] == "ok"


def test_handshakes_are_timed_per_new_connection(trust, identities, pki_server):
    client = create("identity-cache", trust).new_client()
    _, first = send(client, pki_server.url, identities[0], identities, keepalive=True)
    _, second = send(client, pki_server.url, identities[0], identities, keepalive=True)
    _, closing = send(client, pki_server.url, identities[0], identities, keepalive=False)
    assert len(first.connections.full_ms) == 1 and first.connections.full_ms[0] > 0
    assert second.connections.full_ms == []  # reused the kept-alive connection
    assert len(closing.connections.full_ms) == 0  # still the same connection, closed after
    _, fresh = send(client, pki_server.url, identities[0], identities, keepalive=False)
    assert len(fresh.connections.full_ms) == 1


def test_requests_default_path_ignores_the_environment_unless_asked(
    trust, identities, pki_server, monkeypatch, tmp_path
):
    # REQUESTS_CA_BUNDLE is set on these machines; a session trusting the environment
    # would verify against that file (which lacks our CA) and bypass the shared context.
    system_bundle = tmp_path / "system.pem"
    system_bundle.write_text(
        open(trust.ca_bundle_file).read().split("-----END CERTIFICATE-----")[0]
        + "-----END CERTIFICATE-----\n"
    )
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(system_bundle))
    client = create("requests-default", trust).new_client()
    assert send(client, pki_server.url, identities[0], identities)[0] == "ok"
    assert "REQUESTS_CA_BUNDLE" not in requests_path.describe(trust_env=False)
    assert "replaced by REQUESTS_CA_BUNDLE" in requests_path.describe(trust_env=True)


def test_unknown_strategy_lists_the_valid_ones(trust):
    from locust_mtls.errors import ConfigError

    with pytest.raises(
        ConfigError, match="unknown strategy 'fastest'; choose one of: requests-default"
    ):
        create("fastest", trust)
