from __future__ import annotations

import ssl

from locust_mtls.settings import UNSAFE
from locust_mtls.tls.connections import ContextAdapter, timed_session

from .base import Strategy, Trust


class SharedContext(Strategy):
    """One SSLContext for all users, with `cert=` per request: the unsafe baseline.

    Shares: one mutable context, into which urllib3 loads each request's chain at
    every new connection; requests without a certificate use it too, so they present
    whatever chain was loaded last (cert bleed, even under greenlets). Locks: nothing.
    Cost: one chain load per new connection; the CA is read once.
    """

    name = "shared-context"
    safety = UNSAFE
    note = (
        "one SSLContext for all users, cert loaded per connection: "
        "unsafe by design, on every requests version"
    )
    context_path = (
        "one mutable SSLContext shared by all users; urllib3 loads each request's cert into it"
    )

    mutable_class: type[ssl.SSLContext] | None = None  # the one context's class

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.context = trust.context(frozen=False, mutable_class=self.mutable_class)

    def session_key(self, identity):
        return None

    def cert_argument(self, identity):
        return identity.requests_cert() if identity else None

    def new_session(self, identity):
        return timed_session(ContextAdapter(self.context, cert_per_request=True))
