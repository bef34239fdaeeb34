"""One request through a strategy client, measured and reduced to plain data.

Used alike by greenlet users (in the Locust process) and by the native-thread and asyncio
engine (in its child process), so all report exactly the same facts, whatever client
library sent the request. `Outcome.fail` is the one place a failed request is described,
`measuring` the one place an answer is read into an Outcome.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

from locust_mtls.engine.failures import classify
from locust_mtls.strategies import Answer, Client
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
    identity_header: str,
    keepalive: bool = True,
    timeout: tuple[float, float] = (5.0, 30.0),
    keep_body: bool = False,
    *,
    into: Outcome | None = None,
) -> Outcome:
    """Send one request; never raises for transport errors (they go into `error`).
    `keep_body`: keep the response text in `outcome.body` (for an identity_seen hook);
    `into`: the Outcome to fill (a checkpoint's request on its way), else a new one."""
    outcome = Outcome() if into is None else into
    with measuring(outcome, keep_body, identity_header) as answered:
        answered(client.answer_of(send(client, method, url, identity, keepalive, timeout)))
    return outcome


async def execute_request_async(
    client: Client, method: str, url: str, identity: Identity | None, *options
) -> Outcome:
    """`execute_request` for a client of an asyncio library, whose `request` is a
    coroutine, on the engine child's loop; `options`: execute_request's four after
    `identity` (identity_header, keepalive, timeout, keep_body), all given."""
    identity_header, keepalive, timeout, keep_body = options
    outcome = Outcome()
    with measuring(outcome, keep_body, identity_header) as answered:
        answered(client.answer_of(await send(client, method, url, identity, keepalive, timeout)))
    return outcome


def send(client: Client, method: str, url: str, identity, keepalive: bool, timeout):
    """The client's request (a coroutine for an asyncio library). Keep-alive off means a
    new TCP + TLS connection per request: the server closes after answering, and the
    client drops the connection instead of pooling it."""
    headers = None if keepalive else {"Connection": "close"}
    return client.request(method, url, identity, headers=headers, timeout=timeout)


@contextmanager
def measuring(outcome: Outcome, keep_body: bool, identity_header: str):
    """Time the block, log its connections into `outcome`, and fill `outcome` from the
    Answer the block hands to `answered` (or from the error it raised): the one place an
    answer of any client becomes an Outcome."""

    def answered(answer: Answer) -> None:
        outcome.status = answer.status
        outcome.length = len(answer.body)
        outcome.reported = answer.headers.get(identity_header)
        if keep_body:
            outcome.body = answer.text()

    started = time.perf_counter()
    with recording_connections(outcome.connections):
        try:
            yield answered
        except Exception as error:  # every failure of the target is a result, not a crash
            outcome.fail(error)
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000.0
