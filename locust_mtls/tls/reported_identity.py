"""What a gateway says it saw: parse one header value, match it against our identities.

Gateways report the client certificate in many shapes (docs/gateways.md): a SHA-256 or
SHA-1 fingerprint in any case, with or without colons; a subject DN in RFC 4514 or
legacy `/C=../CN=..` order; Envoy's `x-forwarded-client-cert`; a URL-encoded PEM or a
base64 DER certificate. `parse_reported` turns any of them into a `Seen`, and
`match_seen` says whether that is the identity a request presented. Pure functions, no
Locust, no I/O: the caller (the check in the run loop) counts and reports.

Absent header: with `auto` it is `unreported`, never "no certificate", because a
gateway that omits empty headers (nginx's `add_header` with an empty value sends
nothing) cannot be told apart from one that does not report at all (HAProxy's
`http-response` rules never run on a response made by `http-request return`). With a
named format the user vouches that the gateway reports, so absent means no certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import unquote

from locust_mtls.tls.distinguished_names import subject_key
from locust_mtls.tls.identity import Identity

IDENTITY_FORMATS = ("auto", "sha256", "sha1", "subject", "xfcc", "pem")
NO_CERTIFICATE_SPELLINGS = frozenset({"", "none", "-", "(null)", "null"})
FINGERPRINT_LENGTHS = {64: "sha256", 40: "sha1"}
ALGORITHM_NAMES = {"sha256": "SHA-256", "sha1": "SHA-1"}
# Envoy's XFCC keys; a DN never starts with one of these attribute types.
XFCC_KEYS = frozenset({"by", "hash", "cert", "chain", "subject", "uri", "dns"})
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_BASE64 = re.compile(r"^[A-Za-z0-9+/=_-]+$")
_URL_SAFE = str.maketrans("-_", "+/")


@dataclass(frozen=True, slots=True)
class Seen:
    """A reported value, normalised.

    kind: "fingerprint" (value "sha256:<hex>" or "sha1:<hex>"), "subject" (value the
    DN as sent), "none" (the gateway saw no certificate; value "absent" when inferred
    from a missing header), "unreported" (no header, format `auto`), or "unparsed"
    (value as sent, `hint` says what it looks like and what to set).
    """

    kind: str
    value: str = ""
    hint: str = ""


class VerdictKind(StrEnum):
    """What the identity check found for one response."""

    RIGHT = "right"  # the server saw exactly what the request presented
    WRONG = "wrong"  # another certificate than the one presented
    MISSING = "missing"  # one was presented, the server saw none (a client dropped it)
    BLEED = "bleed"  # the request presented none, the server saw one
    UNREPORTED = "unreported"  # the response did not say
    UNPARSED = "unparsed"  # it said, in a form we cannot read
    OFF = "off"  # not checked (--mtls-identity-check off)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The identity check of one response, as facts: `sent` is the identity presented
    (its name, or "no certificate"), `seen` who the server saw as far as we can name it,
    `seen_kind` the kind of what it reported (Seen.kind), `hint` what to set when the
    report was unreadable. Words for people are made by `describe`."""

    kind: VerdictKind
    sent: str = ""
    seen: str = ""
    seen_kind: str = ""
    hint: str = ""


NO_CERTIFICATE = "no certificate"


def describe(verdict: Verdict) -> str:
    """One line for people: "sent client-1, server saw client-3"."""
    if verdict.kind == VerdictKind.UNREPORTED:
        return f"sent {verdict.sent}, server did not report what it saw"
    if verdict.kind == VerdictKind.UNPARSED and verdict.seen_kind == "fingerprint":
        return f"sent {verdict.sent}, server saw {verdict.seen}, {verdict.hint}"
    if verdict.kind == VerdictKind.UNPARSED:
        return f"sent {verdict.sent}, server sent {verdict.seen}: {verdict.hint}"
    if verdict.kind in (VerdictKind.RIGHT, VerdictKind.OFF):
        return f"sent {verdict.sent}, {verdict.kind}"
    return f"sent {verdict.sent}, server saw {verdict.seen}"


@dataclass(frozen=True)
class IdentityIndex:
    """All identities of a run, looked up by SHA-256, SHA-1 and subject. Build once."""

    by_fingerprint: dict[str, Identity] = field(default_factory=dict)
    by_subject: dict[tuple, tuple[Identity, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, identities: Iterable[Identity]) -> IdentityIndex:
        by_fingerprint: dict[str, Identity] = {}
        by_subject: dict[tuple, tuple[Identity, ...]] = {}
        for identity in identities:
            by_fingerprint[f"sha256:{identity.fingerprint}"] = identity
            if identity.sha1_fingerprint:
                by_fingerprint[f"sha1:{identity.sha1_fingerprint}"] = identity
            key = subject_key(identity.subject)
            if key:
                by_subject[key] = (*by_subject.get(key, ()), identity)
        return cls(by_fingerprint, by_subject)


def parse_reported(value: str | None, identity_format: str = "auto") -> Seen:
    """Normalise one header value (None: header absent) read as `identity_format`."""
    if identity_format not in IDENTITY_FORMATS:
        raise ValueError(f"identity format {identity_format!r} not in {IDENTITY_FORMATS}")
    if value is None:
        return Seen("unreported") if identity_format == "auto" else Seen("none", "absent")
    # HTTP's own white space only (RFC 9110 5.6.3): str.strip() would also cut "\x85" or
    # "\xa0", the last byte of a raw UTF-8 "Å" or "à" read as latin-1 (_utf8_read_as_latin1).
    text = value.strip(" \t")
    if text.lower() in NO_CERTIFICATE_SPELLINGS:
        return Seen("none")
    if identity_format in ("sha256", "sha1"):
        seen = _fingerprint(text)
        if seen and seen.value.startswith(identity_format + ":"):
            return seen
        return _unparsed(text, f"not a {identity_format.upper()} fingerprint")
    parser = {"subject": _subject, "xfcc": _xfcc, "pem": _certificate}.get(identity_format)
    if parser:
        return parser(text) or _unparsed(text, f"not readable as {identity_format}")
    for parser in (_fingerprint, _xfcc, _certificate, _subject):
        seen = parser(text)
        if seen:
            return seen
    return _unparsed(text, "not a fingerprint, subject, XFCC or certificate")


def match_seen(sent: Identity | None, seen: Seen, index: IdentityIndex) -> Verdict:
    """Compare what the server saw with what the request sent (None: no certificate).

    A subject names every identity that has it: the match is right when the sent
    identity has that subject, wrong only when it has another one, so a mix-up
    between two identities that share a subject goes unnoticed (use a fingerprint).
    """
    sent_name = sent.name if sent else NO_CERTIFICATE
    if seen.kind == "unreported":
        return Verdict(VerdictKind.UNREPORTED, sent_name, seen_kind=seen.kind)
    if seen.kind == "unparsed":
        who, kind = _describe_unparsed(seen, index)
        return Verdict(VerdictKind.UNPARSED, sent_name, who, kind, seen.hint)
    if seen.kind == "none":
        if sent is None:
            return Verdict(VerdictKind.RIGHT, sent_name, NO_CERTIFICATE, seen.kind)
        return Verdict(VerdictKind.MISSING, sent_name, _describe(seen, index), seen.kind)
    if sent is not None and _is(sent, seen):
        return Verdict(VerdictKind.RIGHT, sent_name, sent_name, seen.kind)
    kind = VerdictKind.BLEED if sent is None else VerdictKind.WRONG
    return Verdict(kind, sent_name, _describe(seen, index), seen.kind)


def _is(identity: Identity, seen: Seen) -> bool:
    """Whether `seen` (a fingerprint or a subject) describes `identity`."""
    if seen.kind == "fingerprint":
        algorithm, _, digest = seen.value.partition(":")
        mine = identity.fingerprint if algorithm == "sha256" else identity.sha1_fingerprint
        return digest == mine
    key = subject_key(seen.value)
    return key is not None and key == subject_key(identity.subject)


def _describe(seen: Seen, index: IdentityIndex) -> str:
    """Who a readable report names: an identity, or what we know of an unknown one."""
    if seen.kind == "none":
        if seen.value == "absent":
            return f"{NO_CERTIFICATE} (header absent; see docs/gateways.md if it is never set)"
        return NO_CERTIFICATE
    if seen.kind == "fingerprint":
        identity = index.by_fingerprint.get(seen.value)
        if identity:
            return identity.name
        algorithm, _, digest = seen.value.partition(":")
        return f"unknown certificate {algorithm}:{_short(digest)}"
    names = [identity.name for identity in index.by_subject.get(subject_key(seen.value) or (), ())]
    if len(names) == 1:
        return names[0]
    if names:
        return f"one of {', '.join(names[:3])}{'…' if len(names) > 3 else ''} (same subject)"
    return f"unknown subject {_short(seen.value, 40)}"


def _describe_unparsed(seen: Seen, index: IdentityIndex) -> tuple[str, str]:
    """What an unreadable report names, and its kind: "fingerprint" when it is one of the
    other algorithm (who it is, if known), else "unparsed" (the value as sent)."""
    algorithm, colon, digest = seen.value.partition(":")
    if colon and algorithm in ALGORITHM_NAMES:
        identity = index.by_fingerprint.get(seen.value)
        who = identity.name if identity else f"unknown certificate {algorithm}:{_short(digest)}"
        return who, "fingerprint"
    return repr(_short(seen.value, 40)), "unparsed"


def _short(text: str, length: int = 16) -> str:
    return text if len(text) <= length else text[:length] + "…"


def _unparsed(text: str, problem: str) -> Seen:
    seen = _fingerprint(text)
    if seen:
        algorithm = seen.value.partition(":")[0]
        hint = f"looks like {ALGORITHM_NAMES[algorithm]}: use --mtls-identity-format {algorithm}"
        return Seen("unparsed", seen.value, hint)
    digits = text.replace(":", "")
    if _HEX.match(digits):
        problem = f"{len(digits)} hex digits: neither SHA-256 (64) nor SHA-1 (40)"
    return Seen("unparsed", text, problem)


def _fingerprint(text: str) -> Seen | None:
    digits = text.replace(":", "")
    algorithm = FINGERPRINT_LENGTHS.get(len(digits))
    if algorithm and _HEX.match(digits):
        return Seen("fingerprint", f"{algorithm}:{digits.lower()}")
    return None


def _subject(text: str) -> Seen | None:
    text = _utf8_read_as_latin1(text)
    return Seen("subject", text) if subject_key(text) else None


def _utf8_read_as_latin1(text: str) -> str:
    """The text a gateway sent as raw UTF-8 when the HTTP client decoded it as latin-1.

    HAProxy's `ssl_c_s_dn` copies a subject's UTF-8 bytes into the header unescaped, and
    http.client (so requests and urllib3) reads header bytes as latin-1 (RFC 9110 5.5:
    other octets are "obs-text"): `Zoë` arrives as `ZoÃ«`. Plain ASCII, or text that is
    not such a misreading, comes back unchanged.
    """
    try:
        return text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return text


def _certificate(text: str) -> Seen | None:
    """URL-encoded or plain PEM (nginx, AWS ALB), or base64 DER (Traefik): its SHA-256."""
    text = unquote(text)
    if "-----BEGIN" in text:
        text = re.sub(r"-----[A-Z ]+-----", "", text.split("-----END", 1)[0])
    leaf = "".join(text.split(",")[0].split())  # Traefik separates a chain with commas
    if len(leaf) < 64 or not _BASE64.match(leaf):
        return None
    leaf = leaf.translate(_URL_SAFE).rstrip("=")
    try:
        der = base64.b64decode(leaf + "=" * (-len(leaf) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    if not der.startswith(b"\x30"):  # a DER certificate is a SEQUENCE
        return None
    return Seen("fingerprint", f"sha256:{hashlib.sha256(der).hexdigest()}")


def _xfcc(text: str) -> Seen | None:
    """Envoy's x-forwarded-client-cert: the first element is the hop nearest the client.

    Each proxy appends its element at the end ("A proxy can append the current client
    certificate information as an XFCC element, to the end of the request's XFCC
    header after a comma", Envoy docs, configuration/http/http_conn_man/headers), so
    the first element describes the certificate our client presented to the edge.
    """
    elements = _split_quoted(text, ",")
    pairs = [_split_quoted(part, ";") for part in elements[:1]]
    fields: dict[str, str] = {}
    for pair in pairs[0] if pairs else []:
        key, equals, value = pair.partition("=")
        if not equals or key.strip().lower() not in XFCC_KEYS:
            return None
        fields.setdefault(key.strip().lower(), _unquote_xfcc(value.strip()))
    if not fields:
        return None
    if fields.get("hash"):
        return _fingerprint(fields["hash"]) or _unparsed(fields["hash"], "XFCC Hash is not SHA-256")
    for key in ("cert", "chain"):
        if fields.get(key):
            return _certificate(fields[key])
    if fields.get("subject"):
        return _subject(fields["subject"])
    return Seen(
        "unparsed", text, "XFCC has no Hash, Cert or Subject: set set_current_client_cert_details"
    )


def _split_quoted(text: str, separator: str) -> list[str]:
    parts, current, quoted, escaped = [], [], False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def _unquote_xfcc(value: str) -> str:
    """The value inside its quotes, escapes kept: Envoy quotes the RFC 2253 subject as it is
    (`absl::StrCat("Subject=\\"", subject, "\\"")`, source/common/http/
    conn_manager_utility.cc), so a `\\"` in it is the DN's own escape, for the DN parser."""
    if len(value) > 1 and value.startswith('"') and value.endswith('"'):
        return value[1:-1]
    return value
