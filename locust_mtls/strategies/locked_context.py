from __future__ import annotations

import threading

from locust_mtls.settings import SAFE
from locust_mtls.tls.connections import ContextAdapter, locked_connection_class, timed_session

from .base import Strategy, Trust


class LockedContext(Strategy):
    """One shared context; loading the chain, wrapping and the handshake hold one lock.

    Shares: one mutable context for requests with a certificate, and a separate frozen
    context holding no chain for requests without one (so they cannot pick up a chain
    another thread loaded). Locks: every new certificate-bearing connection, from chain
    load to end of handshake. Cost: handshakes run one at a time.
    """

    name = "locked-context"
    safety = SAFE
    note = "one shared context; load + connect + handshake under one lock"
    context_path = (
        "one shared SSLContext, chain load + handshake under one lock; "
        "no-cert requests use a cert-less context"
    )

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.context = trust.context(frozen=False)
        self.no_cert_context = trust.context()
        self.connection_class = locked_connection_class(threading.Lock())

    def session_key(self, identity):
        return identity is not None

    def cert_argument(self, identity):
        return identity.requests_cert() if identity else None

    def new_session(self, identity):
        if identity is None:
            return timed_session(ContextAdapter(self.no_cert_context))
        adapter = ContextAdapter(
            self.context, cert_per_request=True, connection_class=self.connection_class
        )
        return timed_session(adapter)
