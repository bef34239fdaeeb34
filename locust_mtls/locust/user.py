"""MtlsUser: a Locust user whose requests present client certificates through a strategy.

Strategy, concurrency, keep-alive and no-cert fraction come from class attributes
when set, else from the `--mtls-*` options (or `LOCUST_MTLS_*` variables). One
subclass per strategy is exported too, so several can run side by side:
`locust -f locustfiles/mtls.py IdentityCacheUser SharedContextUser`.
"""

from __future__ import annotations

import math

from locust import User, task

from locust_mtls.locust import plugin
from locust_mtls.locust.validation import settings_from
from locust_mtls.strategies import STRATEGIES


def goes_without(number: int, fraction: float) -> bool:
    """Is item `number` one of the `fraction` that go without a certificate? Exactly
    floor(n * fraction) of the first n items do, spread evenly."""
    return math.floor((number + 1) * fraction) > math.floor(number * fraction)


class MtlsClient:
    """A user's client: sends each request through its runner, checks who the server
    saw, and fires Locust's request event (the failure, if any, in `exception`)."""

    def __init__(self, user: MtlsUser):
        run = plugin.mtls_run(user.environment)
        user_number = run.next_user_number()
        self.run = run
        self.base_url = user.host.rstrip("/")
        self.environment = user.environment
        self.settings = settings_from(
            user.environment.parsed_options,
            user.strategy,
            concurrency=user.concurrency,
            keepalive=user.keepalive,
        )
        self.runner = run.runner_for(self.settings, user_number)
        fraction = (
            run.options.no_cert_fraction if user.no_cert_fraction is None else user.no_cert_fraction
        )
        self.no_cert_fraction = fraction
        split = getattr(user.environment.parsed_options, "mtls_no_cert_split", "requests")
        self.split_by_users = split == "users"
        self.whole_user_without = self.split_by_users and goes_without(user_number, fraction)
        # Per-user split: identities go round-robin over the users that have one.
        cert_users_before = user_number - math.floor(user_number * fraction)
        self.identity = run.identity_for(cert_users_before if split == "users" else user_number)
        # Offset each user so that, at any moment, about `fraction` of users go without.
        self.sent = user_number

    def next_identity(self):
        """The identity for the next request: exactly `no_cert_fraction` of requests go
        without one, spread evenly (no randomness, so runs compare); with
        `--mtls-no-cert-split users`, that fraction of users never sends one instead."""
        if self.split_by_users:
            return None if self.whole_user_without else self.identity
        sent, self.sent = self.sent, self.sent + 1
        without = goes_without(sent, self.no_cert_fraction)
        return None if without or self.identity is None else self.identity

    def request(self, method: str, path: str, *, name: str | None = None):
        identity = self.next_identity()
        outcome = self.runner.run(method, self.base_url + path, identity)
        failure = self.run.judge(outcome, identity, self.settings.identity_header)
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


class MtlsUser(User):
    """A user that calls the target with a client certificate (or deliberately without)."""

    abstract = True
    strategy: str | None = None  # None: --mtls-strategy
    concurrency: str | None = None  # None: --mtls-concurrency
    keepalive: bool | None = None  # None: --mtls-keepalive
    no_cert_fraction: float | None = None  # None: --mtls-no-cert-fraction
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
