"""The one hook into Locust: every request report of an environment passes the checked
request event before Locust's own listeners see it.

Locust's sessions report a request through the `request_event` they were given (the
environment's `events.request`), at once or when a `catch_response` block ends.
`checked_request_event(environment)` puts a `CheckedRequestEvent` in front of that
event: a report whose response belongs to a request we sent (a `Sent`, from the
request being sent, or remembered on the response) has its Outcome completed from the
response here, in one function, and is judged and counted by its Checkpoint; its
exception becomes the identity check's failure. Every other report passes unchanged.
This is the path of MtlsUser, MtlsHttpUser, MtlsFastHttpUser and audited locustfiles.
"""

from __future__ import annotations

import requests
from locust.contrib.fasthttp import LocustBadStatusCode

from locust_mtls.engine import checkpoint
from locust_mtls.engine.checkpoint import NOT_GIVEN, Sent
from locust_mtls.engine.failures import HTTPStatusError

# What Locust's sessions report for an HTTP error status (an answer, not a failure below
# HTTP); any other exception a report carries came from a task's failure() or the network.
SESSION_HTTP_ERRORS = (requests.HTTPError, LocustBadStatusCode, HTTPStatusError)
TAG = "mtls_sent"  # the attribute a response (or its error) carries its Sent in


class CheckedRequestEvent:
    """Locust's request event with the check in front (add_listener and the rest are the
    wrapped event's own)."""

    def __init__(self, event):
        self.event = event

    def fire(self, **request_meta) -> None:
        response = request_meta.get("response")
        sent = sent_of(response)
        if sent is not None and not sent.counted:
            request_meta["exception"] = check(sent, response, request_meta)
        self.event.fire(**request_meta)

    def __getattr__(self, name):
        return getattr(self.event, name)


def checked_request_event(environment) -> CheckedRequestEvent:
    """The environment's request event, made a CheckedRequestEvent (once)."""
    event = environment.events.request
    if not isinstance(event, CheckedRequestEvent):
        event = environment.events.request = CheckedRequestEvent(event)
    return event


def remember(response, sent: Sent) -> None:
    """Tag a response returned before its report (catch_response=True) with its Sent:
    the report comes when the task's `with` block ends, outside the request."""
    meta = getattr(response, "request_meta", None)
    target = meta.get("response") if meta else response
    try:
        setattr(target if target is not None else response, TAG, sent)
    except AttributeError:  # an object with __slots__: its report goes unchecked
        pass


def tagged(response, sent: Sent):
    """`response`, carrying `sent` (the probe's own response object)."""
    setattr(response, TAG, sent)
    return response


def sent_of(response) -> Sent | None:
    """The Sent of a report: tagged on the response or its error, else the request this
    greenlet is sending (a report made inside the session's request())."""
    sent = getattr(response, TAG, None) or getattr(getattr(response, "error", None), TAG, None)
    return sent if sent is not None else checkpoint.current()


def check(sent: Sent, response, request_meta: dict) -> Exception | None:
    """Complete the Outcome from Locust's report, judge and count it; the exception the
    report carries from now on."""
    outcome = sent.outcome
    if not (outcome.status or outcome.error):  # not answered by our own runner
        outcome.elapsed_ms = request_meta.get("response_time") or 0.0
        outcome.length = request_meta.get("response_length") or 0
        error = getattr(response, "error", None)
        if error is not None and not isinstance(error, SESSION_HTTP_ERRORS):
            outcome.fail(error)  # below HTTP: refused, reset, not trusted, timeout
        else:
            outcome.status = getattr(response, "status_code", 0) or 0
            headers = getattr(response, "headers", None)
            header = sent.checkpoint.settings.identity_header
            outcome.reported = headers.get(header) if headers is not None else None
    given = request_meta.get("exception")
    hook = sent.identity_seen
    seen = hook(response) if hook is not None and not outcome.error else NOT_GIVEN
    by_task = given is not None and not isinstance(given, SESSION_HTTP_ERRORS)
    return sent.checkpoint.check(sent, given, given_by_task=by_task, seen=seen)
