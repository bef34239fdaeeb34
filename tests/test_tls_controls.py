"""TLS controls over real TLS on loopback: session resumption per identity, pinned TLS
versions and ciphers, identity rotation mid-run and the bounded context cache."""

import socket
import ssl
from collections import Counter

import pytest

from bench import nginx
from locust_mtls.engine.checkpoint import http_error_of
from locust_mtls.engine.checks import WrongIdentity, failure_for
from locust_mtls.engine.execution import execute_request
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.engine.run import MtlsRun
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.errors import ConfigError
from locust_mtls.server.echo import EchoServer
from locust_mtls.server.process import fetch_stats
from locust_mtls.settings import RunSettings, TlsSettings
from locust_mtls.strategies import STRATEGIES, Trust
from locust_mtls.strategies.identity_cache import IdentityCache
from locust_mtls.tls.contexts import ResumingContext, check_tls_settings, client_context
from locust_mtls.tls.pki import generate_pki, rotate_pki

HEADER = "X-Client-Cert-Fingerprint"


@pytest.fixture
def server(generated_pki):
    """An echo server of our own, so its counters are exactly this test's."""
    pki = generated_pki
    with EchoServer(pki.server_cert, pki.server_key, pki.ca_file) as echo:
        yield echo


def trust(pki, **tls) -> Trust:
    return Trust(pki.ca_file, pki.ca_bundle_file, tls=TlsSettings(**tls))


def run_users(run: MtlsRun, settings: RunSettings, url: str, users: int, requests: int):
    """`users` runners, round-robin, `requests` each (bounded); the verdicts by kind."""
    runners = [run.runner_for(settings, n) for n in range(users)]
    schedules = [run.schedule_for(n, 0.25) for n in range(users)]
    checkpoint = run.checkpoint(settings)
    verdicts = Counter()
    for _ in range(requests):
        for runner, schedule in zip(runners, schedules, strict=True):
            sent = checkpoint.sent(schedule.next())
            runner.run("GET", url, sent)
            failure = checkpoint.check(sent, http_error_of(sent.outcome))
            verdicts[type(failure).__name__ if failure else "ok"] += 1
    for runner in runners:
        runner.close()
    return verdicts


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_resumption_per_identity_resumes_and_never_crosses(generated_pki, server, version):
    tls = TlsSettings(version=version, resumption=True)
    run = MtlsRun(RunOptions(trust(generated_pki), generated_pki.identities, 0.25))
    settings = RunSettings("identity-cache", keepalive=False, tls=tls)
    verdicts = run_users(run, settings, server.url + "/", users=8, requests=6)
    row = run.checkpoint(settings).row.to_dict()
    echo = fetch_stats(server.url, generated_pki.ca_file)
    assert verdicts == {"ok": 48}  # 4 identities and a no-cert share: 0 wrong, 0 bleed
    assert row["resumed_handshakes"] > 0 and row["full_handshakes"] > 0
    assert echo["resumed"] == row["resumed_handshakes"]
    # The /stats request itself is one TLS 1.3 handshake more (no pinned version).
    tls12 = echo["tls_versions"].get("TLSv1.2", 0)
    assert tls12 == (row["handshakes"] if version == "1.2" else 0)
    assert settings.row == f"identity-cache [keep-alive off, TLS {version}, resumption on]"


RESUMING = [name for name, strategy in STRATEGIES.items() if strategy.resumes_sessions]


@pytest.fixture(scope="module")
def nginx_server(generated_pki):
    """Debian's nginx as configured by bench/nginx.py: session tickets on (its default),
    no session cache (ssl_session_cache none, its default); SHA-256 reported by njs."""
    if nginx.missing_reason():
        pytest.skip(nginx.missing_reason())
    pki = generated_pki
    with nginx.start_nginx(pki.server_cert, pki.server_key, pki.ca_file) as server:
        yield server


@pytest.mark.nginx
@pytest.mark.parametrize("strategy", RESUMING)
def test_tls12_resumes_with_nginx_tickets_and_never_crosses(generated_pki, nginx_server, strategy):
    """nginx keeps no TLS 1.2 session cache by default: only a ticket can resume there."""
    tls = TlsSettings(version="1.2", resumption=True)
    run = MtlsRun(RunOptions(trust(generated_pki), generated_pki.identities, 0.25))
    settings = RunSettings(strategy, keepalive=False, tls=tls)
    verdicts = run_users(run, settings, nginx_server.url + "/", users=4, requests=8)
    row = run.checkpoint(settings).row.to_dict()
    assert verdicts == {"ok": 32}  # no wrong identity, no bleed
    assert row["resumed_handshakes"] > 0 and row["full_handshakes"] > 0
    assert row["tls_versions"] == {"TLSv1.2": row["handshakes"]}


@pytest.mark.parametrize("strategy", RESUMING)
def test_every_resuming_strategy_keeps_one_context_per_identity(generated_pki, strategy):
    """A ticket or session lives in its context: a context per identity (and one without a
    certificate) is what keeps one identity's ticket from ever reaching another."""
    tls = TlsSettings(version="1.2", resumption=True)
    client = STRATEGIES[strategy](trust(generated_pki, **vars(tls))).new_client()
    sent = [*generated_pki.identities[:2], None]
    contexts = [client.session_for(i).get_adapter("https://").ssl_context for i in sent]
    assert len({id(context) for context in contexts}) == len(sent)
    assert all(isinstance(context, ResumingContext) for context in contexts)
    assert not any(context.options & ssl.OP_NO_TICKET for context in contexts)
    client.close()


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_client_offering_one_identitys_session_for_another_is_caught(
    generated_pki, server, version
):
    """The deliberately broken client: one mutable context, A's session offered after B's
    chain was loaded. The server resumes A's session and reports A: a wrong identity."""
    first, second = generated_pki.identities[:2]
    context = client_context(generated_pki.ca_file, frozen=False, tls=TlsSettings(version=version))
    context.load_cert_chain(*first.requests_cert())
    _, session = get_with_session(context, server, None)
    context.load_cert_chain(*second.requests_cert())
    response, _ = get_with_session(context, server, session)
    reported = response.split(b"x-client-cert-fingerprint: ")[1].split(b"\r\n")[0].decode()
    failure = failure_for(IdentityChecker(generated_pki.identities).verdict(second, reported))
    assert isinstance(failure, WrongIdentity)
    assert (failure.verdict.sent, failure.verdict.seen) == (second.name, first.name)


def get_with_session(context, server, session):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
            assert (session is None) or tls.session_reused
            return response.lower(), tls.session


def test_pinned_tls_12_is_what_the_server_negotiates(generated_pki, server):
    # Either key type of the server certificate; AES256 is not the first default choice.
    pinned = ["ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"]
    tls = TlsSettings(version="1.2", ciphers=":".join(pinned))
    client = IdentityCache(trust(generated_pki, **vars(tls))).new_client()
    identity = generated_pki.identities[0]
    for keepalive in (False, True, True):
        outcome = execute_request(
            client, "GET", server.url + "/", identity, identity_header=HEADER, keepalive=keepalive
        )
        assert outcome.status == 200 and outcome.connections.versions in ([], ["TLSv1.2"])
    response = client.request("GET", server.url + "/", identity).json()
    assert response["tls_version"] == "TLSv1.2" and response["cipher"] in pinned
    assert fetch_stats(server.url, generated_pki.ca_file)["tls_versions"]["TLSv1.2"] == 2


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        (TlsSettings(ciphers="NOT-A-CIPHER"), "--mtls-ciphers 'NOT-A-CIPHER': OpenSSL accepts"),
        (TlsSettings(version="1.1"), "--mtls-tls-version must be one of auto, 1.2, 1.3"),
        (TlsSettings(version="1.3", ciphers="AES128-SHA"), "--mtls-ciphers only chooses"),
    ],
)
def test_bad_tls_settings_are_one_line(tls, message):
    with pytest.raises(ConfigError) as error:
        check_tls_settings(tls)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_rotation_mid_run_judges_each_request_by_the_identity_it_was_sent_with(
    generated_pki, server, tmp_path
):
    pki = generate_pki(str(tmp_path / "certs"), clients=4)
    run = MtlsRun(RunOptions(trust(pki), pki.identities, 0.25))
    settings = RunSettings("identity-cache", keepalive=True)
    with EchoServer(pki.server_cert, pki.server_key, pki.ca_file) as echo:
        before = run_users(run, settings, echo.url + "/", users=20, requests=3)
        rotated = rotate_pki(str(tmp_path / "certs"))
        assert run.rotate(rotated.identities) == 1
        after = run_users(run, settings, echo.url + "/", users=20, requests=3)
        seen = fetch_stats(echo.url, pki.ca_file)["requests_by_fingerprint"]
    assert before == {"ok": 60} and after == {"ok": 60}
    old, new = {i.fingerprint for i in pki.identities}, {i.fingerprint for i in rotated.identities}
    assert not old & new and [i.name for i in rotated.identities] == [
        i.name for i in pki.identities
    ]
    assert new <= set(seen) and old <= set(seen)
    assert run.checkpoint(settings).row.to_dict()["generations"] == {"0": 45, "1": 45}


def test_the_context_cache_never_exceeds_its_bound(generated_pki):
    strategy = IdentityCache(
        Trust(generated_pki.ca_file, generated_pki.ca_bundle_file, context_cache=2)
    )
    for identity in [*generated_pki.identities, generated_pki.identities[0], None]:
        strategy.context_for(identity)
        assert strategy.context_cache_counts()["size"] <= 2
    assert strategy.context_cache_counts() == {"size": 2, "limit": 2, "evictions": 4}


def test_only_strategies_with_one_context_per_identity_resume():
    from types import SimpleNamespace

    from locust_mtls.config.validation import tls_settings_from

    options = SimpleNamespace(mtls_resumption="on", mtls_tls_version="auto", mtls_ciphers="")
    assert tls_settings_from(options, "identity-cache", {}).resumption
    with pytest.raises(ConfigError, match="shared-context shares one context"):
        tls_settings_from(options, "shared-context", {})
    with pytest.raises(ConfigError, match="requests-default uses requests' own"):
        tls_settings_from(
            SimpleNamespace(mtls_resumption="off", mtls_tls_version="1.2", mtls_ciphers=""),
            "requests-default",
            {},
        )
    assert isinstance(ssl.TLSVersion.TLSv1_2, ssl.TLSVersion)
