"""The identity check: did the server see the certificate this request meant to present?

The echo server (or a gateway, docs/gateways.md) reports, per request, the client
certificate it saw on that connection: a fingerprint, a subject, XFCC or the certificate
itself (tls/reported_identity.py reads them all), or `none`. Here a verdict becomes a
failure, or not, according to `--mtls-identity-check`.
"""

from __future__ import annotations

from collections.abc import Mapping

from locust_mtls.tls.identity import Identity
from locust_mtls.tls.reported_identity import IdentityIndex, Verdict, match_seen, parse_reported

DEFAULT_IDENTITY_HEADER = "X-Client-Cert-Fingerprint"


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


def failure_for(
    verdict: Verdict,
    mode: str = "require",
    header: str = DEFAULT_IDENTITY_HEADER,
    identity_format: str = "auto",
) -> IdentityCheckFailure | None:
    """The failure a verdict is under `--mtls-identity-check` `mode`, or None.

    `unreported` and `unparsed` (the server did not say, or said it in a form we cannot
    read) fail only under `require`; under `auto` they are counted, not failed.
    """
    if verdict.outcome == "wrong":
        nothing = "saw no certificate" in verdict.detail
        what = "no certificate" if nothing else "another client's certificate"
        failure: IdentityCheckFailure = WrongIdentity(f"wrong identity: server saw {what}")
    elif verdict.outcome == "bleed":
        failure = CertBleed("cert bleed: sent no certificate, server saw one")
    elif verdict.outcome in ("unreported", "unparsed") and mode == "require":
        if verdict.outcome == "unreported":
            problem = f"response has no {header} header"
        else:
            problem = f"{header} is not readable as {identity_format}"
        failure = IdentityNotReported(
            f"identity not reported: {problem}; point --mtls-identity-header at the header "
            "your gateway sets (docs/gateways.md) or use --mtls-identity-check auto"
        )
    else:
        return None
    failure.detail = verdict.detail
    return failure


def check_identity(
    expected: Identity | None,
    reported: str | None,
    identities: Mapping[str, Identity] | IdentityIndex | None = None,
    header: str = DEFAULT_IDENTITY_HEADER,
    *,
    identity_format: str = "auto",
    mode: str = "require",
) -> IdentityCheckFailure | None:
    """None when the server saw exactly the certificate `expected` (or none for None);
    otherwise the failure to report. `reported` is the header value, None if absent;
    `identities` the run's identities (an index, or a mapping whose values are them)."""
    if not isinstance(identities, IdentityIndex):
        identities = IdentityIndex.of((identities or {}).values())
    verdict = match_seen(expected, parse_reported(reported, identity_format), identities)
    return failure_for(verdict, mode, header, identity_format)
