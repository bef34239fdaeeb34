"""Failure classes: every way a request fails gets its own stable name and counter.

Real TLS on loopback against the echo server and its fault modes; no mocks of ssl.
"""

import os
import shutil
import socket
from pathlib import Path

import pytest

from locust_mtls.engine import failures
from locust_mtls.engine.checkpoint import Sent, http_error_of
from locust_mtls.engine.checks import DEFAULT_IDENTITY_HEADER
from locust_mtls.engine.execution import Outcome, execute_request
from locust_mtls.engine.run import MtlsRun
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.engine.runners import ThreadEngine
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.server.echo import EchoServer, Faults, InjectedFaults
from locust_mtls.settings import RunSettings
from locust_mtls.strategies import create
from locust_mtls.tls.identity import load_identity

from conftest import strategies_here


def send(trust, url, identity, *, timeout=(2.0, 2.0), strategy="identity-cache"):
    """One request on a new connection; the Outcome."""
    client = create(strategy, trust).new_client()
    try:
        return execute_request(
            client,
            "GET",
            url,
            identity,
            identity_header=DEFAULT_IDENTITY_HEADER,
            keepalive=False,
            timeout=timeout,
        )
    finally:
        client.close()


def serve(pki, faults=None, cert=None, key=None):
    return EchoServer(cert or pki.server_cert, key or pki.server_key, pki.ca_file, faults=faults)


def test_a_good_request_has_no_failure_class(trust, identities, pki_server):
    outcome = send(trust, pki_server.url, identities[0])
    assert (outcome.status, outcome.error, outcome.failure_class) == (200, None, None)


REJECTED_BY_SERVER = [
    ("expired", "certificate expired"),
    ("not_yet_valid", "bad certificate"),
    ("other_ca", "unknown ca"),
]


@pytest.mark.parametrize("which, alert", REJECTED_BY_SERVER)
def test_server_rejecting_the_client_certificate_names_the_alert(
    trust, pki_server, bad_identities, which, alert
):
    outcome = send(trust, pki_server.url, getattr(bad_identities, which))
    assert outcome.failure_class == f"server rejected client certificate (alert: {alert})"


@pytest.mark.parametrize(
    "which, expected",
    [("wrong_name", failures.WRONG_HOST_NAME), ("untrusted", failures.SERVER_NOT_TRUSTED)],
)
def test_a_server_certificate_the_client_refuses(
    trust, identities, generated_pki, server_identities, which, expected
):
    cert, key = getattr(server_identities, which)
    with serve(generated_pki, cert=cert, key=key) as server:
        outcome = send(trust, server.url, identities[0])
        assert server.stats.requests == 0  # refused by the client: nothing was sent
    assert outcome.failure_class == expected


def test_nothing_listening_is_connection_refused(trust, identities, closed_port):
    outcome = send(trust, f"https://127.0.0.1:{closed_port}", identities[0])
    assert outcome.failure_class == failures.CONNECTION_REFUSED


def test_a_plain_tcp_listener_does_not_speak_tls(trust, identities, plain_tcp_listener):
    outcome = send(trust, f"https://127.0.0.1:{plain_tcp_listener}", identities[0])
    assert outcome.failure_class == failures.NOT_TLS


def test_dropped_mid_handshake_is_a_reset_during_handshake(trust, identities, generated_pki):
    with serve(generated_pki, InjectedFaults(drop_percent=100)) as server:
        outcomes = [send(trust, server.url, identity) for identity in (identities[0], None)]
        assert server.stats.handshake_failures == {"dropped": 2}
    assert [o.failure_class for o in outcomes] == [failures.RESET_IN_HANDSHAKE] * 2


def test_drop_percent_drops_exactly_that_share_spread_evenly(trust, identities, generated_pki):
    with serve(generated_pki, InjectedFaults(drop_percent=25)) as server:
        outcomes = [send(trust, server.url, identities[0]) for _ in range(8)]
    dropped = [o.failure_class == failures.RESET_IN_HANDSHAKE for o in outcomes]
    assert dropped == [False, False, False, True] * 2


def test_a_delayed_handshake_past_the_connect_timeout_is_a_handshake_timeout(
    trust, identities, generated_pki
):
    with serve(generated_pki, InjectedFaults(delay_ms=600)) as server:
        late = send(trust, server.url, identities[0], timeout=(0.2, 5.0))
        in_time = send(trust, server.url, identities[0], timeout=(2.0, 5.0))
    assert late.failure_class == failures.HANDSHAKE_TIMEOUT
    assert late.elapsed_ms < 550  # the connect timeout covers the handshake
    assert in_time.status == 200 and in_time.elapsed_ms >= 600


def test_no_answer_after_the_handshake_is_a_read_timeout(trust, identities, generated_pki):
    class SlowAnswer(Faults):
        def after_handshake(self, tls_socket, fingerprint):
            import gevent

            gevent.sleep(1.0)

    with serve(generated_pki, SlowAnswer()) as server:
        outcome = send(trust, server.url, identities[0], timeout=(2.0, 0.3))
    assert outcome.failure_class == failures.READ_TIMEOUT


@pytest.mark.parametrize("by", ["name", "fingerprint"])
def test_a_rejected_identity_is_closed_after_its_handshake(trust, identities, generated_pki, by):
    rejected = identities[0]
    value = rejected.name if by == "name" else rejected.fingerprint.upper()
    with serve(generated_pki, InjectedFaults(reject=[value])) as server:
        refused = send(trust, server.url, rejected)
        others = [send(trust, server.url, identity) for identity in (identities[1], None)]
        assert server.stats.handshake_failures == {"rejected_identity": 1}
    assert refused.failure_class == failures.CLOSED
    assert [o.status for o in others] == [200, 200]


# Not httpx-verify-path: it drops every certificate (tests/test_httpx_client.py).
@pytest.mark.parametrize("strategy", sorted(set(strategies_here()) - {"httpx-verify-path"}))
def test_an_unloadable_client_certificate_never_goes_out_without_it(
    trust, identities, generated_pki, tmp_path, strategy
):
    for path in identities[0].requests_cert():
        shutil.copy(path, tmp_path)
    cert, key = (str(tmp_path / os.path.basename(p)) for p in identities[0].requests_cert())
    identity = load_identity("vanishing", cert, key)
    os.unlink(key)  # gone after start: the client must fail, not send no certificate
    with serve(generated_pki) as server:
        outcome = send(trust, server.url, identity, strategy=strategy)
        assert server.stats.requests == 0
    assert outcome.failure_class == failures.CLIENT_CERT_UNUSABLE


def test_the_class_crosses_from_the_native_thread_engine(trust, identities, closed_port, tmp_path):
    settings = RunSettings(
        strategy="identity-cache", concurrency="native-threads", crash_dir=str(tmp_path)
    )
    engine = ThreadEngine(settings, trust, identities, on_crash=lambda record: None)
    try:
        outcome = engine.call(
            0, "GET", f"https://127.0.0.1:{closed_port}/", Sent(identities[0], None)
        )
    finally:
        engine.close()
    assert outcome.failure_class == failures.CONNECTION_REFUSED


def test_messages_are_stable_so_locust_groups_them(trust, identities, closed_port):
    run = MtlsRun(RunOptions(trust=trust, identities=tuple(identities)))
    checkpoint = run.checkpoint(RunSettings("identity-cache"))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # a second port where nothing listens
        ports = (closed_port, holder.getsockname()[1])
        outcomes = [send(trust, f"https://127.0.0.1:{p}", None) for p in ports]
        judged = [checkpoint.judge(outcome, None)[0] for outcome in outcomes]
    assert [repr(failure) for failure in judged] == ["TransportError('connection refused')"] * 2
    assert str(closed_port) in judged[0].detail  # the raw error is kept, out of the message


def test_judge_names_and_counts_every_class(trust, identities):
    run = MtlsRun(RunOptions(trust=trust, identities=tuple(identities)))
    checkpoint = run.checkpoint(RunSettings(strategy="identity-cache"))
    me, other = identities[0], identities[1]
    cases = [
        (Outcome(status=200, reported=me.fingerprint), me, None, None),
        (Outcome(status=503, reported="none"), None, "HTTP 503", "HTTP 5xx"),
        (Outcome(status=404, reported="none"), None, "HTTP 404", "HTTP 4xx"),
        (
            Outcome(status=200, reported=other.fingerprint),
            me,
            "wrong identity: server saw another client's certificate",
            failures.WRONG_IDENTITY,
        ),
        (
            Outcome(status=200, reported=me.fingerprint),
            None,
            "cert bleed: sent no certificate, server saw one",
            failures.CERT_BLEED,
        ),
        (
            Outcome(error="ClientCrash: SIGSEGV", crash="SIGSEGV"),
            me,
            "client crash: SIGSEGV in the native-thread engine",
            failures.CLIENT_CRASH,
        ),
        (
            Outcome(  # as concurrency.ThreadEngine.call makes it
                error="Timeout: no answer from native thread in 45s",
                failure_class=failures.NO_ENGINE_ANSWER,
            ),
            me,
            failures.NO_ENGINE_ANSWER,
            failures.NO_ENGINE_ANSWER,
        ),
        (
            Outcome(error="ConnectionError: …", failure_class=failures.RESET),
            me,
            failures.RESET,
            failures.RESET,
        ),
    ]
    for outcome, identity, message, failure_class in cases:
        # The sender's own verdict on an HTTP error status, as the probe and Locust give it.
        failure = checkpoint.check(Sent(identity, checkpoint, outcome), http_error_of(outcome))
        assert (str(failure) if failure else None) == message
        assert failures.failure_class_of(failure) == failure_class
    assert checkpoint.row.failure_classes == {c[3]: 1 for c in cases if c[3]}
    assert checkpoint.row.failures == len(cases) - 1


def test_failure_classes_survive_the_summary_and_merge_across_workers(trust, identities):
    run = MtlsRun(RunOptions(trust=trust, identities=tuple(identities)))
    stats = run.stats.row("identity-cache", "greenlet", True)
    for failure_class in ("connection refused", "connection refused", "HTTP 5xx", None):
        stats.record(
            failed=failure_class is not None,
            failure_kind=None,
            identity_name=None,
            failure_class=failure_class,
        )
    snapshot = run.stats.to_dict()
    assert snapshot["strategies"]["identity-cache"]["failure_classes"] == {
        "connection refused": 2,
        "HTTP 5xx": 1,
    }
    merged = MtlsStats.merged([snapshot, snapshot]).rows["identity-cache"]
    assert merged.failure_classes == {"connection refused": 4, "HTTP 5xx": 2}


def test_unknown_exceptions_get_a_stable_fallback_class():
    assert failures.classify(ValueError("x at 0x7f00")) == "other error (ValueError)"
    assert failures.http_class(502) == "HTTP 5xx"


def test_every_failure_class_is_explained_in_the_troubleshooting_doc():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "troubleshooting.md").read_text()
    names = [
        value
        for name, value in vars(failures).items()
        if name.isupper() and isinstance(value, str) and name not in ("ALERT_REASON",)
    ]
    missing = [name for name in names if f"`{name.split('{')[0]}" not in doc]
    assert len(names) > 20 and missing == []


def test_a_shared_context_race_is_the_clients_fault(generated_pki):
    """A certificate mixed with another identity's key (requests 2.32 on native threads)
    is the client's race, not unusable files (they were checked at start) nor the target."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    first, second = generated_pki.identities[:2]
    with pytest.raises(ssl.SSLError) as mixed:  # a real OpenSSL KEY_VALUES_MISMATCH
        context.load_cert_chain(first.cert_file, second.key_file)
    assert mixed.value.reason == "KEY_VALUES_MISMATCH"
    assert failures.classify(mixed.value) == failures.CLIENT_TLS_STATE_CORRUPTED
    # OpenSSL's other two symptoms, as ssl reports them (the race cannot be forced
    # into these exact states on demand).
    for reason in ("NO_PRIVATE_VALUE", "TLSV1_ALERT_DECRYPT_ERROR"):
        error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower()} (_ssl.c:1006)")
        error.reason, error.library = reason, "SSL"
        assert failures.classify(error) == failures.CLIENT_TLS_STATE_CORRUPTED, reason
    rejected = ssl.SSLError(1, "[SSL: TLSV13_ALERT_UNKNOWN_CA] (_ssl.c:1006)")
    rejected.reason = "TLSV13_ALERT_UNKNOWN_CA"
    assert failures.classify(rejected) == "server rejected client certificate (alert: unknown ca)"
