"""Audit mode, inside Locust: `locust-mtls audit -f THEIR_FILE.py` loads this file after
theirs (`-f THEIR_FILE.py,audit_plugin.py`), so their users run unchanged.

Every request of an `HttpUser` (Locust's `HttpSession`) and of a `FastHttpUser` is checked
against the identity the target reports, with the same check, counters, tab, summary and
exit codes as our own users (plugin.py; one counters row per user class,
`audit:ClassName`). What each request meant to present is read where requests itself
decides it: `Session.send` receives the merged `cert=` (the request's, else the
session's), and a wrapper tags the response (or the exception) with it.

Not seen: requests sent by clients built outside Locust's sessions (a `requests.Session`
or an httpx client of the user's own), whose responses never reach Locust's request
event; a `FastHttpUser` whose `ssl_context_factory` loads a certificate (the context does
not say which; counted as not audited). Users of this package (MtlsUser, MtlsHttpUser, ...)
check themselves and are skipped here.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass

from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession

from locust_mtls.engine.execution import Outcome
from locust_mtls.errors import ConfigError
from locust_mtls.locust import plugin  # options, embedded server, summary, exit codes
from locust_mtls.settings import RunSettings
from locust_mtls.tls import requests_path
from locust_mtls.tls.identity import Identity, load_identity

logger = logging.getLogger("locust_mtls.audit")

NOT_VISIBLE = object()  # the certificate a request presents cannot be known
FAST_CERT_NOT_VISIBLE = "FastHttpUser certificate inside its ssl_context_factory/client_pool"


@dataclass(frozen=True)
class Sent:
    """What one request of their locustfile meant to present, and who sent it."""

    cert: object  # requests' cert= (path or (cert, key)), None, or NOT_VISIBLE
    user: object
    client: str  # "HttpUser" or "FastHttpUser"
    verify: object = True  # requests' merged verify=: True, False or a CA path


def _tag(target, sent: Sent) -> None:
    try:
        target.mtls_audit = sent
    except AttributeError:  # an object with __slots__: that request goes unaudited
        pass


_requests_send = HttpSession.send


def _send(self, request, **kwargs):
    sent = Sent(kwargs.get("cert"), self.user, "HttpUser", kwargs.get("verify", True))
    try:
        response = _requests_send(self, request, **kwargs)
    except Exception as error:
        _tag(error, sent)
        raise
    _tag(response, sent)
    return response


_fast_init = FastHttpSession.__init__
_fast_send = FastHttpSession._send_request_safe_mode


def _fast_init_seen(self, *args, ssl_context_factory=None, client_pool=None, **kwargs):
    # Without a factory or pool of the user's own, FastHttpSession's contexts hold no cert.
    self.mtls_audit_cert = None if ssl_context_factory is client_pool is None else NOT_VISIBLE
    _fast_init(
        self, *args, ssl_context_factory=ssl_context_factory, client_pool=client_pool, **kwargs
    )


def _fast_send_safe(self, method, url, **kwargs):
    cert = getattr(self, "mtls_audit_cert", NOT_VISIBLE)
    response = _fast_send(self, method, url, **kwargs)
    _tag(response, Sent(cert, self.user, "FastHttpUser"))
    return response


HttpSession.send = _send  # also every redirect hop: requests passes cert= on to each
FastHttpSession.__init__ = _fast_init_seen
FastHttpSession._send_request_safe_mode = _fast_send_safe


class Audit:
    """The checks of one Locust environment's requests, counted into its MtlsRun."""

    def __init__(self, environment):
        self.environment = environment
        self.identities: dict[object, Identity | None] = {}
        self.audited = 0
        self.not_audited: Counter = Counter()  # reason -> requests

    def identity(self, cert) -> Identity:
        """The Identity behind a `cert=` value, loaded once (ConfigError if unreadable)."""
        key = tuple(cert) if isinstance(cert, (list, tuple)) else cert
        if key not in self.identities:
            cert_file, key_file = (key, None) if isinstance(key, str) else key
            self.identities[key] = load_identity(cert_file.rsplit("/", 1)[-1], cert_file, key_file)
        return self.identities[key]

    def on_request(self, response=None, exception=None, **_kwargs) -> None:
        sent = getattr(response, "mtls_audit", None) or getattr(exception, "mtls_audit", None)
        if sent is None or _is_ours(sent.user):
            return
        run = getattr(self.environment, "mtls_run", None)
        if run is None:
            return
        if sent.cert is NOT_VISIBLE:
            self.not_audited[
                "FastHttpUser certificate inside its ssl_context_factory/client_pool"
            ] += 1
            return
        try:
            identity = self.identity(sent.cert) if sent.cert else None
        except ConfigError as error:
            if not self.not_audited[str(error)]:
                logger.warning("locust-mtls audit: cannot read cert=%r: %s", sent.cert, error)
            self.not_audited[str(error)] += 1
            return
        header = self.environment.parsed_options.mtls_identity_header
        settings = RunSettings(strategy=f"audit:{type(sent.user).__name__}")
        row = run.row(settings)
        if not row.client_path:  # the run's path is the one their users take, not ours
            row.client_path = run.stats.client_path = client_path(sent)
        outcome = outcome_of(response, exception, header)
        if identity is not None:
            run.by_fingerprint.setdefault(identity.fingerprint, identity)
        failure = run.judge(outcome, identity, header)
        if failure is not None and getattr(failure, "detail", ""):
            logger.debug("locust-mtls audit: %s: %s", settings.strategy, failure.detail)
        run.record(settings, outcome, identity, failure)
        self.audited += 1

    def summary_lines(self) -> list[str]:
        lines = []
        totals = plugin.run_totals(self.environment).rows.values()  # workers' too
        if not any(row.strategy.startswith("audit:") and row.requests for row in totals):
            lines.append(
                "locust-mtls audit: no request was audited: no HttpUser/FastHttpUser request "
                "of the locustfile reached Locust's request event (clients built outside "
                "Locust's sessions cannot be seen)"
            )
        for reason, count in self.not_audited.items():
            lines.append(f"locust-mtls audit: {count} requests not audited: {reason}")
        return lines


def _is_ours(user) -> bool:
    """Users of this package check and count their own requests."""
    return any(cls.__module__.startswith("locust_mtls.") for cls in type(user).__mro__)


def client_path(sent: Sent) -> str:
    """The path their requests take, as first seen (a user class's verify= rarely varies)."""
    if sent.client == "FastHttpUser":
        return "FastHttpUser (geventhttpclient): one SSLContext per user from ssl_context_factory"
    if sent.verify is not True:  # a path (or False) keeps Locust's and requests' shared context out
        return (
            f"HttpUser with verify={sent.verify!r}: new SSLContext per connection, "
            "CA file re-read each time (no shared context)"
        )
    return f"HttpUser: {requests_path.describe_locust(trust_env=True)}"


def outcome_of(response, exception, header: str) -> Outcome:
    """The parts of a Locust response the identity check reads."""
    status = getattr(response, "status_code", 0) or 0
    headers = getattr(response, "headers", None) or {}
    outcome = Outcome(status=status, reported_fingerprint=headers.get(header))
    if not status and exception is not None:
        outcome.error = f"{type(exception).__name__}: {exception}"
    return outcome


@events.init.add_listener
def on_init(environment, **_kwargs) -> None:
    # After plugin.on_init (registered first): the embedded server and the MtlsRun exist.
    audit = environment.mtls_audit = Audit(environment)
    environment.events.request.add_listener(audit.on_request)
    run = getattr(environment, "mtls_run", None)
    if run is not None and getattr(environment, "mtls_echo_server", None) is not None:
        # Their verify=True must trust the embedded server's private CA on the path it
        # really takes, as a public CA would be (Locust's or requests' shared context).
        requests_path.trust_private_ca(run.options.trust.ca_file, run.options.trust.ca_bundle_file)


@events.quitting.add_listener
def on_quitting(environment, **_kwargs) -> None:
    audit = getattr(environment, "mtls_audit", None)
    if audit is not None and not plugin.is_worker(environment):
        for line in audit.summary_lines():
            print(line)
