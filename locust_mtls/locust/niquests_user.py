"""MtlsNiquestsUser: a Locust user whose `self.client` sends with niquests, one
`niquests.Session` per identity, its adapter on identity-cache's frozen SSLContext for it.

niquests' own per-request form is the one that fails: one Session with `cert=` per
request presents the previous request's certificate, on new connections too (niquests
3.21 `adapters.HTTPAdapter.cert_verify` sets `cert_file` on the host's shared pool when
`cert` is given and never clears it; requests#2863 again). Here no `cert=` reaches
niquests: the chain is inside the context, and each identity has its own Session.

niquests needs urllib3-future, which by default installs itself over `urllib3` (and so
under requests and Locust's HttpUser). Install it beside urllib3 instead:

    URLLIB3_NO_OVERRIDE=1 pip install --no-binary urllib3-future niquests

HTTP/1.1 on greenlets, like MtlsHttpxUser; no handshake times (niquests gives a
connection's facts to every request on it, not once per handshake).
"""

from __future__ import annotations

from locust_mtls.engine import checkpoint
from locust_mtls.errors import ConfigError
from locust_mtls.locust.library_session import LibrarySession, LibraryUser

try:
    import niquests
    from niquests.adapters import HTTPAdapter
except ImportError:  # an optional client: said when a user class needs it
    niquests = None
    HTTPAdapter = object


class ContextAdapter(HTTPAdapter):
    """niquests' adapter with every connection on one given SSLContext, which already
    holds the trust and the identity's chain: nothing is loaded into it per connection.

    urllib3-future's ssl_wrap_socket loads `ca_certs`/`ca_cert_data` and `cert_file` into
    whatever context it is given (util/ssl_.py), and niquests' cert_verify sets them on
    the pool for every request (its CA bundle even for verify=True): both are kept empty.
    HTTP/2 and HTTP/3 are off so the ALPN it sets ("http/1.1") is the one the frozen
    context already has."""

    def __init__(self, context, **kwargs):
        self.mtls_context = context
        super().__init__(disable_http2=True, disable_http3=True, **kwargs)

    def init_poolmanager(self, *args, **pool_kwargs):
        super().init_poolmanager(*args, ssl_context=self.mtls_context, **pool_kwargs)

    def cert_verify(self, conn, url, verify, cert) -> None:
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = conn.ca_cert_dir = conn.ca_cert_data = None
        conn.cert_file = conn.key_file = conn.key_password = None


def request_written(prepared_request, **_kwargs):
    """niquests' pre_send hook (a live connection was just taken for the request, which
    is written right after): a request the test stops from here has reached the server."""
    sent = checkpoint.current()
    if sent is not None:
        sent.outcome.connections.requests_written += 1
    return prepared_request


class MtlsNiquestsSession(LibrarySession):
    """niquests' API with one Session per identity (see the module docstring)."""

    mtls_client = "niquests"
    library = niquests
    transport_errors = (niquests.RequestException,) if niquests else ()

    def new_cookie_jar(self):
        return niquests.cookies.RequestsCookieJar()

    def new_client(self, context, **client_options):
        session = niquests.Session(base_url=self.base_url, **client_options)
        session.trust_env = False  # no REQUESTS_CA_BUNDLE or proxy variables
        session.cookies = self.cookies
        session.mount("https://", ContextAdapter(context))
        session.hooks["pre_send"].append(request_written)
        return session

    def send(self, client, method, url, **kwargs):
        if "cert" in kwargs:
            raise ConfigError(
                "cert=: MtlsNiquestsUser presents the user's identity; pass identity='<name>' "
                "(None for no certificate)"
            )
        kwargs.setdefault("timeout", self.mtls_checks.settings.timeout)
        return client.request(method, url, **kwargs)


class MtlsNiquestsUser(LibraryUser):
    """A Locust user sending with niquests through identity-cache's contexts (see LibraryUser)."""

    abstract = True
    session_class = MtlsNiquestsSession
    mtls_client = MtlsNiquestsSession.mtls_client
