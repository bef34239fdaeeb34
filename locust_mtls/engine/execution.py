"""One request through a strategy client, measured and reduced to plain data.

Used alike by greenlet users (in the Locust process) and by the native-thread engine
(in its child process), so both report exactly the same facts.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from locust_mtls.engine.failures import classify
from locust_mtls.strategies import Client
from locust_mtls.tls.connections import recording_handshakes
from locust_mtls.tls.identity import Identity


@dataclass(slots=True)  # one per request: no per-instance dict
class Outcome:
    """What one request did: enough to check it and to fire Locust's request event."""

    status: int = 0
    elapsed_ms: float = 0.0
    length: int = 0
    reported_fingerprint: str | None = None  # the identity header, None if absent
    handshakes_ms: list[float] = field(default_factory=list)  # full handshakes
    resumed_ms: list[float] = field(default_factory=list)  # handshakes that resumed a session
    tls_versions: list[str] = field(default_factory=list)  # negotiated, one per handshake
    error: str | None = None  # transport error ("ConnectionError: …"), None if answered
    failure_class: str | None = None  # failures.classify() of that error, a stable name
    crash: str | None = None  # signal name when the native-thread engine died mid-request
    body: str | None = None  # the response text, only when asked for (identity_seen hooks)
    # Set by MtlsRun.judge for MtlsRun.record: the identity check's outcome ("right",
    # "wrong", "bleed", "unreported", "unparsed", "off") and its detail for people.
    identity_verdict: str | None = None
    identity_detail: str = ""
    response: dict | None = None  # the whole answer, for full-API clients (wire.py)

    def to_dict(self) -> dict:
        return asdict(self)


def execute_request(
    client: Client,
    method: str,
    url: str,
    identity: Identity | None,
    *,
    identity_header: str,
    keepalive: bool = True,
    timeout: tuple[float, float] = (5.0, 30.0),
    keep_body: bool = False,
) -> Outcome:
    """Send one request; never raises for transport errors (they go into `error`).
    `keep_body`: keep the response text in `outcome.body` (for an identity_seen hook)."""
    # Keep-alive off means a new TCP + TLS connection per request: the server closes
    # after answering, and urllib3 drops the connection instead of pooling it.
    headers = None if keepalive else {"Connection": "close"}
    outcome = Outcome()
    started = time.perf_counter()
    with recording_handshakes() as handshakes:
        try:
            response = client.request(method, url, identity, headers=headers, timeout=timeout)
        except Exception as error:  # every failure of the target is a result, not a crash
            outcome.error = f"{type(error).__name__}: {error}"
            outcome.failure_class = classify(error)
        else:
            outcome.status = response.status_code
            outcome.length = len(response.content)
            outcome.reported_fingerprint = response.headers.get(identity_header)
            if keep_body:
                outcome.body = response.text
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000.0
    outcome.handshakes_ms = handshakes.full_ms
    outcome.resumed_ms = handshakes.resumed_ms
    outcome.tls_versions = handshakes.versions
    return outcome
