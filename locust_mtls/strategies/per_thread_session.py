from __future__ import annotations

from locust_mtls.settings import SAFE
from locust_mtls.tls.connections import ContextAdapter, timed_session

from .base import Strategy


class PerThreadSession(Strategy):
    """Each user (thread) owns its sessions, each with its own context, chain loaded once.

    Shares: nothing between users. Locks: nothing. Cost: a context per user and
    identity (CA and chain loaded per user: slower start, more memory with many users).
    """

    name = "per-thread-session"
    safety = SAFE
    resumes_sessions = True
    note = "each user/thread owns a Session whose adapter has its own context"
    context_path = "an SSLContext per user and identity, cert loaded once"

    def new_session(self, identity):
        return timed_session(ContextAdapter(self.trust.context(identity)))
