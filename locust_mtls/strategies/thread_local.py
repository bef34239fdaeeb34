from __future__ import annotations

import threading

from locust_mtls.settings import SAFE
from locust_mtls.tls.connections import ContextAdapter, timed_session

from .base import Client, Strategy, Trust


class ThreadLocal(Strategy):
    """Sessions and contexts in thread-local storage (greenlet-local under gevent).

    Shares: nothing between threads; code that cannot pass a session around finds its
    own through `threading.local`. Locks: nothing. Cost: like per-thread-session, a
    context per thread and identity.
    """

    name = "thread-local"
    safety = SAFE
    resumes_sessions = True
    note = "contexts held in thread-local (greenlet-local) storage"
    context_path = "an SSLContext per thread and identity, found through threading.local"

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.local = threading.local()

    def new_session(self, identity):
        return timed_session(ContextAdapter(self.trust.context(identity)))

    def new_client(self):
        return ThreadLocalClient(self)


class ThreadLocalClient(Client):
    def sessions(self):
        local = self.strategy.local
        if not hasattr(local, "sessions"):
            local.sessions = {}
        return local.sessions
