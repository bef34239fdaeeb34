"""Failure classes: one stable, human name per way a request can fail.

Locust's failures table groups failures by their message, so a message must not carry
ports, addresses, timings or file names: each class below is one row per request
name, and one counter in the mTLS stats. `classify()` reads an exception raised by
requests / urllib3 / ssl and returns its class; the raw text stays in `detail`.

Tell the target's failures apart from the client's own: everything under "target" is
what the server or the network did; "client" classes say the load generator failed.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Iterator

# -- the target (network, TLS, HTTP) --
CONNECTION_REFUSED = "connection refused"
CONNECT_TIMEOUT = "connect timeout"
NAME_NOT_RESOLVED = "host name not resolved"
NOT_TLS = "target does not speak TLS"
RESET_IN_HANDSHAKE = "reset during handshake"
CLOSED_IN_HANDSHAKE = "closed during handshake"
HANDSHAKE_TIMEOUT = "handshake timeout"
SERVER_NOT_TRUSTED = "server certificate not trusted"
SERVER_CERT_EXPIRED = "server certificate expired"
SERVER_CERT_NOT_YET_VALID = "server certificate not yet valid"
WRONG_HOST_NAME = "wrong server host name"
REJECTED_CLIENT_CERT = "server rejected client certificate (alert: {alert})"
TLS_ALERT = "server ended the handshake (alert: {alert})"
RESET = "connection reset"
CLOSED = "connection closed before response"
READ_TIMEOUT = "read timeout"
HTTP_STATUS = "HTTP {hundreds}xx"
# -- identity check (checks.py): the server saw the wrong certificate --
WRONG_IDENTITY = "wrong identity"
MISSING_CERTIFICATE = "missing certificate"
CERT_BLEED = "cert bleed"
IDENTITY_NOT_REPORTED = "identity not reported"
# -- the client itself --
CLIENT_CRASH = "client crash"
CLIENT_CERT_UNUSABLE = "client certificate could not be loaded"
CLIENT_TLS_STATE_CORRUPTED = "client-side TLS state corrupted (shared-context race)"
NO_ENGINE_ANSWER = "no answer from the native-thread engine"
OTHER = "other error ({type})"

IDENTITY_CHECK_CLASSES = {
    "wrong_identity": WRONG_IDENTITY,
    "missing_certificate": MISSING_CERTIFICATE,
    "bleed": CERT_BLEED,
    "unreported": IDENTITY_NOT_REPORTED,
}

# Alerts a server sends when it does not accept the client certificate (RFC 8446 6.2).
CERTIFICATE_ALERTS = {
    "bad certificate",
    "unsupported certificate",
    "certificate revoked",
    "certificate expired",
    "certificate unknown",
    "unknown ca",
    "access denied",
    "certificate required",
}
# Every identity's certificate and key were checked to belong together at start
# (identity.py), so these mean two threads mixed them in one shared SSLContext (requests
# 2.32's preloaded context, psf/requests#6667; CPython gh-141012): the client's fault.
# "decrypt error" is the server's answer to a CertificateVerify signed by another
# identity's key.
CLIENT_STATE_REASONS = {"KEY_VALUES_MISMATCH", "NO_PRIVATE_VALUE"}
CLIENT_STATE_ALERTS = {"decrypt error"}
# OpenSSL's reasons when the peer answered a ClientHello with something that is not TLS
# (a plain HTTP server answers "HTTP/1.1 400": "wrong version number").
NOT_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "UNKNOWN_PROTOCOL",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
    "HTTP_REQUEST",
    "UNEXPECTED_MESSAGE",
}
ALERT_REASON = re.compile(r"^(?:SSLV3|TLSV1|TLSV13)_ALERT_(\w+)$")


def http_class(status: int) -> str:
    """The counter of an HTTP error status: "HTTP 4xx" or "HTTP 5xx"."""
    return HTTP_STATUS.format(hundreds=status // 100)


def classify(error: BaseException) -> str:
    """The failure class of an exception from one request (requests, urllib3, ssl, or
    another client library whose exceptions wrap them)."""
    chain = list(exception_chain(error))
    in_handshake = any(raised_in_handshake(e) for e in chain)
    ssl_errors = [e for e in chain if isinstance(e, ssl.SSLError)]
    for ssl_error in ssl_errors:
        name = _ssl_class(ssl_error, in_handshake)
        if name:
            return name
    names = {type(e).__name__ for e in chain}
    if "ConfigError" in names or any(_is_missing_cert_file(e) for e in chain):
        return CLIENT_CERT_UNUSABLE
    if any(isinstance(e, socket.gaierror) for e in chain):
        return NAME_NOT_RESOLVED
    if any(_errno(e) == errno.ECONNREFUSED for e in chain):
        return CONNECTION_REFUSED
    timed_out = any(isinstance(e, TimeoutError) for e in chain)
    if timed_out and in_handshake:  # httpx says ConnectTimeout for a handshake's too
        return HANDSHAKE_TIMEOUT
    if "ConnectTimeoutError" in names or "ConnectTimeout" in names:
        return CONNECT_TIMEOUT
    if timed_out or "ReadTimeoutError" in names:
        return HANDSHAKE_TIMEOUT if in_handshake else READ_TIMEOUT
    if any(_errno(e) in (errno.ECONNRESET, errno.EPIPE) for e in chain):
        return RESET_IN_HANDSHAKE if in_handshake else RESET
    if ssl_errors and in_handshake:  # EOF or an unnamed TLS error mid-handshake
        return CLOSED_IN_HANDSHAKE
    if ssl_errors or names & {"RemoteDisconnected", "IncompleteRead", "ProtocolError"}:
        return CLOSED
    return OTHER.format(type=type(chain[-1]).__name__)


def _ssl_class(error: ssl.SSLError, in_handshake: bool) -> str | None:
    if isinstance(error, ssl.SSLCertVerificationError):
        message = (error.verify_message or "").lower()
        if "mismatch" in message:  # "Hostname mismatch" / "IP address mismatch"
            return WRONG_HOST_NAME
        if "expired" in message:
            return SERVER_CERT_EXPIRED
        if "not yet valid" in message:
            return SERVER_CERT_NOT_YET_VALID
        return SERVER_NOT_TRUSTED
    reason = error.reason or ""
    alert = ALERT_REASON.match(reason)
    if alert:
        name = alert.group(1).lower().replace("_", " ")
        if name in CLIENT_STATE_ALERTS:
            return CLIENT_TLS_STATE_CORRUPTED
        template = REJECTED_CLIENT_CERT if name in CERTIFICATE_ALERTS else TLS_ALERT
        return template.format(alert=name)
    if reason in NOT_TLS_REASONS:
        return NOT_TLS
    if reason in CLIENT_STATE_REASONS:
        return CLIENT_TLS_STATE_CORRUPTED
    if reason in ("PEM_LIB", "CA_MD_TOO_WEAK", "EE_KEY_TOO_SMALL"):
        return CLIENT_CERT_UNUSABLE
    if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return CLOSED_IN_HANDSHAKE if in_handshake else CLOSED
    return None


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every exception it wraps: causes, contexts, urllib3's `reason`,
    and exceptions passed as arguments (requests wraps urllib3's that way)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += list(current.args)
        pending += [e for e in nested if isinstance(e, BaseException)]


def raised_in_handshake(error: BaseException) -> bool:
    """Whether `error` came out of a TLS handshake (ssl's or gevent's do_handshake).

    urllib3 reports a handshake that timed out as a *read* timeout and a reset handshake
    as a plain "Connection aborted", exactly like the same faults after the request
    was sent; only the frames the error passed through tell them apart.
    """
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_name == "do_handshake":
            return True
        traceback = traceback.tb_next
    return False


def _errno(error: BaseException) -> int | None:
    return error.errno if isinstance(error, OSError) else None


def _is_missing_cert_file(error: BaseException) -> bool:
    # The only files a request opens are its certificate, key and CA files: urllib3
    # opens them per connection with cert=, and requests checks the paths itself
    # first: OSError("Could not find the TLS key file, invalid path: ...").
    if isinstance(error, FileNotFoundError | PermissionError | IsADirectoryError):
        return True
    return type(error) is OSError and "TLS" in str(error) and "file" in str(error)


class RequestFailure(Exception):
    """A failed request as Locust sees it: the message is stable (one row in Locust's
    failures table), `failure_class` names its counter, `detail` keeps the raw error."""

    def __init__(self, message: str, failure_class: str | None = None, detail: str = ""):
        super().__init__(message)
        self.failure_class = failure_class or message
        self.detail = detail


class ClientCrash(RequestFailure):
    """The client itself died (SIGSEGV in the TLS stack): not the target's fault."""


class TransportError(RequestFailure):
    """No HTTP answer: refused, reset, TLS failure, timeout."""


class HTTPStatusError(RequestFailure):
    """The target answered with an HTTP error status."""


def failure_class_of(failure: Exception | None) -> str | None:
    """The counter a judged failure goes to (identity-check failures included)."""
    if failure is None:
        return None
    if isinstance(failure, RequestFailure):
        return failure.failure_class
    kind = getattr(failure, "kind", None)  # checks.IdentityCheckFailure
    return IDENTITY_CHECK_CLASSES.get(kind, kind) or OTHER.format(type=type(failure).__name__)
