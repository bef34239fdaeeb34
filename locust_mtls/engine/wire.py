"""A full-API request on a native thread: what crosses to the engine child and back.

The Locust process prepares every request itself with requests' own code (cookies,
`params=`, `json=`, `files=`, auth, redirects, hooks all stay there); the child only
sends the prepared bytes through its strategy and returns the answer as it came off
the wire. Both directions are JSON-safe dicts, bodies in base64. No gevent here: the
thread-engine child imports this module.
"""

from __future__ import annotations

import base64
import http.client
import io
import time

import requests
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPHeaderDict, HTTPResponse

from locust_mtls.engine.execution import Outcome
from locust_mtls.errors import ConfigError
from locust_mtls.strategies import Client
from locust_mtls.tls.connections import recording_connections
from locust_mtls.tls.identity import Identity

# What requests turns into bytes in this process; anything else (a file, a generator)
# would be read lazily while sending, so it cannot be handed to another process.
IN_MEMORY_DATA = (str, bytes, bytearray, dict, list, tuple)
GREENLET_HINT = "or run this user on greenlets (concurrency = 'greenlet')"


class UnsendableArgument(ConfigError):
    """An argument of a native-thread request that cannot cross to the engine child."""


def check_sendable(data, timeout) -> None:
    """Raise UnsendableArgument, at the call, for a streamed body or an odd timeout."""
    if data is not None and not isinstance(data, IN_MEMORY_DATA):
        raise UnsendableArgument(
            f"data={type(data).__name__}: a native-thread request needs its body in memory; "
            "pass bytes, str, a dict or a list of pairs (e.g. data=f.read() or "
            f"b''.join(chunks)), {GREENLET_HINT}"
        )
    timeout_pair(timeout)


def timeout_pair(timeout) -> list[float | None] | None:
    """requests' `timeout=` (seconds or (connect, read)) as a JSON-safe pair."""
    if timeout is None:
        return None
    if isinstance(timeout, int | float):
        return [float(timeout), float(timeout)]
    if isinstance(timeout, tuple | list) and len(timeout) == 2:
        return list(timeout)
    raise UnsendableArgument(
        f"timeout={timeout!r}: on native threads pass seconds or a (connect, read) tuple"
    )


def encode_request(request: requests.PreparedRequest, timeout, proxies) -> dict:
    """The prepared request as a job for the engine child."""
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")  # as urllib3 2 sends a str body
    if body is not None and not isinstance(body, bytes | bytearray):
        raise UnsendableArgument(
            f"a request body of type {type(body).__name__} (set by an auth handler or "
            f"a hook?) cannot go to a native thread; set bytes instead, {GREENLET_HINT}"
        )
    return {
        "method": request.method,
        "url": request.url,
        "headers": list(request.headers.items()),
        "body": None if body is None else base64.b64encode(body).decode("ascii"),
        "timeout": timeout_pair(timeout),
        "proxies": dict(proxies or {}),
    }


def send_encoded(
    client: Client, job: dict, identity: Identity | None, identity_header: str
) -> Outcome:
    """In the child: send one encoded request through `client`; never raises for
    transport errors. The answer, undecoded as it came off the wire, is in `response`."""
    request = requests.PreparedRequest()
    request.method, request.url = job["method"], job["url"]
    request.headers = CaseInsensitiveDict(job["headers"])
    request.body = None if job["body"] is None else base64.b64decode(job["body"])
    adapter = client.session_for(identity).get_adapter(request.url)
    timeout = tuple(job["timeout"]) if job["timeout"] else None
    outcome = Outcome()
    started = time.perf_counter()
    with recording_connections(outcome.connections):
        try:
            sent = adapter.send(
                request,
                timeout=timeout,
                verify=True,
                cert=client.strategy.cert_argument(identity),
                proxies=job["proxies"],
            )
            raw = sent.raw
            body = raw.read(decode_content=False)  # the parent decodes, as requests would
            raw.release_conn()
        except Exception as error:  # every failure of the target is a result, not a crash
            outcome.fail(error)
        else:
            outcome.status, outcome.length = sent.status_code, len(body)
            outcome.reported = raw.headers.get(identity_header)
            outcome.response = {
                "status": sent.status_code,
                "reason": sent.reason,
                "headers": list(raw.headers.iteritems()),  # each Set-Cookie on its own
                "body": base64.b64encode(body).decode("ascii"),
            }
    outcome.elapsed_ms = (time.perf_counter() - started) * 1000.0
    return outcome


class _ReceivedMessage:
    """The part of http.client's response that requests reads cookies from (`msg`)."""

    def __init__(self, headers: list[list[str]]):
        self.msg = http.client.HTTPMessage()
        for name, value in headers:
            self.msg[name] = value  # appends: repeated headers stay separate

    def isclosed(self) -> bool:
        return True


def build_response(adapter, request: requests.PreparedRequest, answer: dict) -> requests.Response:
    """In the Locust process: the child's answer as the requests.Response that a
    greenlet request gets (cookies, encoding, decompression by requests' own code)."""
    headers = HTTPHeaderDict()
    for name, value in answer["headers"]:
        headers.add(name, value)
    raw = HTTPResponse(
        body=io.BytesIO(base64.b64decode(answer["body"])),
        headers=headers,
        status=answer["status"],
        reason=answer["reason"],
        preload_content=False,
        decode_content=False,
        original_response=_ReceivedMessage(answer["headers"]),
        request_method=request.method,
        request_url=request.url,
    )
    return adapter.build_response(request, raw)
