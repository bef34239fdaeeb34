"""MtlsHttpxUser: a Locust user whose `self.client` sends with httpx, one `httpx.Client`
per identity on identity-cache's frozen SSLContext for it.

httpx's own mTLS forms are the ones that fail: `Client(verify="ca.pem", cert=...)` drops
the certificate (httpx 0.28 `_config.create_ssl_context` returns for a str `verify`
before `if cert:`), and one CA context passed as `verify=` to clients of several
identities gets each one's chain loaded into it (the same function's `load_cert_chain`).
Here the certificate is inside the context and no context is shared across identities.

    from locust_mtls import MtlsHttpxUser

    class ApiUser(MtlsHttpxUser):
        @task
        def orders(self):
            self.client.get("/orders", params={"page": 1})

`self.client` takes httpx's keyword arguments (`json=`, `params=`, `headers=`,
`content=`, ...) plus Locust's `name=`, `catch_response=` and `context=`, and
`identity=` per call; every answer is checked for the identity the server saw.
Greenlets only (httpx's sync client on gevent's sockets); handshake times are read from
httpcore's trace extension. `client_options = {"http2": True}` offers HTTP/2 (it needs h2:
`pip install 'locust-mtls[httpx]'`); the contexts are then built with the ALPN list httpcore
sets for it, as a frozen context refuses any change.
"""

from __future__ import annotations

import contextvars
import logging
import time

from locust_mtls.engine import checkpoint
from locust_mtls.locust.library_session import LibrarySession, LibraryUser
from locust_mtls.strategies.httpx_client import httpcore_alpn, missing_h2

try:
    import httpx
except ImportError:  # an optional client: said when a user class needs it
    httpx = None

# httpx logs every request at INFO, Locust's default level: one line per request of a
# load test. Quietened unless the locustfile set a level for it.
if logging.getLogger("httpx").level == logging.NOTSET:
    logging.getLogger("httpx").setLevel(logging.WARNING)
# When this greenlet's TLS handshake began (one handshake at a time per greenlet).
_tls_started: contextvars.ContextVar[float] = contextvars.ContextVar(
    "locust_mtls_httpx_tls_started", default=0.0
)


def trace(event: str, info: dict) -> None:
    """httpcore's trace extension: the TLS handshake of each new connection (time,
    version, resumed or not) and the moment the whole request has been written (a
    request the test stops after that has reached the server: counted in flight)."""
    sent = checkpoint.current()
    if sent is None:
        return
    log = sent.outcome.connections
    if event == "connection.start_tls.started":
        _tls_started.set(time.perf_counter())
    elif event == "connection.start_tls.complete":
        elapsed_ms = (time.perf_counter() - _tls_started.get()) * 1000.0
        ssl_object = info["return_value"].get_extra_info("ssl_object")
        reused = bool(ssl_object is not None and ssl_object.session_reused)
        (log.resumed_ms if reused else log.full_ms).append(elapsed_ms)
        log.versions.append((ssl_object and ssl_object.version()) or "unknown")
    elif event.endswith(".send_request_body.complete"):  # http11. or http2.
        log.requests_written += 1


class MtlsHttpxSession(LibrarySession):
    """httpx's API with one `httpx.Client` per identity (see the module docstring)."""

    mtls_client = "httpx"
    library = httpx
    transport_errors = (httpx.RequestError,) if httpx else ()

    def new_cookie_jar(self):
        return httpx.Cookies()

    def alpn(self) -> tuple[str, ...]:
        return httpcore_alpn(bool(self._client_options.get("http2")))

    def new_client(self, context, **client_options):
        timeout = self.mtls_checks.settings.timeout
        client_options.setdefault("timeout", httpx.Timeout(timeout[1], connect=timeout[0]))
        # trust_env=False: no SSL_CERT_FILE or proxy variables change the path under test.
        client = httpx.Client(
            base_url=self.base_url or "", verify=context, trust_env=False, **client_options
        )
        client.cookies.jar = self.cookies.jar  # Client(cookies=) would copy them
        return client

    def send(self, client, method, url, **kwargs):
        extensions = {"trace": trace, **(kwargs.pop("extensions", None) or {})}
        return client.request(method, url, extensions=extensions, **kwargs)


class MtlsHttpxUser(LibraryUser):
    """A Locust user sending with httpx through identity-cache's contexts (see LibraryUser)."""

    abstract = True
    session_class = MtlsHttpxSession
    mtls_client = MtlsHttpxSession.mtls_client

    @classmethod
    def options_error(cls):
        if cls.client_options.get("http2"):
            return missing_h2(f"{cls.__name__}: client_options http2=True")
        return None
