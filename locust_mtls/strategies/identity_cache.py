from __future__ import annotations

from locust_mtls.settings import SAFE
from locust_mtls.tls.connections import ContextAdapter, timed_session

from .base import PerIdentityContexts, Strategy


class IdentityCache(PerIdentityContexts, Strategy):
    """One immutable, fully configured context per identity (and one without a
    certificate), shared by every thread: ours.

    Shares: the contexts, which are frozen before first use, so no thread ever changes
    one (tls.FrozenSSLContext turns urllib3's per-connection re-sets into no-ops).
    Locks: a short lock per lookup of the bounded LRU (--mtls-context-cache). Cost: one
    CA read and one chain load per identity per process (again after an eviction); a new
    connection costs just the handshake. Resumes sessions per identity when asked.
    """

    name = "identity-cache"
    safety = SAFE
    resumes_sessions = True
    note = (
        "one frozen context per identity (and one without a cert), built once, "
        "never mutated, shared by all threads"
    )
    context_path = "one frozen SSLContext per identity, shared by all users"

    def new_session(self, identity):
        return timed_session(ContextAdapter(self.context_for(identity)))
