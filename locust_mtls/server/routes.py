"""What the echo server answers: the echo of any request, a few realistic routes, /stats.

Every response carries `X-Client-Cert-Fingerprint` / `X-Client-Cert-Subject`. Routes (any
other method or path, e.g. `DELETE /orders/1` or `GET /login`, is echoed):

    GET  /health        200 {"status": "ok"}, with or without a client certificate
    POST /login         200 echo + "session"; `Set-Cookie: session=<random>; Path=/; ...`
    POST /orders        201 {"id": N, ...the JSON object sent...}; 400 if not a JSON object
    GET  /orders/{id}   200 that order, 404 unknown; the last 10,000 orders per server
    GET  /private       401 without a client certificate, 200 echo with one, 403 for an
                        identity refused by a fault mode (`--reject-identity`, see echo.py)
    GET  /stats         the server's counters; POST /stats/reset zeroes them (neither counts
                        as a request)

The echo is a JSON object: `fingerprint`, `subject` (or "none"), `method`, `path` (as sent,
not percent-decoded), `query` (`urllib.parse.parse_qs` of the query string with blank
values kept: {"name": ["value", ...]}), `body_length`, `body_sha256` (hex, of the decoded
body), `tls_version`, `cipher`, `session_reused`, `connection_id`, `connection_requests`
(1-based count of requests this connection has served), `cookie_session` (the `session`
cookie if this server issued it at /login, else null) and `session_fingerprint` (who logged
in with that session, else null: a different identity reusing it is worth a look).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import ssl
from json.encoder import encode_basestring_ascii as json_string
from urllib.parse import parse_qs

from locust_mtls.server.http import Request

MAX_ORDERS = 10_000
MAX_SESSIONS = 100_000
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
CONTROL_ROUTES = {(b"GET", b"/stats"), (b"POST", b"/stats/reset")}
SESSION_COOKIE_ATTRIBUTES = "Path=/; Secure; HttpOnly; SameSite=Lax"

# status, JSON body (a str is JSON text already), extra header lines (each ending in CRLF)
Answer = tuple[int, dict | str, str]


class EchoStats:
    """Server counters; mutated only by the server's own gevent loop."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.connections = 0
        self.handshakes = 0
        self.resumed = 0  # handshakes that resumed a TLS session (no certificate check)
        self.tls_versions: dict[str, int] = {}  # negotiated version -> handshakes
        self.requests = 0
        self.requests_by_fingerprint: dict[str, int] = {}
        self.handshake_failures: dict[str, int] = {}

    def snapshot(self) -> dict:
        """The counters as the JSON document served at /stats."""
        return {
            "connections": self.connections,
            "handshakes": self.handshakes,
            "resumed": self.resumed,
            "tls_versions": dict(self.tls_versions),
            "requests": self.requests,
            "requests_by_fingerprint": dict(self.requests_by_fingerprint),
            "handshake_failures": dict(self.handshake_failures),
        }

    def count_handshake(self, tls_socket: ssl.SSLSocket) -> None:
        """Count one completed handshake: resumed or full, and its TLS version."""
        self.handshakes += 1
        self.resumed += tls_socket.session_reused
        version = tls_socket.version() or "unknown"
        self.tls_versions[version] = self.tls_versions.get(version, 0) + 1

    def count_failure(self, reason: str) -> None:
        """Count one connection that never got to serve a request."""
        self.handshake_failures[reason] = self.handshake_failures.get(reason, 0) + 1


class Connection:
    """What the requests of one TLS connection share: who, which TLS, how many so far."""

    __slots__ = ("connection_id", "fingerprint", "subject", "echo_head", "requests")

    def __init__(
        self, tls_socket: ssl.SSLSocket, connection_id: int, fingerprint: str, subject: str
    ) -> None:
        self.connection_id = connection_id
        self.fingerprint = fingerprint
        self.subject = subject
        self.requests = 0
        # The echo's fields that never change on this connection, encoded once: the echo
        # is the hot path, and json.dumps of the whole document per request costs ~10 %.
        self.echo_head = json.dumps(
            {
                "fingerprint": fingerprint,
                "subject": subject,
                "connection_id": connection_id,
                "tls_version": tls_socket.version(),
                "cipher": tls_socket.cipher()[0],
                "session_reused": tls_socket.session_reused,
            }
        ).removesuffix("}")


class Routes:
    """Answers parsed requests; holds the per-server state (orders, login sessions)."""

    def __init__(self, stats: EchoStats) -> None:
        self.stats = stats
        self.orders: dict[int, dict] = {}
        self.last_order_id = 0
        self.sessions: dict[str, str] = {}  # session cookie value -> fingerprint at login
        self.routes = {
            (b"GET", b"/health"): self.health,
            (b"POST", b"/login"): self.login,
            (b"POST", b"/orders"): self.create_order,
            (b"GET", b"/private"): self.private,
        }

    def answer(self, request: Request, connection: Connection) -> Answer:
        """(status, JSON body, extra header lines) for one request on `connection`."""
        path, _, query = request.target.partition(b"?")
        key = (request.method, path)
        if key in CONTROL_ROUTES:
            if path == b"/stats/reset":
                self.stats.reset()
            return 200, self.stats.snapshot(), ""
        connection.requests += 1
        self.stats.requests += 1
        by_fingerprint = self.stats.requests_by_fingerprint
        by_fingerprint[connection.fingerprint] = by_fingerprint.get(connection.fingerprint, 0) + 1
        route = self.routes.get(key)
        if route is not None:
            return route(request, connection, path, query)
        if request.method == b"GET" and path.startswith(b"/orders/"):
            return self.read_order(path.removeprefix(b"/orders/"))
        return 200, self.echo(request, connection, path, query), ""

    def echo(self, request: Request, connection: Connection, path: bytes, query: bytes) -> str:
        """The echo document (module docstring) of one request, as JSON text."""
        body = request.body
        cookie = request.headers.get(b"cookie")
        session = session_cookie(cookie) if cookie else None
        session_fingerprint = self.sessions.get(session) if session else None
        query_text = query.decode("utf-8", "replace")
        # Strings go through json's own C escaper, as json.dumps would do.
        return (
            f'{connection.echo_head}, "connection_requests": {connection.requests}, '
            f'"method": {json_string(request.method.decode("latin-1"))}, '
            f'"path": {json_string(path.decode("utf-8", "replace"))}, '
            f'"query": {json.dumps(parse_qs(query_text, True)) if query else "{}"}, '
            f'"body_length": {len(body)}, '
            f'"body_sha256": "{hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256}", '
            f'"cookie_session": {json_or_null(session_fingerprint and session)}, '
            f'"session_fingerprint": {json_or_null(session_fingerprint)}}}'
        )

    def health(self, request, connection, path, query) -> Answer:
        return 200, {"status": "ok"}, ""

    def login(self, request, connection, path, query) -> Answer:
        """A new session for whoever asks; its cookie identifies later requests."""
        session = secrets.token_hex(16)
        self.sessions[session] = connection.fingerprint
        if len(self.sessions) > MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]  # oldest first: dicts keep order
        body = json.loads(self.echo(request, connection, path, query))  # login is no hot path
        body["session"] = session
        return 200, body, f"Set-Cookie: session={session}; {SESSION_COOKIE_ATTRIBUTES}\r\n"

    def create_order(self, request, connection, path, query) -> Answer:
        """Store the JSON object sent under a new id (ours wins over an `id` sent)."""
        try:
            fields = json.loads(request.body)
        except (ValueError, RecursionError):  # also UnicodeDecodeError; "[[[[..." nests too deep
            fields = None
        if not isinstance(fields, dict):
            return 400, {"error": "POST /orders needs a JSON object body"}, ""
        self.last_order_id += 1
        order_id = self.last_order_id
        order = {"id": order_id}
        order.update((name, value) for name, value in fields.items() if name != "id")
        self.orders[order_id] = order
        self.orders.pop(order_id - MAX_ORDERS, None)
        return 201, order, f"Location: /orders/{order_id}\r\n"

    def read_order(self, order_id: bytes) -> Answer:
        # bounded length: int() refuses over 4300 digits (CVE-2020-10735)
        known = order_id.isdigit() and len(order_id) < 19
        order = self.orders.get(int(order_id)) if known else None
        if order is None:
            return 404, {"error": f"no order {order_id.decode('utf-8', 'replace')}"}, ""
        return 200, order, ""

    def private(self, request, connection, path, query) -> Answer:
        if connection.fingerprint == "none":
            return 401, {"error": "GET /private needs a client certificate"}, ""
        return 200, self.echo(request, connection, path, query), ""


def is_private(request: Request) -> bool:
    """Is this `GET /private`, the route that answers a refused identity with 403?"""
    return request.method == b"GET" and request.target.partition(b"?")[0] == b"/private"


def json_or_null(text: str | None) -> str:
    return json_string(text) if text else "null"


def session_cookie(header: bytes) -> str | None:
    """Value of the `session` cookie in a Cookie header, or None."""
    for pair in header.split(b";"):
        name, _, value = pair.strip().partition(b"=")
        if name == b"session":
            return value.decode("latin-1")
    return None
