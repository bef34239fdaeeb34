"""Embedded mTLS echo server: answers every request with the client certificate it saw.

Each response carries `X-Client-Cert-Fingerprint` (SHA-256 of the leaf DER, lowercase hex,
or `none`) and `X-Client-Cert-Subject` (RFC 4514, or `none`) for the certificate presented
on *that* connection, and a JSON body with the same plus per-connection counters.
`GET /stats` and `POST /stats/reset` are the only special paths. gevent StreamServer and a
minimal HTTP/1.1 parser keep it far faster than the clients it measures.
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import http.client
import ipaddress
import json
import os
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from fractions import Fraction

import gevent
import gevent.monkey
import gevent.pool
import gevent.server
import gevent.ssl
from cryptography import x509

from . import tls
from .errors import ConfigError

HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 30.0  # keep-alive connection with no new request is closed after this
STOP_GRACE_S = 0.5  # open connections get this long to finish when the server stops
LINGER_S = 1.0  # how long a rejected client gets to read our alert before we close
MAX_HEAD_BYTES = 64 * 1024
CHILD_ERROR_PREFIX = "echo server: error: "
READY_PREFIX = "listening on "  # the child's one stdout line: "listening on https://..."


class Faults:
    """Fault-injection hooks; this base injects none.

    A hook returns None to carry on, or a reason string: the connection is then closed and
    counted in `handshake_failures` under that reason. Hooks may gevent.sleep() (delays).
    """

    def before_handshake(self, raw_socket: socket.socket) -> str | None:
        """Called on the accepted TCP socket, before any TLS byte is read."""
        return None

    def after_handshake(self, tls_socket: ssl.SSLSocket, fingerprint: str) -> str | None:
        """Called once the handshake succeeded, with the client's fingerprint or `none`."""
        return None


class InjectedFaults(Faults):
    """The fault modes of `locust-mtls serve`: reject identities, drop or delay handshakes.

    `reject`: client certificates, by common name or SHA-256 fingerprint, whose connection
    is closed right after the handshake, before any request is read ("rejected_identity").
    `drop_percent`: this share of connections, spread evenly (not random, so runs compare),
    gets a TCP reset once its ClientHello arrived, i.e. mid-handshake ("dropped").
    `delay_ms`: every handshake starts this much later (a slow or overloaded server).
    """

    def __init__(self, reject=(), drop_percent: float = 0.0, delay_ms: float = 0.0) -> None:
        if not 0.0 <= drop_percent <= 100.0:
            raise ConfigError(f"--drop-percent must be between 0 and 100, not {drop_percent:g}")
        if delay_ms < 0:
            raise ConfigError(f"--delay-ms must be 0 or more, not {delay_ms:g}")
        self.reject = tuple(reject)
        self._rejected = {_fingerprint_or_name(value) for value in self.reject}
        self.drop_percent = drop_percent
        self._drop_share = Fraction(str(drop_percent)) / 100  # exact: 29 % drops 29 in 100
        self.delay_ms = delay_ms
        self.connections = 0

    def before_handshake(self, raw_socket: socket.socket) -> str | None:
        """Delay, then drop every (100 / drop_percent)-th connection after its ClientHello."""
        if self.delay_ms:
            gevent.sleep(self.delay_ms / 1000.0)
        number, self.connections = self.connections, self.connections + 1
        if int((number + 1) * self._drop_share) == int(number * self._drop_share):
            return None
        with gevent.Timeout(HANDSHAKE_TIMEOUT_S, False):
            raw_socket.recv(1, socket.MSG_PEEK)  # the ClientHello is here: mid-handshake now
        # Linger 0: closing sends RST instead of FIN, as a crashing middlebox would.
        raw_socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return "dropped"

    def after_handshake(self, tls_socket: ssl.SSLSocket, fingerprint: str) -> str | None:
        """Refuse a listed identity: closed before its request is read."""
        if not self._rejected or fingerprint == "none":
            return None
        if fingerprint in self._rejected:
            return "rejected_identity"
        der = tls_socket.getpeercert(binary_form=True)
        names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(
            x509.oid.NameOID.COMMON_NAME
        )
        return "rejected_identity" if any(n.value in self._rejected for n in names) else None

    def to_args(self) -> list[str]:
        """The `locust-mtls serve` options that recreate these faults in a child process."""
        args = [arg for value in self.reject for arg in ("--reject-identity", value)]
        if self.drop_percent:
            args += ["--drop-percent", f"{self.drop_percent:g}"]
        if self.delay_ms:
            args += ["--delay-ms", f"{self.delay_ms:g}"]
        return args


def _fingerprint_or_name(value: str) -> str:
    """A SHA-256 fingerprint (any case, colons allowed) normalised; anything else is a name."""
    compact = value.replace(":", "").lower()
    is_fingerprint = len(compact) == 64 and all(c in "0123456789abcdef" for c in compact)
    return compact if is_fingerprint else value


class EchoStats:
    """Server counters; mutated only by the server's own gevent loop."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        self.connections = 0
        self.handshakes = 0
        self.requests = 0
        self.requests_by_fingerprint: dict[str, int] = {}
        self.handshake_failures: dict[str, int] = {}

    def snapshot(self) -> dict:
        """The counters as the JSON document served at /stats."""
        return {
            "connections": self.connections,
            "handshakes": self.handshakes,
            "requests": self.requests,
            "requests_by_fingerprint": dict(self.requests_by_fingerprint),
            "handshake_failures": dict(self.handshake_failures),
        }

    def count_failure(self, reason: str) -> None:
        """Count one connection that never got to serve a request."""
        self.handshake_failures[reason] = self.handshake_failures.get(reason, 0) + 1


class BadRequest(Exception):
    """The client sent something this parser will not serve; answer 400 and close."""


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


def header_safe(text: str) -> str:
    """RFC 4514 hex-escape anything that is not printable ASCII, so a header stays one line."""
    return "".join(
        c if c.isascii() and c.isprintable() else "".join(f"\\{b:02X}" for b in c.encode())
        for c in text
    )


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
    ) -> None:
        self.context = context
        self.stats = stats
        self.faults = faults
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
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
        if reason:
            self.stats.count_failure(reason)
            if tls_socket is not None:
                close_gently(tls_socket, linger=reason != "timeout")
            return
        self.stats.handshakes += 1
        try:
            tls_socket.settimeout(self.idle_timeout)
            self.serve_requests(tls_socket, fingerprint, subject, connection_id)
        except (OSError, EOFError):
            pass  # the client went away or idled out; nobody to tell
        finally:
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

    def serve_requests(self, tls_socket, fingerprint: str, subject: str, connection_id: int):
        """Read requests and answer each until the client or the protocol says close."""
        buffer = bytearray()
        connection_requests = 0
        while True:
            try:
                request = read_request(tls_socket, buffer)
            except BadRequest as error:
                send_response(tls_socket, 400, {"error": str(error)}, keep_alive=False)
                close_gently(tls_socket, linger=True)
                return
            if request is None:
                return
            method, target, keep_alive = request
            path = target.split(b"?", 1)[0]
            if method == b"GET" and path == b"/stats":
                body = self.stats.snapshot()
            elif method == b"POST" and path == b"/stats/reset":
                self.stats.reset()
                body = self.stats.snapshot()
            else:
                connection_requests += 1
                self.stats.requests += 1
                by_fp = self.stats.requests_by_fingerprint
                by_fp[fingerprint] = by_fp.get(fingerprint, 0) + 1
                body = {
                    "fingerprint": fingerprint,
                    "subject": subject,
                    "connection_requests": connection_requests,
                    "connection_id": connection_id,
                }
            send_response(
                tls_socket, 200, body, keep_alive, fingerprint, subject, head_only=method == b"HEAD"
            )
            if not keep_alive:
                return


def read_request(sock, buffer: bytearray) -> tuple[bytes, bytes, bool] | None:
    """Read one request (head and body) from sock; (method, target, keep_alive) or None at EOF."""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = bytes(buffer[:end]).lstrip(b"\r\n")  # RFC 9112 2.2: ignore leading CRLFs
            del buffer[: end + 4]
            if head:
                break
            continue
        if len(buffer) > MAX_HEAD_BYTES:
            raise BadRequest("request head larger than 64 KiB")
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    request_line, *header_lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest("malformed request line")
    method, target, version = parts
    headers = {}
    for line in header_lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise BadRequest("malformed header line")
        headers[name.strip().lower()] = value.strip().lower()
    if headers.get(b"expect") == b"100-continue":  # curl waits for this before a large body
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if b"chunked" in headers.get(b"transfer-encoding", b""):
        discard_chunked_body(sock, buffer)
    elif b"content-length" in headers:
        try:
            discard_bytes(sock, buffer, int(headers[b"content-length"]))
        except ValueError:
            raise BadRequest("invalid Content-Length") from None
    connection_tokens = headers.get(b"connection", b"")
    keep_alive = version == b"HTTP/1.1" and b"close" not in connection_tokens
    return method, target, keep_alive


def discard_bytes(sock, buffer: bytearray, count: int) -> None:
    """Consume exactly `count` body bytes (the echo does not need them)."""
    if count < 0:
        raise ValueError(count)
    while count > 0:
        if not buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed inside a request body")
            buffer += chunk
        taken = min(count, len(buffer))
        del buffer[:taken]
        count -= taken


def read_line(sock, buffer: bytearray) -> bytes:
    """One CRLF-terminated line (without the CRLF), for chunk sizes and trailers."""
    while (end := buffer.find(b"\r\n")) < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise BadRequest("chunk header line too long")
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed inside a chunked body")
        buffer += chunk
    line = bytes(buffer[:end])
    del buffer[: end + 2]
    return line


def discard_chunked_body(sock, buffer: bytearray) -> None:
    """Consume a chunked body, including trailers."""
    while True:
        try:
            size = int(read_line(sock, buffer).split(b";", 1)[0], 16)
        except ValueError:
            raise BadRequest("invalid chunk size") from None
        if size == 0:
            while read_line(sock, buffer):  # trailers end with an empty line
                pass
            return
        discard_bytes(sock, buffer, size + 2)  # chunk data and its CRLF


def send_response(
    sock,
    status: int,
    body: dict,
    keep_alive: bool,
    fingerprint: str = "none",
    subject: str = "none",
    head_only: bool = False,
) -> None:
    """Send one JSON response carrying the client-certificate headers."""
    payload = json.dumps(body).encode()
    head = (
        f"HTTP/1.1 {status} {http.client.responses[status]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"X-Client-Cert-Fingerprint: {fingerprint}\r\n"
        f"X-Client-Cert-Subject: {header_safe(subject)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode("ascii")
    sock.sendall(head if head_only else head + payload)


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


def check_loopback(host: str, allow_non_loopback: bool) -> None:
    """Refuse to listen beyond loopback unless explicitly allowed (--bind)."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (loopback or allow_non_loopback):
        raise ConfigError(f"--host {host} is not a loopback address; add --bind to serve on it")


def bind_listener(host: str, port: int) -> socket.socket:
    """Listening socket, or ConfigError if the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=1024)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use; pick another with --port or stop what holds it"
            ) from None
        raise ConfigError(f"cannot listen on {host} port {port}: {error.strerror}") from None
    listener.setblocking(False)
    return listener


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
        faults: Faults | None = None,
    ) -> None:
        check_loopback(host, allow_non_loopback)
        self.host = host
        self.port = port
        self.ca_file = ca_file
        self.stats = EchoStats()
        context = tls.server_context(cert_file, key_file, ca_file)
        self.handler = ConnectionHandler(
            context, self.stats, faults or Faults(), handshake_timeout, idle_timeout
        )
        self._server: gevent.server.StreamServer | None = None
        self._thread: threading.Thread | None = None
        self._hub = None

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:8443 (valid once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"

    def _listen_here(self, listener: socket.socket) -> None:
        # The pool lets stop() end keep-alive connections instead of waiting for them.
        self._server = gevent.server.StreamServer(listener, self.handler, spawn=gevent.pool.Pool())
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


def server_files(certs_dir: str) -> tuple[str, str, str]:
    """(cert, key, CA) paths inside a directory written by `locust-mtls certs`.

    Not checked here: tls.server_context names any missing file and says how to make it.
    """
    return tuple(os.path.join(certs_dir, name) for name in ("server.pem", "server.key", "ca.pem"))


class EchoServerProcess:
    """Handle on an echo server running as a child process (crash-isolated from Locust)."""

    def __init__(self, process: subprocess.Popen, url: str, log) -> None:
        self.process = process
        self.url = url
        self._log = log

    @property
    def pid(self) -> int:
        """Process id of the server child."""
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` s; reaps the child and returns its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self._log):
            if stream is not None:
                stream.close()
        return self.process.returncode

    def __enter__(self) -> EchoServerProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_echo_server_process(
    certs_dir: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_file: str | None = None,
    *,
    cert_file: str | None = None,
    key_file: str | None = None,
    ca_file: str | None = None,
    allow_non_loopback: bool = False,
    ready_timeout: float = 15.0,
    faults: InjectedFaults | None = None,
) -> EchoServerProcess:
    """Start `python -m locust_mtls.echo_server` and wait until it serves.

    Pass `certs_dir` or all three files; `faults` become the child's fault-mode options.
    The child exits by itself when this process dies (it watches its stdin pipe for EOF).
    Raises ConfigError with the child's own message if it cannot start.
    """
    if certs_dir is not None:
        cert_file, key_file, ca_file = server_files(certs_dir)
    if not (cert_file and key_file and ca_file):
        raise ValueError("pass certs_dir or cert_file, key_file and ca_file")
    command = [
        sys.executable,
        "-m",
        "locust_mtls.echo_server",
        "--cert",
        cert_file,
        "--key",
        key_file,
        "--ca",
        ca_file,
        "--host",
        host,
        "--port",
        str(port),
        "--exit-with-parent",
    ] + (["--bind"] if allow_non_loopback else [])
    command += faults.to_args() if faults else []
    # The child must import this very package, installed or not.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    log = open(log_file, "a+b") if log_file else tempfile.TemporaryFile()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        start_new_session=True,  # a Ctrl-C meant for Locust must not kill the server first
    )
    handle = EchoServerProcess(process, "", log)
    line = read_line_with_timeout(process.stdout.fileno(), ready_timeout)
    if line.startswith(READY_PREFIX):
        handle.url = line.removeprefix(READY_PREFIX)
        return handle
    try:
        process.wait(timeout=2)  # no URL: the child is most likely exiting; let it say why
    except subprocess.TimeoutExpired:
        pass
    log.seek(0)
    stderr_lines = log.read().decode(errors="replace").splitlines()
    handle.stop()
    errors = [line for line in stderr_lines if line.startswith(CHILD_ERROR_PREFIX)]
    if errors:
        raise ConfigError(errors[-1].removeprefix(CHILD_ERROR_PREFIX))
    last_line = stderr_lines[-1] if stderr_lines else "no output"
    raise ConfigError(
        f"echo server did not start within {ready_timeout:g} s "
        f"(exit code {process.returncode}): {last_line}"
    )


def read_line_with_timeout(fd: int, timeout: float) -> str:
    """One line from a pipe, or what arrived before EOF / the deadline."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n") and (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], remaining)
        chunk = os.read(fd, 4096) if readable else b""
        if readable and not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def fetch_stats(url: str, ca_file: str, timeout: float = 5.0, reset: bool = False) -> dict:
    """GET /stats (or POST /stats/reset) from an echo server, trusting `ca_file`."""
    parsed = urllib.parse.urlsplit(url)
    context = tls.client_context(ca_file)  # no client certificate: stats are not per identity
    connection = http.client.HTTPSConnection(
        parsed.hostname, parsed.port, context=context, timeout=timeout
    )
    try:
        connection.request("POST" if reset else "GET", "/stats/reset" if reset else "/stats")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{url}/stats answered {response.status}")
    return json.loads(body)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `locust-mtls serve`."""
    parser.add_argument("--certs", default="certs", help="directory from 'locust-mtls certs'")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8443, help="port (0 = any free port)")
    parser.add_argument("--bind", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--cert", help="server certificate (default: CERTS/server.pem)")
    parser.add_argument("--key", help="server key (default: CERTS/server.key)")
    parser.add_argument("--ca", help="CA that client certificates must chain to")
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
    # Explicit files win one by one; the rest come from --certs.
    files = [
        given or default
        for given, default in zip(
            (args.cert, args.key, args.ca), server_files(args.certs), strict=True
        )
    ]
    faults = InjectedFaults(args.reject_identity, args.drop_percent, args.delay_ms)
    server = EchoServer(
        *files, host=args.host, port=args.port, allow_non_loopback=args.bind, faults=faults
    )
    if args.exit_with_parent:
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
    parser = argparse.ArgumentParser(prog="python -m locust_mtls.echo_server")
    add_arguments(parser)
    try:
        sys.exit(run(parser.parse_args()))
    except ConfigError as error:
        print(f"{CHILD_ERROR_PREFIX}{error}", file=sys.stderr)
        sys.exit(ConfigError.exit_code)
