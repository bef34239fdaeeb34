"""niquests strategies: requests' API on urllib3-future, `cert=` per request.

niquests depends on urllib3-future, whose wheel installs a `urllib3` package over
urllib3's and a .pth that copies it back at every interpreter start: in an env holding
niquests, `import urllib3` (requests', Locust's) is urllib3-future. So it never shares an
env with requests' strategies (matrix/envs.py: one env per client). The library lines the
unsafe one runs into are its `cause` (niquests 3.21.2).
"""

from __future__ import annotations

import threading
import weakref

from locust_mtls.settings import SAFE, UNSAFE
from locust_mtls.tls.connections import HookLog

from .base import Answer, Client, Strategy, Trust
from .libraries import LIBRARIES


class NiquestsClient(Client):
    """Sends with a niquests Session, `cert=` and `verify=` (the CA file) per request."""

    def request(self, method, url, identity=None, *, headers=None, timeout=(5.0, 30.0)):
        hooks = HookLog()

        # niquests' `pre_send` fires once a live connection is picked from the pool, just
        # before the request is written (sessions.py): counted as written from there. A
        # stop between the two (no I/O wait) would count one the server never saw. The
        # connection's ConnectionInfo (urllib3-future, one per connection) has its TLS
        # handshake's time: noted by the first request that meets it.
        def pre_send(prepared, **_kwargs):
            info = getattr(prepared, "conn_info", None)
            if info is not None and info.tls_handshake_latency and self.strategy.first_use(info):
                version = getattr(info.tls_version, "name", None)
                hooks.handshake_known(
                    info.tls_handshake_latency.total_seconds() * 1000.0,
                    version and version.replace("_", "."),  # TLSv1_3 -> TLSv1.3, as ssl says
                )
            hooks.written()

        return self.session_for(identity).request(
            method,
            url,
            headers=headers,
            timeout=timeout,
            cert=self.strategy.cert_argument(identity),
            verify=self.strategy.trust.ca_file,
            hooks={"pre_send": [pre_send]},
        )

    @staticmethod
    def answer_of(response) -> Answer:
        return Answer(response.status_code, response.headers, response.content, response.encoding)


class SharedSessionClient(NiquestsClient):
    """A user's handle on the strategy's one Session, which outlives every user."""

    def close(self) -> None:
        self.sessions().clear()


class NiquestsStrategy(Strategy):
    library = "niquests"
    client_class = NiquestsClient
    takes_tls_settings = False  # urllib3-future builds the contexts

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.niquests = LIBRARIES[self.library].load(self.name)
        self._connections_met = weakref.WeakSet()  # ConnectionInfo of each connection met
        self._met_lock = threading.Lock()

    def first_use(self, connection_info) -> bool:
        """Whether this request is the first to meet this connection (its handshake's)."""
        with self._met_lock:
            if connection_info in self._connections_met:
                return False
            self._connections_met.add(connection_info)
            return True

    def cert_argument(self, identity):
        return identity.requests_cert() if identity else None

    def niquests_session(self):
        session = self.niquests.Session()
        session.trust_env = self.trust.trust_env  # as for requests (tls/requests_path.py)
        return session


class NiquestsSharedSession(NiquestsStrategy):
    """One `niquests.Session` for every user, `cert=` per request: the shared pool keeps
    the last certificate set on it (`cause`).

    Shares: one Session, one pool per host. Locks: nothing. Cost: nothing per request.
    """

    name = "niquests-shared-session"
    safety = UNSAFE
    client_class = SharedSessionClient
    note = (
        "one niquests Session for every user, cert= per request: the pool is keyed by host "
        "and cert_verify (adapters.py) never clears the last cert_file, so it is presented "
        "by requests without one"
    )
    context_path = "one Session, one pool per host; its cert_file set by the last cert= given"
    pattern = (
        "session = niquests.Session()  # one, shared by every user\n"
        'session.get(url, cert=("a.pem", "a.key"), verify="ca.pem")\n'
        'session.get(url, verify="ca.pem")  # presents a.pem'
    )
    cause = (
        "niquests 3.21.2 `niquests/adapters.py`: `HTTPAdapter.get_connection` keeps one "
        "pool per host whatever the certificate (`poolmanager.connection_from_url(url)`), "
        "and `HTTPAdapter.cert_verify` sets `conn.cert_file`/`key_file` on that pool only "
        "`if cert:` (line 623), never clearing them: a request without `cert=` after one "
        "with it presents that certificate, one request at a time and on a new connection "
        "too; users with different certificates swap them on the pool and its kept-alive "
        "connections. requests' psf/requests#2863 again."
    )
    instead = "niquests-session-per-identity"

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.session = self.niquests_session()

    def session_key(self, identity):
        return None

    def new_session(self, identity):
        return self.session


class NiquestsSessionPerIdentity(NiquestsStrategy):
    """Each user keeps one `niquests.Session` per identity it presents (and one it uses
    without a certificate), `cert=` per request.

    A Session (with its pools) only ever sees one certificate, so what cert_verify leaves
    on its pool is always right. Shares: nothing. Locks: nothing. Cost: a Session and its
    connections per user and identity.
    """

    name = "niquests-session-per-identity"
    safety = SAFE
    note = "a niquests Session per user and identity, cert= per request: no Session mixes certs"
    context_path = "a Session per user and identity; urllib3-future builds the contexts"
    pattern = (
        "sessions = {}  # per user: one Session per certificate, and one without\n"
        "session = sessions.setdefault(cert, niquests.Session())\n"
        'session.get(url, cert=cert, verify="ca.pem")'
    )

    def new_session(self, identity):
        return self.niquests_session()
