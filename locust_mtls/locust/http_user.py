"""MtlsHttpUser: Locust's HttpUser, whose HttpSession sends through a client strategy.

Convert an existing locustfile by changing its base class:

    from locust_mtls import MtlsHttpUser

    class ApiUser(MtlsHttpUser):          # was: HttpUser
        ...

`self.client` is Locust's own HttpSession, so its whole API works unchanged (`json=`,
`params=`, `headers=`, `cookies=`, `files=`, `catch_response=True`, `self.rest()`,
cookies kept across requests). The strategy's transport is mounted on `https://`:
Locust's own adapter and its preloaded SSLContext are never used for HTTPS. Each
response is checked for the identity the server saw and counted in the mTLS tab;
`identity=None` or `identity="svc-b"` on one call presents no or another certificate.
A second session for another host is `MtlsHttpSession(base_url=..., request_event=...,
user=self)`, as with Locust's HttpSession: it presents the user's identity too.
"""

from __future__ import annotations

from locust import HttpUser
from locust.clients import HttpSession

from locust_mtls.config.user_settings import MtlsAttributes
from locust_mtls.engine.checkpoint import sending
from locust_mtls.engine.transports import EngineTransport, StrategyTransport
from locust_mtls.engine.wire import check_sendable
from locust_mtls.errors import ConfigError
from locust_mtls.locust.checked_event import checked_request_event, remember
from locust_mtls.locust.user_checks import SCHEDULED, SessionIdentity, UserChecks


class MtlsHttpSession(SessionIdentity, HttpSession):
    """Locust's HttpSession with a strategy's transport and an identity per request.

    Built like Locust's HttpSession (`base_url`, `request_event`, `user`); the checks
    (identity, strategy, counters) are the user's own when it is an mTLS user."""

    def __init__(self, base_url, request_event=None, user=None, *args, **kwargs):
        checks = getattr(user, "mtls_checks", None) or UserChecks(user, "requests")
        super().__init__(base_url, checked_request_event(user.environment), user, *args, **kwargs)
        self.trust_env = False  # as HttpUser: no REQUESTS_CA_BUNDLE or proxy variables
        self.mtls_checks = checks
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
        sent = checks.sent(chosen)
        with sending(sent):
            response = super().request(
                method,
                url,
                name=name,
                catch_response=catch_response,
                context={**checks.context(chosen), **context},
                **kwargs,
            )
        if catch_response:
            remember(response, sent)  # its report comes when the task's block ends
        return response

    def close(self) -> None:
        super().close()
        self.transport.close()


class MtlsHttpUser(HttpUser, MtlsAttributes):
    """An HttpUser that presents client certificates through a strategy.

    Class attributes (None: the `--mtls-*` option; see MtlsAttributes): `strategy`,
    `concurrency`, `keepalive`, `identity` (None: round-robin over the identities),
    `no_cert_fraction` (None: the option, else 0: every request with a certificate), ...
    """

    abstract = True
    mtls_client = "requests"

    def __init__(self, environment):
        super().__init__(environment)
        self.client.close()  # HttpUser's own session: replaced, its transport is not ours
        self.mtls_checks = UserChecks(self, self.mtls_client)
        self.client: MtlsHttpSession = MtlsHttpSession(self.host, user=self)

    def on_stop(self) -> None:
        self.client.close()
