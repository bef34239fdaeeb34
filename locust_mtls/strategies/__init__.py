"""Client strategies, by name: one module each, the protocol (base.py) and this registry,
which is the one source of every strategy's name, safety and note.

May import: `errors`, `settings`, `tls`. Never Locust or gevent.
"""

from __future__ import annotations

from locust_mtls.errors import ConfigError

from .base import Client, Strategy, Trust
from .identity_cache import IdentityCache
from .locked_context import LockedContext
from .locked_load import LockedLoad
from .locust_httpuser import LocustHttpUser
from .per_thread_session import PerThreadSession
from .requests_default import RequestsDefault
from .shared_context import SharedContext
from .thread_local import ThreadLocal

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
    )
}


def strategy_class(name: str) -> type[Strategy]:
    """The strategy class called `name`; ConfigError listing the valid names otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}"
        ) from None


def create(name: str, trust: Trust) -> Strategy:
    return strategy_class(name)(trust)


__all__ = ["STRATEGIES", "Client", "Strategy", "Trust", "create", "strategy_class"]
