"""aiohttp: one `ClientSession` per user (its requests are tasks on the engine child's
event loop), the context per request (`ssl=`). Lines cited are aiohttp 3.14.5.
"""

from __future__ import annotations

from locust_mtls.settings import SAFE
from locust_mtls.tls.connections import HookLog

from .base import Answer, Client, PerIdentityContexts, Strategy, Trust
from .libraries import LIBRARIES


class AiohttpClient(Client):
    """Sends with the user's ClientSession (made on the running loop at first use); its
    trace config notes the new connection and the request written."""

    async def request(self, method, url, identity=None, *, headers=None, timeout=(5.0, 30.0)):
        aiohttp = self.strategy.aiohttp
        hooks = HookLog()
        async with self.session_for(identity).request(
            method,
            url,
            headers=headers,
            ssl=self.strategy.context_for(identity),
            timeout=aiohttp.ClientTimeout(sock_connect=timeout[0], sock_read=timeout[1]),
            trace_request_ctx=hooks,
        ) as response:
            if hooks.handshaking():  # this request opened the connection
                transport = response.connection and response.connection.transport
                hooks.handshake_done(transport and transport.get_extra_info("ssl_object"))
            body = await response.read()
        return response, body

    @staticmethod
    def answer_of(response_and_body) -> Answer:
        # aiohttp's body must be read inside the response's context: request() read it.
        response, body = response_and_body
        return Answer(response.status, response.headers, body, response.charset)

    async def aclose(self) -> None:
        for session in self.sessions().values():
            await session.close()
        self.sessions().clear()

    def close(self) -> None:
        self.sessions().clear()  # closed with the engine child's loop (or aclose, in tests)


class AiohttpPerRequestContext(PerIdentityContexts, Strategy):
    """`session.get(url, ssl=ctx)` with `ctx` one frozen context per identity (and one
    without a certificate), built by tls.client_context and shared by every task.

    aiohttp uses the given context as is (`connector.py` `_get_ssl_context`: "if
    ssl_context is specified in req, use it") and keys its kept-alive connections by it
    (`client_reqrep.py` `ConnectionKey.ssl`), so a connection of one identity is never
    reused for another. Shares: the frozen contexts. Locks: a short lock per cache
    lookup. Cost: one chain load per identity per process.
    """

    name = "aiohttp-per-request-context"
    library = "aiohttp"
    client_class = AiohttpClient
    safety = SAFE
    note = "a ClientSession per user, ssl= one frozen context per identity on each request"
    context_path = "one frozen SSLContext per identity, passed per request as ssl="
    pattern = (
        "contexts = {}  # one ssl.SSLContext per identity, built (and its chain loaded) once\n"
        "async with session.get(url, ssl=contexts[identity]) as response:\n"
        "    body = await response.read()"
    )

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.aiohttp = LIBRARIES[self.library].load(self.name)
        self.trace_config = trace_config(self.aiohttp)

    def session_key(self, identity):
        return None  # one ClientSession per user; the context goes with each request

    def new_session(self, identity):
        return self.aiohttp.ClientSession(trace_configs=[self.trace_config])


def trace_config(aiohttp):
    """aiohttp's tracing signals into each request's HookLog (its trace_request_ctx): a
    new connection (TCP connect and TLS handshake: aiohttp times them together; TCP on
    loopback is a fraction of it) and the request's headers sent."""

    async def connection_started(session, context, params):
        context.trace_request_ctx.handshake_started()

    async def connection_made(session, context, params):
        context.trace_request_ctx.handshake_ended()

    async def headers_sent(session, context, params):
        context.trace_request_ctx.written()

    config = aiohttp.TraceConfig()
    config.on_connection_create_start.append(connection_started)
    config.on_connection_create_end.append(connection_made)
    config.on_request_headers_sent.append(headers_sent)
    return config
