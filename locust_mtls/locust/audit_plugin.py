"""Audit mode, inside Locust: `locust-mtls audit -f THEIR_FILE.py` loads this file after
theirs (`-f audit_first.py,THEIR_FILE.py,audit_plugin.py`), so their users run unchanged.

Every request of an `HttpUser` (Locust's `HttpSession`) and of a `FastHttpUser` goes the
same checked path as our own users' (checked_event.py): judged against the identity the
target reports, counted in one row per user class (`audit:ClassName`) with the
`--mtls-identity-*` options the user gave, failures below HTTP counted by failure class.
What a request meant to present is read where the client itself decides it:
- HttpUser: the call's `cert=`, else the session's `cert` (requests' merge), read at the
  session's public `request()`;
- FastHttpUser: the chain its connection pool's SSLContext holds once geventhttpclient
  has set it up: the last chain loaded into that context while the pool was made (by the
  `ssl_context_factory` or from `ssl_options`), else the context's own (tls/loaded_chains).
  A context the factory hands to several pools, with a user's chain loaded into it while
  one was made, is the shared pre-built context pattern: flagged, and its bleed counted.

Not seen: requests sent by clients built outside Locust's sessions (a `requests.Session`
or an httpx client of the user's own), whose responses never reach Locust's request
event. Users of this package (MtlsUser, MtlsHttpUser, ...) check themselves and are
skipped here.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from collections import Counter

from geventhttpclient.connectionpool import SSLConnectionPool
from geventhttpclient.url import URL
from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from locust_mtls.config.validation import settings_from
from locust_mtls.engine.checkpoint import Sent, sending
from locust_mtls.errors import ConfigError
from locust_mtls.locust import plugin  # noqa: F401 - options, embedded server, summary, gate
from locust_mtls.locust.audit import ignored_options_line
from locust_mtls.locust.checked_event import remember
from locust_mtls.locust.state import RunState, state_of
from locust_mtls.settings import TlsSettings
from locust_mtls.tls import loaded_chains, requests_path
from locust_mtls.tls.identity import Identity, load_identity

logger = logging.getLogger("locust_mtls.audit")

NOT_VISIBLE = object()  # the certificate a request presents cannot be known
FAST_POOL_FAILED = "FastHttpUser connection pool could not be set up before the request"


class Audit:
    """The checks of one Locust environment's audited requests."""

    def __init__(self, state: RunState):
        self.state = state
        self.identities: dict[object, Identity | None] = {}
        self.checkpoints: dict[type, object] = {}
        self.not_audited: Counter = Counter()  # reason -> requests
        self.trust_said: tuple = ()  # (CA file, path) the start line named

    def identity(self, cert) -> Identity:
        """The Identity behind a `cert=` value, loaded once (ConfigError if unreadable)."""
        key = tuple(cert) if isinstance(cert, (list, tuple)) else cert
        if key not in self.identities:
            cert_file, key_file = (key, None) if isinstance(key, str) else key
            self.identities[key] = load_identity(cert_file.rsplit("/", 1)[-1], cert_file, key_file)
        return self.identities[key]

    def checkpoint(self, user, client_path: str):
        """The row of `user`'s class: `audit:ClassName`, checked as the options say."""
        user_class = type(user)
        checkpoint = self.checkpoints.get(user_class)
        if checkpoint is None:
            run = self.state.mtls_run()
            settings = dataclasses.replace(
                settings_from(self.state.options),
                strategy=f"audit:{user_class.__name__}",
                client="audit",
                concurrency="greenlet",
                keepalive=True,
                tls=TlsSettings(),
            )
            checkpoint = self.checkpoints[user_class] = run.checkpoint(settings)
        if checkpoint.row.client_path != client_path:  # a FastHttpUser's may turn shared
            checkpoint.row.client_path = client_path
            checkpoint.run.stats.client_path = client_path  # the path their users take
        return checkpoint

    def sent(self, user, cert, client_path: str) -> Sent | None:
        """A Sent for one audited request, or None (counted as not audited)."""
        if cert is NOT_VISIBLE:
            self.not_audited[FAST_POOL_FAILED] += 1
            return None
        try:
            identity = self.identity(cert) if cert else None
        except ConfigError as error:
            if not self.not_audited[str(error)]:
                logger.warning("locust-mtls audit: cannot read cert=%r: %s", cert, error)
            self.not_audited[str(error)] += 1
            return None
        checkpoint = self.checkpoint(user, client_path)
        if identity is not None:
            checkpoint.run.by_fingerprint.setdefault(identity.fingerprint, identity)
        return Sent(identity, checkpoint)

    def summary_lines(self) -> list[str]:
        lines = []
        totals = self.state.totals().rows.values()  # workers' too
        audited = any(row.client == "audit" and row.requests for row in totals)
        if not audited and not self.not_audited:
            lines.append(
                "locust-mtls audit: no request was audited: no HttpUser/FastHttpUser request "
                "of the locustfile reached Locust's sessions (clients built outside them "
                "cannot be seen)"
            )
        for reason, count in self.not_audited.items():
            lines.append(f"locust-mtls audit: {count} requests not audited: {reason}")
        return lines


def audit_of(session) -> Audit | None:
    """The audit of a session's environment; None for users of this package (they check
    and count their own requests) or outside `locust-mtls audit`."""
    user = getattr(session, "user", None)
    if user is None or _is_ours(user):
        return None
    state = getattr(user.environment, "mtls", None)
    return state.audit if state is not None else None


def _is_ours(user) -> bool:
    return any(cls.__module__.startswith("locust_mtls.") for cls in type(user).__mro__)


def _audited(original, cert_of, client_path_of):
    """A session's request(), checked: the Sent is the request being sent while Locust
    reports it, or remembered on the response a catch_response block reports later."""

    def request(self, method, url, *args, **kwargs):
        audit = audit_of(self)
        sent = audit and audit.sent(
            self.user, cert_of(self, url, kwargs), client_path_of(self, url, kwargs)
        )
        if not sent:
            return original(self, method, url, *args, **kwargs)
        with sending(sent):
            response = original(self, method, url, *args, **kwargs)
        remember(response, sent)
        return response

    return request


def _http_cert(session, _url, kwargs):
    cert = kwargs.get("cert")
    return cert if cert is not None else session.cert  # requests' merge_setting


def _http_path(session, _url, kwargs) -> str:
    verify = kwargs.get("verify")
    verify = verify if verify is not None else session.verify
    if verify is not True:  # a path (or False) keeps Locust's and requests' shared context out
        return (
            f"HttpUser with verify={verify!r}: new SSLContext per connection, "
            "CA file re-read each time (no shared context)"
        )
    return f"HttpUser: {requests_path.describe_locust(session.trust_env)}"


# The connection pools each context went to, and whether a user's chain was loaded into
# it while one of them was set up (geventhttpclient's connectionpool.init_ssl_context).
_pools_of_context: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class ContextUse:
    def __init__(self):
        self.pools = weakref.WeakSet()
        self.chains_loaded = False

    def shared(self) -> bool:
        """One context in several pools with chains loaded into it: what one pool loads,
        every other pool's next connection presents."""
        return self.chains_loaded and len(self.pools) > 1


_pool_init = SSLConnectionPool.__init__


def _pool_init_seen(self, *args, **kwargs):
    with loaded_chains.loads_into() as loads:
        _pool_init(self, *args, **kwargs)
    context = self.ssl_context
    self.mtls_presented_chain = loaded_chains.chain_presented(context, loads)
    use = _pools_of_context.setdefault(context, ContextUse())
    was_shared = use.shared()
    use.pools.add(self)
    use.chains_loaded |= any(loaded_into is context for loaded_into, _ in loads)
    if use.shared() and not was_shared:
        logger.warning(
            "locust-mtls audit: a FastHttpUser's ssl_context_factory returned one SSLContext to "
            "several connection pools, and a user's certificate was loaded into it "
            "(geventhttpclient connectionpool.init_ssl_context): every new connection presents "
            "the certificate loaded last; return a new SSLContext from each call"
        )


def _fast_pool(session, url):
    """The geventhttpclient pool this request will use, made now if it is the first (as
    the request itself would, in the same greenlet); None if making it fails (the request
    then fails the same way, in Locust's hands)."""
    try:
        client = session.client.clientpool.get_client(URL(session._build_url(url)))
    except Exception:
        return None
    return client._connection_pool


def _fast_cert(session, url, _kwargs):
    pool = _fast_pool(session, url)
    if pool is None:
        return NOT_VISIBLE
    return getattr(pool, "mtls_presented_chain", None)  # plain http:// holds no chain


def _fast_path(session, url, _kwargs) -> str:
    pool = _fast_pool(session, url)
    use = _pools_of_context.get(getattr(pool, "ssl_context", None))
    if use is not None and use.shared():
        return (
            "FastHttpUser (geventhttpclient): ONE SSLContext from ssl_context_factory in "
            "several connection pools, each user's certificate loaded into it "
            "(geventhttpclient connectionpool.init_ssl_context): every new connection "
            "presents the chain loaded last; return a new SSLContext from each call"
        )
    return "FastHttpUser (geventhttpclient): one SSLContext per connection pool"


loaded_chains.recording()  # also when this file is loaded without audit_first.py
HttpSession.request = _audited(HttpSession.request, _http_cert, _http_path)
SSLConnectionPool.__init__ = _pool_init_seen
FastHttpSession.request = _audited(FastHttpSession.request, _fast_cert, _fast_path)


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    # After plugin.on_init (registered first): the embedded server and the run exist.
    state = state_of(environment)
    state.audit = Audit(state)
    notice = ignored_options_line(state.options)
    if notice and not plugin.is_worker(environment):
        logger.warning(notice)
    if state.run is not None:
        trust_the_run_ca(state, say_so=True)


@events.test_start.add_listener
def on_test_start(environment, **_kwargs) -> None:
    # After plugin.on_test_start: a worker's run (the master's options) exists only now,
    # and the web UI's form may have named another CA.
    state = getattr(environment, "mtls", None)
    if state is not None and state.run is not None:
        trust_the_run_ca(state, say_so=not plugin.is_worker(environment))


def trust_the_run_ca(state: RunState, say_so: bool) -> None:
    """Their `verify=True` trusts the run's CA (--mtls-ca, the identities file's, the
    embedded server's) on the path it really takes, as it would a public CA, for this run's
    process only: HttpUser sets trust_env=False, so REQUESTS_CA_BUNDLE cannot do it."""
    trust = state.run.options.trust
    path = requests_path.locust_session_path(trust_env=False)
    where = requests_path.trust_private_ca(path, trust.ca_file, trust.ca_bundle_file)
    said = (trust.ca_file, path)
    if say_so and state.audit.trust_said != said:
        state.audit.trust_said = said
        logger.info(
            "locust-mtls audit: %s trusted for this run only (%s) on HttpUser's verify=True "
            "path: %s",
            trust.ca_file,
            where,
            requests_path.describe_locust(),
        )


@events.quitting.add_listener
def on_quitting(environment, **_kwargs) -> None:
    state = getattr(environment, "mtls", None)
    if state is not None and state.audit is not None and not plugin.is_worker(environment):
        for line in state.audit.summary_lines():
            print(line)
