"""Subject DNs: every way OpenSSL-based gateways print a subject reads back as the subject
of the certificate (issue 26: no false "wrong identity" on unusual but legal subjects).

Property tests print generated subjects the way nginx 1.22 and HAProxy 2.6 do (OpenSSL
3.0's RFC 2253 and one-line forms, HAProxy's raw one) and check the full verdict;
tests/test_gateway_subjects.py sends the same kind of subjects through the real servers.
The examples below are header values those servers printed.
"""

from __future__ import annotations

from cryptography import x509
from hypothesis import given, settings

from locust_mtls.tls.distinguished_names import subject_key
from locust_mtls.tls.identity import Identity
from locust_mtls.tls.reported_identity import IdentityIndex, match_seen, parse_reported

from generated_subjects import SUBJECTS, legacy_ambiguous

# OpenSSL's short names of the generated types (what nginx and HAProxy print).
OPENSSL_NAMES = {
    "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
    "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU",
    "2.5.4.12": "title", "2.5.4.15": "businessCategory", "2.5.4.17": "postalCode",
    "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.97": "organizationIdentifier",
    "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "emailAddress", "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
}  # fmt: skip
OTHER = Identity("other", "other.pem", "other.key", "0" * 64, "CN=someone else,O=elsewhere")


def identity_of(subject: x509.Name) -> Identity:
    """An Identity as load_identity makes it: its subject is cryptography's RFC 4514."""
    return Identity("generated", "g.pem", "g.key", "f" * 64, subject.rfc4514_string())


def http_header(value: str) -> str:
    """What an HTTP client hands over: the value without its surrounding spaces."""
    return value.strip(" \t")


def openssl_rfc2253(subject: x509.Name) -> str:
    """X509_NAME_print_ex(XN_FLAG_RFC2253): nginx $ssl_client_s_dn, HAProxy rfc2253."""

    def escape(value: str) -> str:
        data, out = value.encode(), []
        for index, byte in enumerate(data):
            char, first, last = chr(byte), index == 0, index == len(data) - 1
            if byte < 0x20 or byte > 0x7E:  # ESC_CTRL and ESC_MSB: each UTF-8 byte
                out.append(f"\\{byte:02X}")
            elif char in ',+"\\<>;' or (first and char in "# ") or (last and char == " "):
                out.append("\\" + char)
            else:
                out.append(char)
        return "".join(out)

    return ",".join(
        "+".join(f"{OPENSSL_NAMES[a.oid.dotted_string]}={escape(a.value)}" for a in rdn)
        for rdn in reversed(subject.rdns)
    )


def nginx_legacy(subject: x509.Name) -> str:
    """X509_NAME_oneline (OpenSSL 3.0): nginx $ssl_client_s_dn_legacy."""

    def escape(value: str) -> str:
        return "".join(
            f"\\x{byte:02X}"
            if byte < 0x20 or byte > 0x7E
            else "\\" + chr(byte)
            if chr(byte) in "/+"
            else chr(byte)
            for byte in value.encode()
        )

    return "".join(
        "/" + "+".join(f"{OPENSSL_NAMES[a.oid.dotted_string]}={escape(a.value)}" for a in rdn)
        for rdn in subject.rdns
    )


def haproxy_legacy(subject: x509.Name) -> str:
    """HAProxy's ssl_c_s_dn: every attribute after "/", raw UTF-8, read as latin-1."""
    text = "".join(f"/{OPENSSL_NAMES[a.oid.dotted_string]}={a.value}" for a in subject)
    return text.encode().decode("latin-1")


def verdicts(subject: x509.Name, value: str, identity_format: str) -> tuple[str, str, str]:
    """(sent this subject's identity, sent another, sent none) -> outcomes."""
    mine = identity_of(subject)
    index = IdentityIndex.of([mine, OTHER])
    seen = parse_reported(http_header(value), identity_format)
    return tuple(match_seen(sent, seen, index).kind for sent in (mine, OTHER, None))


def test_examples_from_the_issue_as_nginx_and_haproxy_printed_them():
    printed = {
        "CN=Zoë": ["CN=Zo\\C3\\AB", "/CN=Zo\\xC3\\xAB", "/CN=ZoÃ«"],
        "CN=x,O=a\\+b": ["CN=x,O=a\\+b", "/O=a\\+b/CN=x", "/O=a+b/CN=x"],
        "CN=m,OU=clients+UID=42": [
            "CN=m,UID=42+OU=clients",
            "/OU=clients+UID=42/CN=m",  # nginx: one RDN, two attributes
            "/OU=clients/UID=42/CN=m",  # HAProxy flattens it
        ],
        "CN=\\  sp ace \\ ": ["CN=\\  sp ace \\ ", "/CN=  sp ace  "],
        'CN=\\#\\,\\+\\"\\\\\\<\\>\\;= x': [
            'CN=\\#\\,\\+\\"\\\\\\<\\>\\;= x',
            '/CN=#,\\+"\\<>;= x',
            '/CN=#,+"\\<>;= x',
            'By=spiffe://gateway;Subject="CN=\\#\\,\\+\\"\\\\\\<\\>\\;= x"',
        ],
        "CN=a\x01b\x7f": ["CN=a\\01b\\7F", "/CN=a\\x01b\\x7F"],
        "DC=org,1.2.840.113549.1.9.1=a@b.c,2.5.4.17=12345": [
            "DC=org,emailAddress=a@b.c,postalCode=12345",
            "/postalCode=12345/emailAddress=a@b.c/DC=org",
        ],
        "1.2.3.4=abc": ["1.2.3.4=#0C03616263", "/1.2.3.4=abc"],
    }
    for subject, values in printed.items():
        identity = Identity("x", "x.pem", "x.key", "f" * 64, subject)
        index = IdentityIndex.of([identity, OTHER])
        for value in values:
            named = "xfcc" if value.startswith("By=") else "subject"
            for identity_format in (named, "auto"):
                seen = parse_reported(http_header(value), identity_format)
                assert match_seen(identity, seen, index).kind == "right", (subject, value)
                assert match_seen(OTHER, seen, index).kind == "wrong", (subject, value)


def test_escaped_trailing_space_cut_by_http_leaves_no_backslash_in_the_key():
    # cryptography writes the trailing space escaped; HTTP then drops the space itself.
    assert subject_key("CN=\\ a\\ ") == subject_key("CN=\\ a\\") == (("2.5.4.3", "a"),)
    assert subject_key("CN=a\\\\") == (("2.5.4.3", "a\\"),)  # an escaped backslash stays


def test_quotes_open_a_value_only_where_it_starts():
    assert subject_key('O="Acme, Inc.",CN=x') == (("2.5.4.10", "acme, inc."), ("2.5.4.3", "x"))
    assert subject_key('CN=a"b,O=c') == (("2.5.4.10", "c"), ("2.5.4.3", 'a"b'))


def test_long_ber_strings_and_non_dns():
    value = "x" * 200
    der = bytes([0x0C, 0x81, len(value)]) + value.encode()
    assert subject_key(f"1.2.3.4=#{der.hex()}") == (("1.2.3.4", value),)
    for text in ("/foo", "no equals", "=x", "/=x", "CN"):
        assert subject_key(text) is None, text


def test_a_raw_utf8_subject_survives_http_whitespace_rules():
    # "Å" is C3 85 in UTF-8; read as latin-1 its last character is NEL, which str.strip()
    # would cut from the end of the header.
    assert verdicts(x509.Name.from_rfc4514_string("CN=Å"), "/CN=Ã\x85", "subject")[0] == "right"


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(SUBJECTS)
def test_the_identity_key_is_the_folded_attributes(subject):
    expected = tuple(
        sorted((a.oid.dotted_string, " ".join(a.value.split()).casefold()) for a in subject)
    )
    assert subject_key(subject.rfc4514_string()) == expected


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(SUBJECTS)
def test_every_form_a_gateway_prints_is_right_for_its_identity_only(subject):
    forms = [
        (openssl_rfc2253(subject), "subject"),
        (f'By=spiffe://gateway;Subject="{openssl_rfc2253(subject)}"', "xfcc"),
    ]
    if not legacy_ambiguous(subject):
        forms += [(nginx_legacy(subject), "subject"), (haproxy_legacy(subject), "subject")]
    for value, identity_format in forms:
        for each_format in (identity_format, "auto"):
            outcomes = verdicts(subject, value, each_format)
            assert outcomes == ("right", "wrong", "bleed"), (value, each_format)


def test_what_the_legacy_form_cannot_say():
    """What legacy_ambiguous() keeps out of the property test, shown once each."""
    slash = x509.Name.from_rfc4514_string("CN=a/O=b")
    backslash = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "a\\"),
                           x509.NameAttribute(x509.NameOID.ORGANIZATION_NAME, "b")])  # fmt: skip
    assert legacy_ambiguous(slash) and legacy_ambiguous(backslash)
    assert subject_key(nginx_legacy(slash)) == (("2.5.4.3", "a/o=b"),)  # nginx escapes "/"
    two = (("2.5.4.10", "b"), ("2.5.4.3", "a"))
    assert subject_key(haproxy_legacy(slash)) == two  # HAProxy does not
    assert subject_key(nginx_legacy(backslash)) == (("2.5.4.3", "a/o=b"),)  # "a\\" + "/O=b"
    assert subject_key(openssl_rfc2253(slash)) == (("2.5.4.3", "a/o=b"),)  # RFC 2253 can say it


def test_a_hash_that_starts_no_ber_string_is_the_text_it_is():
    # nginx printed `CN=#,CN=0` for a CN of "#" (found by the gateway property test).
    assert (
        subject_key("CN=#,CN=0")
        == subject_key("CN=\\#,CN=0")
        == (
            ("2.5.4.3", "#"),
            ("2.5.4.3", "0"),
        )
    )
    assert subject_key("CN=#ab") == (("2.5.4.3", "#ab"),)
    assert subject_key("1.2.3.4=#0c03616263") == (("1.2.3.4", "abc"),)
