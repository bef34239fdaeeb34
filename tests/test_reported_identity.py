"""Every way a gateway reports the client certificate, parsed and matched, with real
trustme certificates loaded as Identity objects."""

from __future__ import annotations

import base64
import dataclasses
import os
from urllib.parse import quote

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from locust_mtls.tls.identity import Identity, load_identity
from locust_mtls.tls.reported_identity import (
    IDENTITY_FORMATS,
    IdentityIndex,
    Seen,
    describe,
    match_seen,
    parse_reported,
)

ORGANIZATION = "Acme, Inc."  # a comma inside a value: escaped in RFC 4514, bare in legacy


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """client-1..3 (distinct subjects), twin-a and twin-b (one subject), and certs by name."""
    directory = tmp_path_factory.mktemp("reported")
    ca = trustme.CA()
    identities, certs = {}, {}
    for name, common_name in [
        ("client-1", "client-1"),
        ("client-2", "client-2"),
        ("client-3", "client-3"),
        ("twin-a", "twin"),
        ("twin-b", "twin"),
    ]:
        leaf = ca.issue_cert(
            f"{name}.example.org",
            common_name=common_name,
            organization_name=ORGANIZATION,
            organization_unit_name="clients",
        )
        cert_file, key_file = (
            os.path.join(directory, name + ".pem"),
            os.path.join(directory, name + ".key"),
        )
        leaf.cert_chain_pems[0].write_to_path(cert_file)
        leaf.private_key_pem.write_to_path(key_file)
        identities[name] = load_identity(name, cert_file, key_file)
        certs[name] = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    return identities, certs, IdentityIndex.of(identities.values())


def _verdict(pki, sent, value, identity_format="auto"):
    identities, _, index = pki
    seen = parse_reported(value, identity_format)
    return match_seen(identities[sent] if sent else None, seen, index)


def _colons(hex_digits: str) -> str:
    return ":".join(hex_digits[i : i + 2] for i in range(0, len(hex_digits), 2))


def test_formats_constant_lists_every_option():
    assert IDENTITY_FORMATS == ("auto", "sha256", "sha1", "subject", "xfcc", "pem")
    with pytest.raises(ValueError, match="identity format 'md5'"):
        parse_reported("x", "md5")


def test_identity_carries_both_fingerprints_and_survives_asdict(pki):
    identities, certs, _ = pki
    identity = identities["client-1"]
    assert identity.sha1_fingerprint == certs["client-1"].fingerprint(hashes.SHA1()).hex()
    assert identity.fingerprint == certs["client-1"].fingerprint(hashes.SHA256()).hex()
    assert Identity(**dataclasses.asdict(identity)) == identity  # the thread engine's path


@pytest.mark.parametrize("identity_format", ["auto", "sha256"])
@pytest.mark.parametrize("spelling", ["lower", "upper", "colons", "upper colons"])
def test_sha256_in_any_case_with_or_without_colons(pki, identity_format, spelling):
    digest = pki[0]["client-1"].fingerprint
    value = {
        "lower": digest,
        "upper": digest.upper(),
        "colons": _colons(digest),
        "upper colons": _colons(digest.upper()),  # HAProxy ssl_c_sha256 style
    }[spelling]
    assert _verdict(pki, "client-1", value, identity_format).kind == "right"
    assert _verdict(pki, "client-2", value, identity_format).kind == "wrong"


@pytest.mark.parametrize("identity_format", ["auto", "sha1"])
def test_sha1_as_nginx_and_haproxy_print_it(pki, identity_format):
    digest = pki[0]["client-2"].sha1_fingerprint
    for value in (digest, digest.upper(), _colons(digest.upper())):  # nginx, HAProxy hex
        assert _verdict(pki, "client-2", value, identity_format).kind == "right"


def test_wrong_identity_says_who_was_sent_and_who_was_seen(pki):
    verdict = _verdict(pki, "client-1", pki[0]["client-3"].fingerprint)
    assert verdict.kind == "wrong"
    assert describe(verdict) == "sent client-1, server saw client-3"


def test_sent_none_and_saw_a_certificate_is_bleed(pki):
    verdict = _verdict(pki, None, pki[0]["client-2"].sha1_fingerprint)
    assert verdict.kind == "bleed"
    assert describe(verdict) == "sent no certificate, server saw client-2"


def test_unknown_certificate_is_wrong_and_shortened(pki):
    verdict = _verdict(pki, "client-1", "ab12" * 16)
    assert (verdict.kind, describe(verdict)) == (
        "wrong",
        "sent client-1, server saw unknown certificate sha256:ab12ab12ab12ab12…",
    )


def test_sha1_read_as_sha256_is_unparsed_with_the_option_to_set(pki):
    verdict = _verdict(pki, "client-1", "ab12" * 10, "sha256")
    assert verdict.kind == "unparsed"
    assert describe(verdict) == (
        "sent client-1, server saw unknown certificate sha1:ab12ab12ab12ab12…, "
        "looks like SHA-1: use --mtls-identity-format sha1"
    )
    known = _verdict(pki, "client-1", pki[0]["client-1"].sha1_fingerprint, "sha256")
    assert known.kind == "unparsed"
    assert describe(known).startswith("sent client-1, server saw client-1, looks like SHA-1")


def test_truncated_hex_is_unparsed_and_says_why(pki):
    verdict = _verdict(pki, "client-1", "ab" * 16)
    assert verdict.kind == "unparsed"
    assert "32 hex digits: neither SHA-256 (64) nor SHA-1 (40)" in describe(verdict)


@pytest.mark.parametrize("identity_format", IDENTITY_FORMATS)
@pytest.mark.parametrize("value", ["none", "NONE", "", "  ", "-", "(null)"])
def test_no_certificate_spellings(pki, identity_format, value):
    assert parse_reported(value, identity_format) == Seen("none")
    assert _verdict(pki, None, value, identity_format).kind == "right"
    verdict = _verdict(pki, "client-1", value, identity_format)
    assert (verdict.kind, describe(verdict)) == (
        "missing",
        "sent client-1, server saw no certificate",
    )


def test_absent_header_is_unreported_with_auto_and_no_certificate_when_format_is_named(pki):
    assert parse_reported(None) == Seen("unreported")
    verdict = _verdict(pki, "client-1", None)
    assert (verdict.kind, describe(verdict)) == (
        "unreported",
        "sent client-1, server did not report what it saw",
    )
    assert _verdict(pki, None, None).kind == "unreported"  # not a silent pass
    assert parse_reported(None, "sha1") == Seen("none", "absent")
    named = _verdict(pki, "client-1", None, "sha1")
    assert named.kind == "missing"
    assert "header absent" in describe(named)


@pytest.mark.parametrize("identity_format", ["auto", "subject"])
def test_subject_in_rfc4514_order(pki, identity_format):
    subject = pki[1]["client-1"].subject.rfc4514_string()
    assert subject == "CN=client-1,OU=clients,O=Acme\\, Inc."
    assert _verdict(pki, "client-1", subject, identity_format).kind == "right"
    verdict = _verdict(pki, "client-2", subject, identity_format)
    assert (verdict.kind, describe(verdict)) == ("wrong", "sent client-2, server saw client-1")


def test_subject_in_nginx_legacy_order_and_other_spellings(pki):
    for value in (
        "/O=Acme, Inc./OU=clients/CN=client-3",  # $ssl_client_s_dn_legacy
        "cn=client-3, ou=clients, o=Acme\\2C Inc.",  # lower-case types, hex escape, spaces
        'CN=client-3,OU=clients,O="Acme, Inc."',  # RFC 1779 quoting
    ):
        assert _verdict(pki, "client-3", value).kind == "right", value
        assert _verdict(pki, "client-1", value).kind == "wrong", value


def test_two_identities_with_one_subject(pki):
    subject = pki[0]["twin-a"].subject
    assert subject == pki[0]["twin-b"].subject
    # Either twin counts as right: a subject cannot tell them apart.
    assert _verdict(pki, "twin-a", subject).kind == "right"
    assert _verdict(pki, "twin-b", subject).kind == "right"
    wrong = _verdict(pki, "client-1", subject)
    assert describe(wrong) == "sent client-1, server saw one of twin-a, twin-b (same subject)"
    assert _verdict(pki, None, subject).kind == "bleed"
    unknown = _verdict(pki, "client-1", "CN=stranger,O=Elsewhere")
    assert describe(unknown) == "sent client-1, server saw unknown subject CN=stranger,O=Elsewhere"


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _der_base64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def test_xfcc_first_element_is_the_client_and_quoted_subjects_keep_their_commas(pki):
    identities, certs, _ = pki
    edge = (
        f"By=spiffe://cluster.local/ns/edge;Hash={identities['client-1'].fingerprint};"
        f'Subject="{certs["client-1"].subject.rfc4514_string()}";URI=spiffe://client-1;'
        "DNS=client-1.example.org"
    )
    sidecar = f"By=spiffe://cluster.local/ns/api;Hash={identities['client-3'].fingerprint}"
    header = f"{edge},{sidecar}"
    assert _verdict(pki, "client-1", header, "xfcc").kind == "right"
    assert _verdict(pki, "client-1", header).kind == "right"
    assert describe(_verdict(pki, "client-3", header)) == "sent client-3, server saw client-1"


def test_xfcc_with_subject_only_or_cert_only(pki):
    identities, certs, _ = pki
    subject_only = 'By=spiffe://edge;Subject="/O=Acme, Inc./OU=clients/CN=client-2";URI=x'
    assert parse_reported(subject_only).kind == "subject"
    assert _verdict(pki, "client-2", subject_only).kind == "right"
    cert_only = f'By=spiffe://edge;Cert="{quote(_pem(certs["client-2"]), safe="")}"'
    assert parse_reported(cert_only) == Seen(
        "fingerprint", "sha256:" + identities["client-2"].fingerprint
    )
    unusable = parse_reported("By=spiffe://edge;URI=spiffe://client")
    assert unusable.kind == "unparsed" and "set_current_client_cert_details" in unusable.hint


@pytest.mark.parametrize(
    "encode",
    [
        lambda cert: quote(_pem(cert), safe=""),  # AWS ALB X-Amzn-Mtls-Clientcert-Leaf
        lambda cert: quote(_pem(cert)),  # nginx $ssl_client_escaped_cert keeps / and +
        _der_base64,  # Traefik X-Forwarded-Tls-Client-Cert
        lambda cert: quote(_der_base64(cert), safe=""),  # Traefik, URL-escaped
        lambda cert: _der_base64(cert) + "," + _der_base64(cert),  # Traefik with a chain
    ],
    ids=["alb", "nginx-escaped", "traefik", "traefik-escaped", "traefik-chain"],
)
@pytest.mark.parametrize("identity_format", ["auto", "pem"])
def test_certificate_as_url_encoded_pem_or_base64_der(pki, encode, identity_format):
    value = encode(pki[1]["client-3"])
    assert _verdict(pki, "client-3", value, identity_format).kind == "right"
    assert _verdict(pki, None, value, identity_format).kind == "bleed"


def test_values_that_are_nothing_we_know_are_unparsed(pki):
    for value in ("hello world", "true", "MIIB-not-a-cert"):
        verdict = _verdict(pki, "client-1", value)
        assert verdict.kind == "unparsed", value
    assert parse_reported("CN=client-1", "sha256").kind == "unparsed"
    assert parse_reported(pki[0]["client-1"].fingerprint, "subject").kind == "unparsed"


def test_match_compares_fingerprints_not_whole_identity_objects(pki):
    loaded = pki[0]["client-1"]
    by_hand = Identity(
        loaded.name, loaded.cert_file, loaded.key_file, loaded.fingerprint, loaded.subject
    )
    index = pki[2]
    assert match_seen(by_hand, parse_reported(loaded.fingerprint), index).kind == "right"
    # Without its SHA-1 a hand-made identity cannot be recognised from a SHA-1 report.
    sha1 = match_seen(by_hand, parse_reported(loaded.sha1_fingerprint), index)
    assert sha1.kind == "wrong"
