"""The one checked request: every request of every user class (and of an audited
locustfile) is judged and counted here, once.

A request on its way is a `Sent`: the identity it presents, the `Checkpoint` of its row,
and the `Outcome` its transport fills in (connections, or the failure below HTTP). The
sender (locust/checked_event.py for Locust's sessions, the probe's client, the
native-thread engine's reader for an answer whose user has stopped) completes the
outcome from the response and calls `Checkpoint.check`, which judges it (crash,
transport, HTTP status, then identity) and counts it in the row. A request the test
stopped after it was written is counted as in flight instead (`stopped`).
"""

from __future__ import annotations

import contextvars
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from locust_mtls.engine import failures
from locust_mtls.engine.checks import IdentityCheckFailure, failure_for
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.failures import ClientCrash, HTTPStatusError, TransportError
from locust_mtls.engine.stats import StrategyStats
from locust_mtls.settings import RunSettings
from locust_mtls.tls.connections import recording_connections
from locust_mtls.tls.identity import Identity
from locust_mtls.tls.reported_identity import Verdict, VerdictKind

NOT_GIVEN = object()  # check(seen=...) not passed: read the identity header


@dataclass(slots=True, eq=False)
class Sent:
    """One request on its way: who it presents, where it is judged, what it did so far."""

    identity: Identity | None
    checkpoint: Checkpoint
    outcome: Outcome = field(default_factory=Outcome)
    identity_seen: object = None  # the user class's identity_seen(response) hook, if any
    counted: bool = False  # judged and counted (or counted in flight): never twice


_sending: contextvars.ContextVar[Sent | None] = contextvars.ContextVar(
    "locust_mtls_sending", default=None
)


def current() -> Sent | None:
    """The request this greenlet (or thread) is sending, if any."""
    return _sending.get()


@contextmanager
def sending(sent: Sent) -> Iterator[Sent]:
    """Connections opened and requests written inside the block are `sent`'s. A request
    the test stops inside the block (GreenletExit, KeyboardInterrupt: BaseExceptions that
    are not errors) is counted in flight if it was written, so no request the server got
    goes uncounted."""
    token = _sending.set(sent)
    try:
        with recording_connections(sent.outcome.connections):
            yield sent
    except Exception:
        raise
    except BaseException:
        sent.checkpoint.stopped(sent)
        raise
    finally:
        _sending.reset(token)


class Checkpoint:
    """Where the requests of one run setting are judged and counted."""

    def __init__(self, run, settings: RunSettings, row: StrategyStats):
        self.run = run  # engine.run.MtlsRun: identities (rotated), checker, mismatch log
        self.settings = settings
        self.row = row

    def sent(self, identity: Identity | None, identity_seen=None) -> Sent:
        return Sent(identity, self, identity_seen=identity_seen)

    def check(
        self, sent: Sent, given: Exception | None = None, *, given_by_task=False, seen=NOT_GIVEN
    ) -> Exception | None:
        """Judge and count `sent` once; return the exception its report carries.

        `given` is the verdict the sender already has: Locust's HTTPError for a 4xx/5xx,
        a task's `failure()` (`given_by_task`), None after `success()`. A crash, a
        failure below HTTP or a failed identity check wins over it; an HTTP status keeps
        it (a task may accept a 404), and is counted in its HTTP class unless the task
        said otherwise. `seen`: what the user class's identity_seen hook found.
        """
        if sent.counted:
            return given
        sent.counted = True
        failure, verdict = self.judge(sent.outcome, sent.identity, seen)
        if failure is not None and not isinstance(failure, HTTPStatusError):
            given = counted = failure
        elif given is None or given_by_task:
            counted = given
        else:
            counted = failure or given
        self.count(sent, verdict, counted)
        return given

    def judge(
        self, outcome: Outcome, identity: Identity | None, seen=NOT_GIVEN
    ) -> tuple[Exception | None, Verdict | None]:
        """The failure of one request (crash, transport, identity, HTTP) and the identity
        check's verdict (None when the request got no answer to check).

        Every answer is checked, error pages too: a wrong identity or bleed on a 404 is
        still one. An error page that does not say who the server saw is not an identity
        failure (gateways often add their headers to successful answers only, e.g.
        nginx's add_header without `always`); it is counted unreported.
        """
        if outcome.crash:
            message = f"client crash: {outcome.crash} in the native-thread engine"
            return ClientCrash(message, failures.CLIENT_CRASH, outcome.error or ""), None
        if outcome.error:
            failure_class = outcome.failure_class or failures.OTHER.format(
                type=outcome.error.split(":", 1)[0]
            )
            return TransportError(failure_class, detail=outcome.error), None
        http = http_error_of(outcome)
        settings = self.settings
        if settings.identity_check == "off":
            return http, Verdict(VerdictKind.OFF)
        application = seen is not NOT_GIVEN
        reported = seen if application else outcome.reported
        verdict = self.run.checker.verdict(
            identity, reported, settings.identity_format, application=application
        )
        if http is not None and verdict.kind not in (VerdictKind.WRONG, VerdictKind.BLEED):
            return http, verdict
        failure = failure_for(
            verdict, settings.identity_check, settings.identity_header, settings.identity_format
        )
        return failure or http, verdict

    def count(self, sent: Sent, verdict: Verdict | None, failure: Exception | None) -> None:
        """Count one judged request in the row; log who was seen when it was not right."""
        if verdict is not None and verdict.kind not in (VerdictKind.RIGHT, VerdictKind.OFF):
            self.run.mismatches.log(self.row.row, verdict)
        identity = sent.identity
        self.row.record(
            failed=failure is not None,
            failure_kind=failure.kind if isinstance(failure, IdentityCheckFailure) else None,
            failure_class=failures.failure_class_of(failure),
            connections=sent.outcome.connections,
            identity_name=identity.name if identity else None,
            verdict=verdict,
            generation=self.run.generation_of.get(identity.fingerprint) if identity else None,
        )

    def stopped(self, sent: Sent) -> None:
        """The test stopped `sent` before its answer was checked: in flight if written."""
        if not sent.counted and sent.outcome.connections.requests_written:
            sent.counted = True
            self.row.in_flight_at_stop += 1


class OutcomeResponse:
    """An answered Outcome as a response an `identity_seen(response)` hook reads: status,
    text, json(). What the probe reports, and what an engine answer whose user stopped
    is read as."""

    def __init__(self, outcome: Outcome):
        self.status_code = outcome.status
        self.text = outcome.body or ""

    def json(self):
        return json.loads(self.text)


def seen_by_hook(sent: Sent):
    """What the user class's identity_seen hook finds in `sent`'s answer (NOT_GIVEN: no
    hook, or no answer); a hook that fails on it found nothing (None: unreported)."""
    if sent.identity_seen is None or sent.outcome.error:
        return NOT_GIVEN
    try:
        return sent.identity_seen(OutcomeResponse(sent.outcome))
    except Exception:  # e.g. a full-API answer whose body stayed on the wire
        return None


def http_error_of(outcome: Outcome) -> HTTPStatusError | None:
    """The sender's own verdict on an answered request that has no other (the probe's
    client, an engine answer whose user stopped): an HTTP error status fails it."""
    if outcome.error or outcome.status < 400:
        return None
    return HTTPStatusError(f"HTTP {outcome.status}", failures.http_class(outcome.status))
