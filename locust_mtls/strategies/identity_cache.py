from __future__ import annotations

import threading

from locust_mtls.settings import SAFE
from locust_mtls.tls.connections import ContextAdapter, timed_session
from locust_mtls.tls.identity import Identity

from .base import Strategy, Trust


class IdentityCache(Strategy):
    """One immutable, fully configured context per identity (and one without a
    certificate), shared by every thread: ours.

    Shares: the contexts, which are frozen before first use, so no thread ever changes
    one (tls.FrozenSSLContext turns urllib3's per-connection re-sets into no-ops).
    Locks: only the first build of each context. Cost: one CA read and one chain
    load per identity per process; a new connection costs just the handshake.
    """

    name = "identity-cache"
    safety = SAFE
    note = (
        "one frozen context per identity (and one without a cert), built once, "
        "never mutated, shared by all threads"
    )
    context_path = "one frozen SSLContext per identity, shared by all users"

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self._contexts: dict[Identity | None, object] = {}
        self._build_lock = threading.Lock()

    def context_for(self, identity: Identity | None):
        context = self._contexts.get(identity)
        if context is None:
            with self._build_lock:
                context = self._contexts.get(identity)
                if context is None:
                    context = self._contexts[identity] = self.trust.context(identity)
        return context

    def new_session(self, identity):
        return timed_session(ContextAdapter(self.context_for(identity)))
