"""Every client strategy side by side, one user class each.

    locust -f locustfiles/strategies.py IdentityCacheUser SharedContextUser
    locust -f locustfiles/strategies.py --class-picker      # choose in the web UI

With no class names, all strategies run at once; Locust's own stats table then
compares them row by row (request names carry the strategy).
"""

from locust import task

from locust_mtls import MtlsFastHttpUser
from locust_mtls.locust.user import STRATEGY_USERS

# The package's classes are abstract so that importing them elsewhere runs nothing;
# here each becomes a concrete user class Locust can pick.
globals().update(
    {
        cls.__name__: type(cls.__name__, (cls,), {"abstract": False})
        for cls in STRATEGY_USERS.values()
    }
)


class FastHttpIdentityCacheUser(MtlsFastHttpUser):
    """identity-cache's contexts on Locust's FastHttpUser (geventhttpclient), as a probe:
    half of the requests without a certificate, like the strategy users above."""

    default_no_cert_fraction = 0.5
    path = "/"

    @task
    def echo(self) -> None:
        checks = self.client.mtls_checks
        identity = checks.choose()
        name = (
            f"fasthttp/{checks.settings.strategy} {self.path} ({'cert' if identity else 'no cert'})"
        )
        self.client.get(self.path, identity=identity, name=name)
