"""urllib3/requests plumbing: time each TLS handshake, and mount one SSLContext.

Every strategy's sessions go through `timed_session()`, so new connections and their
handshake times are seen the same way whichever strategy built the context.
"""

from __future__ import annotations

import contextvars
import functools
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool


@dataclass(slots=True)
class ConnectionLog:
    """What the connections of one request did: the time (ms) of each full and of each
    resumed TLS handshake, the version each negotiated, and how many HTTP requests were
    written out (a request stopped after that point has reached the server)."""

    full_ms: list[float] = field(default_factory=list)
    resumed_ms: list[float] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    requests_written: int = 0

    def handshake(self, elapsed_ms: float, version: str | None, resumed: bool = False) -> None:
        """A new connection's TLS handshake: its time, the version it negotiated."""
        (self.resumed_ms if resumed else self.full_ms).append(elapsed_ms)
        self.versions.append(version or "unknown")

    def add(self, other: ConnectionLog) -> None:
        """Another hop of the same request (a redirect, or the engine child's part)."""
        self.full_ms += other.full_ms
        self.resumed_ms += other.resumed_ms
        self.versions += other.versions
        self.requests_written += other.requests_written

    @classmethod
    def from_dict(cls, data: dict | None) -> ConnectionLog:
        return cls(**data) if data else cls()


# One log per thread or greenlet (contextvars are greenlet-local under gevent).
_log: contextvars.ContextVar[ConnectionLog | None] = contextvars.ContextVar(
    "locust_mtls_connection_log", default=None
)


def current_log() -> ConnectionLog | None:
    """The log of the request this thread (greenlet, asyncio task) is sending, if any:
    where a client library's hooks note handshakes and requests written."""
    return _log.get()


@contextmanager
def recording_connections(log: ConnectionLog | None = None) -> Iterator[ConnectionLog]:
    """Log every connection opened and request written inside the block (into `log`)."""
    log = ConnectionLog() if log is None else log
    token = _log.set(log)
    try:
        yield log
    finally:
        _log.reset(token)


class HookLog:
    """What a client library's own hooks report about one request (a TLS handshake began,
    ended; the request was written), noted into the log of the request being sent."""

    def __init__(self):
        self.log = current_log()
        self._started: float | None = None
        self._elapsed_ms: float | None = None

    def handshake_started(self) -> None:
        self._started, self._elapsed_ms = time.perf_counter(), None

    def handshake_ended(self) -> None:
        """The handshake's end, when the hook that says so does not have the TLS object."""
        if self._started is not None:
            self._elapsed_ms = (time.perf_counter() - self._started) * 1000.0

    def handshaking(self) -> bool:
        """A handshake was started and not yet noted."""
        return self._started is not None

    def handshake_done(self, tls_object) -> None:
        """Note the handshake; `tls_object`: its SSLSocket / SSLObject (None: not known)."""
        if self._started is None:
            return
        if self._elapsed_ms is None:
            self.handshake_ended()
        if self.log is not None:
            version = getattr(tls_object, "version", None)
            resumed = getattr(tls_object, "session_reused", False)
            self.log.handshake(self._elapsed_ms, version and version(), resumed)
        self._started = self._elapsed_ms = None

    def handshake_known(self, elapsed_ms: float, version: str | None) -> None:
        """A handshake the library timed itself."""
        if self.log is not None:
            self.log.handshake(elapsed_ms, version)

    def written(self) -> None:
        if self.log is not None:
            self.log.requests_written += 1


class TimedHTTPSConnection(HTTPSConnection):
    """An HTTPS connection that records its TLS handshake time (TCP connect excluded),
    like k6's http_req_tls_handshaking, whether it resumed a session, and hands its
    session back to a ResumingContext (urllib3 has no hook for sessions)."""

    _tcp_connected_at = 0.0
    _keep_session = None  # ResumingContext.keep_session of this connection's context

    def _new_conn(self):
        sock = super()._new_conn()
        self._tcp_connected_at = time.perf_counter()
        return sock

    def connect(self) -> None:
        super().connect()
        elapsed_ms = (time.perf_counter() - self._tcp_connected_at) * 1000.0
        # Only a ResumingContext keeps sessions: TLS 1.2 ones are resumable now,
        # TLS 1.3 ones once the server's tickets have been read (after a response).
        self._keep_session = getattr(getattr(self.sock, "context", None), "keep_session", None)
        if self._keep_session is not None:
            self._keep_session(self.sock)
        log = _log.get()
        if log is not None:
            version = getattr(self.sock, "version", None)
            log.handshake(
                elapsed_ms, version and version(), getattr(self.sock, "session_reused", False)
            )

    def getresponse(self, *args, **kwargs):
        # The socket before the call: with "Connection: close" http.client drops it
        # from the connection inside getresponse (the response still reads from it).
        sock, keep_session = self.sock, self._keep_session
        log = _log.get()
        if log is not None:  # http.client wrote the whole request before this call
            log.requests_written += 1
        response = super().getresponse(*args, **kwargs)
        if keep_session is not None and sock is not None:
            keep_session(sock)
        return response


def locked_connection_class(lock: threading.Lock) -> type[TimedHTTPSConnection]:
    """A connection class whose whole connect (chain load + wrap + handshake) holds `lock`."""

    class LockedHTTPSConnection(TimedHTTPSConnection):
        def connect(self) -> None:
            with lock:
                super().connect()

    return LockedHTTPSConnection


@functools.cache
def _pool_class(connection_class: type[HTTPSConnection]) -> type[HTTPSConnectionPool]:
    return type(
        "TimedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": connection_class}
    )


class ContextAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections all use one given SSLContext.

    `HTTPAdapter` has no `ssl_context` argument: the context is passed to the pool
    managers (`init_poolmanager` / `proxy_manager_for`), and requests is kept from
    handing urllib3 a CA path (`cert_verify`), which would make urllib3 call
    `load_verify_locations()` on this context at every new connection.
    With `cert_per_request=True` the request's `cert=` is passed on, so urllib3 loads
    the chain into the context per connection: the unsafe pattern, on purpose.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        cert_per_request: bool = False,
        connection_class: type[HTTPSConnection] = TimedHTTPSConnection,
        **kwargs,
    ):
        self.ssl_context = ssl_context
        self.cert_per_request = cert_per_request
        self.connection_class = connection_class
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **pool_kwargs):
        super().init_poolmanager(*args, ssl_context=self.ssl_context, **pool_kwargs)
        use_connection_class(self.poolmanager, self.connection_class)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, ssl_context=self.ssl_context, **proxy_kwargs)
        use_connection_class(manager, self.connection_class)
        return manager

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        # requests >= 2.32.2; older versions only go through cert_verify below.
        return super().build_connection_pool_key_attributes(
            request, True, cert if self.cert_per_request else None
        )

    def cert_verify(self, conn, url, verify, cert):
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = conn.ca_cert_dir = None
        conn.cert_file, conn.key_file = cert if (self.cert_per_request and cert) else (None, None)


def use_connection_class(manager, connection_class=TimedHTTPSConnection) -> None:
    """Make `manager` (a urllib3 PoolManager) open HTTPS connections of `connection_class`."""
    manager.pool_classes_by_scheme = {
        **manager.pool_classes_by_scheme,
        "https": _pool_class(connection_class),
    }


def timed_session(
    adapter: HTTPAdapter | None = None, *, trust_env: bool = False
) -> requests.Session:
    """A Session whose https:// connections are timed; `adapter` defaults to requests' own.

    trust_env=False keeps REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE and proxy variables from
    silently changing the code path under test (see requests_path).
    """
    session = requests.Session()
    session.trust_env = trust_env
    if adapter is None:
        adapter = HTTPAdapter()
        use_connection_class(adapter.poolmanager)
    session.mount("https://", adapter)
    return session
