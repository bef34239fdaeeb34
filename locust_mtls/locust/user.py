"""MtlsUser: a Locust user whose requests present client certificates through a strategy.

Strategy, concurrency, keep-alive and no-cert fraction come from class attributes
when set, else from the `--mtls-*` options (or `LOCUST_MTLS_*` variables). One
subclass per strategy is exported too, so several can run side by side:
`locust -f locustfiles/mtls.py IdentityCacheUser SharedContextUser`.
"""

from __future__ import annotations

import json

from locust import User, task

from locust_mtls.config.validation import settings_from
from locust_mtls.locust import plugin
from locust_mtls.strategies import STRATEGIES


class MtlsClient:
    """A user's client: sends each request through its runner, checks who the server
    saw, and fires Locust's request event (the failure, if any, in `exception`)."""

    def __init__(self, user: MtlsUser):
        run = plugin.mtls_run(user.environment)
        user_number = run.next_user_number()
        self.run = run
        self.base_url = user.host.rstrip("/")
        self.environment = user.environment
        self.settings = run.canonical(
            settings_from(
                user.environment.parsed_options,
                user.strategy,
                concurrency=user.concurrency,
                keepalive=user.keepalive,
                identity_check=user.identity_check,
                identity_format=user.identity_format,
                tls_version=user.tls_version,
                ciphers=user.ciphers,
                resumption=user.resumption,
            )
        )
        # A user class may read the identity from the response itself (identity_seen).
        self.identity_seen = getattr(user, "identity_seen", None)
        self.runner = run.runner_for(self.settings, user_number)
        fraction = (
            run.options.no_cert_fraction if user.no_cert_fraction is None else user.no_cert_fraction
        )
        self.schedule = run.schedule_for(user_number, fraction)

    def request(self, method: str, path: str, *, name: str | None = None):
        identity = self.schedule.next()
        hook = self.identity_seen
        outcome = self.runner.run(method, self.base_url + path, identity, hook is not None)
        seen = {} if hook is None or outcome.error else {"seen": hook(OutcomeResponse(outcome))}
        failure = self.run.judge_for(self.settings, outcome, identity, **seen)
        self.run.record(self.settings, outcome, identity, failure)
        label = "cert" if identity else "no cert"
        self.environment.events.request.fire(
            request_type=method,
            name=name or f"{self.settings.strategy} {path} ({label})",
            response_time=outcome.elapsed_ms,
            response_length=outcome.length,
            exception=failure,
            context={
                "strategy": self.settings.strategy,
                "identity": identity.name if identity else None,
            },
        )
        return outcome

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        self.runner.close()


class OutcomeResponse:
    """What an `identity_seen(response)` hook of MtlsUser gets: status, text, json()."""

    def __init__(self, outcome):
        self.status_code = outcome.status
        self.text = outcome.body or ""

    def json(self):
        return json.loads(self.text)


class MtlsUser(User):
    """A user that calls the target with a client certificate (or deliberately without).

    To check an identity the application reports in its body instead of a header,
    define `identity_seen(self, response) -> str | None` on the class: return the
    principal the server authenticated (an identity name, CN or fingerprint; "none"
    for no certificate) or None when the response does not say.
    """

    abstract = True
    strategy: str | None = None  # None: --mtls-strategy
    concurrency: str | None = None  # None: --mtls-concurrency
    keepalive: bool | None = None  # None: --mtls-keepalive
    no_cert_fraction: float | None = None  # None: --mtls-no-cert-fraction
    identity_check: str | None = None  # None: --mtls-identity-check (auto|require|off)
    identity_format: str | None = None  # None: --mtls-identity-format
    tls_version: str | None = None  # "1.2", "1.3", "auto"; None: --mtls-tls-version
    ciphers: str | None = None  # OpenSSL cipher string (TLS 1.2); None: --mtls-ciphers
    resumption: bool | None = None  # None: --mtls-resumption
    path = "/"

    def __init__(self, environment):
        super().__init__(environment)
        self.client = MtlsClient(self)

    @task
    def echo(self) -> None:
        self.client.get(self.path)

    def on_stop(self) -> None:
        self.client.close()


def _user_class(strategy: str) -> type[MtlsUser]:
    class_name = "".join(part.title() for part in strategy.split("-")) + "User"
    return type(
        class_name, (MtlsUser,), {"strategy": strategy, "abstract": True, "__module__": __name__}
    )


# RequestsDefaultUser, SharedContextUser, ..., IdentityCacheUser
STRATEGY_USERS = {name: _user_class(name) for name in STRATEGIES}
globals().update({cls.__name__: cls for cls in STRATEGY_USERS.values()})
