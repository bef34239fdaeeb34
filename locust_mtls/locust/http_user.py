"""MtlsHttpUser: Locust's HttpUser, whose HttpSession sends through a client strategy.

Convert an existing locustfile by changing its base class (and choosing a strategy):

    from locust_mtls import MtlsHttpUser

    class ApiUser(MtlsHttpUser):          # was: HttpUser
        strategy = "identity-cache"       # or --mtls-strategy

`self.client` is Locust's own HttpSession, so its whole API works unchanged (`json=`,
`params=`, `headers=`, `cookies=`, `files=`, `catch_response=True`, `self.rest()`,
cookies kept across requests). The strategy's transport is mounted on `https://`:
Locust's own adapter and its preloaded SSLContext are never used for HTTPS. Each
response is checked for the identity the server saw and counted in the mTLS tab;
`identity=None` or `identity="svc-b"` on one call presents no or another certificate.
"""

from __future__ import annotations

import time

from locust import HttpUser
from locust.clients import HttpSession, ResponseContextManager

from locust_mtls.engine.transports import EngineTransport, StrategyTransport, presenting
from locust_mtls.engine.wire import check_sendable
from locust_mtls.errors import ConfigError
from locust_mtls.locust.request_checks import SCHEDULED, CheckedSession, RequestChecks


class CheckedResponse(ResponseContextManager):
    """Locust's response, whose report carries the identity check (request_checks.py)."""

    def _report_request(self, exc=None):
        checks, outcome, identity = self.mtls_check
        checks.report(self.request_meta, outcome, identity, self)
        super()._report_request(exc)


class MtlsHttpSession(CheckedSession, HttpSession):
    """Locust's HttpSession with a strategy's transport and an identity per request."""

    def __init__(self, user: MtlsHttpUser):
        super().__init__(
            base_url=user.host, request_event=user.environment.events.request, user=user
        )
        self.trust_env = False  # as HttpUser: no REQUESTS_CA_BUNDLE or proxy variables
        checks = self.mtls_checks = RequestChecks(user)
        settings = checks.settings
        runner = checks.run.runner_for(settings, checks.user_number)
        self.native_threads = settings.concurrency != "greenlet"
        self.transport = (
            EngineTransport(runner) if self.native_threads else StrategyTransport(runner.client)
        )
        self.mount("https://", self.transport)
        if not settings.keepalive:
            self.headers["Connection"] = "close"  # a new TLS connection per request

    def request(
        self,
        method,
        url,
        name=None,
        catch_response=False,
        context={},  # noqa: B006 - HttpSession's own signature
        *,
        identity=SCHEDULED,
        **kwargs,
    ):
        """HttpSession.request, plus `identity=` (a name, or None for no certificate)."""
        checks = self.mtls_checks
        if "cert" in kwargs:
            # A converted HttpUser file: its cert= picks an identity of the file (never a
            # chain loaded into a shared context); cert=None means no certificate.
            if identity is not SCHEDULED:
                raise ConfigError("pass identity= or cert=, not both")
            identity = checks.from_cert(kwargs.pop("cert"))
        chosen = checks.choose(identity)
        kwargs.setdefault("timeout", checks.settings.timeout)
        if self.native_threads:
            check_sendable(kwargs.get("data"), kwargs["timeout"])
        started = time.perf_counter()
        with presenting(chosen) as exchange:
            # catch_response=True always, so that the report waits for the check below.
            response = super().request(
                method,
                url,
                name=name,
                catch_response=True,
                context={**checks.context(chosen), **context},
                **kwargs,
            )
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        length = response.request_meta["response_length"]
        outcome = exchange.outcome(response, elapsed_ms, length, checks.settings.identity_header)
        return self.checked(response, CheckedResponse, outcome, chosen, catch_response)

    def close(self) -> None:
        super().close()
        self.transport.close()


class MtlsHttpUser(HttpUser):
    """An HttpUser that presents client certificates through a strategy.

    Class attributes (None: the `--mtls-*` option): `strategy`, `concurrency`,
    `keepalive`; `identity` names this user's identity (None: round-robin over the
    identities file); `no_cert_fraction` is 0 (real APIs), None for the option.
    """

    abstract = True
    strategy: str | None = None  # None: --mtls-strategy
    concurrency: str | None = None  # None: --mtls-concurrency
    keepalive: bool | None = None  # None: --mtls-keepalive
    no_cert_fraction: float | None = 0.0  # None: --mtls-no-cert-fraction
    identity: str | None = None  # None: round-robin over --mtls-identities
    identity_check: str | None = None  # None: --mtls-identity-check (auto|require|off)
    identity_format: str | None = None  # None: --mtls-identity-format
    tls_version: str | None = None  # "1.2", "1.3", "auto"; None: --mtls-tls-version
    ciphers: str | None = None  # OpenSSL cipher string (TLS 1.2); None: --mtls-ciphers
    resumption: bool | None = None  # None: --mtls-resumption

    def __init__(self, environment):
        super().__init__(environment)
        self.client.close()  # HttpUser's own session: replaced, its transport is not ours
        self.client: MtlsHttpSession = MtlsHttpSession(self)

    def on_stop(self) -> None:
        self.client.close()
