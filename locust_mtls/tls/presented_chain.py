"""The chain a client presents, completed once when its context is built.

When the certificate file holds only the leaf, OpenSSL builds the chain it sends from
the context's trust store at *every* handshake ("auto chain": an X509_STORE_CTX, a
signature check of our own certificate; ssl_add_cert_chain in ssl/statem/statem_lib.c,
off only with SSL_MODE_NO_AUTO_CHAIN, which Python does not expose). Loading the leaf
together with the same issuers makes OpenSSL send that chain as it is: the same bytes
on the wire, without rebuilding it per connection. Only our own chain changes; the
server's chain and host name are verified at every handshake as before.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding

MAX_DEPTH = 8  # well past any real client chain; stops a loop of cross-signed CAs


def presented_chain(cert_pem: bytes, ca_pem: bytes) -> list[x509.Certificate]:
    """The leaf of `cert_pem` and its issuers up to a self-signed root, from `ca_pem`.

    Each link is checked by name and signature (what OpenSSL's chain building checks);
    [] when the leaf's issuer is not there (OpenSSL then sends the leaf alone, too) or
    the certificate file already carries a chain (OpenSSL sends that one as given).
    """
    try:
        certificates = x509.load_pem_x509_certificates(cert_pem)
        authorities = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        return []
    if len(certificates) != 1:
        return []
    chain: list[x509.Certificate] = []
    current = certificates[0]
    while len(chain) < MAX_DEPTH and current.issuer != current.subject:
        issuer = next((ca for ca in authorities if _issued_by(current, ca)), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return [certificates[0], *chain] if chain else []


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@contextlib.contextmanager
def completed_chain_file(cert_file: str, ca_file: str | None) -> Iterator[str]:
    """A PEM file of `cert_file`'s leaf followed by its issuers from `ca_file`, for as
    long as the context is loading it; `cert_file` itself when nothing is to add.

    The file holds certificates only (never a key that shares `cert_file`), in a private
    temporary directory removed once the context holds them parsed.
    """
    try:
        with open(cert_file, "rb") as file:
            cert_pem = file.read()
        ca_pem = b""
        if ca_file:
            with open(ca_file, "rb") as file:
                ca_pem = file.read()
    except OSError:
        yield cert_file  # load_cert_chain reports the unreadable file
        return
    chain = presented_chain(cert_pem, ca_pem)
    if not chain:
        yield cert_file
        return
    with tempfile.TemporaryDirectory(prefix="locust-mtls-chain-") as directory:
        path = os.path.join(directory, "chain.pem")
        with open(path, "wb") as file:
            file.writelines(certificate.public_bytes(Encoding.PEM) for certificate in chain)
        yield path
