"""MtlsFastHttpUser: Locust's FastHttpUser (geventhttpclient) with identity-cache's contexts.

About 4.5x the requests/s of a plain HttpUser per core with keep-alive
(docs/benchmarks.md), for the same safety. `self.client` is Locust's FastHttpSession
with its whole API (`json=`, `catch_response=True`, `self.rest()`, ...), plus
`identity=` per call: each identity (and "no certificate") gets its own
geventhttpclient agent and connections on the frozen context identity-cache built for
it, so nothing ever loads a chain into a shared context. Every response goes through
the same identity check and counters as MtlsUser's (row `fasthttp/identity-cache`).
Greenlets only, and no handshake times: geventhttpclient does not expose them.
"""

from __future__ import annotations

import contextvars
import dataclasses

from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastHttpSession, LocustUserAgent, ResponseContextManager

from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import classify
from locust_mtls.errors import ConfigError
from locust_mtls.locust import plugin
from locust_mtls.locust.request_checks import SCHEDULED, CheckedSession, RequestChecks
from locust_mtls.locust.validation import settings_from

STRATEGY = "identity-cache"
ROW = f"fasthttp/{STRATEGY}"

# The identity of the request being sent by this greenlet (greenlet-local under gevent).
_presenting: contextvars.ContextVar = contextvars.ContextVar("locust_mtls_fast_identity")


class CheckedFastResponse(ResponseContextManager):
    """FastHttpSession's response, whose report carries the identity check."""

    def _report_request(self):
        checks, outcome, identity = self.mtls_check
        checks.report(self.request_meta, outcome, identity, self)
        super()._report_request()


class MtlsFastHttpSession(CheckedSession, FastHttpSession):
    """FastHttpSession with one agent (and connection pool) per identity."""

    def __init__(self, user: MtlsFastHttpUser, checks: RequestChecks, **agent_options):
        self.mtls_checks = checks
        self._contexts = checks.run.strategy(STRATEGY, checks.settings.tls)
        self._agent_options = agent_options
        self._agents: dict = {}
        super().__init__(
            base_url=user.host,
            request_event=user.environment.events.request,
            user=user,
            insecure=False,
            **agent_options,
        )

    @property
    def client(self) -> LocustUserAgent:
        """The agent of the identity being presented (FastHttpSession sends through it)."""
        identity = _presenting.get(self.mtls_checks.identity)
        agent = self._agents.get(identity)
        if agent is None:
            context = self._contexts.context_for(identity)
            agent = self._agents[identity] = LocustUserAgent(
                cookiejar=self.cookiejar,  # one cookie jar for every identity, like HttpSession
                ssl_context_factory=lambda **_options: context,
                insecure=False,
                **self._agent_options,
            )
        return agent

    @client.setter
    def client(self, agent) -> None:
        pass  # FastHttpSession.__init__ builds one agent; ours are built per identity

    def request(self, method, url, name=None, catch_response=False, *, identity=SCHEDULED, **kw):
        """FastHttpSession.request, plus `identity=` (a name, or None for no certificate)."""
        checks = self.mtls_checks
        chosen = checks.choose(identity)
        if not checks.settings.keepalive:
            kw["headers"] = {"Connection": "close", **(kw.get("headers") or {})}
        kw["context"] = {**checks.context(chosen), **kw.get("context", {})}
        token = _presenting.set(chosen)
        try:
            # catch_response=True always, so that the report waits for the check below.
            response = super().request(method, url, name=name, catch_response=True, **kw)
        finally:
            _presenting.reset(token)
        outcome = Outcome(
            status=response.status_code or 0,
            elapsed_ms=response.request_meta.get("response_time", 0.0),
            length=response.request_meta["response_length"],
            reported_fingerprint=(response.headers or {}).get(checks.settings.identity_header),
        )
        error = getattr(response, "error", None)  # only an ErrorResponse carries one
        if error is not None:
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.failure_class = classify(error)
        return self.checked(response, CheckedFastResponse, outcome, chosen, catch_response)

    def next_identity(self):
        """The identity the next scheduled request would present (advances the schedule)."""
        return self.mtls_checks.choose()

    def close(self) -> None:
        for agent in self._agents.values():
            agent.clientpool.close()
        self._agents.clear()


class MtlsFastHttpUser(FastHttpUser):
    """A FastHttpUser that presents client certificates through identity-cache."""

    abstract = True
    insecure = False  # never: the server's certificate is always verified
    strategy = STRATEGY  # the only one: geventhttpclient takes a whole SSLContext
    keepalive: bool | None = None  # None: --mtls-keepalive
    no_cert_fraction: float | None = None  # None: --mtls-no-cert-fraction
    identity: str | None = None  # None: round-robin over --mtls-identities
    identity_check: str | None = None  # None: --mtls-identity-check (auto|require|off)
    identity_format: str | None = None  # None: --mtls-identity-format
    tls_version: str | None = None  # "1.2", "1.3", "auto"; None: --mtls-tls-version
    ciphers: str | None = None  # OpenSSL cipher string (TLS 1.2); None: --mtls-ciphers
    path = "/"

    def __init__(self, environment):
        super().__init__(environment)
        if self.client_pool is not None:
            raise ConfigError(
                "client_pool: MtlsFastHttpUser keeps one pool per identity (a shared pool "
                "would mix certificates); remove the client_pool attribute"
            )
        options = environment.parsed_options
        defaults = settings_from(
            options,
            STRATEGY,
            keepalive=self.keepalive,
            identity_check=self.identity_check,
            identity_format=self.identity_format,
            tls_version=self.tls_version,
            ciphers=self.ciphers,
        )
        # Versions and ciphers apply (they live in the contexts); resumption does not:
        # geventhttpclient gives no hook to read a connection's session back.
        tls = dataclasses.replace(defaults.tls, resumption=False)
        settings = dataclasses.replace(defaults, strategy=ROW, concurrency="greenlet", tls=tls)
        checks = RequestChecks(self, settings)
        stats = plugin.mtls_run(environment).row(settings)
        stats.client_path = "geventhttpclient with identity-cache's frozen SSLContexts"
        self.client: MtlsFastHttpSession = MtlsFastHttpSession(
            self,
            checks,
            network_timeout=self.network_timeout
            if self.network_timeout != FastHttpUser.network_timeout
            else settings.timeout[1],
            connection_timeout=self.connection_timeout
            if self.connection_timeout != FastHttpUser.connection_timeout
            else settings.timeout[0],
            max_redirects=self.max_redirects,
            max_retries=self.max_retries,
            concurrency=self.concurrency,  # FastHttpUser's: connections per agent
            headers=self.default_headers,
            proxy_host=self.proxy_host,
            proxy_port=self.proxy_port,
        )

    @task
    def echo(self) -> None:
        identity = self.client.next_identity()
        label = "cert" if identity else "no cert"
        self.client.get(self.path, identity=identity, name=f"{ROW} {self.path} ({label})")

    def on_stop(self) -> None:
        self.client.close()
