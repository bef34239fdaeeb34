from __future__ import annotations

import os
import threading

from requests.adapters import HTTPAdapter

from locust_mtls.settings import VERSION_DEPENDENT
from locust_mtls.tls import requests_path
from locust_mtls.tls.connections import timed_session, use_connection_class
from locust_mtls.tls.contexts import client_context

from .base import Strategy, Trust

_mirror_lock = threading.Lock()
_mirror_context = None  # this process's stand-in for Locust's context while Locust is not loaded


class LocustHttpAdapterMirror(HTTPAdapter):
    """What `locust.clients.LocustHttpAdapter` (Locust 2.43.0+) does, line for line.

    `cert_verify` never hands urllib3 a CA path for `verify=True` and sets the request's
    `cert=` on the connection; `build_connection_pool_key_attributes` puts the one shared
    context into every `verify=True` pool, so urllib3 loads each request's client chain
    into that shared context at each new connection (what requests 2.32.0-2.32.4 did,
    psf/requests#6667, reverted in 2.32.5 and re-implemented by Locust for speed).
    """

    def __init__(self, shared_context, **kwargs):
        self.shared_context = shared_context
        super().__init__(**kwargs)
        use_connection_class(self.poolmanager)

    def cert_verify(self, conn, url, verify, cert):
        # Locust's branch for unverified requests is left out: strategies always verify.
        conn.cert_reqs = "CERT_REQUIRED"
        if verify is not True:
            if os.path.isdir(verify):
                conn.ca_cert_dir = verify
            else:
                conn.ca_certs = verify
        if cert:
            conn.cert_file, conn.key_file = (cert, None) if isinstance(cert, str) else cert

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        if verify is True:
            pool_kwargs["ssl_context"] = self.shared_context
        return host_params, pool_kwargs


class LocustHttpUser(Strategy):
    """A plain Locust `HttpUser`: `self.client.get(..., cert=(pem, key))`, `verify=True`,
    as Locust's documentation shows it.

    Shares: on Locust 2.43.0+, Locust's one module-level SSLContext
    (`locust.clients._preloaded_ssl_context`) for every `verify=True` request of every
    user, into which urllib3 loads each request's chain at every new connection (unsafe
    on every requests version: bleed, wrong identity, crashes on native threads); before
    2.43.0, whatever the installed requests does (see requests-default). Locks: nothing.
    Cost: the CA bundle is read once; a chain load per new connection.

    Inside Locust the real shared context is used; where Locust is not loaded (the
    native-thread engine's child, benchmarks) an equivalent one per process, when the
    installed Locust has one (requests_path.locust_has_shared_context). On requests
    < 2.32.3 Locust's adapter is used but its context never is: requests_path names the
    path taken instead, and trusts the private CA there (OpenSSL's default CAs on 2.31.0).
    """

    name = "locust-httpuser"
    safety = VERSION_DEPENDENT
    note = (
        "plain HttpUser with cert= and verify=True: Locust 2.43.0+ shares one preloaded "
        "SSLContext (locust/clients.py) and loads every client cert into it"
    )

    def __init__(self, trust: Trust):
        super().__init__(trust)
        path = requests_path.locust_session_path(trust.trust_env)
        requests_path.trust_private_ca(path, trust.ca_file, trust.ca_bundle_file)
        self.shared_context = None
        if requests_path.locust_has_shared_context():
            self.shared_context = requests_path.locust_preloaded_context() or _mirror(trust)

    def session_key(self, identity):
        return None  # one HttpSession per user

    def cert_argument(self, identity):
        return identity.requests_cert() if identity else None

    def client_path(self) -> str:
        return requests_path.describe_locust(self.trust.trust_env)

    def new_session(self, identity):
        if self.shared_context is None:  # Locust < 2.43.0: requests' own adapter
            return timed_session(trust_env=self.trust.trust_env)
        session = timed_session(LocustHttpAdapterMirror(self.shared_context))
        session.trust_env = self.trust.trust_env
        return session


def _mirror(trust: Trust):
    """One mutable context per process, trusting certifi + the private CA, like Locust's."""
    global _mirror_context
    with _mirror_lock:
        if _mirror_context is None:
            _mirror_context = client_context(trust.ca_bundle_file, frozen=False)
        return _mirror_context
