"""httpx strategies: a `httpx.Client` per user and identity, built three ways, and the
two that keep a context over HTTP/2 (`http2=True`, h2 negotiated by ALPN).

The library lines each unsafe one runs into are its `cause` (httpx 0.28.1, httpcore
1.0.9); httpx is imported when a strategy is built, never by the registry.
"""

from __future__ import annotations

import importlib.util

from locust_mtls.errors import ConfigError
from locust_mtls.settings import SAFE, UNSAFE, VERSION_DEPENDENT
from locust_mtls.tls.connections import HookLog
from locust_mtls.tls.contexts import HTTP2_ALPN, URLLIB3_ALPN

from .base import Answer, Client, PerIdentityContexts, Strategy, Trust
from .libraries import LIBRARIES


class HttpxClient(Client):
    """Sends with the user's `httpx.Client` of the identity; handshakes and the request
    written come from httpcore's `trace` extension."""

    def request(self, method, url, identity=None, *, headers=None, timeout=(5.0, 30.0)):
        trace = httpcore_trace(HookLog())
        session = self.session_for(identity)
        response = session.request(
            method, url, headers=headers, timeout=timeout, extensions={"trace": trace}
        )
        if self.strategy.http2 and headers and headers.get("Connection") == "close":
            # HTTP/2 has no Connection: close (RFC 9113 8.2.2; nginx keeps the connection):
            # keep-alive off closes the client's connections itself, so the next request
            # makes a new one, as on HTTP/1.1. httpx has no public call for it.
            for connection in session._transport._pool.connections:
                connection.close()
        return response

    @staticmethod
    def answer_of(response) -> Answer:
        return Answer(
            response.status_code, response.headers, response.content, response.charset_encoding
        )


def httpcore_trace(hooks: HookLog):
    """httpcore's `trace` extension (httpcore/_trace.py: "connection.start_tls.started",
    ".complete" with the TLS stream, "http11.send_request_body.complete") into `hooks`."""

    def trace(event: str, info: dict) -> None:
        if event == "connection.start_tls.started":
            hooks.handshake_started()
        elif event == "connection.start_tls.complete":
            hooks.handshake_done(info["return_value"].get_extra_info("ssl_object"))
        elif event.endswith(".send_request_body.complete"):
            hooks.written()

    return trace


def httpcore_alpn(http2: bool) -> tuple[str, ...]:
    """The ALPN list httpcore sets on an httpx.Client's context at every new connection."""
    return HTTP2_ALPN if http2 else URLLIB3_ALPN


def missing_h2(what: str) -> ConfigError | None:
    """httpx's http2=True needs the h2 package: one line saying how to install it."""
    if importlib.util.find_spec("h2") is None:
        return ConfigError(
            f"{what} sends HTTP/2 with httpx, which needs the h2 package; "
            f"{LIBRARIES['httpx'].install}"
        )
    return None


class HttpxStrategy(Strategy):
    library = "httpx"
    client_class = HttpxClient
    http2 = False  # httpx.Client(http2=True): h2 offered by ALPN, taken where the server has it

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.httpx = LIBRARIES[self.library].load(self.name)
        error = missing_h2(f"strategy {self.name}") if self.http2 else None
        if error:
            raise error

    def httpx_client(self, **verify_and_cert):
        # trust_env off unless asked: SSL_CERT_FILE and proxy variables must not change
        # the path measured (as for requests, tls/requests_path.py).
        return self.httpx.Client(
            trust_env=self.trust.trust_env, http2=self.http2, **verify_and_cert
        )


class HttpxVerifyPath(HttpxStrategy):
    """`httpx.Client(verify="ca.pem", cert=(pem, key))`, as httpx < 0.28 documented it: on
    0.28 and later no certificate is ever sent (`cause`).

    Shares: nothing. Locks: nothing. Cost: a context per client, the CA read each time.
    """

    name = "httpx-verify-path"
    safety = VERSION_DEPENDENT
    note = (
        'httpx.Client(verify="ca.pem", cert=(pem, key)): httpx 0.28 drops cert= for a '
        "verify path (_config.py create_ssl_context returns first): no certificate is sent"
    )
    context_path = "httpx's own SSLContext per client, from the CA path; cert= dropped on 0.28"
    takes_tls_settings = False  # httpx builds the context
    pattern = 'client = httpx.Client(verify="ca.pem", cert=("client.pem", "client.key"))'
    cause = (
        "httpx 0.28.1 `httpx/_config.py` `create_ssl_context`: for a `verify=` string it "
        "returns `ssl.create_default_context(cafile=verify)` (line 54) before `if cert:` "
        "(line 58), so the certificate is dropped without a word (0.29.0 the same; 0.27.2's "
        "`SSLConfig.load_ssl_context_verify` still loaded it). encode/httpx#3441 reported "
        "it on 0.28.0; #3442 fixed only the unverified case."
    )
    instead = "httpx-client-per-identity"

    def new_session(self, identity):
        cert = identity.requests_cert() if identity else None
        return self.httpx_client(verify=self.trust.ca_file, cert=cert)


class HttpxSharedCaContext(HttpxStrategy):
    """One CA context built once and reused: `httpx.Client(verify=ctx, cert=(pem, key))`
    per identity (and `verify=ctx` alone without one); httpx loads every client's chain
    into that one context (`cause`).

    Shares: one mutable context. Locks: nothing. Cost: the CA read once; a chain load per
    client.
    """

    name = "httpx-shared-ca-context"
    safety = UNSAFE
    note = (
        "one CA SSLContext passed as verify= to a Client per identity with cert=: httpx "
        "loads every client's chain into that one context (_config.py create_ssl_context)"
    )
    context_path = "one mutable SSLContext shared by every httpx.Client; cert= loaded into it"
    pattern = (
        'ca = ssl.create_default_context(cafile="ca.pem")  # built once, reused\n'
        'client = httpx.Client(verify=ca, cert=("client.pem", "client.key"))  # per identity'
    )
    cause = (
        "httpx 0.28.1 `httpx/_config.py` `create_ssl_context` keeps the caller's context "
        "(line 56, `ctx = verify`) and loads the client's chain into it (line 67, "
        "`ctx.load_cert_chain(*cert)`), once per client: every client's new connections "
        "present the chain loaded last, and a load racing another thread's handshake can "
        "crash OpenSSL. httpcore 1.0.9 then sets ALPN on that context at every new "
        "connection (`httpcore/_sync/connection.py` line 147). 0.27.2 too "
        "(`SSLConfig._load_client_certs` on a `verify=` context)."
    )
    instead = "httpx-client-per-identity"

    def __init__(self, trust: Trust):
        super().__init__(trust)
        self.context = trust.context(frozen=False)

    def new_session(self, identity):
        cert = identity.requests_cert() if identity else None
        return self.httpx_client(verify=self.context, cert=cert)


class HttpxClientPerIdentity(PerIdentityContexts, HttpxStrategy):
    """`httpx.Client(verify=ctx)` with `ctx` one frozen context per identity (and one
    without a certificate), built by tls.client_context and shared by every user.

    httpx keeps the context as given (no `cert=`), and httpcore's per-connection
    `set_alpn_protocols(["http/1.1"])` is a no-op on a frozen context already set so.
    Shares: the frozen contexts. Locks: a short lock per cache lookup. Cost: one chain
    load per identity per process.
    """

    name = "httpx-client-per-identity"
    safety = SAFE
    note = "httpx.Client(verify=ctx) with one frozen context per identity, never mutated"
    context_path = "one frozen SSLContext per identity, passed as verify="
    pattern = (
        'context = ssl.create_default_context(cafile="ca.pem")  # one per identity\n'
        'context.load_cert_chain("client.pem", "client.key")  # once, then never changed\n'
        "client = httpx.Client(verify=context)"
    )

    def new_session(self, identity):
        return self.httpx_client(verify=self.context_for(identity, httpcore_alpn(self.http2)))


class HttpxH2SharedCaContext(HttpxSharedCaContext):
    """httpx-shared-ca-context with `http2=True`: the same loads into the one context, the
    requests multiplexed on one HTTP/2 connection per client and host.

    Shares: one mutable context. Locks: nothing. Cost: as httpx-shared-ca-context, with
    fewer handshakes where connections stay open.
    """

    name = "httpx-h2-shared-ca-context"
    http2 = True
    note = "httpx-shared-ca-context over HTTP/2 (http2=True): the same shared context"
    pattern = HttpxSharedCaContext.pattern.replace("cert=(", "http2=True, cert=(")
    cause = (
        f"{HttpxSharedCaContext.cause} HTTP/2 changes none of it: the chain is loaded "
        "before the handshake, whichever protocol ALPN then picks."
    )
    instead = "httpx-h2-client-per-identity"


class HttpxH2ClientPerIdentity(HttpxClientPerIdentity):
    """httpx-client-per-identity with `http2=True`: each frozen context is built with the
    ALPN list httpcore sets for HTTP/2, so that its per-connection setting changes nothing.

    Shares: the frozen contexts. Locks: a short lock per cache lookup. Cost: one chain load
    per identity per process.
    """

    name = "httpx-h2-client-per-identity"
    http2 = True
    note = "httpx-client-per-identity over HTTP/2: frozen contexts offering h2 and http/1.1"
    pattern = HttpxClientPerIdentity.pattern.replace(
        "httpx.Client(verify=context)", "httpx.Client(verify=context, http2=True)"
    ).replace(
        "# once, then never changed",
        '# once, then never changed\ncontext.set_alpn_protocols(["http/1.1", "h2"])  # httpcore\'s',
    )
