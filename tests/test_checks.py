"""The identity check on its own: pure data in, verdict out."""

from locust_mtls.engine.checks import CertBleed, IdentityNotReported, WrongIdentity, check_identity
from locust_mtls.tls.identity import Identity

ALICE = Identity("alice", "a.pem", "a.key", "aa" * 32, "CN=alice")
BOB = Identity("bob", "b.pem", "b.key", "bb" * 32, "CN=bob")
KNOWN = {ALICE.fingerprint: ALICE, BOB.fingerprint: BOB}


def test_the_right_certificate_passes():
    assert check_identity(ALICE, ALICE.fingerprint, KNOWN) is None


def test_no_certificate_when_none_was_sent_passes():
    assert check_identity(None, "none", KNOWN) is None


def test_another_clients_certificate_is_a_wrong_identity():
    failure = check_identity(ALICE, BOB.fingerprint, KNOWN)
    assert isinstance(failure, WrongIdentity)
    assert failure.kind == "wrong_identity"
    assert failure.detail == "sent alice, server saw bob"


def test_a_missing_certificate_is_a_wrong_identity():
    failure = check_identity(ALICE, "none", KNOWN)
    assert isinstance(failure, WrongIdentity)
    assert failure.detail == "sent alice, server saw no certificate"


def test_a_certificate_on_a_request_sent_without_one_is_bleed():
    failure = check_identity(None, BOB.fingerprint, KNOWN)
    assert isinstance(failure, CertBleed)
    assert failure.kind == "bleed"
    assert failure.detail == "sent no certificate, server saw bob"


def test_messages_are_stable_so_locust_groups_them():
    first = check_identity(ALICE, BOB.fingerprint, KNOWN)
    second = check_identity(BOB, ALICE.fingerprint, KNOWN)
    assert str(first) == str(second)


def test_colon_separated_upper_case_fingerprints_are_accepted():
    gateway_style = ":".join(ALICE.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    assert check_identity(ALICE, gateway_style, KNOWN) is None


def test_a_missing_header_says_which_header_to_configure():
    failure = check_identity(ALICE, None, KNOWN, header="X-SSL-Client-SHA256")
    assert isinstance(failure, IdentityNotReported)
    assert "X-SSL-Client-SHA256" in str(failure)
