"""locust-mtls: load-test mutual-TLS endpoints with client strategies that are safe
under concurrency."""

from locust_mtls.strategies import STRATEGIES, Strategy, Trust
from locust_mtls.tls.identity import Identity, load_identities, load_identity


def __getattr__(name):
    # The user classes import locust (and so gevent's monkey-patching); only load it when asked,
    # so the strategy core stays usable without Locust.
    if name == "MtlsUser":
        from locust_mtls.locust.user import MtlsUser

        return MtlsUser
    if name == "MtlsHttpUser":
        from locust_mtls.locust.http_user import MtlsHttpUser

        return MtlsHttpUser
    if name == "MtlsFastHttpUser":
        from locust_mtls.locust.fast_user import MtlsFastHttpUser

        return MtlsFastHttpUser
    if name == "MtlsHttpSession":
        from locust_mtls.locust.http_user import MtlsHttpSession

        return MtlsHttpSession
    if name == "MtlsFastHttpSession":
        from locust_mtls.locust.fast_user import MtlsFastHttpSession

        return MtlsFastHttpSession
    if name == "rotate_identities":
        from locust_mtls.locust.rotation import rotate_identities

        return rotate_identities
    raise AttributeError(name)


__all__ = [
    "MtlsFastHttpSession",
    "MtlsFastHttpUser",
    "MtlsHttpSession",
    "MtlsHttpUser",
    "STRATEGIES",
    "Identity",
    "MtlsUser",
    "Strategy",
    "Trust",
    "load_identities",
    "load_identity",
    "rotate_identities",
]
