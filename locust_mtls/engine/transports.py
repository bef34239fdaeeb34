"""requests transport adapters that send through a client strategy, for full-API sessions.

Mounted on `https://` of a `requests.Session` (Locust's HttpSession in MtlsHttpUser),
they replace the session's own transport, so nothing ever reaches requests' or Locust's
default SSLContext: `StrategyTransport` sends in the calling greenlet through the
user's strategy client, `EngineTransport` on the user's native thread in the engine
child. Which identity a request presents, and what its transport saw (handshakes, the
error class), travel in an `Exchange` set for the duration of the request.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from locust_mtls.engine import wire
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import classify
from locust_mtls.strategies import Client
from locust_mtls.tls.connections import recording_handshakes
from locust_mtls.tls.identity import Identity


@dataclass
class Exchange:
    """One request of a full-API session, redirects included: who it presents and what
    its transport saw."""

    identity: Identity | None
    handshakes_ms: list[float] = field(default_factory=list)  # full handshakes
    resumed_ms: list[float] = field(default_factory=list)  # handshakes that resumed a session
    tls_versions: list[str] = field(default_factory=list)
    error: str | None = None
    failure_class: str | None = None
    crash: str | None = None

    def failed(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"
        self.failure_class = classify(error)

    def outcome(self, response, elapsed_ms: float, length: int, identity_header: str) -> Outcome:
        """The Outcome to judge: from the final response, or from the transport's error."""
        outcome = Outcome(
            elapsed_ms=elapsed_ms,
            handshakes_ms=self.handshakes_ms,
            resumed_ms=self.resumed_ms,
            tls_versions=self.tls_versions,
        )
        error = getattr(response, "error", None)  # Locust's stand-in for a failed send
        if self.error is None and error is not None:
            self.failed(error)  # failed before reaching us (e.g. an invalid header)
        if self.error is not None:
            outcome.error, outcome.failure_class = self.error, self.failure_class
            outcome.crash = self.crash
            return outcome
        outcome.status = response.status_code or 0
        outcome.length = length  # Locust's count: it leaves a stream=True body unread
        outcome.reported_fingerprint = (response.headers or {}).get(identity_header)
        return outcome


_exchange: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "locust_mtls_exchange", default=None
)


@contextmanager
def presenting(identity: Identity | None) -> Iterator[Exchange]:
    """Every request sent through a transport inside the block presents `identity`."""
    exchange = Exchange(identity)
    token = _exchange.set(exchange)
    try:
        yield exchange
    finally:
        _exchange.reset(token)


def current_exchange() -> Exchange:
    exchange = _exchange.get()
    if exchange is None:
        # A request that bypassed the session's request() (e.g. session.send()): it has
        # no identity chosen, so it goes without a certificate rather than a wrong one.
        exchange = Exchange(None)
    return exchange


class StrategyTransport(BaseAdapter):
    """Sends in the calling greenlet through this user's own strategy client."""

    def __init__(self, client: Client):
        super().__init__()
        self.client = client

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        exchange = current_exchange()
        identity = exchange.identity
        adapter = self.client.session_for(identity).get_adapter(request.url)
        with recording_handshakes() as handshakes:
            try:
                return adapter.send(
                    request,
                    stream=stream,
                    timeout=timeout,
                    verify=True,  # always, against --mtls-ca: the strategy's context decides
                    cert=self.client.strategy.cert_argument(identity),
                    proxies=proxies,
                )
            except Exception as error:
                exchange.failed(error)
                raise
            finally:
                exchange.handshakes_ms += handshakes.full_ms
                exchange.resumed_ms += handshakes.resumed_ms
                exchange.tls_versions += handshakes.versions

    def close(self) -> None:
        self.client.close()


class EngineTransport(HTTPAdapter):
    """Sends on this user's OS thread in the native-thread engine child (`runner` is a
    runners.NativeThreadRunner); HTTPAdapter only for `build_response`."""

    def __init__(self, runner):
        super().__init__()
        self.runner = runner

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        exchange = current_exchange()
        outcome = self.runner.send(
            wire.encode_request(request, timeout, proxies), exchange.identity
        )
        exchange.handshakes_ms += outcome.handshakes_ms
        exchange.resumed_ms += outcome.resumed_ms
        exchange.tls_versions += outcome.tls_versions
        if outcome.response is None:
            exchange.error, exchange.failure_class = outcome.error, outcome.failure_class
            exchange.crash = outcome.crash
            raise requests.ConnectionError(outcome.error, request=request)
        return wire.build_response(self, request, outcome.response)

    def close(self) -> None:
        super().close()
        self.runner.close()
