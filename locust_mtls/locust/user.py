"""MtlsUser: the probe that shows bleed. It calls the target's `path` through a client
strategy's own client (no Locust session in between, so the matrix measures the strategy),
half of the requests without a certificate unless told otherwise.

Strategy, concurrency, keep-alive and the rest come from class attributes when set, else
from the `--mtls-*` options (config/user_settings.py). One subclass per strategy is
exported too, so several can run side by side:
`locust -f locustfiles/strategies.py IdentityCacheUser SharedContextUser`.
"""

from __future__ import annotations

import time

from locust import User, task

from locust_mtls.config.user_settings import MtlsAttributes
from locust_mtls.engine.checkpoint import OutcomeResponse, http_error_of, sending
from locust_mtls.engine.execution import Outcome
from locust_mtls.locust.checked_event import checked_request_event, tagged
from locust_mtls.locust.user_checks import UserChecks
from locust_mtls.strategies import LIBRARIES, STRATEGIES


class MtlsClient:
    """A probe user's client: sends each request through its runner and reports it
    through the checked request event, like Locust's own sessions do."""

    def __init__(self, user: MtlsUser):
        checks = self.mtls_checks = UserChecks(user, "requests")
        self.base_url = user.host.rstrip("/")
        self.request_event = checked_request_event(user.environment)
        self.runner = checks.run.runner_for(checks.settings, checks.user_number)

    def request(self, method: str, path: str, *, name: str | None = None) -> Outcome:
        checks = self.mtls_checks
        identity = checks.choose()
        sent = checks.sent(identity)
        url = self.base_url + path
        started = time.time()
        with sending(sent):
            self.runner.run(method, url, sent, keep_body=checks.identity_seen is not None)
        outcome = sent.outcome
        label = "cert" if identity else "no cert"
        self.request_event.fire(
            request_type=method,
            name=name or f"{checks.settings.strategy} {path} ({label})",
            response_time=outcome.elapsed_ms,
            response_length=outcome.length,
            exception=http_error_of(outcome),
            context=checks.context(identity),
            response=tagged(OutcomeResponse(outcome), sent),
            start_time=started,
            url=url,
        )
        return outcome

    def get(self, path: str, **kwargs) -> Outcome:
        return self.request("GET", path, **kwargs)

    def close(self) -> None:
        self.runner.close()


class MtlsUser(User, MtlsAttributes):
    """A probe that calls the target with a client certificate (or deliberately without).

    To check an identity the application reports in its body instead of a header,
    define `identity_seen(self, response) -> str | None` on the class: return the
    principal the server authenticated (an identity name, CN or fingerprint; "none"
    for no certificate) or None when the response does not say.
    """

    abstract = True
    mtls_client = "requests"
    mtls_libraries = tuple(LIBRARIES)  # any strategy: it sends through the strategy's client
    default_no_cert_fraction = 0.5  # a probe: half without a certificate shows bleed
    path = "/"

    def __init__(self, environment):
        super().__init__(environment)
        self.client = MtlsClient(self)
        self.mtls_checks = self.client.mtls_checks

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
