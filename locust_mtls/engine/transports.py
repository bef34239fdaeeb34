"""requests transport adapters that send through a client strategy, for full-API sessions.

Mounted on `https://` of a `requests.Session` (Locust's HttpSession in MtlsHttpUser),
they replace the session's own transport, so nothing ever reaches requests' or Locust's
default SSLContext: `StrategyTransport` sends in the calling greenlet through the
user's strategy client, `EngineTransport` on the user's native thread in the engine
child. Which identity a request presents, and what its connections did, travel in the
`Sent` of the request being sent (checkpoint.sending), redirects included.
"""

from __future__ import annotations

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

from locust_mtls.engine import checkpoint, wire
from locust_mtls.strategies import Client
from locust_mtls.tls.identity import Identity


def presented() -> Identity | None:
    """The identity of the request being sent. A request that bypassed the session's
    request() (session.send()) has none chosen: it goes without a certificate rather
    than with a wrong one."""
    sent = checkpoint.current()
    return sent.identity if sent is not None else None


class StrategyTransport(BaseAdapter):
    """Sends in the calling greenlet through this user's own strategy client."""

    def __init__(self, client: Client):
        super().__init__()
        self.client = client

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        identity = presented()
        adapter = self.client.session_for(identity).get_adapter(request.url)
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
            sent = checkpoint.current()
            if sent is not None:
                sent.outcome.fail(error)  # the error itself, before requests wraps it
            raise

    def close(self) -> None:
        self.client.close()


class EngineTransport(HTTPAdapter):
    """Sends on this user's OS thread in the native-thread engine child (`runner` is a
    runners.NativeThreadRunner); HTTPAdapter only for `build_response`."""

    def __init__(self, runner):
        super().__init__()
        self.runner = runner

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        sent = checkpoint.current()
        if sent is None:  # bypassed request(): no identity, and nobody counts it
            raise requests.ConnectionError("send() outside request() on native threads")
        answer = self.runner.send(wire.encode_request(request, timeout, proxies), sent)
        sent.outcome.connections.add(answer.connections)
        if answer.response is None:
            outcome = sent.outcome
            outcome.error, outcome.failure_class = answer.error, answer.failure_class
            outcome.crash = answer.crash
            raise requests.ConnectionError(answer.error, request=request)
        return wire.build_response(self, request, answer.response)

    def close(self) -> None:
        super().close()
        self.runner.close()
