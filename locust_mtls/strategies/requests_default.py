from __future__ import annotations

from locust_mtls.settings import VERSION_DEPENDENT
from locust_mtls.tls.connections import timed_session
from locust_mtls.tls.requests_path import describe, requests_session_path, trust_private_ca

from .base import Strategy, Trust


class RequestsDefault(Strategy):
    """Plain `session.request(..., cert=..., verify=True)`: whatever the installed requests does.

    Shares: on requests 2.32.0-2.32.4, one module-level SSLContext for every thread,
    into which urllib3 loads each request's chain at every new connection (unsafe:
    crashes, wrong identity, cert bleed); elsewhere nothing. Locks: nothing.
    Cost: on 2.31.0 and 2.32.5+, a new context and a re-read of the CA bundle at every
    new connection (slow with keep-alive off).
    """

    name = "requests-default"
    safety = VERSION_DEPENDENT  # depends on the requests version: that is what it measures
    takes_tls_settings = False  # requests builds its own context
    note = (
        "whatever the installed requests does with verify=True and cert= "
        "(2.32.0-2.32.4 share one preloaded SSLContext and load every client cert into it)"
    )

    def __init__(self, trust: Trust):
        super().__init__(trust)
        trust_private_ca(
            requests_session_path(trust.trust_env), trust.ca_file, trust.ca_bundle_file
        )

    def session_key(self, identity):
        return None  # one session per user, as users write it

    def cert_argument(self, identity):
        return identity.requests_cert() if identity else None

    def client_path(self) -> str:
        return describe(self.trust.trust_env)

    def new_session(self, identity):
        return timed_session(trust_env=self.trust.trust_env)
