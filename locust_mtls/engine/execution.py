"""One request through a strategy client, measured and reduced to plain data.

Used alike by greenlet users (in the Locust process) and by the native-thread engine
(in its child process), so both report exactly the same facts. `Outcome.fail` is the
one place a failed request is described.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from locust_mtls.engine.failures import classify
from locust_mtls.strategies import Client
from locust_mtls.tls.connections import ConnectionLog, recording_connections
from locust_mtls.tls.identity import Identity


@dataclass(slots=True)  # one per request: no per-instance dict
class Outcome:
    """What one request did: enough to check it and to fire Locust's request event."""

    status: int = 0
    elapsed_ms: float = 0.0
    length: int = 0
    reported: str | None = None  # the identity header's value, None if absent
    connections: ConnectionLog = field(default_factory=ConnectionLog)
    error: str | None = None  # transport error ("ConnectionError: …"), None if answered
    failure_class: str | None = None  # failures.classify() of that error, a stable name
    crash: str | None = None  # signal name when the native-thread engine died mid-request
    body: str | None = None  # the response text, only when asked for (identity_seen hooks)
    response: dict | None = None  # the whole answer, for full-API clients (wire.py)

    def fail(self, error: BaseException) -> None:
        """This request got no HTTP answer because of `error`."""
        self.error = f"{type(error).__name__}: {error}"
        self.failure_class = classify(error)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        return cls(**{**data, "connections": ConnectionLog.from_dict(data.get("connections"))})


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
    into: Outcome | None = None,
) -> Outcome:
    """Send one request; never raises for transport errors (they go into `error`).
    `keep_body`: keep the response text in `outcome.body` (for an identity_seen hook);
    `into`: the Outcome to fill (a checkpoint's request on its way), else a new one."""
    # Keep-alive off means a new TCP + TLS connection per request: the server closes
    # after answering, and urllib3 drops the connection instead of pooling it.
    headers = None if keepalive else {"Connection": "close"}
    outcome = Outcome() if into is None else into
    started = time.perf_counter()
    with recording_connections(outcome.connections):
        try:
            response = client.request(method, url, identity, headers=headers, timeout=timeout)
        except Exception as error:  # every failure of the target is a result, not a crash
            outcome.fail(error)
        else:
            outcome.status = response.status_code
            outcome.length = len(response.content)
            outcome.reported = response.headers.get(identity_header)
            if keep_body:
                outcome.body = response.text
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000.0
    return outcome
