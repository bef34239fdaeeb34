"""The one place that builds `ssl.SSLContext` objects (client and server).

Every context is built completely by one function with explicit inputs and never changed
after it is returned, except the mutable client contexts that the deliberately unsafe
strategies ask for. Strategies decide *which* context a connection uses and *when*;
only this module decides *how* one is built. Client contexts start from urllib3's
`create_urllib3_context()` so ciphers and options match what requests would use.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Sequence

from urllib3.util.ssl_ import create_urllib3_context

from locust_mtls.errors import ConfigError
from locust_mtls.settings import TLS_VERSIONS, TlsSettings
from locust_mtls.tls.presented_chain import completed_chain_file

# urllib3 sets these on *every* new connection, even on a context it was given
# (urllib3/util/ssl_.py ssl_wrap_socket and connection.py); we preset them so those
# calls become no-ops on a frozen context.
URLLIB3_ALPN = ("http/1.1",)
# httpcore sets ["http/1.1", "h2"] on every new connection of an `httpx.Client(http2=True)`
# (httpcore/_sync/connection.py, `_connect`): a frozen context for it is built so.
HTTP2_ALPN = ("http/1.1", "h2")


class FrozenSSLContext(ssl.SSLContext):
    """An SSLContext that refuses changes once `freeze()` has been called.

    OpenSSL contexts are safe to share between threads only while nobody changes them
    ("An SSL_CTX object should not be changed after it is used to create any SSL
    objects", SSL_CTX_new(3)). urllib3 re-applies ALPN and verify_mode on every new
    connection (urllib3#3036; the ALPN write is a use-after-free race, CPython
    gh-141012): setting a value equal to the current one is therefore allowed and does
    nothing, any real change raises RuntimeError.
    """

    _frozen = False
    _alpn: list[str] | None = None

    def freeze(self) -> FrozenSSLContext:
        self._frozen = True
        return self

    def _refuse(self, what: str) -> None:
        if self._frozen:
            raise RuntimeError(f"{what} on a frozen SSLContext: build a new context in tls.py")

    def set_alpn_protocols(self, alpn_protocols):
        if self._frozen and list(alpn_protocols) == self._alpn:
            return
        self._refuse("set_alpn_protocols")
        super().set_alpn_protocols(alpn_protocols)
        self._alpn = list(alpn_protocols)

    @property
    def verify_mode(self):
        return super().verify_mode

    @verify_mode.setter
    def verify_mode(self, value):
        if self._frozen and value == super().verify_mode:
            return
        self._refuse("verify_mode change")
        ssl.SSLContext.verify_mode.__set__(self, value)

    @property
    def check_hostname(self):
        return ssl.SSLContext.check_hostname.__get__(self)

    @check_hostname.setter
    def check_hostname(self, value):
        if self._frozen and value == self.check_hostname:
            return
        self._refuse("check_hostname change")
        ssl.SSLContext.check_hostname.__set__(self, value)

    def load_cert_chain(self, *args, **kwargs):
        self._refuse("load_cert_chain")
        super().load_cert_chain(*args, **kwargs)

    def load_verify_locations(self, *args, **kwargs):
        self._refuse("load_verify_locations")
        super().load_verify_locations(*args, **kwargs)

    def load_default_certs(self, *args, **kwargs):
        self._refuse("load_default_certs")
        super().load_default_certs(*args, **kwargs)

    def set_ciphers(self, *args, **kwargs):
        self._refuse("set_ciphers")
        super().set_ciphers(*args, **kwargs)


class ResumingContext(FrozenSSLContext):
    """A frozen context that keeps the TLS sessions of its connections, per server, and
    offers the latest one on each new connection (`--mtls-resumption on`): on TLS 1.3 the
    server's session ticket, on TLS 1.2 its ticket (RFC 5077) or, without one, the
    session ID for its session cache.

    A resumed session carries the client certificate of the connection that created it,
    so sessions must never cross identities: they live in the context of one identity,
    and CPython refuses a session made by another SSLContext ("Session refers to a
    different SSLContext"). Only frozen contexts resume; a context whose chain changes
    per request (the unsafe strategies) would hand one identity's session to the next.
    The session store is plain Python state next to the context; OpenSSL's SSL_CTX is
    never touched after freeze().
    """

    def freeze(self) -> ResumingContext:
        self._sessions: dict[tuple, ssl.SSLSession] = {}
        return super().freeze()

    def wrap_socket(self, sock, *args, server_hostname=None, session=None, **kwargs):
        if session is None:
            session = self._sessions.get(_server_key(sock, server_hostname))
        return super().wrap_socket(
            sock, *args, server_hostname=server_hostname, session=session, **kwargs
        )

    def keep_session(self, tls_socket) -> None:
        """Remember `tls_socket`'s session for its server, if the server gave a resumable one.

        TLS 1.3 sessions become resumable only once the server's tickets have been read
        (after the first response), TLS 1.2 ones right after the handshake.
        """
        try:
            session = tls_socket.session
            resumable = session is not None and (
                session.has_ticket or (tls_socket.version() == "TLSv1.2" and session.id)
            )
            if resumable:
                self._sessions[_server_key(tls_socket, tls_socket.server_hostname)] = session
        except (OSError, ValueError, AttributeError):
            pass  # a socket already closed keeps nothing


def _server_key(sock, server_hostname) -> tuple:
    try:
        address = sock.getpeername()[:2]
    except OSError:
        address = None
    return server_hostname, address


TLS_VERSION_RANGES = {
    "auto": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.MAXIMUM_SUPPORTED),
    "1.2": (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2),
    "1.3": (ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_3),
}


def apply_tls_settings(context: ssl.SSLContext, tls: TlsSettings) -> None:
    """Set `tls`'s version range and ciphers on a context being built (ConfigError if
    OpenSSL rejects them)."""
    if tls.version not in TLS_VERSION_RANGES:
        raise ConfigError(
            f"--mtls-tls-version must be one of {', '.join(TLS_VERSIONS)}, not {tls.version!r}"
        )
    context.minimum_version, context.maximum_version = TLS_VERSION_RANGES[tls.version]
    if not tls.ciphers:
        return
    if tls.version == "1.3":
        raise ConfigError(
            "--mtls-ciphers only chooses TLS 1.2 ciphers; with --mtls-tls-version 1.3 "
            "leave it empty (TLS 1.3 suites are OpenSSL's defaults)"
        )
    try:
        context.set_ciphers(tls.ciphers)
    except ssl.SSLError:
        raise ConfigError(
            f"--mtls-ciphers {tls.ciphers!r}: OpenSSL accepts no cipher in it; "
            "give an OpenSSL cipher string like ECDHE-RSA-AES128-GCM-SHA256 "
            "(see 'openssl ciphers -v')"
        ) from None


def check_tls_settings(tls: TlsSettings) -> None:
    """ConfigError (one line) if OpenSSL would refuse `tls`; builds and drops one context."""
    apply_tls_settings(create_urllib3_context(), tls)


# What create_urllib3_context sets (urllib3/util/ssl_.py), in an order its setters accept:
# copied onto a context born of our own class, as urllib3 only builds a plain SSLContext.
URLLIB3_SETTINGS = (
    "minimum_version",
    "maximum_version",
    "options",
    "verify_flags",
    "post_handshake_auth",
    "verify_mode",
    "check_hostname",
    "hostname_checks_common_name",
    "keylog_filename",
)


def urllib3_context(context_class: type[ssl.SSLContext] | None = None) -> ssl.SSLContext:
    """urllib3's default client context (CERT_REQUIRED), of `context_class` when given."""
    made = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if context_class is None:
        return made
    context = context_class(ssl.PROTOCOL_TLS_CLIENT)
    for name in URLLIB3_SETTINGS:
        value = getattr(made, name)
        if value is not None:  # keylog_filename: None unless SSLKEYLOGFILE is set
            setattr(context, name, value)
    return context


def client_context(
    ca_file: str,
    identity=None,
    *,
    frozen: bool = True,
    tls: TlsSettings | None = None,
    alpn: Sequence[str] = URLLIB3_ALPN,
    mutable_class: type[ssl.SSLContext] | None = None,
) -> ssl.SSLContext:
    """A client context trusting `ca_file`, presenting `identity` (or no certificate).

    frozen=True (the default) gives an immutable context safe to share between
    threads; frozen=False gives a plain, mutable one, which only the deliberately
    unsafe strategies ask for, so that urllib3 can load a chain into it per request.
    `tls` sets versions and ciphers; its resumption applies to frozen contexts only.
    `alpn` is the list the client library will set on it at every connection (HTTP2_ALPN
    for httpx with http2=True), so that its setting is a no-op on a frozen context.
    `mutable_class`: the class of a context that is not frozen (a strategy's own subclass).
    """
    tls = tls or TlsSettings()
    if frozen:
        context = urllib3_context(ResumingContext if tls.resumption else FrozenSSLContext)
    else:
        context = urllib3_context(mutable_class)
    context.check_hostname = True
    apply_tls_settings(context, tls)
    if frozen and tls.resumption:
        # urllib3 sets OP_NO_TICKET ("TLSv1.2 only. Unless set explicitly, do not request
        # tickets", urllib3/util/ssl_.py), so on TLS 1.2 a server that keeps no session
        # cache of its own (nginx's default, ssl_session_cache none) resumed 0 of 2,644
        # connections. A ticket is kept like a session: by this identity's context only.
        context.options &= ~ssl.OP_NO_TICKET
    load_trust(context, ca_file)
    if identity is not None:
        load_identity_chain(context, identity, ca_file)
    context.set_alpn_protocols(list(alpn))
    return context.freeze() if frozen else context


def load_trust(context: ssl.SSLContext, ca_file: str) -> None:
    """Trust the certificates of `ca_file`; ConfigError naming it when it holds none.

    OpenSSL loads a file of CRLs alone without complaint, and every handshake then fails
    to verify: such a file is refused here, like one OpenSSL cannot read.
    """
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        reason = _reason(error)
    else:
        if context.cert_store_stats()["x509"]:
            return
        reason = "only CRLs, no certificate"
    raise ConfigError(
        f"{ca_file}: cannot load CA certificates ({reason}); give a PEM file of CA certificates"
    )


def load_identity_chain(context: ssl.SSLContext, identity, ca_file: str | None = None) -> None:
    """Load `identity`'s certificate and key into `context`, with an error a user can act on.

    With `ca_file` (the context's trust), a lone leaf is loaded with its issuers from it,
    so OpenSSL does not rebuild the chain it presents at every handshake
    (tls/presented_chain.py).
    """
    # A protected key stays encrypted on its way into the context (identity.key_password).
    password = identity.key_password() if hasattr(identity, "key_password") else None
    try:
        with completed_chain_file(identity.cert_file, ca_file) as cert_file:
            context.load_cert_chain(cert_file, identity.key_file, password=password)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"{identity.cert_file} / {identity.key_file}: cannot load the client "
            f"identity {identity.name} ({_reason(error)}); check both files belong "
            "together and the key is not encrypted"
        ) from None


def _reason(error: Exception) -> str:
    return getattr(error, "reason", None) or getattr(error, "strerror", None) or str(error)


def server_context(cert_file: str, key_file: str, ca_file: str) -> ssl.SSLContext:
    """Server context for the echo server: TLS 1.2-1.3, client certificate optional.

    A client that sends no certificate is served (and reported as `none`); a client whose
    certificate does not chain to `ca_file` fails the handshake. Raises ConfigError naming
    the file when a file is missing, unreadable or not a usable certificate/key.
    """
    for path, what in ((cert_file, "certificate"), (key_file, "key"), (ca_file, "CA")):
        if not os.path.isfile(path):
            raise ConfigError(f"server {what} file {path} not found; run 'locust-mtls certs'")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"server {what} file {path} is not readable; fix its permissions")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    try:
        # With its issuers from ca_file, as for clients: OpenSSL then sends the chain as
        # loaded instead of rebuilding (and signature-checking) it at every handshake.
        with completed_chain_file(cert_file, ca_file) as chain_file:
            context.load_cert_chain(chain_file, key_file)
    except ssl.SSLError as error:
        raise ConfigError(
            f"cannot use {cert_file} with key {key_file} ({error.reason or error}); "
            "regenerate them with 'locust-mtls certs --force'"
        ) from None
    load_trust(context, ca_file)
    # OPTIONAL, not REQUIRED: the echo server must be able to report "none" so that a
    # client strategy that silently drops its certificate is caught, not just refused.
    context.verify_mode = ssl.CERT_OPTIONAL
    # The echo server reads the client certificate once per connection; a TLS 1.2
    # renegotiation could swap it underneath, so refuse renegotiation.
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context
