"""locust-mtls: load-test mutual-TLS endpoints with client strategies that are safe
under concurrency."""

from .identity import Identity, load_identities, load_identity
from .strategies import STRATEGIES, Strategy, Trust


def __getattr__(name):
    # MtlsUser imports locust (and so gevent's monkey-patching); only load it when asked,
    # so the strategy core stays usable without Locust.
    if name == "MtlsUser":
        from .user import MtlsUser

        return MtlsUser
    raise AttributeError(name)


__all__ = [
    "STRATEGIES",
    "Identity",
    "MtlsUser",
    "Strategy",
    "Trust",
    "load_identities",
    "load_identity",
]
