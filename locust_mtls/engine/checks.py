"""The identity check: did the server see the certificate this request meant to present?

The echo server (or a gateway configured the same way) reports, per request, the
SHA-256 fingerprint of the client certificate it saw on that connection, or `none`.
"""

from __future__ import annotations

from collections.abc import Mapping

from locust_mtls.tls.identity import Identity

DEFAULT_IDENTITY_HEADER = "X-Client-Cert-Fingerprint"
NO_CERTIFICATE = "none"


class IdentityCheckFailure(Exception):
    """A response whose reported client certificate is not the one the request meant.

    Messages are stable (no names or fingerprints in them) so that Locust's failures
    table keeps one row per kind even with 1,000 identities; `kind` names the counter
    and `detail` says who was sent and who was seen.
    """

    detail = ""

    kind = "identity_check"


class WrongIdentity(IdentityCheckFailure):
    kind = "wrong_identity"


class CertBleed(IdentityCheckFailure):
    kind = "bleed"


class IdentityNotReported(IdentityCheckFailure):
    kind = "unreported"


def normalise_fingerprint(value: str) -> str:
    """Accept `AB:CD:…`, `abcd…` or `none`; nginx's $ssl_client_fingerprint is SHA-1,
    configure it as SHA-256 (see README) or the check reports a wrong identity."""
    return value.strip().replace(":", "").lower()


def check_identity(
    expected: Identity | None,
    reported: str | None,
    identities_by_fingerprint: Mapping[str, Identity] | None = None,
    header: str = DEFAULT_IDENTITY_HEADER,
) -> IdentityCheckFailure | None:
    """None when the server saw exactly the certificate `expected` (or none for None);
    otherwise the failure to report. `reported` is the header value, None if absent."""
    if expected is not None and reported == expected.fingerprint:
        return None  # the common case, before normalising anything
    if reported is None:
        return IdentityNotReported(
            f"identity not reported: response has no {header} header; "
            "point --mtls-identity-header at the header your gateway sets"
        )
    seen = normalise_fingerprint(reported)
    if seen == "":
        seen = NO_CERTIFICATE
    if expected is None:
        if seen == NO_CERTIFICATE:
            return None
        failure = CertBleed("cert bleed: sent no certificate, server saw one")
    elif seen == expected.fingerprint:
        return None
    elif seen == NO_CERTIFICATE:
        failure = WrongIdentity("wrong identity: server saw no certificate")
    else:
        failure = WrongIdentity("wrong identity: server saw another client's certificate")
    sent = expected.name if expected else "no certificate"
    failure.detail = f"sent {sent}, server saw {_name(seen, identities_by_fingerprint)}"
    return failure


def _name(fingerprint: str, identities_by_fingerprint) -> str:
    if fingerprint == NO_CERTIFICATE:
        return "no certificate"
    identity = (identities_by_fingerprint or {}).get(fingerprint)
    return identity.name if identity else f"unknown certificate {fingerprint[:16]}"
