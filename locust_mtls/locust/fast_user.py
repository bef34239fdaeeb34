"""MtlsFastHttpUser: Locust's FastHttpUser (geventhttpclient) with identity-cache's contexts.

Several times the requests/s of a plain HttpUser per core with keep-alive
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
import functools
import ipaddress
from http.cookiejar import CookieJar

from locust import FastHttpUser, task
from locust.contrib.fasthttp import FastHttpSession, LocustUserAgent

from locust_mtls.config.validation import settings_from
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import classify
from locust_mtls.errors import ConfigError
from locust_mtls.locust import plugin
from locust_mtls.locust.request_checks import SCHEDULED, CheckedSession, RequestChecks

STRATEGY = "identity-cache"
ROW = f"fasthttp/{STRATEGY}"

# The identity of the request being sent by this greenlet (greenlet-local under gevent).
_presenting: contextvars.ContextVar = contextvars.ContextVar("locust_mtls_fast_identity")
NOT_SENDING = object()  # _presenting outside request(): the user's own identity
UNTAGGED = object()  # a response our session did not send (never reported by it anyway)


class CheckedRequestEvent:
    """The session's request event: each report, made at once or when a catch_response
    block ends, first passes the identity check and our counters (request_checks.py).

    Hooked at the event rather than by wrapping Locust's response: a request without
    catch_response then costs what it costs in a plain FastHttpUser, plus the check.
    """

    def __init__(self, event, checks: RequestChecks):
        self.event = event
        self.checks = checks

    def fire(self, **request_meta) -> None:
        response = request_meta["response"]
        sent = getattr(response, "mtls_sent", UNTAGGED)
        if sent is not UNTAGGED:  # every response of this session is tagged when sent
            header = self.checks.settings.identity_header
            outcome = outcome_of(response, request_meta, header)
            self.checks.report(request_meta, outcome, sent, response)
        self.event.fire(**request_meta)

    def __getattr__(self, name):
        return getattr(self.event, name)  # add_listener and the rest: Locust's event's


def outcome_of(response, request_meta: dict, identity_header: str) -> Outcome:
    """What the identity check and the counters need from a FastHttpSession response."""
    headers = response.headers
    outcome = Outcome(
        status=response.status_code or 0,
        elapsed_ms=request_meta.get("response_time", 0.0),
        length=request_meta["response_length"],
        reported_fingerprint=headers.get(identity_header) if headers is not None else None,
    )
    error = getattr(response, "error", None)  # only a failed request carries one
    if error is not None:
        outcome.error = f"{type(error).__name__}: {error}"
        outcome.failure_class = classify(error)
    return outcome


def resolve_ip_literals_once(client_pool) -> None:
    """geventhttpclient resolves the host at every new connection, through gevent's
    resolver threads (a thread hop per handshake, ~3% of a new connection's CPU). An IP
    address resolves to itself: its pool resolves once. A host name is still resolved at
    every connection, so DNS changes during a run are followed as before."""
    get_client = client_pool.get_client

    def get_resolved_client(url):
        client = get_client(url)
        pool = getattr(client, "_connection_pool", None)
        resolve = getattr(pool, "_resolve", None)
        if resolve is not None and "_resolve" not in vars(pool) and is_ip_literal(client.host):
            addresses = resolve()
            pool._resolve = lambda: addresses
        return client

    client_pool.get_client = get_resolved_client


@functools.lru_cache(maxsize=1024)  # asked at every request for a host-name pool
def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class SkippingCookieJar(CookieJar):
    """Locust's cookie jar minus work that changes nothing: CookieJar takes its lock,
    stamps the time and walks its policy around every request, even when the jar is
    empty and the response sets no cookie (most load-test traffic): ~6% of a kept-alive
    request's CPU in bench.profile. Cookies set, sent and expired exactly as before."""

    def add_cookie_header(self, request) -> None:
        if self._cookies:  # an empty jar adds no header and has nothing to expire
            super().add_cookie_header(request)

    def extract_cookies(self, response, request) -> None:
        headers = response.info()  # what CookieJar.make_cookies reads
        if headers.get_all("Set-Cookie") or headers.get_all("Set-Cookie2"):
            super().extract_cookies(response, request)


class MtlsFastHttpSession(CheckedSession, FastHttpSession):
    """FastHttpSession with one agent (and connection pool) per identity."""

    def __init__(self, user: MtlsFastHttpUser, checks: RequestChecks, **agent_options):
        self.mtls_checks = checks
        self.contexts = checks.run.strategy(STRATEGY, checks.settings.tls)
        self._agent_options = agent_options
        self._agents: dict = {}
        super().__init__(
            base_url=user.host,
            request_event=CheckedRequestEvent(user.environment.events.request, checks),
            user=user,
            insecure=False,
            **agent_options,
        )
        self.cookiejar = SkippingCookieJar()  # shared by every identity's agent

    @property
    def client(self) -> LocustUserAgent:
        """The agent of the identity being presented (FastHttpSession sends through it)."""
        identity = self.presenting()
        # Keyed by fingerprint (hashing the Identity dataclass costs more at every request);
        # a rotated identity has a new one, so it gets a new agent and context.
        key = identity.fingerprint if identity is not None else None
        agent = self._agents.get(key)
        if agent is None:
            context = self.contexts.context_for(identity)
            agent = self._agents[key] = LocustUserAgent(
                cookiejar=self.cookiejar,  # one cookie jar for every identity, like HttpSession
                ssl_context_factory=lambda **_options: context,
                insecure=False,
                **self._agent_options,
            )
            resolve_ip_literals_once(agent.clientpool)
        return agent

    @client.setter
    def client(self, agent) -> None:
        pass  # FastHttpSession.__init__ builds one agent; ours are built per identity

    def _send_request_safe_mode(self, method, url, **kwargs):
        response = super()._send_request_safe_mode(method, url, **kwargs)
        response.mtls_sent = self.presenting()  # read when reported
        return response

    def presenting(self):
        """The identity of the request being sent (outside request(): the user's)."""
        identity = _presenting.get(NOT_SENDING)  # a default argument would be computed always
        return self.mtls_checks.identity if identity is NOT_SENDING else identity

    def request(self, method, url, name=None, catch_response=False, *, identity=SCHEDULED, **kw):
        """FastHttpSession.request, plus `identity=` (a name, or None for no certificate)."""
        checks = self.mtls_checks
        chosen = checks.choose(identity)
        if not checks.settings.keepalive:
            kw["headers"] = {"Connection": "close", **(kw.get("headers") or {})}
        given = kw.get("context")
        kw["context"] = {**checks.context(chosen), **given} if given else checks.context(chosen)
        token = _presenting.set(chosen)
        try:
            return super().request(method, url, name=name, catch_response=catch_response, **kw)
        finally:
            _presenting.reset(token)

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
        # The row's context counts are identity-cache's (MtlsRun.record would otherwise look
        # for a strategy of this row's name at every request).
        stats.context_cache_source = self.client.contexts.context_cache_counts

    @task
    def echo(self) -> None:
        identity = self.client.next_identity()
        label = "cert" if identity else "no cert"
        self.client.get(self.path, identity=identity, name=f"{ROW} {self.path} ({label})")

    def on_stop(self) -> None:
        self.client.close()
