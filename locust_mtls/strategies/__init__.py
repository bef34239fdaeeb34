"""Client strategies, by name: one module each for requests', one per other client library
(libraries.py), the protocol (base.py) and this registry, which is the one source of every
strategy's name, library, safety and note. Importing it imports no optional library.

May import: `errors`, `settings`, `tls`. Never Locust or gevent (geventhttpclient's
strategies load it when built, in Locust's process only).
"""

from __future__ import annotations

from locust_mtls.errors import ConfigError

from .aiohttp_session import AiohttpPerRequestContext
from .base import Answer, Client, Strategy, Trust
from .geventhttpclient_pools import GeventhttpclientFreshFactory, GeventhttpclientSharedFactory
from .httpx_client import (
    HttpxClientPerIdentity,
    HttpxH2ClientPerIdentity,
    HttpxH2SharedCaContext,
    HttpxSharedCaContext,
    HttpxVerifyPath,
)
from .identity_cache import IdentityCache
from .libraries import LIBRARIES, Library
from .locked_context import LockedContext
from .locked_load import LockedLoad
from .locust_httpuser import LocustHttpUser
from .niquests_session import NiquestsSessionPerIdentity, NiquestsSharedSession
from .per_thread_session import PerThreadSession
from .requests_default import RequestsDefault
from .shared_context import SharedContext
from .thread_local import ThreadLocal
from .urllib3_pools import Urllib3CaCerts, Urllib3SharedContext

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (
        RequestsDefault,
        SharedContext,
        PerThreadSession,
        ThreadLocal,
        LockedContext,
        LockedLoad,
        IdentityCache,
        LocustHttpUser,
        NiquestsSharedSession,
        NiquestsSessionPerIdentity,
        HttpxVerifyPath,
        HttpxSharedCaContext,
        HttpxClientPerIdentity,
        HttpxH2SharedCaContext,
        HttpxH2ClientPerIdentity,
        Urllib3SharedContext,
        Urllib3CaCerts,
        AiohttpPerRequestContext,
        GeventhttpclientSharedFactory,
        GeventhttpclientFreshFactory,
    )
}


def strategies_of(library: str) -> list[str]:
    """The names of the strategies that drive `library`, in registry order."""
    return [name for name, cls in STRATEGIES.items() if cls.library == library]


def strategy_class(name: str) -> type[Strategy]:
    """The strategy class called `name`; ConfigError listing the valid names otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}"
        ) from None


def create(name: str, trust: Trust) -> Strategy:
    """The strategy called `name`; ConfigError when its library is not installed."""
    return strategy_class(name)(trust)


__all__ = [
    "LIBRARIES",
    "STRATEGIES",
    "Answer",
    "Client",
    "Library",
    "Strategy",
    "Trust",
    "create",
    "strategies_of",
    "strategy_class",
]
