"""locust-mtls: load-test mutual-TLS endpoints with client strategies that are safe
under concurrency."""

from .identity import Identity, load_identities, load_identity
from .strategies import STRATEGIES, Strategy, Trust


def __getattr__(name):
    # The user classes import locust (and so gevent's monkey-patching); only load it when asked,
    # so the strategy core stays usable without Locust.
    if name == "MtlsUser":
        from .user import MtlsUser

        return MtlsUser
    if name == "MtlsFastHttpUser":
        from .fast_user import MtlsFastHttpUser

        return MtlsFastHttpUser
    raise AttributeError(name)


__all__ = [
    "MtlsFastHttpUser",
    "STRATEGIES",
    "Identity",
    "MtlsUser",
    "Strategy",
    "Trust",
    "load_identities",
    "load_identity",
]
