"""One load run's mTLS state in one process: identities, strategies, runners, checkpoints.

Plain Python (gevent only through runners.py), so it can be driven without Locust; the
Locust room keeps one per environment (locust/state.py), and every user class asks it
for its `Checkpoint` (where its requests are judged and counted) and its runner.
"""

from __future__ import annotations

import dataclasses
import itertools

from locust_mtls.engine.checkpoint import Checkpoint
from locust_mtls.engine.identity_check import IdentityChecker, MismatchLog
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.engine.runners import GreenletRunner, NativeThreadRunner, ThreadEngine
from locust_mtls.engine.scheduler import IdentitySchedule
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.settings import CONTEXT_PER_IDENTITY_CLIENTS, RunSettings, TlsSettings
from locust_mtls.strategies import Strategy, Trust, create
from locust_mtls.tls import requests_path
from locust_mtls.tls.identity import Identity

# The client path of rows that do not send through a strategy of the registry.


class MtlsRun:
    def __init__(self, options: RunOptions):
        self.options = options
        self.stats = MtlsStats(
            client_path=requests_path.describe(options.trust.trust_env),
            identities_loaded=len(options.identities),
        )
        self.by_fingerprint = {i.fingerprint: i for i in options.identities}
        self.checker = IdentityChecker(options.identities)
        self.mismatches = MismatchLog()
        # The identities users present now; rotate() replaces its items in place.
        self.identities: list[Identity] = list(options.identities)
        self.generation = 0
        self.generation_of = dict.fromkeys(self.by_fingerprint, 0)
        self._strategies: dict[tuple[str, TlsSettings], Strategy] = {}
        self._engines: dict[RunSettings, ThreadEngine] = {}
        self._checkpoints: dict[RunSettings, Checkpoint] = {}
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

    def checkpoint(self, settings: RunSettings) -> Checkpoint:
        """Where the requests of `settings` are judged and counted (one per setting)."""
        checkpoint = self._checkpoints.get(settings)
        if checkpoint is None:
            row = self.stats.row_for(settings)
            if settings.client in CONTEXT_PER_IDENTITY_CLIENTS:
                strategy = self.strategy(settings.strategy, settings.tls)
                row.client_path = row.client_path or CONTEXT_PER_IDENTITY_CLIENTS[settings.client]
                row.context_cache_source = strategy.context_cache_counts
            elif settings.client == "requests":
                strategy = self.strategy(settings.strategy, settings.tls)
                row.client_path = row.client_path or strategy.client_path()
                if settings.concurrency == "greenlet":  # the child's cache is not ours to read
                    row.context_cache_source = strategy.context_cache_counts
            checkpoint = self._checkpoints[settings] = Checkpoint(self, settings, row)
        return checkpoint

    def runner_for(self, settings: RunSettings, user_number: int):
        """This user's runner: its own strategy client here, or its thread (asyncio: its
        tasks on the loop) in the engine child."""
        strategy = self.strategy(settings.strategy, settings.tls)
        if settings.concurrency == "greenlet":
            return GreenletRunner(strategy, settings)
        engine = self._engines.get(settings)
        if engine is None:
            row = self.checkpoint(settings).row
            engine = self._engines[settings] = ThreadEngine(
                settings,
                self.trust_for(settings.tls),
                list(self.by_fingerprint.values()),
                on_crash=row.record_crash,
            )
        return NativeThreadRunner(engine, user_number)

    def drain(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the engines to answer every request they were
        given, so those of stopped users are checked and counted too."""
        for engine in self._engines.values():
            engine.drain(timeout)

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
