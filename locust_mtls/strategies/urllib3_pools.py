"""urllib3 strategies: a `PoolManager` per user, the client certificate per request.

A per-request certificate in urllib3 is a pool keyword: `connection_from_url(url,
pool_kwargs={"cert_file": ..., "key_file": ...})` (poolmanager.py keys a pool by every
TLS keyword, `PoolKey.key_cert_file` and `key_ssl_context` included), then that pool's
`urlopen`. The library lines the unsafe one runs into are its `cause` (urllib3 2.8.0).
"""

from __future__ import annotations

from locust_mtls.settings import SAFE, UNSAFE
from locust_mtls.tls.connections import use_connection_class

from .base import Answer, Client, Strategy, Trust
from .libraries import LIBRARIES


class Urllib3Client(Client):
    """Sends through the pool of the request's certificate in the user's PoolManager; our
    connection class (tls/connections.py) times handshakes and counts requests written."""

    def request(self, method, url, identity=None, *, headers=None, timeout=(5.0, 30.0)):
        urllib3 = self.strategy.urllib3
        pool = self.session_for(identity).connection_from_url(
            url, pool_kwargs=self.strategy.pool_kwargs(identity)
        )
        # retries=False, as requests' adapter: a retried request would reach the server
        # twice for one counted answer.
        return pool.urlopen(
            method,
            urllib3.util.parse_url(url).request_uri,
            headers=headers,
            timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            retries=False,
        )

    @staticmethod
    def answer_of(response) -> Answer:
        return Answer(response.status, response.headers, response.data)

    def close(self) -> None:
        for manager in self.sessions().values():
            manager.clear()
        self.sessions().clear()


class Urllib3Strategy(Strategy):
    library = "urllib3"
    client_class = Urllib3Client

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.urllib3 = LIBRARIES[self.library].load(self.name)

    def session_key(self, identity):
        return None  # one PoolManager per user, its pools keyed by certificate

    def pool_kwargs(self, identity) -> dict | None:
        if identity is None:
            return None
        cert_file, key_file = identity.requests_cert()
        return {"cert_file": cert_file, "key_file": key_file}

    def pool_manager(self, **tls):
        manager = self.urllib3.PoolManager(**tls)
        use_connection_class(manager)
        return manager


class Urllib3SharedContext(Urllib3Strategy):
    """`PoolManager(ssl_context=ctx)` with the client certificate per request: urllib3
    loads each new connection's chain into that one context (`cause`).

    Shares: one mutable context. Locks: nothing. Cost: a chain load per new connection.
    """

    name = "urllib3-shared-context"
    safety = UNSAFE
    note = (
        "PoolManager(ssl_context=ctx) with cert_file per request: urllib3 loads each "
        "connection's chain into that one context (util/ssl_.py ssl_wrap_socket)"
    )
    context_path = "one mutable SSLContext in every pool; each connection's cert loaded into it"
    pattern = (
        'ctx = ssl.create_default_context(cafile="ca.pem")  # built once\n'
        "http = urllib3.PoolManager(ssl_context=ctx)\n"
        "pool = http.connection_from_url(url, pool_kwargs={\n"
        '    "cert_file": "client.pem", "key_file": "client.key"})\n'
        'response = pool.urlopen("GET", "/")'
    )
    cause = (
        "urllib3 2.8.0 `urllib3/util/ssl_.py` `ssl_wrap_socket` loads the connection's "
        "`cert_file` into the context it was given (line 431, "
        "`context.load_cert_chain(certfile, keyfile)`) at every new connection, then sets "
        "ALPN on it (line 435). The pools of every certificate, and the one without, share "
        "that context: a connection without a certificate presents the chain loaded last, "
        "a load between another thread's load and its handshake swaps identities, and on "
        "native threads loads racing handshakes crash OpenSSL (what requests 2.32.0-2.32.4 "
        "did through urllib3, psf/requests#6667)."
    )
    instead = "urllib3-ca-certs"

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.context = trust.context(frozen=False)

    def new_session(self, identity):
        return self.pool_manager(ssl_context=self.context)


class Urllib3CaCerts(Urllib3Strategy):
    """`PoolManager(ca_certs="ca.pem")` with the client certificate per request.

    Given no context, urllib3 builds one per connection (`connection.py`
    `_ssl_wrap_socket_and_match_hostname`: `create_urllib3_context`), loads the CA and the
    connection's chain into it and drops it with the connection: nothing is shared.
    Shares: nothing. Locks: nothing. Cost: a context, a CA read and a chain load per new
    connection.
    """

    name = "urllib3-ca-certs"
    safety = SAFE
    takes_tls_settings = False  # urllib3 builds each context
    note = "PoolManager(ca_certs=...) with cert_file per request: a new context per connection"
    context_path = "a new SSLContext per connection, built by urllib3"
    pattern = (
        'http = urllib3.PoolManager(ca_certs="ca.pem")  # no ssl_context\n'
        "pool = http.connection_from_url(url, pool_kwargs={\n"
        '    "cert_file": "client.pem", "key_file": "client.key"})\n'
        'response = pool.urlopen("GET", "/")'
    )

    def new_session(self, identity):
        return self.pool_manager(ca_certs=self.trust.ca_file, cert_reqs="CERT_REQUIRED")
