"""What every mTLS user has, whatever its client: its settings (from its class attributes
and the options, built once per class), its Checkpoint (where its requests are judged and
counted), and which identity each of its requests presents.

MtlsUser, MtlsHttpUser and MtlsFastHttpUser each keep one `UserChecks` as `mtls_checks`;
a second session a user builds (MtlsHttpSession(base_url=...)) shares it.
"""

from __future__ import annotations

import logging
import os

from locust import events

from locust_mtls.config.user_settings import options_not_taken
from locust_mtls.engine.checkpoint import Sent
from locust_mtls.errors import ConfigError, exit_with
from locust_mtls.locust import plugin  # noqa: F401 - a user class brings the plugin's hooks
from locust_mtls.locust.state import state_of
from locust_mtls.strategies import LIBRARIES
from locust_mtls.tls.files import read_regular_file
from locust_mtls.tls.identity import Identity, fingerprint_of

logger = logging.getLogger("locust_mtls")
SCHEDULED = object()  # identity= not given: the user's scheduled identity (or none)


@events.init.add_listener
def check_user_classes(environment, **_kwargs) -> None:
    """Every user class's attributes checked at start: one line and exit code 2, not a
    traceback per spawned user (an unknown `identity`, a misspelt strategy)."""
    state = getattr(environment, "mtls", None)  # None: a worker, or no options of ours
    if state is None or state.run is None:
        return
    known = {identity.name for identity in state.run.options.identities}
    for user_class in environment.user_classes:
        client = getattr(user_class, "mtls_client", None)
        if client is None:
            continue  # not one of ours
        not_taken = options_not_taken(state.options, client)
        if not_taken:
            logger.warning(
                "locust-mtls: %s ignores %s: its client (%s) always sends through "
                "identity-cache's contexts, on greenlets, without resumption",
                user_class.__name__,
                ", ".join(not_taken),
                client,
            )
        if client in LIBRARIES and not LIBRARIES[client].installed():
            exit_with(ConfigError(f"{user_class.__name__}: {library_missing(client)}"))
        options_error = getattr(user_class, "options_error", lambda: None)()
        if options_error:
            exit_with(options_error)
        try:
            state.settings_for(user_class, client)
        except ConfigError as error:
            exit_with(error)
        name = user_class.identity
        if isinstance(name, str) and name not in known:
            exit_with(
                ConfigError(
                    f"{user_class.__name__}.identity = {name!r}: no such identity in "
                    f"--mtls-identities (known: {', '.join(sorted(known))})"
                )
            )


def identity_indexes(run) -> tuple[dict, dict, dict]:
    """The run's identities by name, by real certificate path and by fingerprint: built
    once per run and identity generation, not per user (a realpath per certificate for
    each of 200 users took minutes with 100,000 identities)."""
    key = (run.generation, len(run.options.identities))
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


def library_missing(library: str) -> str:
    """What to do when an optional client library is not installed."""
    return f"{library} is not installed; install it: {LIBRARIES[library].install}"


class UserChecks:
    """One user's settings, checkpoint and identities; `identity` is its certificate."""

    def __init__(self, user, client: str):
        state = state_of(user.environment)
        run = state.mtls_run()
        built = state.settings_for(type(user), client)
        self.settings = built.settings
        self.checkpoint = run.checkpoint(built.settings)
        self.run = run
        self.user_number = run.next_user_number()
        # A user class may read the identity from the response itself (identity_seen).
        self.identity_seen = getattr(user, "identity_seen", None)
        self.by_name, self.by_cert, self.by_fingerprint = identity_indexes(run)
        self.schedule = run.schedule_for(self.user_number, built.no_cert_fraction)
        if built.settings.identity is not None:
            self.identity = built.settings.identity

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

    def sent(self, identity: Identity | None) -> Sent:
        """A request of this user on its way, presenting `identity`."""
        return Sent(identity, self.checkpoint, identity_seen=self.identity_seen)

    def context(self, identity: Identity | None) -> dict:
        """Extra fields for the request event's `context`."""
        return {
            "strategy": self.settings.strategy,
            "identity": identity.name if identity else None,
        }


class SessionIdentity:
    """The `identity` of both full-API sessions: the user's certificate (None: none);
    set it by name, an Identity or None (`self.client.identity = "svc-b"`)."""

    mtls_checks: UserChecks

    @property
    def identity(self) -> Identity | None:
        return self.mtls_checks.identity

    @identity.setter
    def identity(self, identity: Identity | str | None) -> None:
        self.mtls_checks.identity = identity
