"""One load run's mTLS state in one process: identities, strategies, runners, counters.

Plain Python (gevent only through runners.py), so it can be driven without
Locust; plugin.py builds one per Locust environment and user.py asks it for runners.
"""

from __future__ import annotations

import dataclasses
import itertools

from locust_mtls.engine import failures
from locust_mtls.engine.checks import IdentityCheckFailure, failure_for
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import ClientCrash, HTTPStatusError, TransportError
from locust_mtls.engine.identity_check import IdentityChecker, MismatchLog, seen_label
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.engine.runners import GreenletRunner, NativeThreadRunner, ThreadEngine
from locust_mtls.engine.scheduler import IdentitySchedule
from locust_mtls.engine.stats import MtlsStats, StrategyStats
from locust_mtls.settings import RunSettings, TlsSettings
from locust_mtls.strategies import Strategy, Trust, create
from locust_mtls.tls import requests_path
from locust_mtls.tls.identity import Identity
from locust_mtls.tls.reported_identity import Verdict

NOT_GIVEN = object()  # judge(seen=...) not passed: read the identity header


class MtlsRun:
    def __init__(self, options: RunOptions):
        self.options = options
        self.stats = MtlsStats(client_path=requests_path.describe(options.trust.trust_env))
        self.by_fingerprint = {i.fingerprint: i for i in options.identities}
        self.checker = IdentityChecker(options.identities)
        self.mismatches = MismatchLog()
        # The identities users present now; rotate() replaces its items in place.
        self.identities: list[Identity] = list(options.identities)
        self.generation = 0
        self.generation_of = dict.fromkeys(self.by_fingerprint, 0)
        self._strategies: dict[tuple[str, TlsSettings], Strategy] = {}
        self._engines: dict[RunSettings, ThreadEngine] = {}
        self._rows: dict[tuple, StrategyStats] = {}
        self._rows_by_settings: dict[RunSettings, StrategyStats] = {}
        self._canonical: dict[RunSettings, RunSettings] = {}
        self._user_numbers = itertools.count()

    def next_user_number(self) -> int:
        return next(self._user_numbers)

    def schedule_for(self, user_number: int, no_cert_fraction: float) -> IdentitySchedule:
        """Which identity each request of user `user_number` presents."""
        return IdentitySchedule(
            self.identities, user_number, no_cert_fraction, self.options.no_cert_split
        )

    def rotate(self, identities) -> int:
        """Replace the run's identities with a new generation (same names, new certificates):
        requests from now on present them, connections already open finish with the old
        ones, and either is judged against exactly the one it was sent with. Returns the
        new generation number."""
        identities = list(identities)
        self.generation += 1
        for identity in identities:
            self.by_fingerprint[identity.fingerprint] = identity
            self.generation_of.setdefault(identity.fingerprint, self.generation)
        # Old and new generations stay known: a request is judged by the one it was sent with.
        self.checker = IdentityChecker(self.by_fingerprint.values())
        for engine in self._engines.values():
            engine.add_identities(identities)
        self.identities[:] = identities
        return self.generation

    def strategy(self, name: str, tls: TlsSettings | None = None) -> Strategy:
        """One strategy object per name, TLS settings and process, shared by its users."""
        tls = tls or TlsSettings()
        strategy = self._strategies.get((name, tls))
        if strategy is None:
            strategy = self._strategies[(name, tls)] = create(name, self.trust_for(tls))
        return strategy

    def trust_for(self, tls: TlsSettings) -> Trust:
        return dataclasses.replace(
            self.options.trust, tls=tls, context_cache=self.options.context_cache
        )

    def canonical(self, settings: RunSettings) -> RunSettings:
        """The run's one object equal to `settings`: user classes keep it, so the lookups
        made at every request (row, engine) match it by identity, not field by field."""
        return self._canonical.setdefault(settings, settings)

    def row(self, settings: RunSettings) -> StrategyStats:
        """The counters of one run setting."""
        # Called for every request: the settings themselves first (their hash is cached),
        # then the tuple of what makes a row, not the row name built each time.
        row = self._rows_by_settings.get(settings)
        if row is None:
            row = self._rows_by_settings[settings] = self._row_of(settings)
        return row

    def _row_of(self, settings: RunSettings) -> StrategyStats:
        key = (
            settings.strategy, settings.concurrency, settings.keepalive, settings.tls,
            settings.identity_check,
        )  # fmt: skip
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = self.stats.row(*key[:4])
            row.use_check(settings.identity_check)
        return row

    def runner_for(self, settings: RunSettings, user_number: int):
        stats = self.row(settings)
        strategy = self.strategy(settings.strategy, settings.tls)
        stats.client_path = stats.client_path or strategy.client_path()
        if settings.concurrency == "greenlet":
            return GreenletRunner(strategy, settings)
        engine = self._engines.get(settings)
        if engine is None:
            engine = self._engines[settings] = ThreadEngine(
                settings,
                self.trust_for(settings.tls),
                list(self.by_fingerprint.values()),
                on_crash=lambda record: self.row(settings).record_crash(record),
            )
        return NativeThreadRunner(engine, user_number)

    def judge(
        self,
        outcome: Outcome,
        identity: Identity | None,
        header: str,
        *,
        identity_check: str | None = None,
        identity_format: str | None = None,
        seen=NOT_GIVEN,
    ) -> Exception | None:
        """The failure of one request, or None: crash, transport, HTTP, then identity.

        The check reads `header` in `identity_format` (None: the run's option), or, when
        `seen` is given, that value: what a user class's `identity_seen(response)` found
        (an identity name, CN or fingerprint; None: the response did not say). Under
        `identity_check` "auto" a response that does not say is counted, not failed.
        The verdict is noted on `outcome`, for `record` to count and log.
        """
        if outcome.crash:
            message = f"client crash: {outcome.crash} in the native-thread engine"
            return ClientCrash(message, failures.CLIENT_CRASH, outcome.error or "")
        if outcome.error:
            return TransportError(transport_class(outcome), detail=outcome.error)
        if outcome.status >= 400:
            return HTTPStatusError(f"HTTP {outcome.status}", failures.http_class(outcome.status))
        mode = identity_check or self.options.identity_check
        if mode == "off":
            outcome.identity_verdict = "off"
            return None
        identity_format = identity_format or self.options.identity_format
        application = seen is not NOT_GIVEN
        reported = seen if application else outcome.reported_fingerprint
        verdict = self.checker.verdict(identity, reported, identity_format, application=application)
        outcome.identity_verdict, outcome.identity_detail = verdict.outcome, verdict.detail
        return failure_for(verdict, mode, header, identity_format)

    def judge_for(
        self, settings: RunSettings, outcome: Outcome, identity: Identity | None, seen=NOT_GIVEN
    ) -> Exception | None:
        """`judge` with a user class's header, check mode and format (its RunSettings)."""
        return self.judge(
            outcome,
            identity,
            settings.identity_header,
            identity_check=settings.identity_check,
            identity_format=settings.identity_format,
            seen=seen,
        )

    def record(self, settings: RunSettings, outcome: Outcome, identity, failure) -> None:
        """Count one judged request in its row; log who was seen when it was not right."""
        seen = None
        if outcome.identity_detail:
            verdict = Verdict(outcome.identity_verdict or "", outcome.identity_detail)
            seen = seen_label(verdict)
            self.mismatches.log(settings.row, verdict)
        kind = failure.kind if isinstance(failure, IdentityCheckFailure) else None
        row = self.row(settings)
        row.record(
            failed=failure is not None,
            failure_kind=kind,
            failure_class=failures.failure_class_of(failure),
            handshakes_ms=outcome.handshakes_ms,
            resumed_ms=outcome.resumed_ms,
            tls_versions=outcome.tls_versions,
            identity_name=identity.name if identity else None,
            identity_verdict=outcome.identity_verdict,
            seen=seen,
            generation=self.generation_of.get(identity.fingerprint) if identity else None,
        )
        if row.context_cache_source is None and settings.concurrency == "greenlet":
            strategy = self._strategies.get((settings.strategy, settings.tls))
            if strategy is not None:
                row.context_cache_source = strategy.context_cache_counts

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()


def transport_class(outcome: Outcome) -> str:
    """The failure class of a request that got no HTTP answer."""
    if outcome.failure_class:
        return outcome.failure_class
    return failures.OTHER.format(type=outcome.error.split(":", 1)[0])
