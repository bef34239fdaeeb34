"""The echo server's minimal HTTP/1.1: read one request (head and body), answer it.

Hand-written because the server must never be the benchmarks' bottleneck; it serves
keep-alive, `Connection: close`, HTTP/1.0, `Content-Length` and chunked bodies (up to
MAX_BODY_BYTES) and `Expect: 100-continue`.
"""

from __future__ import annotations

import http.client
import json
import time

MAX_HEAD_BYTES = 64 * 1024
# A request head must be whole this long after its first byte (nginx's client_header_timeout):
# the idle timeout starts again at every byte, so a header line every few seconds held a
# connection, and its file descriptor, for ever (#27). Waiting for a next request on a
# keep-alive connection is the idle timeout's business, not this one's.
HEAD_TIMEOUT_S = 10.0
MAX_BODY_BYTES = 16 * 1024 * 1024
MAX_TRAILER_LINES = 100
HEX_DIGITS = b"0123456789abcdefABCDEF"


class BadRequest(Exception):
    """The client sent something this parser will not serve; answer `status` and close."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class Request:
    """One parsed request. Header names are lowercase bytes, values as sent (stripped)."""

    __slots__ = ("method", "target", "headers", "body", "keep_alive")

    def __init__(self, method: bytes, target: bytes, headers: dict, body: bytes, keep_alive: bool):
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive


def header_safe(text: str) -> str:
    """RFC 4514 hex-escape anything that is not printable ASCII, so a header stays one line."""
    if text.isascii() and text.isprintable():  # nearly always: skip the per-character walk
        return text
    return "".join(
        c if c.isascii() and c.isprintable() else "".join(f"\\{b:02X}" for b in c.encode())
        for c in text
    )


def read_request(sock, buffer: bytearray, head_timeout: float = HEAD_TIMEOUT_S) -> Request | None:
    """Read one request (head and body) from sock; None at EOF before a request started.

    Raises BadRequest (400, 408, 413 or 501) for what it will not serve; EOFError when
    the connection closes inside a body.
    """
    deadline = None
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
        if buffer and deadline is None:
            deadline = time.monotonic() + head_timeout
        chunk = recv_before(sock, deadline, head_timeout) if deadline else sock.recv(65536)
        if not chunk:
            return None
        buffer += chunk
    request_line, *header_lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest("malformed request line")
    method, target, version = parts
    headers = parse_headers(header_lines)
    body = read_body(sock, buffer, headers)
    connection_tokens = headers.get(b"connection", b"").lower()
    keep_alive = version == b"HTTP/1.1" and b"close" not in connection_tokens
    return Request(method, target, headers, body, keep_alive)


def recv_before(sock, deadline: float, head_timeout: float) -> bytes:
    """sock.recv, bounded by `deadline` as well as by the socket's own (idle) timeout;
    BadRequest 408 once the deadline has passed."""
    idle = sock.gettimeout()
    remaining = deadline - time.monotonic()
    if remaining > 0:
        sock.settimeout(remaining if idle is None else min(idle, remaining))
        try:
            return sock.recv(65536)
        except TimeoutError:
            if time.monotonic() < deadline:
                raise  # the idle timeout: the client went quiet
        finally:
            sock.settimeout(idle)
    raise BadRequest(f"request head not complete within {head_timeout:g} s", status=408)


def parse_headers(lines: list[bytes]) -> dict[bytes, bytes]:
    """Header lines to {lowercase name: value}; repeated headers are joined as RFC 9110 5.3 says."""
    headers = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon:
            raise BadRequest("malformed header line")
        name = name.strip().lower()
        value = value.strip()
        if name in headers:  # RFC 6265 5.4: several Cookie headers join with "; "
            value = headers[name] + (b"; " if name == b"cookie" else b", ") + value
        headers[name] = value
    return headers


def read_body(sock, buffer: bytearray, headers: dict[bytes, bytes]) -> bytes:
    """The request body that the headers announce (b"" when none)."""
    transfer_encoding = headers.get(b"transfer-encoding")
    if transfer_encoding is not None:
        # RFC 9112 6.1: both headers at once is how requests get smuggled past a proxy.
        if b"content-length" in headers:
            raise BadRequest("both Content-Length and Transfer-Encoding")
        if transfer_encoding.lower() != b"chunked":
            raise BadRequest("only Transfer-Encoding: chunked is supported", status=501)
        send_continue_if_expected(sock, headers)
        return read_chunked_body(sock, buffer)
    length = headers.get(b"content-length")
    if length is None:
        return b""
    if not length.isdigit():  # int() would also take "+5", " 5" and "1_0"
        raise BadRequest("invalid Content-Length")
    count = int(length)
    if count > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
    send_continue_if_expected(sock, headers)
    return read_bytes(sock, buffer, count)


def send_continue_if_expected(sock, headers: dict[bytes, bytes]) -> None:
    """curl waits for `100 Continue` before a large body; sent only once the size is fine."""
    if headers.get(b"expect", b"").lower() == b"100-continue":
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")


def read_bytes(sock, buffer: bytearray, count: int) -> bytes:
    """Exactly `count` bytes from buffer, then from sock."""
    while len(buffer) < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed inside a request body")
        buffer += chunk
    data = bytes(buffer[:count])
    del buffer[:count]
    return data


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


def read_chunked_body(sock, buffer: bytearray) -> bytes:
    """A chunked body (RFC 9112 7.1), decoded; trailers are read and dropped."""
    body = bytearray()
    while True:
        size_text = read_line(sock, buffer).split(b";", 1)[0].strip()
        if not size_text or size_text.strip(HEX_DIGITS):
            raise BadRequest("invalid chunk size")
        size = int(size_text, 16)
        if len(body) + size > MAX_BODY_BYTES:
            raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes", status=413)
        if size == 0:
            for _ in range(MAX_TRAILER_LINES):
                if not read_line(sock, buffer):  # trailers end with an empty line
                    return bytes(body)
            raise BadRequest("too many trailer lines")
        body += read_bytes(sock, buffer, size)
        if read_bytes(sock, buffer, 2) != b"\r\n":
            raise BadRequest("chunk data not followed by CRLF")


def send_response(
    sock,
    status: int,
    body: dict | list | str,
    keep_alive: bool,
    fingerprint: str = "none",
    subject: str = "none",
    head_only: bool = False,
    extra_headers: str = "",
) -> None:
    """Send one JSON response carrying the client-certificate headers.

    `body` is encoded with json.dumps, unless it is a str: JSON text already.
    `extra_headers`: complete header lines, each ending in CRLF (e.g. a Set-Cookie).
    """
    payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    head = (
        f"HTTP/1.1 {status} {http.client.responses[status]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        f"X-Client-Cert-Fingerprint: {fingerprint}\r\n"
        f"X-Client-Cert-Subject: {header_safe(subject)}\r\n{extra_headers}"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode("ascii")
    sock.sendall(head if head_only else head + payload)
