"""Fault modes of the echo server: reject an identity, drop or delay handshakes.

Used by the reliability tests (and `locust-mtls serve --reject-identity/--drop-percent/
--delay-ms`) to make the target fail in known ways.
"""

from __future__ import annotations

import math
import socket
import ssl
import struct
from fractions import Fraction

import gevent
import gevent.monkey
import gevent.pool
import gevent.server
import gevent.ssl
from cryptography import x509

from locust_mtls.errors import ConfigError

HANDSHAKE_TIMEOUT_S = 10.0  # also the server's own handshake timeout


class Faults:
    """Fault-injection hooks; this base injects none.

    A hook returns None to carry on, or a reason string: the connection is then closed and
    counted in `handshake_failures` under that reason. Hooks may gevent.sleep() (delays).
    """

    def before_handshake(self, raw_socket: socket.socket) -> str | None:
        """Called on the accepted TCP socket, before any TLS byte is read."""
        return None

    def after_handshake(self, tls_socket: ssl.SSLSocket, fingerprint: str) -> str | None:
        """Called once the handshake succeeded, with the client's fingerprint or `none`.

        A reason here refuses the identity: its first request, if `GET /private`, gets
        403 Forbidden; any other gets no answer.
        """
        return None


class InjectedFaults(Faults):
    """The fault modes of `locust-mtls serve`: reject identities, drop or delay handshakes.

    `reject`: client certificates, by common name or SHA-256 fingerprint, whose connection
    is closed after the handshake without an answer ("rejected_identity"); only a first
    request `GET /private` gets 403 Forbidden before the close (echo.py).
    `drop_percent`: this share of connections, spread evenly (not random, so runs compare),
    gets a TCP reset once its ClientHello arrived, i.e. mid-handshake ("dropped").
    `delay_ms`: every handshake starts this much later (a slow or overloaded server).
    """

    def __init__(self, reject=(), drop_percent: float = 0.0, delay_ms: float = 0.0) -> None:
        if not 0.0 <= drop_percent <= 100.0:
            raise ConfigError(f"--drop-percent must be between 0 and 100, not {drop_percent:g}")
        if not 0 <= delay_ms < math.inf:  # nan or inf: every handshake would wait for ever
            raise ConfigError(f"--delay-ms must be 0 or more, and finite, not {delay_ms:g}")
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
        """Refuse a listed identity: its connection serves no request."""
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
