"""The identity check of a run: what the server saw, read in the chosen format, matched
against what each request sent; and who was seen, logged without flooding the log.

`IdentityChecker.verdict` reads a response's identity header (`--mtls-identity-format`)
or a value the user class extracted itself (`identity_seen(response)`: an identity name,
a CN, a fingerprint or a subject) and returns tls.reported_identity's `Verdict`.
checks.py turns a verdict into a failure according to `--mtls-identity-check`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from locust_mtls.tls.distinguished_names import subject_key
from locust_mtls.tls.identity import Identity
from locust_mtls.tls.reported_identity import (
    NO_CERTIFICATE_SPELLINGS,
    IdentityIndex,
    Seen,
    Verdict,
    VerdictKind,
    describe,
    match_seen,
    parse_reported,
)

COMMON_NAME_OID = "2.5.4.3"
LOG_INTERVAL_S = 10.0  # at most one line per (row, sent, seen) in this many seconds
RIGHT_VERDICTS_KEPT = 4096  # (sent, header, format) triples known right; then start over
LOG_KEYS_MAX = 1000  # forget the log times beyond this many (row, kind, sent, seen)

logger = logging.getLogger("locust_mtls")


class IdentityChecker:
    """Every identity of a run, indexed once; matches what a server saw against one."""

    def __init__(self, identities: Iterable[Identity]):
        identities = tuple(identities)
        self.index = IdentityIndex.of(identities)
        self.by_name = {identity.name: identity for identity in identities}
        self._right: dict[tuple, Verdict] = {}  # (sent fingerprint, header, format) -> right
        self.by_common_name: dict[str, list[Identity]] = {}
        for identity in identities:
            for oid, value in subject_key(identity.subject) or ():
                if oid == COMMON_NAME_OID:
                    self.by_common_name.setdefault(value, []).append(identity)

    def verdict(
        self,
        sent: Identity | None,
        reported: str | None,
        identity_format: str = "auto",
        *,
        application: bool = False,
    ) -> Verdict:
        """Match `reported` (a header value, or with `application` the value of the user
        class's `identity_seen`; None: not reported) against the identity `sent`."""
        if application:
            return match_seen(sent, self.application_seen(reported), self.index)
        # Almost every response of a healthy run repeats one of a few (sent, header) pairs:
        # a "right" verdict depends on nothing else (not on the index, which rotation
        # changes), so it is remembered; anything else is worked out again.
        key = (sent.fingerprint if sent else None, reported, identity_format)
        verdict = self._right.get(key)
        if verdict is None:
            verdict = match_seen(sent, parse_reported(reported, identity_format), self.index)
            if verdict.kind == VerdictKind.RIGHT:
                if len(self._right) >= RIGHT_VERDICTS_KEPT:
                    self._right.clear()
                self._right[key] = verdict
        return verdict

    def application_seen(self, value: str | None) -> Seen:
        """An application's principal: identity name, CN, fingerprint, subject or none."""
        if value is None:
            return Seen("unreported")
        text = str(value).strip()
        if text.lower() in NO_CERTIFICATE_SPELLINGS:
            return Seen("none")
        named = self.by_name.get(text)
        if named is not None:
            return Seen("fingerprint", f"sha256:{named.fingerprint}")
        holders = self.by_common_name.get(text.casefold(), [])
        if len(holders) == 1:
            return Seen("fingerprint", f"sha256:{holders[0].fingerprint}")
        if holders:  # several identities share this CN: match like a shared subject
            return Seen("subject", holders[0].subject)
        seen = parse_reported(text, "auto")
        if seen.kind in ("fingerprint", "subject"):
            return seen
        return Seen("unparsed", text, "not the name, CN or fingerprint of any identity")


class MismatchLog:
    """Logs mismatch details, at most one line per (row, sent, seen) every LOG_INTERVAL_S."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S, clock=time.monotonic):
        self.interval_s = interval_s
        self.clock = clock
        self.last_logged: dict[tuple, float] = {}

    def log(self, row: str, verdict: Verdict) -> bool:
        """Log who was sent and seen for `row` unless that pair was logged recently."""
        # One "did not say" line per row, not one per identity.
        pair = () if verdict.kind == VerdictKind.UNREPORTED else (verdict.sent, verdict.seen)
        key = (row, verdict.kind, *pair)
        now = self.clock()
        last = self.last_logged.get(key)
        if last is not None and now - last < self.interval_s:
            return False
        if len(self.last_logged) >= LOG_KEYS_MAX:
            self.last_logged.clear()
        self.last_logged[key] = now
        logger.warning("locust-mtls: %s: %s: %s", row, verdict.kind, describe(verdict))
        return True
