"""Embedded mTLS echo server: answers every request with the client certificate it saw.

Each response carries `X-Client-Cert-Fingerprint` (SHA-256 of the leaf DER, lowercase hex,
or `none`) and `X-Client-Cert-Subject` (RFC 4514, or `none`) for the certificate presented
on *that* connection. Any method and path is answered: a JSON echo of the request (method,
path, query, body length and SHA-256, TLS version, cipher, per-connection counters), plus
a few realistic routes (`/health`, `/login` with a session cookie, `/orders`, `/private`)
and `GET /stats` / `POST /stats/reset`; routes.py documents every route and field.
gevent StreamServer and a minimal HTTP/1.1 parser keep it far faster than the clients it
measures.

A client certificate refused by a fault mode (`--reject-identity`) gets no HTTP answer:
its connection is closed after its first request head arrives, except `GET /private`,
which gets 403 Forbidden before the close (a gateway's authorisation refusal).
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import math
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable

import gevent
import gevent.monkey
import gevent.ssl
from cryptography import x509

from locust_mtls.errors import ConfigError
from locust_mtls.processes import die_with_parent
from locust_mtls.server.faults import HANDSHAKE_TIMEOUT_S, Faults, InjectedFaults
from locust_mtls.server.http import HEAD_TIMEOUT_S, BadRequest, read_request, send_response
from locust_mtls.server.listener import Listener, bind_listener, check_loopback
from locust_mtls.server.process import (
    CHILD_ERROR_PREFIX,
    READY_PREFIX,
    EchoServerProcess,
    fetch_stats,
    read_line_with_timeout,
    server_files,
    start_echo_server_process,
)
from locust_mtls.server.routes import Connection, EchoStats, Routes, is_private
from locust_mtls.tls import contexts as tls
from locust_mtls.tls import key_material

# The server's public face; the subprocess handle, HTTP parsing, routes and fault modes
# live in process.py, http.py, routes.py and faults.py.
__all__ = [
    "EchoServer",
    "EchoServerProcess",
    "EchoStats",
    "Faults",
    "InjectedFaults",
    "fetch_stats",
    "read_line_with_timeout",
    "server_files",
    "start_echo_server_process",
]

IDLE_TIMEOUT_S = 30.0  # keep-alive connection with no new request is closed after this
STOP_GRACE_S = 0.5  # open connections get this long to finish when the server stops
LINGER_S = 1.0  # how long a rejected client gets to read our alert before we close


def failure_reason(error: BaseException) -> str:
    """Short counter key for a failed handshake, e.g. CERTIFICATE_VERIFY_FAILED, eof, timeout."""
    if isinstance(error, TimeoutError | gevent.Timeout):
        return "timeout"
    if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError | EOFError):
        return "eof"
    if isinstance(error, ssl.SSLError):
        return error.reason or type(error).__name__
    if isinstance(error, OSError) and error.errno in (errno.ECONNRESET, errno.EPIPE):
        return "eof"
    return type(error).__name__


class ConnectionHandler:
    """Serves one accepted connection: handshake, then HTTP/1.1 requests until close.

    Fault modes hook in through `Faults` at the two marked points in `__call__`.
    """

    def __init__(
        self,
        context,
        stats: EchoStats,
        faults: Faults,
        handshake_timeout: float,
        idle_timeout: float,
        head_timeout: float = HEAD_TIMEOUT_S,
    ) -> None:
        self.context = context
        self.stats = stats
        self.routes = Routes(stats)
        self.faults = faults
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.head_timeout = head_timeout
        self.subjects: dict[str, str] = {}  # fingerprint -> RFC 4514 subject
        self.last_connection_id = 0

    def __call__(self, raw_socket: socket.socket, address: tuple) -> None:
        self.stats.connections += 1
        self.last_connection_id += 1
        connection_id = self.last_connection_id
        reason = self.faults.before_handshake(raw_socket)  # hook: drop / delay
        if reason:
            self.stats.count_failure(reason)
            return  # StreamServer closes raw_socket
        tls_socket = None
        refused_identity = False
        try:
            with gevent.Timeout(self.handshake_timeout):
                # `_context` is how gevent's own SSLContext.wrap_socket passes a context;
                # it lets the plain ssl.SSLContext from tls.py drive a cooperative socket.
                tls_socket = gevent.ssl.SSLSocket(
                    raw_socket,
                    server_side=True,
                    do_handshake_on_connect=False,
                    _context=self.context,
                )
                tls_socket.do_handshake()
        except (OSError, EOFError, gevent.Timeout) as error:
            reason = failure_reason(error)
        else:
            fingerprint, subject = self.peer_identity(tls_socket)
            reason = self.faults.after_handshake(tls_socket, fingerprint)  # hook: reject
            refused_identity = bool(reason)
        if reason:
            self.stats.count_failure(reason)
            if refused_identity:
                answer_refused_identity(tls_socket, fingerprint, subject)
            if tls_socket is not None:
                close_gently(tls_socket, linger=reason != "timeout")
            return
        self.stats.count_handshake(tls_socket)
        try:
            tls_socket.settimeout(self.idle_timeout)
            connection = Connection(tls_socket, connection_id, fingerprint, subject)
            self.serve_requests(tls_socket, connection)
        except (OSError, EOFError):
            pass  # the client went away or idled out; nobody to tell
        finally:
            if tls_socket.version() == "TLSv1.2":
                send_close_notify(tls_socket)  # TLS 1.3 tickets do not need it
            tls_socket.close()

    def peer_identity(self, tls_socket: ssl.SSLSocket) -> tuple[str, str]:
        """(fingerprint, subject) of the client leaf certificate, or ("none", "none")."""
        der = tls_socket.getpeercert(binary_form=True)
        if not der:
            return "none", "none"
        fingerprint = hashlib.sha256(der).hexdigest()
        subject = self.subjects.get(fingerprint)
        if subject is None:
            subject = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            if len(self.subjects) > 100_000:  # bound memory against endless new identities
                self.subjects.clear()
            self.subjects[fingerprint] = subject
        return fingerprint, subject

    def serve_requests(self, tls_socket, connection: Connection) -> None:
        """Read requests and answer each until the client or the protocol says close."""
        buffer = bytearray()
        identity = connection.fingerprint, connection.subject
        while True:
            try:
                request = read_request(tls_socket, buffer, self.head_timeout)
            except BadRequest as error:
                send_response(tls_socket, error.status, {"error": str(error)}, False, *identity)
                close_gently(tls_socket, linger=True)
                return
            if request is None:
                return
            status, body, extra_headers = self.routes.answer(request, connection)
            send_response(
                tls_socket,
                status,
                body,
                request.keep_alive,
                *identity,
                head_only=request.method == b"HEAD",
                extra_headers=extra_headers,
            )
            if not request.keep_alive:
                return


def answer_refused_identity(tls_socket, fingerprint: str, subject: str) -> None:
    """`GET /private` from a refused identity gets 403; anything else no answer at all.

    Waits at most LINGER_S for the first request head, as close_gently would anyway.
    """
    with gevent.Timeout(LINGER_S, False):
        try:
            request = read_request(tls_socket, bytearray())
        except (BadRequest, OSError, EOFError):
            return
        if request is not None and is_private(request):
            refusal = {"error": "this client certificate is refused"}
            send_response(tls_socket, 403, refusal, False, fingerprint, subject)


def send_close_notify(tls_socket) -> None:
    """End TLS with close_notify, without waiting for the client's.

    Without SSL_shutdown, SSL_free drops the connection's session from the server's cache
    (OpenSSL ssl_clear_bad_session), so no TLS 1.2 client could ever resume a session;
    nginx sends close_notify too. Non-blocking: the first SSL_shutdown call sends ours,
    the second would wait for the client's, which we do not need.
    """
    try:
        tls_socket.settimeout(0.0)
        tls_socket.unwrap()
    except (OSError, ValueError):
        pass  # want-read (the client's close_notify is not here yet) or already gone


def close_gently(sock: socket.socket, linger: bool) -> None:
    """Close so the client can still read our last bytes (a TLS alert, a 400): closing with
    unread client data in our buffer makes the kernel send RST, which the client sees instead."""
    try:
        if linger:
            sock.shutdown(socket.SHUT_WR)
            with gevent.Timeout(LINGER_S, False):
                while sock.recv(65536):
                    pass
    except OSError:
        pass
    finally:
        sock.close()


class EchoServer:
    """The echo server in this process: `start()` / `stop()`, or a `with` block.

    Under gevent monkey-patching (Locust) it runs in the current hub; otherwise in a
    dedicated thread with its own hub, so plain test code can block freely.
    """

    def __init__(
        self,
        cert_file: str,
        key_file: str,
        ca_file: str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_non_loopback: bool = False,
        handshake_timeout: float = HANDSHAKE_TIMEOUT_S,
        idle_timeout: float = IDLE_TIMEOUT_S,
        head_timeout: float = HEAD_TIMEOUT_S,
        faults: Faults | None = None,
    ) -> None:
        check_loopback(host, allow_non_loopback)
        self.host = host
        self.port = port
        self.ca_file = ca_file
        self.stats = EchoStats()
        context = tls.server_context(cert_file, key_file, ca_file)
        self.handler = ConnectionHandler(
            context, self.stats, faults or Faults(), handshake_timeout, idle_timeout, head_timeout
        )
        self._server: Listener | None = None
        self._thread: threading.Thread | None = None
        self._hub = None

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:8443 (valid once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def _listen_here(self, listener: socket.socket) -> None:
        self._server = Listener(listener, self.handler)
        self._server.start()

    def _bind(self) -> socket.socket:
        listener = bind_listener(self.host, self.port)
        self.port = listener.getsockname()[1]
        return listener

    def start(self) -> EchoServer:
        """Bind (ConfigError if the port is taken) and start serving in the background."""
        listener = self._bind()
        if gevent.monkey.is_module_patched("socket"):
            self._listen_here(listener)
            return self
        started = threading.Event()
        self._thread = threading.Thread(
            target=self._run_own_hub, args=(listener, started), name="echo-server", daemon=True
        )
        self._thread.start()
        started.wait()
        if self._server is None:  # the thread already printed why
            raise RuntimeError("echo server thread failed to start")
        return self

    def _run_own_hub(self, listener: socket.socket, started: threading.Event) -> None:
        self._hub = gevent.get_hub()
        try:
            self._listen_here(listener)
        finally:
            started.set()
        try:
            self._server.serve_forever(stop_timeout=STOP_GRACE_S)
        finally:
            self._hub.destroy(destroy_loop=True)

    def stop(self) -> None:
        """Stop accepting, end open connections, release the port."""
        if self._thread is not None:
            # gevent objects belong to their hub's thread: ask that thread to close.
            self._hub.loop.run_callback_threadsafe(self._server.close)
            self._thread.join(timeout=10)
            self._thread = None
        elif self._server is not None:
            self._server.stop(timeout=STOP_GRACE_S)
        self._server = None

    def serve_forever(self, on_ready: Callable[[str], None] = lambda url: None) -> None:
        """Serve in this (main) thread until SIGTERM or SIGINT."""
        self._listen_here(self._bind())
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(signal_number, self._server.close)
        on_ready(self.url)
        self._server.serve_forever(stop_timeout=STOP_GRACE_S)

    def __enter__(self) -> EchoServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def port_number(text: str) -> int:
    """argparse type: 0..65535 (argparse turns the ValueError into one line, exit code 2)."""
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError(text)
    return port


port_number.__name__ = "port (0-65535)"  # argparse's message: "invalid port (0-65535) value"


def seconds(text: str) -> float:
    """argparse type: a finite number of seconds > 0."""
    value = float(text)
    if not 0 < value < math.inf:
        raise ValueError(text)
    return value


seconds.__name__ = "seconds (> 0)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `locust-mtls serve`."""
    parser.add_argument("--certs", default="certs", help="directory from 'locust-mtls certs'")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=port_number, default=8443, help="port (0: any free port)")
    parser.add_argument("--bind", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--cert", help="server certificate (default: CERTS/server.pem)")
    parser.add_argument("--key", help="server key (default: CERTS/server.key)")
    parser.add_argument(
        "--ca", help="CA that client certificates must chain to (default: CERTS/ca.pem)"
    )
    parser.add_argument(
        "--head-timeout",
        type=seconds,
        default=HEAD_TIMEOUT_S,
        help="seconds a request head may take from its first byte, else 408 (default %(default)g)",
    )
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    faults = parser.add_argument_group("fault modes (for testing load tools)")
    faults.add_argument(
        "--reject-identity",
        action="append",
        default=[],
        metavar="NAME_OR_FINGERPRINT",
        help="close this client's connection right after the handshake (repeatable)",
    )
    faults.add_argument(
        "--drop-percent",
        type=float,
        default=0.0,
        help="reset this %% of connections mid-handshake",
    )
    faults.add_argument("--delay-ms", type=float, default=0.0, help="delay every handshake")


def run(args: argparse.Namespace) -> int:
    """`locust-mtls serve`: serve until SIGTERM / Ctrl-C."""
    key_material.forbid_core_dumps()  # it holds the server's private key
    # Explicit files win one by one; the rest come from --certs.
    files = [
        given or default
        for given, default in zip(
            (args.cert, args.key, args.ca), server_files(args.certs), strict=True
        )
    ]
    faults = InjectedFaults(args.reject_identity, args.drop_percent, args.delay_ms)
    server = EchoServer(
        *files,
        host=args.host,
        port=args.port,
        allow_non_loopback=args.bind,
        head_timeout=args.head_timeout,
        faults=faults,
    )
    if args.exit_with_parent:
        die_with_parent(os.getppid(), signal.SIGTERM)  # even when it is SIGKILLed
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    server.serve_forever(on_ready=lambda url: print(READY_PREFIX + url, flush=True))
    return 0


def exit_when_stdin_closes() -> None:
    """Our parent holds our stdin pipe open; EOF means it died (or stopped us): shut down."""
    # os.read, not sys.stdin.buffer: a daemon thread parked inside the buffered reader
    # holds its lock, and interpreter shutdown then aborts ("could not acquire lock").
    while os.read(sys.stdin.fileno(), 4096):
        pass
    os.kill(os.getpid(), signal.SIGTERM)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m locust_mtls.server.echo")
    add_arguments(parser)
    try:
        sys.exit(run(parser.parse_args()))
    except ConfigError as error:
        print(f"{CHILD_ERROR_PREFIX}{error}", file=sys.stderr)
        sys.exit(ConfigError.exit_code)
