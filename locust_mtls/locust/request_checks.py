"""What the full-API clients (MtlsHttpUser's HttpSession, MtlsFastHttpUser's
FastHttpSession) share: which identity each request presents, and the identity check
and mTLS counters applied to Locust's own report of the request.

Locust reports a request once, from its response object (at once, or when a
`catch_response` block ends); `RequestChecks.report` runs just before that, so
`response.success()` can accept a 404 but never a wrong identity, and every request is
counted exactly once.
"""

from __future__ import annotations

import os

from locust import events
from locust.exception import CatchResponseError

from locust_mtls.config.validation import settings_from
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import HTTPStatusError
from locust_mtls.engine.run import MtlsRun
from locust_mtls.errors import ConfigError
from locust_mtls.locust import plugin
from locust_mtls.settings import RunSettings
from locust_mtls.tls.files import read_regular_file
from locust_mtls.tls.identity import Identity, fingerprint_of

SCHEDULED = object()  # identity= not given: the user's scheduled identity (or none)


@events.init.add_listener
def check_identity_names(environment, **_kwargs) -> None:
    """A user class naming an unknown `identity`: one line and exit code 2 at start,
    not a traceback per spawned user."""
    run = getattr(environment, "mtls_run", None)  # None on a worker, or without our options
    known = {identity.name for identity in run.options.identities} if run else set()
    for user_class in environment.user_classes if run else ():
        name = getattr(user_class, "identity", None)
        if isinstance(name, str) and name not in known:
            plugin.fail(
                ConfigError(
                    f"{user_class.__name__}.identity = {name!r}: no such identity in "
                    f"--mtls-identities (known: {', '.join(sorted(known))})"
                )
            )


def identity_indexes(run) -> tuple[dict, dict, dict]:
    """The run's identities by name, by real certificate path and by fingerprint: built
    once per run and identity generation, not per user (a realpath per certificate for
    each of 200 users took minutes with 100,000 identities)."""
    key = (getattr(run, "generation", 0), len(run.options.identities))
    cached = getattr(run, "_request_indexes", None)
    if cached is None or cached[0] != key:
        identities = run.options.identities
        cached = run._request_indexes = (
            key,
            {identity.name: identity for identity in identities},
            {os.path.realpath(i.cert_file): i for i in identities},
            {identity.fingerprint: identity for identity in identities},
        )
    return cached[1:]


class RequestChecks:
    """One user's identities and checks; `identity` is its certificate (None: none)."""

    def __init__(self, user, settings: RunSettings | None = None):
        run: MtlsRun = plugin.mtls_run(user.environment)
        self.run = run
        self.user_number = run.next_user_number()
        self.settings = run.canonical(
            settings
            or settings_from(
                user.environment.parsed_options,
                user.strategy,
                concurrency=user.concurrency,
                keepalive=user.keepalive,
                identity_check=getattr(user, "identity_check", None),
                identity_format=getattr(user, "identity_format", None),
                tls_version=getattr(user, "tls_version", None),
                ciphers=getattr(user, "ciphers", None),
                resumption=getattr(user, "resumption", None),
            )
        )
        # A user class may read the identity from the response itself (identity_seen).
        self.identity_seen = getattr(user, "identity_seen", None)
        self.by_name, self.by_cert, self.by_fingerprint = identity_indexes(run)
        fraction = user.no_cert_fraction
        self.schedule = run.schedule_for(
            self.user_number, run.options.no_cert_fraction if fraction is None else fraction
        )
        if user.identity is not None:
            self.identity = user.identity

    @property
    def identity(self) -> Identity | None:
        return self.schedule.identity

    @identity.setter
    def identity(self, identity: Identity | str | None) -> None:
        self.schedule.identity = self.resolve(identity)

    def resolve(self, identity: Identity | str | None) -> Identity | None:
        """An identity by name (or as is); ConfigError naming the known ones."""
        if identity is None or isinstance(identity, Identity):
            return identity
        found = self.by_name.get(identity)
        if found is None:
            known = ", ".join(sorted(self.by_name)) or "none"
            raise ConfigError(
                f"identity={identity!r}: no such identity in --mtls-identities "
                f"(known: {known}); pass one of those names, or None for no certificate"
            )
        return found

    def from_cert(self, cert) -> Identity | None:
        """The identity a converted HttpUser's `cert=` names: requests' `cert=` value
        (a PEM path, or (cert, key)), matched by file or by fingerprint; None: no cert."""
        if cert is None:
            return None  # requests: no client certificate for this request
        path = cert[0] if isinstance(cert, (tuple, list)) else cert
        found = self.by_cert.get(os.path.realpath(str(path)))
        if found is None:
            try:
                found = self.by_fingerprint.get(fingerprint_of(read_regular_file(str(path))))
            except (ConfigError, OSError, ValueError):
                found = None
        if found is None:
            raise ConfigError(
                f"cert={cert!r}: not a certificate of --mtls-identities; add it to the "
                "identities file, or pass identity='<name>' (None for no certificate)"
            )
        return found

    def choose(self, identity=SCHEDULED) -> Identity | None:
        """The identity of one request: the schedule's next, or the one asked for."""
        return self.schedule.next() if identity is SCHEDULED else self.resolve(identity)

    def context(self, identity: Identity | None) -> dict:
        """Extra fields for the request event's `context`."""
        return {
            "strategy": self.settings.strategy,
            "identity": identity.name if identity else None,
        }

    def report(
        self, request_meta: dict, outcome: Outcome, identity: Identity | None, response=None
    ) -> None:
        """Before Locust fires the request event: make a failed identity check (or a
        transport failure, or a crash) the request's exception, then count the request."""
        hook = self.identity_seen
        answered = response is not None and hook is not None and not outcome.error
        seen = {"seen": hook(response)} if answered else {}
        judged = self.run.judge_for(self.settings, outcome, identity, **seen)
        if judged is not None and not isinstance(judged, HTTPStatusError):
            request_meta["exception"] = judged  # whatever the task said about it
        reported = request_meta["exception"]
        # Locust's HTTPError for a 4xx/5xx counts as judge's "HTTP 4xx"; a task's own
        # verdict (success() on a 404, failure("bad JSON") on a 200) counts as given.
        if isinstance(judged, HTTPStatusError) and reported is not None:
            counted = reported if isinstance(reported, CatchResponseError) else judged
        else:
            counted = reported
        self.run.record(self.settings, outcome, identity, counted)


class CheckedSession:
    """Mixin of both full-API sessions: the user's `identity`; for MtlsHttpUser's session,
    a response whose report waits for the identity check (`checked`: it sends with
    catch_response=True). MtlsFastHttpUser's checks at its request event instead."""

    mtls_checks: RequestChecks

    @property
    def identity(self) -> Identity | None:
        """This user's certificate (None: none); set it by name, an Identity or None."""
        return self.mtls_checks.identity

    @identity.setter
    def identity(self, identity: Identity | str | None) -> None:
        self.mtls_checks.identity = identity

    def checked(self, response, checked_class, outcome, identity, catch_response: bool):
        """`response` as `checked_class` (whose `_report_request` calls report()); without
        catch_response, reported now, as Locust would have done."""
        response.__class__ = checked_class
        response.mtls_check = (self.mtls_checks, outcome, identity)
        response._catch_response = catch_response
        if not catch_response:
            response.__exit__(None, None, None)
        return response
