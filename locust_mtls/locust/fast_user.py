"""MtlsFastHttpUser: Locust's FastHttpUser (geventhttpclient) with identity-cache's contexts.

Several times the requests/s of a plain HttpUser per core with keep-alive
(docs/benchmarks.md), for the same safety. `self.client` is Locust's FastHttpSession
with its whole API (`json=`, `catch_response=True`, `self.rest()`, ...), plus
`identity=` per call: each identity (and "no certificate") gets its own
geventhttpclient agent and connections on the frozen context identity-cache built for
it, so nothing ever loads a chain into a shared context. Every response passes the same
checked request event as the other user classes (row `fasthttp/identity-cache`).
Greenlets only, and no handshake times: geventhttpclient does not expose them.
"""

from __future__ import annotations

import functools
import ipaddress
from http.cookiejar import CookieJar

from locust import FastHttpUser
from locust.contrib.fasthttp import FastHttpSession, LocustUserAgent

from locust_mtls.config.user_settings import MtlsAttributes
from locust_mtls.engine import checkpoint
from locust_mtls.engine.checkpoint import sending
from locust_mtls.errors import ConfigError
from locust_mtls.locust.checked_event import checked_request_event, remember
from locust_mtls.locust.user_checks import SCHEDULED, SessionIdentity, UserChecks


def watch_client_pool(client_pool) -> None:
    """Each connection pool geventhttpclient makes for this agent, seen once when made:

    - it resolves the host at every new connection, through gevent's resolver threads (a
      thread hop per handshake, ~3% of a new connection's CPU). An IP address resolves to
      itself: its pool resolves once. A host name is still resolved at every connection,
      so DNS changes during a run are followed as before.
    - a socket taken from it carries the request being sent: a request the test stops
      after that point has reached the server (counted in flight, checkpoint.sending).
    """
    get_client = client_pool.get_client

    def get_watched_client(url):
        client = get_client(url)
        pool = getattr(client, "_connection_pool", None)
        if pool is not None and "get_socket" not in vars(pool):
            resolve = getattr(pool, "_resolve", None)
            if resolve is not None and is_ip_literal(client.host):
                addresses = resolve()
                pool._resolve = lambda: addresses
            pool.get_socket = socket_getter(pool.get_socket)
        return client

    client_pool.get_client = get_watched_client


def socket_getter(get_socket):
    """`get_socket` that notes, on the request being sent, that it goes out now (the
    request is written right after, without waiting, unless its body fills the buffer)."""

    def get_socket_for_request():
        sock = get_socket()
        sent = checkpoint.current()
        if sent is not None:
            sent.outcome.connections.requests_written += 1
        return sock

    return get_socket_for_request


@functools.lru_cache(maxsize=1024)  # asked at every request for a host-name pool
def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class SkippingCookieJar(CookieJar):
    """Locust's cookie jar minus work that changes nothing: CookieJar takes its lock,
    stamps the time and walks its policy around every request, even when the jar is
    empty and the response sets no cookie (most load-test traffic): ~6% of a kept-alive
    request's CPU in bench.profile. Cookies set, sent and expired exactly as before."""

    def add_cookie_header(self, request) -> None:
        if self._cookies:  # an empty jar adds no header and has nothing to expire
            super().add_cookie_header(request)

    def extract_cookies(self, response, request) -> None:
        headers = response.info()  # what CookieJar.make_cookies reads
        if headers.get_all("Set-Cookie") or headers.get_all("Set-Cookie2"):
            super().extract_cookies(response, request)


class MtlsFastHttpSession(SessionIdentity, FastHttpSession):
    """FastHttpSession with one agent (and connection pool) per identity.

    Built like Locust's FastHttpSession (`base_url`, `request_event`, `user`, agent
    options); the checks are the user's own when it is an mTLS user."""

    def __init__(self, base_url, request_event=None, user=None, **agent_options):
        checks = getattr(user, "mtls_checks", None) or UserChecks(user, "fasthttp")
        self.mtls_checks = checks
        self.contexts = checks.run.strategy(checks.settings.strategy, checks.settings.tls)
        agent_options.pop("insecure", None)  # never: the server's certificate is verified
        agent_options.pop("ssl_context_factory", None)  # ours are per identity
        if agent_options.pop("client_pool", None) is not None:
            raise ConfigError(
                "client_pool: MtlsFastHttpUser keeps one pool per identity (a shared pool "
                "would mix certificates); remove the client_pool attribute"
            )
        self._agent_options = agent_options
        self._agents: dict = {}
        super().__init__(
            base_url, checked_request_event(user.environment), user, insecure=False, **agent_options
        )
        self.cookiejar = SkippingCookieJar()  # shared by every identity's agent

    @property
    def client(self) -> LocustUserAgent:
        """The agent of the identity being presented (FastHttpSession sends through it)."""
        sent = checkpoint.current()
        identity = sent.identity if sent is not None else self.mtls_checks.identity
        # Keyed by fingerprint (hashing the Identity dataclass costs more at every request);
        # a rotated identity has a new one, so it gets a new agent and context.
        key = identity.fingerprint if identity is not None else None
        agent = self._agents.get(key)
        if agent is None:
            context = self.contexts.context_for(identity)
            agent = self._agents[key] = LocustUserAgent(
                cookiejar=self.cookiejar,  # one cookie jar for every identity, like HttpSession
                ssl_context_factory=lambda **_options: context,
                insecure=False,
                **self._agent_options,
            )
            watch_client_pool(agent.clientpool)
        return agent

    @client.setter
    def client(self, agent) -> None:
        pass  # FastHttpSession.__init__ builds one agent; ours are built per identity

    def request(self, method, url, name=None, catch_response=False, *, identity=SCHEDULED, **kw):
        """FastHttpSession.request, plus `identity=` (a name, or None for no certificate)."""
        checks = self.mtls_checks
        chosen = checks.choose(identity)
        if not checks.settings.keepalive:
            kw["headers"] = {"Connection": "close", **(kw.get("headers") or {})}
        given = kw.get("context")
        kw["context"] = {**checks.context(chosen), **given} if given else checks.context(chosen)
        sent = checks.sent(chosen)
        with sending(sent):
            response = super().request(method, url, name=name, catch_response=catch_response, **kw)
        if catch_response:
            remember(response, sent)  # its report comes when the task's block ends
        return response

    def close(self) -> None:
        for agent in self._agents.values():
            agent.clientpool.close()
        self._agents.clear()


class MtlsFastHttpUser(FastHttpUser, MtlsAttributes):
    """A FastHttpUser that presents client certificates through identity-cache.

    Class attributes as MtlsHttpUser's (see MtlsAttributes), except: the strategy is
    always identity-cache (geventhttpclient takes a whole SSLContext), it runs on
    greenlets, `concurrency` keeps FastHttpUser's meaning (connections per host), and
    resumption does not apply (geventhttpclient gives no hook to read a session back).
    """

    abstract = True
    insecure = False  # never: the server's certificate is always verified
    mtls_client = "fasthttp"

    def __init__(self, environment):
        super().__init__(environment)
        self.mtls_checks = UserChecks(self, self.mtls_client)
        timeout = self.mtls_checks.settings.timeout
        self.client: MtlsFastHttpSession = MtlsFastHttpSession(
            self.host,
            user=self,
            network_timeout=self.network_timeout
            if self.network_timeout != FastHttpUser.network_timeout
            else timeout[1],
            connection_timeout=self.connection_timeout
            if self.connection_timeout != FastHttpUser.connection_timeout
            else timeout[0],
            max_redirects=self.max_redirects,
            max_retries=self.max_retries,
            concurrency=self.concurrency,  # FastHttpUser's: connections per agent
            headers=self.default_headers,
            proxy_host=self.proxy_host,
            proxy_port=self.proxy_port,
            client_pool=self.client_pool,
        )

    def on_stop(self) -> None:
        self.client.close()
