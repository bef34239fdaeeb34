"""Client identities: the Identity value object, loading PEM / PKCS#12, fingerprints.

Everything that reads a certificate or key file a user supplied goes through here, so
every bad file becomes one ConfigError line that names the file and says what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from locust_mtls.errors import ConfigError
from locust_mtls.tls import key_material
from locust_mtls.tls.files import JSON_LIMIT, read_regular_file

REGENERATE = "regenerate with 'locust-mtls certs --force'"


@dataclass(frozen=True, slots=True)
class Identity:
    """One client identity: a certificate chain file and its key file.

    Holds paths only, never key material, so its repr is safe to log and it is cheap to
    hash, compare and send to another process. A key that was password-protected (or
    in a PKCS#12 file) is never decrypted to a file: `key_encrypted` says both paths
    name one memory file with the chain and the key under key_material's password.
    """

    name: str  # "client-1"
    cert_file: str  # PEM, leaf first
    key_file: str  # PEM key (may be the same file as cert_file)
    fingerprint: str  # SHA-256 of the leaf certificate's DER, lowercase hex, no colons
    subject: str  # RFC 4514 subject of the leaf, e.g. "CN=client-1,OU=clients,O=locust-mtls"
    # SHA-1 of the same DER, for gateways that report only SHA-1 (nginx's
    # $ssl_client_fingerprint); "" when built by hand without it.
    sha1_fingerprint: str = ""
    key_encrypted: bool = False  # under key_material.password(), in memory only

    def requests_cert(self) -> tuple[str, str]:
        """The value for requests' `cert=`, which takes no password: for a protected key,
        an unencrypted copy in a memory file that dies with the process."""
        if self.key_encrypted:
            plain = key_material.plain_copy(self.key_file)
            return (plain, plain)
        return (self.cert_file, self.key_file)

    def key_password(self) -> bytes | None:
        """The password `load_cert_chain` needs for `key_file` (None: not encrypted)."""
        return key_material.password() if self.key_encrypted else None


@dataclass(frozen=True, slots=True)
class IdentitySet:
    """What identities.json describes: trust, the server's pair, and client identities.

    Any of the file fields may be None when a user-written identities.json leaves it out.
    """

    ca_file: str | None
    ca_bundle_file: str | None
    server_cert: str | None
    server_key: str | None
    identities: tuple[Identity, ...]


def fingerprint_of(cert: bytes | str | x509.Certificate, algorithm: str = "sha256") -> str:
    """SHA-256 (or `algorithm`) of a certificate's DER (PEM, DER or parsed), lowercase hex,
    no colons. The echo server reports the peer certificate in this same format.
    """
    if isinstance(cert, x509.Certificate):
        der = cert.public_bytes(serialization.Encoding.DER)
    elif _is_pem(cert):
        der = _parse_cert(cert).public_bytes(serialization.Encoding.DER)
    else:
        der = bytes(cert)  # already DER, e.g. getpeercert(binary_form=True)
    return hashlib.new(algorithm, der).hexdigest()


def load_identity(
    name: str, cert: str, key: str | None = None, password: str | bytes | None = None
) -> Identity:
    """Load and check one identity; raise ConfigError naming the file if anything is off.

    `cert` is a PEM chain (leaf first), a PEM holding both chain and key (`key=None`),
    or a PKCS#12 file. A PKCS#12 file or a password-protected key is never written
    decrypted: see key_material.
    """
    secret = password.encode() if isinstance(password, str) else password
    cert_data = _read(cert)
    if not _is_pem(cert_data):
        return _load_pkcs12(name, cert, cert_data, secret)
    certs = _pem_certs(cert, cert_data)
    if not certs:
        if b"PRIVATE KEY" in cert_data:
            if key is not None and b"CERTIFICATE-----" in _read(key):
                raise ConfigError(
                    f"{cert} holds a private key and {key} a certificate: "
                    "cert and key are swapped; swap them"
                )
            raise ConfigError(f"{cert} holds a private key, not a certificate; pass the cert file")
        raise ConfigError(f"{cert} holds no PEM certificate; expected -----BEGIN CERTIFICATE-----")
    key_path, key_data = (cert, cert_data) if key is None else (key, _read(key))
    if b"PRIVATE KEY-----" not in key_data:
        if key is None:
            raise ConfigError(f"{cert} holds a certificate but no private key; pass its key file")
        if b"CERTIFICATE-----" in key_data:
            raise ConfigError(f"{key} holds a certificate, not a private key; pass the key file")
        raise ConfigError(f"{key} holds no PEM private key; expected -----BEGIN PRIVATE KEY-----")
    private_key, was_encrypted = _load_pem_key(key_path, key_data, secret)
    _check_key_matches(certs, private_key, cert, key_path)
    if was_encrypted:
        return _keep(name, certs, private_key)
    leaf = certs[0]
    return Identity(
        name=name,
        cert_file=os.path.abspath(cert),
        key_file=os.path.abspath(key_path),
        fingerprint=fingerprint_of(leaf),
        subject=leaf.subject.rfc4514_string(),
        sha1_fingerprint=fingerprint_of(leaf, "sha1"),
    )


def part_of(count: int, index: int, parts: int) -> range:
    """The positions worker `index` of `parts` loads out of `count` identities: one
    contiguous slice each, disjoint, together all of them, sizes differing by one at most."""
    return range(count * index // parts, count * (index + 1) // parts)


def load_identities(path: str, part: tuple[int, int] | None = None) -> IdentitySet:
    """Read identities.json (paths relative to it) and load every identity it lists, or
    with `part` (index, parts) only that worker's slice of them (part_of).

    Entries look like {"name", "cert", "key"?, "password"?, "fingerprint"?, "subject"?}
    or {"name", "p12", "password"?}. A recorded fingerprint must match the file.
    """
    document = _read_json(path)
    entries = document.get("identities")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f'{path} has no "identities" list; {REGENERATE}')
    server = document.get("server") or {}
    if not isinstance(server, dict):
        raise ConfigError(f'{path}: "server" must be {{"cert": ..., "key": ...}}; fix it')
    # One pass, not names.count() per name: that was quadratic, minutes for 100,000.
    seen: set[object] = set()
    for entry in entries:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in seen and isinstance(name, str):
            raise ConfigError(f"{path}: identity name {name!r} appears twice; rename one")
        seen.add(name)
    positions = part_of(len(entries), *part) if part else range(len(entries))
    if not positions:
        raise ConfigError(
            f"{path} lists {len(entries)} identities for {part[1]} workers: each worker needs "
            "one at least; add identities or run fewer workers"
        )
    identities = tuple(_load_entry(path, index, entries[index]) for index in positions)
    return IdentitySet(
        ca_file=_listed_file(path, document.get("ca"), "ca"),
        ca_bundle_file=_listed_file(path, document.get("ca_bundle"), "ca_bundle"),
        server_cert=_listed_file(path, server.get("cert"), "server.cert"),
        server_key=_listed_file(path, server.get("key"), "server.key"),
        identities=identities,
    )


def ca_of(path: str) -> str | None:
    """The CA file identities.json lists (None: it lists none)."""
    return _listed_file(path, _read_json(path).get("ca"), "ca")


def _read_json(path: str) -> dict:
    data = read_regular_file(path, JSON_LIMIT, if_missing="create it with 'locust-mtls certs'")
    try:
        document = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        why = str(error)
    except RecursionError:
        why = "nested too deeply"
    except ValueError:  # CPython's limit on int("..."), gh-95778
        why = f"a number longer than {sys.get_int_max_str_digits()} digits"
    else:
        why = ""
    if why:
        raise ConfigError(f"{path} is not valid JSON ({why}); {REGENERATE}")
    if not isinstance(document, dict):
        raise ConfigError(f"{path} must hold a JSON object; {REGENERATE}")
    return document


def _load_entry(path: str, index: int, entry: object) -> Identity:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f'{path}: identities[{index}] needs a "name"; fix the entry')
    cert = entry.get("cert") or entry.get("p12")
    if not isinstance(cert, str):
        raise ConfigError(f'{path}: identity {name!r} needs "cert" or "p12"; add it')
    key, password, recorded = entry.get("key"), entry.get("password"), entry.get("fingerprint")
    if not all(isinstance(value, (str, type(None))) for value in (key, password, recorded)):
        raise ConfigError(f"{path}: identity {name!r} has a non-string field; fix the entry")
    for field in ("name", "cert", "p12", "key", "password"):
        _check_text(path, f'identities[{index}] "{field}"', entry.get(field))
    base = os.path.dirname(path)
    cert_path = os.path.join(base, cert)
    identity = load_identity(name, cert_path, key and os.path.join(base, key), password)
    if recorded and recorded.replace(":", "").lower() != identity.fingerprint:
        raise ConfigError(
            f"{cert_path} is not the certificate {path} records for {name!r} "
            f"(fingerprint differs); {REGENERATE}"
        )
    return identity


def _check_text(path: str, where: str, value: object) -> None:
    """ConfigError when a string of identities.json cannot be a file name or a password:
    a NUL (no path holds one) or a lone surrogate like "\\ud800" (JSON allows the escape;
    it is not text, and encoding it for the OS fails)."""
    if not isinstance(value, str):
        return
    if "\0" in value:
        raise ConfigError(f"{path}: {where} holds a NUL character (\\u0000); fix the entry")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        surrogate = f"\\u{ord(value[error.start]):04x}"
        raise ConfigError(
            f"{path}: {where} holds a lone surrogate ({surrogate}), not text; fix the entry"
        ) from None


def _listed_file(path: str, value: object, field: str) -> str | None:
    """A file named by identities.json, as an absolute path; None if not listed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f'{path}: "{field}" must be a file name; fix it')
    _check_text(path, f'"{field}"', value)
    file_path = os.path.join(os.path.dirname(path), value)
    if os.path.isdir(file_path):
        raise ConfigError(f'{file_path} ("{field}" in {path}) is a directory; name a file')
    if not os.path.isfile(file_path):
        raise ConfigError(f'{file_path} ("{field}" in {path}) not found; {REGENERATE}')
    return os.path.abspath(file_path)


def _read(path: str) -> bytes:
    data = read_regular_file(path)
    if not data.strip():
        raise ConfigError(f"{path} is empty; {REGENERATE}")
    return data


def _is_pem(data: bytes | str) -> bool:
    return (b"-----BEGIN " if isinstance(data, bytes) else "-----BEGIN ") in data


def _parse_cert(cert: bytes | str | x509.Certificate) -> x509.Certificate:
    if isinstance(cert, x509.Certificate):
        return cert
    data = cert.encode() if isinstance(cert, str) else bytes(cert)
    if _is_pem(data):
        return x509.load_pem_x509_certificates(data)[0]
    return x509.load_der_x509_certificate(data)


def _pem_certs(path: str, data: bytes) -> list[x509.Certificate]:
    if b"CERTIFICATE-----" not in data:
        return []
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ConfigError(f"{path} holds a damaged PEM certificate; {REGENERATE}") from None


def _load_pem_key(path: str, data: bytes, password: bytes | None):
    """Return (private key, whether it was password-protected)."""
    try:
        # The key is checked against the certificate right after, and OpenSSL checks it
        # again at handshake time; skipping RSA self-checks keeps 1,000 keys fast.
        return serialization.load_pem_private_key(
            data, password, unsafe_skip_rsa_key_validation=True
        ), password is not None
    except TypeError:
        if password is None:
            raise ConfigError(
                f"{path} is an encrypted private key; pass its password "
                '("password" in identities.json)'
            ) from None
        return _load_pem_key(path, data, None)  # a password for a plain key is harmless
    except ValueError as error:
        if password is not None and "password" in str(error).lower():
            raise ConfigError(f"{path}: wrong password for the private key; fix it") from None
        raise ConfigError(f"{path} holds a damaged PEM private key; {REGENERATE}") from None


def _check_key_matches(certs: list[x509.Certificate], private_key, cert: str, key: str) -> None:
    wanted = _public_der(private_key.public_key())
    if _public_der(certs[0].public_key()) == wanted:
        return
    if any(_public_der(other.public_key()) == wanted for other in certs[1:]):
        raise ConfigError(
            f"{cert}: the certificate matching {key} is not first; put the leaf first"
        )
    raise ConfigError(f"{key} does not match {cert} (different public key); {REGENERATE}")


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_pkcs12(name: str, path: str, data: bytes, password: bytes | None) -> Identity:
    try:
        try:
            private_key, leaf, extra = pkcs12.load_key_and_certificates(data, password)
        except ValueError:
            if password is None:
                raise
            # An unencrypted PKCS#12 refuses any password, so try without one.
            private_key, leaf, extra = pkcs12.load_key_and_certificates(data, None)
    except ValueError as error:
        if "deserialize" in str(error):
            raise ConfigError(
                f"{path} is neither PEM nor PKCS#12; pass a PEM certificate or a .p12 file"
            ) from None
        if password is None:
            raise ConfigError(
                f'{path} is a password-protected PKCS#12 file; pass its password ("password" '
                "in identities.json)"
            ) from None
        raise ConfigError(f"{path}: wrong password for the PKCS#12 file; fix it") from None
    if private_key is None or leaf is None:
        raise ConfigError(f"{path}: PKCS#12 file lacks a certificate or a key; re-export both")
    certs = [leaf, *extra]
    _check_key_matches(certs, private_key, path, path)
    return _keep(name, certs, private_key)


def _keep(name: str, certs: list[x509.Certificate], private_key) -> Identity:
    """An identity whose key was protected: kept re-encrypted in memory (key_material)."""
    fingerprint = fingerprint_of(certs[0])
    kept = key_material.keep(name, certs, private_key, fingerprint)
    return Identity(
        name=name,
        cert_file=kept,
        key_file=kept,
        fingerprint=fingerprint,
        subject=certs[0].subject.rfc4514_string(),
        sha1_fingerprint=fingerprint_of(certs[0], "sha1"),
        key_encrypted=True,
    )
