"""Every client strategy side by side, one user class each.

    locust -f locustfiles/strategies.py IdentityCacheUser SharedContextUser
    locust -f locustfiles/strategies.py --class-picker      # choose in the web UI

With no class names, all strategies run at once; Locust's own stats table then
compares them row by row (request names carry the strategy).
"""

import importlib.util

from locust import task

from locust_mtls import MtlsFastHttpUser, MtlsHttpxUser, MtlsNiquestsUser
from locust_mtls.locust.user import STRATEGY_USERS
from locust_mtls.settings import ROW_PREFIX

# The package's classes are abstract so that importing them elsewhere runs nothing;
# here each becomes a concrete user class Locust can pick.
globals().update(
    {
        cls.__name__: type(cls.__name__, (cls,), {"abstract": False})
        for cls in STRATEGY_USERS.values()
    }
)


def probe(user) -> None:
    """One request of a full-API probe: the schedule's identity (or none), named by its row."""
    checks = user.client.mtls_checks
    identity = checks.choose()
    row = ROW_PREFIX[checks.settings.client] + checks.settings.strategy
    name = f"{row} {user.path} ({'cert' if identity else 'no cert'})"
    user.client.get(user.path, identity=identity, name=name)


class FastHttpIdentityCacheUser(MtlsFastHttpUser):
    """identity-cache's contexts on Locust's FastHttpUser (geventhttpclient), as a probe:
    half of the requests without a certificate, like the strategy users above."""

    default_no_cert_fraction = 0.5
    path = "/"
    echo = task(probe)


class HttpxIdentityCacheUser(MtlsHttpxUser):
    """identity-cache's contexts in one httpx.Client per identity, as the same probe."""

    default_no_cert_fraction = 0.5
    path = "/"
    echo = task(probe)


if importlib.util.find_spec("niquests") is not None:  # installed beside urllib3 (see the class)

    class NiquestsIdentityCacheUser(MtlsNiquestsUser):
        """identity-cache's contexts in one niquests Session per identity, as the same probe."""

        default_no_cert_fraction = 0.5
        path = "/"
        echo = task(probe)
