"""locust-mtls: load-test mutual-TLS endpoints with client strategies that are safe
under concurrency."""

import importlib

from locust_mtls.strategies import STRATEGIES, Strategy, Trust
from locust_mtls.tls.identity import Identity, load_identities, load_identity

# The user classes import locust (and so gevent's monkey-patching); each is loaded only when
# asked for, so the strategy core stays usable without Locust. Name -> its module.
LOCUST_NAMES = {
    "MtlsUser": "locust_mtls.locust.user",
    "MtlsHttpUser": "locust_mtls.locust.http_user",
    "MtlsHttpSession": "locust_mtls.locust.http_user",
    "MtlsFastHttpUser": "locust_mtls.locust.fast_user",
    "MtlsFastHttpSession": "locust_mtls.locust.fast_user",
    "MtlsHttpxUser": "locust_mtls.locust.httpx_user",
    "MtlsHttpxSession": "locust_mtls.locust.httpx_user",
    "MtlsNiquestsUser": "locust_mtls.locust.niquests_user",
    "MtlsNiquestsSession": "locust_mtls.locust.niquests_user",
    "rotate_identities": "locust_mtls.locust.rotation",
}


def __getattr__(name):
    module = LOCUST_NAMES.get(name)
    if module is None:
        raise AttributeError(name)
    return getattr(importlib.import_module(module), name)


__all__ = [
    "MtlsFastHttpSession",
    "MtlsFastHttpUser",
    "MtlsHttpSession",
    "MtlsHttpUser",
    "MtlsHttpxSession",
    "MtlsHttpxUser",
    "STRATEGIES",
    "Identity",
    "MtlsNiquestsSession",
    "MtlsNiquestsUser",
    "MtlsUser",
    "Strategy",
    "Trust",
    "load_identities",
    "load_identity",
    "rotate_identities",
]
