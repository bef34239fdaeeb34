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

from urllib3.util.ssl_ import create_urllib3_context

from locust_mtls.errors import ConfigError
from locust_mtls.tls.presented_chain import completed_chain_file

# urllib3 sets these on *every* new connection, even on a context it was given
# (urllib3/util/ssl_.py ssl_wrap_socket and connection.py); we preset them so those
# calls become no-ops on a frozen context.
URLLIB3_ALPN = ["http/1.1"]


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


def client_context(ca_file: str, identity=None, *, frozen: bool = True) -> ssl.SSLContext:
    """A client context trusting `ca_file`, presenting `identity` (or no certificate).

    frozen=True (the default) gives an immutable context safe to share between
    threads; frozen=False gives a plain, mutable one, which only the deliberately
    unsafe strategies ask for, so that urllib3 can load a chain into it per request.
    """
    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
    if frozen:
        context.__class__ = FrozenSSLContext  # same C object, checked setters
    context.check_hostname = True
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cafile=ca_file)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(
            f"{ca_file}: cannot load CA certificates ({_reason(error)}); "
            "give a PEM file of CA certificates"
        ) from None
    if identity is not None:
        load_identity_chain(context, identity, ca_file)
    context.set_alpn_protocols(URLLIB3_ALPN)
    return context.freeze() if frozen else context


def load_identity_chain(context: ssl.SSLContext, identity, ca_file: str | None = None) -> None:
    """Load `identity`'s certificate and key into `context`, with an error a user can act on.

    With `ca_file` (the context's trust), a lone leaf is loaded with its issuers from it,
    so OpenSSL does not rebuild the chain it presents at every handshake
    (tls/presented_chain.py).
    """
    try:
        with completed_chain_file(identity.cert_file, ca_file) as cert_file:
            context.load_cert_chain(cert_file, identity.key_file)
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
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as error:
        raise ConfigError(
            f"cannot use {cert_file} with key {key_file} ({error.reason or error}); "
            "regenerate them with 'locust-mtls certs --force'"
        ) from None
    try:
        context.load_verify_locations(cafile=ca_file)
    except ssl.SSLError as error:
        raise ConfigError(
            f"CA file {ca_file} holds no usable PEM certificate ({error.reason or error})"
        ) from None
    # OPTIONAL, not REQUIRED: the echo server must be able to report "none" so that a
    # client strategy that silently drops its certificate is caught, not just refused.
    context.verify_mode = ssl.CERT_OPTIONAL
    # The echo server reads the client certificate once per connection; a TLS 1.2
    # renegotiation could swap it underneath, so refuse renegotiation.
    context.options |= ssl.OP_NO_RENEGOTIATION
    return context
