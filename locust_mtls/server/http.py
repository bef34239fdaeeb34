"""The echo server's minimal HTTP/1.1: read one request head, skip its body, answer.

Hand-written because the server must never be the benchmarks' bottleneck; it serves
keep-alive, `Connection: close`, HTTP/1.0, chunked bodies and `Expect: 100-continue`.
"""

from __future__ import annotations

import http.client
import json

MAX_HEAD_BYTES = 64 * 1024


class BadRequest(Exception):
    """The client sent something this parser will not serve; answer 400 and close."""


def header_safe(text: str) -> str:
    """RFC 4514 hex-escape anything that is not printable ASCII, so a header stays one line."""
    return "".join(
        c if c.isascii() and c.isprintable() else "".join(f"\\{b:02X}" for b in c.encode())
        for c in text
    )


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
