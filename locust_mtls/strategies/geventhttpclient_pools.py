"""geventhttpclient (FastHttpUser's backend): an `HTTPClient` per user, host and identity,
its context from an `ssl_context_factory`. The library lines the unsafe one runs into are
its `cause` (geventhttpclient 2.6.1).

A gevent client: it runs on Locust's greenlets only (libraries.py), and is imported when
one of these strategies is built, never by the registry or the native-thread engine.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from locust_mtls.settings import SAFE, UNSAFE
from locust_mtls.tls.connections import current_log

from .base import Answer, Client, Strategy, Trust
from .libraries import LIBRARIES


class GeventhttpclientClient(Client):
    """Sends with the user's HTTPClient of (host, port, identity): an HTTPClient talks to
    one host, so it is made at the first request to it."""

    def request(self, method, url, identity=None, *, headers=None, timeout=(5.0, 30.0)):
        parts = urlsplit(url)
        key = (parts.hostname, parts.port, self.strategy.session_key(identity))
        client = self.sessions().get(key)
        if client is None:
            client = self.sessions()[key] = self.strategy.new_session(identity, parts, timeout)
        log = current_log()
        # geventhttpclient has no hook between connecting and writing (client.py
        # HTTPClient.request: get_socket, then sendall): the request counts as written
        # once handed over, so a stop while connecting counts one the server may not
        # have seen (an upper bound, never a request lost). No handshake times either.
        # It also sends an idempotent request again when its connection closed without an
        # answer (HTTPClient.request, HTTPConnectionClosed): one counted answer may then
        # have reached the server twice, as with FastHttpUser.
        if log is not None:
            log.requests_written += 1
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        response = client.request(method, target, headers=headers)
        try:
            return response, response.read()
        finally:
            response.release()

    @staticmethod
    def answer_of(response_and_body) -> Answer:
        response, body = response_and_body
        return Answer(response.status_code, response, body)  # the response's .get: headers


class GeventhttpclientStrategy(Strategy):
    library = "geventhttpclient"
    client_class = GeventhttpclientClient

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.geventhttpclient = LIBRARIES[self.library].load(self.name)

    def ssl_options(self, identity) -> dict:
        """FastHttpUser's way of naming a client certificate (`ssl_options`)."""
        if identity is None:
            return {}
        cert_file, key_file = identity.requests_cert()
        return {"certfile": cert_file, "keyfile": key_file}

    def new_session(self, identity, parts=None, timeout=(5.0, 30.0)):
        """An HTTPClient for the host of `parts` (urlsplit) presenting `identity`."""
        connect, read = timeout
        return self.geventhttpclient.HTTPClient(
            parts.hostname,
            parts.port or 443,
            ssl=True,
            ssl_options=self.ssl_options(identity),
            ssl_context_factory=self.context_factory(identity),
            connection_timeout=connect,
            network_timeout=read,
        )

    def context_factory(self, identity):
        """The `ssl_context_factory` the user's HTTPClient for `identity` is given."""
        raise NotImplementedError


class GeventhttpclientSharedFactory(GeventhttpclientStrategy):
    """`ssl_context_factory` returning one pre-built context, the certificate per user in
    `ssl_options` (a FastHttpUser with a shared context): geventhttpclient loads every
    user's chain into it (`cause`), so connections present the chain loaded last.

    Shares: one mutable context. Locks: nothing. Cost: a chain load per HTTPClient.
    """

    name = "geventhttpclient-shared-factory"
    safety = UNSAFE
    note = (
        "ssl_context_factory returning one pre-built context, certfile per user in "
        "ssl_options: geventhttpclient loads every user's chain into it (connectionpool.py)"
    )
    context_path = "one mutable SSLContext from the factory; each HTTPClient's cert loaded into it"
    pattern = (
        'context = gevent.ssl.create_default_context(cafile="ca.pem")  # built once\n'
        "client = HTTPClient(host, port, ssl=True, ssl_context_factory=lambda **kw: context,\n"
        '                    ssl_options={"certfile": "client.pem", "keyfile": "client.key"})'
    )
    cause = (
        "geventhttpclient 2.6.1 `geventhttpclient/connectionpool.py` `init_ssl_context`, "
        "called once per `SSLConnectionPool` (each `HTTPClient`), loads `ssl_options`' "
        "certfile into whatever the factory returned (lines 289-292, "
        "`ssl_context.load_cert_chain(...)`): with one pre-built context every user's chain "
        "goes into it, and every connection, with or without a certificate, presents the "
        "chain loaded last, even on greenlets."
    )
    instead = "geventhttpclient-fresh-factory"

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.context = trust.context(frozen=False)

    def context_factory(self, identity):
        return lambda *args, **kwargs: self.context


class GeventhttpclientFreshFactory(GeventhttpclientStrategy):
    """`ssl_context_factory` building a fresh context at each call (what its default,
    `gevent.ssl.create_default_context`, does), the certificate in `ssl_options`.

    `init_ssl_context` calls the factory once per pool, so the chain is loaded into that
    pool's own context: nothing is shared. Shares: nothing. Locks: nothing. Cost: a
    context and a chain load per HTTPClient (per user and identity).
    """

    name = "geventhttpclient-fresh-factory"
    safety = SAFE
    note = "ssl_context_factory building a new context per call, certfile in ssl_options"
    context_path = "a new SSLContext per HTTPClient, the cert loaded into it"
    pattern = (
        "client = HTTPClient(host, port, ssl=True,  # the default factory: a new context\n"
        "                    ssl_context_factory=gevent.ssl.create_default_context,\n"
        '                    ssl_options={"ca_certs": "ca.pem",\n'
        '                                 "certfile": "client.pem", "keyfile": "client.key"})'
    )

    def context_factory(self, identity):
        return lambda *args, **kwargs: self.trust.context(frozen=False)
