"""The identity check on its own: pure data in, verdict and failure out."""

from locust_mtls.engine.checks import (
    CertBleed,
    IdentityNotReported,
    MissingCertificate,
    WrongIdentity,
    failure_for,
)
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.tls.identity import Identity
from locust_mtls.tls.reported_identity import VerdictKind, describe

ALICE = Identity("alice", "a.pem", "a.key", "aa" * 32, "CN=alice")
BOB = Identity("bob", "b.pem", "b.key", "bb" * 32, "CN=bob")
CHECKER = IdentityChecker([ALICE, BOB])


def check(sent, reported, **options):
    verdict = CHECKER.verdict(sent, reported)
    return verdict, failure_for(verdict, **options)


def test_the_right_certificate_passes():
    verdict, failure = check(ALICE, ALICE.fingerprint)
    assert failure is None and verdict.kind == VerdictKind.RIGHT


def test_no_certificate_when_none_was_sent_passes():
    verdict, failure = check(None, "none")
    assert failure is None and verdict.kind == VerdictKind.RIGHT


def test_another_clients_certificate_is_a_wrong_identity_with_sent_and_seen_as_fields():
    verdict, failure = check(ALICE, BOB.fingerprint)
    assert isinstance(failure, WrongIdentity) and failure.kind == "wrong_identity"
    assert (verdict.kind, verdict.sent, verdict.seen) == (VerdictKind.WRONG, "alice", "bob")
    assert failure.verdict is verdict
    assert describe(verdict) == "sent alice, server saw bob"


def test_a_missing_certificate_is_its_own_kind():
    # A client that drops the certificate it was given (httpx with verify= a path): not
    # another identity, so counted apart (issue 30).
    verdict, failure = check(ALICE, "none")
    assert isinstance(failure, MissingCertificate) and failure.kind == "missing_certificate"
    assert str(failure) == "missing certificate: sent one, server saw none"
    assert (verdict.kind, verdict.sent, verdict.seen) == (
        VerdictKind.MISSING,
        "alice",
        "no certificate",
    )
    assert describe(verdict) == "sent alice, server saw no certificate"


def test_a_certificate_on_a_request_sent_without_one_is_bleed():
    verdict, failure = check(None, BOB.fingerprint)
    assert isinstance(failure, CertBleed) and failure.kind == "bleed"
    assert (verdict.kind, verdict.sent, verdict.seen) == (
        VerdictKind.BLEED,
        "no certificate",
        "bob",
    )


def test_messages_are_stable_so_locust_groups_them():
    _, first = check(ALICE, BOB.fingerprint)
    _, second = check(BOB, ALICE.fingerprint)
    assert str(first) == str(second) == "wrong identity: server saw another client's certificate"


def test_colon_separated_upper_case_fingerprints_are_accepted():
    gateway_style = ":".join(ALICE.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert check(ALICE, gateway_style)[1] is None


def test_a_missing_header_fails_only_when_required_and_says_which_header():
    verdict, failure = check(ALICE, None, mode="require", header="X-SSL-Client-SHA256")
    assert verdict.kind == VerdictKind.UNREPORTED
    assert isinstance(failure, IdentityNotReported)
    assert "X-SSL-Client-SHA256" in str(failure)
    assert check(ALICE, None, mode="auto")[1] is None
