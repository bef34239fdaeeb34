"""The identity check's failures: did the server see the certificate this request meant to
present?

The echo server (or a gateway, docs/gateways.md) reports, per request, the client
certificate it saw on that connection: a fingerprint, a subject, XFCC or the certificate
itself (tls/reported_identity.py reads them all), or `none`. Here a verdict becomes a
failure, or not, according to `--mtls-identity-check`.
"""

from __future__ import annotations

from locust_mtls.tls.reported_identity import Verdict, VerdictKind

DEFAULT_IDENTITY_HEADER = "X-Client-Cert-Fingerprint"


class IdentityCheckFailure(Exception):
    """A response whose reported client certificate is not the one the request meant.

    Messages are stable (no names or fingerprints in them) so that Locust's failures
    table keeps one row per kind even with 1,000 identities; `kind` names the counter
    and `verdict` says who was sent and who was seen.
    """

    kind = "identity_check"
    verdict: Verdict | None = None


class WrongIdentity(IdentityCheckFailure):
    kind = "wrong_identity"


class MissingCertificate(IdentityCheckFailure):
    kind = "missing_certificate"


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
    if verdict.kind == VerdictKind.WRONG:
        failure: IdentityCheckFailure = WrongIdentity(
            "wrong identity: server saw another client's certificate"
        )
    elif verdict.kind == VerdictKind.MISSING:
        failure = MissingCertificate("missing certificate: sent one, server saw none")
    elif verdict.kind == VerdictKind.BLEED:
        failure = CertBleed("cert bleed: sent no certificate, server saw one")
    elif verdict.kind in (VerdictKind.UNREPORTED, VerdictKind.UNPARSED) and mode == "require":
        if verdict.kind == VerdictKind.UNREPORTED:
            problem = f"response has no {header} header"
        else:
            problem = f"{header} is not readable as {identity_format}"
        failure = IdentityNotReported(
            f"identity not reported: {problem}; point --mtls-identity-header at the header "
            "your gateway sets (docs/gateways.md) or use --mtls-identity-check auto"
        )
    else:
        return None
    failure.verdict = verdict
    return failure
