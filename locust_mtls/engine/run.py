"""One load run's mTLS state in one process: identities, strategies, runners, counters.

Plain Python (gevent only through runners.py), so it can be driven without
Locust; plugin.py builds one per Locust environment and user.py asks it for runners.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from locust_mtls.engine import failures
from locust_mtls.engine.checks import IdentityCheckFailure, check_identity
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import ClientCrash, HTTPStatusError, TransportError
from locust_mtls.engine.runners import GreenletRunner, NativeThreadRunner, ThreadEngine
from locust_mtls.engine.scheduler import IdentitySchedule
from locust_mtls.engine.stats import MtlsStats, StrategyStats
from locust_mtls.settings import RunSettings
from locust_mtls.strategies import Strategy, Trust, create
from locust_mtls.tls import requests_path
from locust_mtls.tls.identity import Identity


@dataclass(frozen=True)
class RunOptions:
    """Validated plugin options shared by every user class of the run."""

    trust: Trust
    identities: tuple[Identity, ...]
    no_cert_fraction: float = 0.5
    no_cert_split: str = "requests"  # see settings.NO_CERT_SPLITS


class MtlsRun:
    def __init__(self, options: RunOptions):
        self.options = options
        self.stats = MtlsStats(client_path=requests_path.describe(options.trust.trust_env))
        self.by_fingerprint = {i.fingerprint: i for i in options.identities}
        self._strategies: dict[str, Strategy] = {}
        self._engines: dict[RunSettings, ThreadEngine] = {}
        self._rows: dict[tuple, StrategyStats] = {}
        self._user_numbers = itertools.count()

    def next_user_number(self) -> int:
        return next(self._user_numbers)

    def schedule_for(self, user_number: int, no_cert_fraction: float) -> IdentitySchedule:
        """Which identity each request of user `user_number` presents."""
        return IdentitySchedule(
            self.options.identities, user_number, no_cert_fraction, self.options.no_cert_split
        )

    def strategy(self, name: str) -> Strategy:
        """One strategy object per name and process, shared by all its users."""
        strategy = self._strategies.get(name)
        if strategy is None:
            strategy = self._strategies[name] = create(name, self.options.trust)
        return strategy

    def row(self, settings: RunSettings) -> StrategyStats:
        """The counters of one run setting."""
        # Called for every request: a tuple key, not the row name built each time.
        key = (settings.strategy, settings.concurrency, settings.keepalive)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = self.stats.row(*key)
        return row

    def runner_for(self, settings: RunSettings, user_number: int):
        stats = self.row(settings)
        stats.client_path = stats.client_path or self.strategy(settings.strategy).client_path()
        if settings.concurrency == "greenlet":
            return GreenletRunner(self.strategy(settings.strategy), settings)
        engine = self._engines.get(settings)
        if engine is None:
            engine = self._engines[settings] = ThreadEngine(
                settings,
                self.options.trust,
                self.options.identities,
                on_crash=lambda record: self.row(settings).record_crash(record),
            )
        return NativeThreadRunner(engine, user_number)

    def judge(self, outcome: Outcome, identity: Identity | None, header: str) -> Exception | None:
        """The failure of one request, or None: crash, transport, HTTP, then identity."""
        if outcome.crash:
            message = f"client crash: {outcome.crash} in the native-thread engine"
            return ClientCrash(message, failures.CLIENT_CRASH, outcome.error or "")
        if outcome.error:
            return TransportError(transport_class(outcome), detail=outcome.error)
        if outcome.status >= 400:
            return HTTPStatusError(f"HTTP {outcome.status}", failures.http_class(outcome.status))
        return check_identity(identity, outcome.reported_fingerprint, self.by_fingerprint, header)

    def record(self, settings: RunSettings, outcome: Outcome, identity, failure) -> None:
        if failure is None and not outcome.handshakes_ms:  # the common case, kept short
            self.row(settings).record_ok(identity.name if identity else None)
            return
        kind = failure.kind if isinstance(failure, IdentityCheckFailure) else None
        self.row(settings).record(
            failed=failure is not None,
            failure_kind=kind,
            failure_class=failures.failure_class_of(failure),
            handshakes_ms=outcome.handshakes_ms,
            identity_name=identity.name if identity else None,
        )

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()


def transport_class(outcome: Outcome) -> str:
    """The failure class of a request that got no HTTP answer."""
    if outcome.failure_class:
        return outcome.failure_class
    return failures.OTHER.format(type=outcome.error.split(":", 1)[0])
