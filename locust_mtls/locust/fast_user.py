"""MtlsFastHttpUser: Locust's FastHttpUser (geventhttpclient) with identity-cache's contexts.

About 4.5x the requests/s of a plain HttpUser per core with keep-alive
(docs/benchmarks.md), for the same safety: each request uses the frozen context that
identity-cache built for its identity, so nothing ever loads a chain into a shared
context, and every response goes through the same identity check and counters as
MtlsUser's (row `fasthttp/identity-cache` in the mTLS tab). Greenlets only, and no
handshake times: geventhttpclient does not expose them.
"""

from __future__ import annotations

import dataclasses
import time

from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastHttpSession

from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import classify
from locust_mtls.locust import plugin
from locust_mtls.locust.validation import settings_from

STRATEGY = "identity-cache"
ROW = f"fasthttp/{STRATEGY}"


class MtlsFastHttpUser(FastHttpUser):
    """A FastHttpUser that presents client certificates through identity-cache."""

    abstract = True
    insecure = False  # never: the server's certificate is always verified
    no_cert_fraction: float | None = None  # None: --mtls-no-cert-fraction
    path = "/"

    def __init__(self, environment):
        super().__init__(environment)
        run = self.mtls = plugin.mtls_run(environment)
        number = run.next_user_number()
        defaults = settings_from(environment.parsed_options, STRATEGY)
        # Versions and ciphers apply (they live in the contexts); resumption does not:
        # geventhttpclient gives no hook to read a connection's session back.
        tls = dataclasses.replace(defaults.tls, resumption=False)
        self.settings = dataclasses.replace(defaults, strategy=ROW, concurrency="greenlet", tls=tls)
        stats = run.row(self.settings)
        stats.client_path = "geventhttpclient with identity-cache's frozen SSLContexts"
        fraction = self.no_cert_fraction
        self.schedule = run.schedule_for(
            number, run.options.no_cert_fraction if fraction is None else fraction
        )
        strategy = run.strategy(STRATEGY, tls)
        self.sessions = {
            key: self._session(strategy.context_for(key)) for key in {self.schedule.identity, None}
        }
        self.headers = None if self.settings.keepalive else {"Connection": "close"}

    def _session(self, context) -> FastHttpSession:
        return FastHttpSession(
            base_url=self.host,
            request_event=self.environment.events.request,
            user=self,
            insecure=False,
            ssl_context_factory=lambda **_options: context,
            network_timeout=self.settings.timeout[1],
            connection_timeout=self.settings.timeout[0],
        )

    @task
    def echo(self) -> None:
        self.request("GET", self.path)

    def request(self, method: str, path: str) -> Outcome:
        """One request, checked and counted like MtlsUser's."""
        identity = self.schedule.next()
        name = f"{ROW} {path} ({'cert' if identity else 'no cert'})"
        session = self.sessions[identity]
        started = time.perf_counter()
        with session.request(
            method, path, name=name, headers=self.headers, catch_response=True
        ) as response:
            outcome = Outcome(
                status=response.status_code or 0,
                elapsed_ms=(time.perf_counter() - started) * 1000.0,
                length=len(response.content or b""),
                reported_fingerprint=(response.headers or {}).get(self.settings.identity_header),
            )
            error = getattr(response, "error", None)  # only an ErrorResponse carries one
            if error is not None:
                outcome.error = f"{type(error).__name__}: {error}"
                outcome.failure_class = classify(error)
            failure = self.mtls.judge(outcome, identity, self.settings.identity_header)
            if failure is None:
                response.success()
            else:
                response.failure(failure)
        self.mtls.record(self.settings, outcome, identity, failure)
        return outcome
