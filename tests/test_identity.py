"""locust_mtls.tls.identity: loading PEM / combined / PKCS#12 / encrypted keys, fingerprints,
identities.json, and one ConfigError line per kind of bad file."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import ssl
import stat
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from locust_mtls.errors import ConfigError
from locust_mtls.tls import contexts, pki
from locust_mtls.tls.identity import (
    Identity,
    fingerprint_of,
    load_identities,
    load_identity,
)


@pytest.fixture
def certs(tmp_path, generated_pki):
    """A private copy of the session PKI, safe to damage."""
    directory = tmp_path / "certs"
    shutil.copytree(os.path.dirname(generated_pki.ca_file), directory)
    return directory


def read(path) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def private_key_of(path):
    return serialization.load_pem_private_key(read(path), None)


def write_encrypted_key(source_key, target, password: bytes) -> None:
    encrypted = private_key_of(source_key).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    target.write_bytes(encrypted)


def write_p12(cert_file, key_file, target, password: bytes) -> None:
    leaf = x509.load_pem_x509_certificate(read(cert_file))
    target.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"client",
            private_key_of(key_file),
            leaf,
            None,
            serialization.BestAvailableEncryption(password),
        )
    )


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def fingerprint_seen_by_server(identity: Identity, identity_set) -> str:
    """Do one real mTLS handshake on 127.0.0.1; return the client fingerprint the server saw."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(identity_set.server_cert, identity_set.server_key)
    server_context.load_verify_locations(identity_set.ca_file)
    server_context.verify_mode = ssl.CERT_REQUIRED
    client_context = ssl.create_default_context(cafile=identity_set.ca_file)
    client_context.load_cert_chain(*identity.requests_cert())
    seen: dict[str, bytes] = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def serve_one() -> None:
            connection, _ = listener.accept()
            with server_context.wrap_socket(connection, server_side=True) as tls:
                seen["der"] = tls.getpeercert(binary_form=True)
                tls.sendall(b"ok")

        server = threading.Thread(target=serve_one)
        server.start()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with client_context.wrap_socket(raw, server_hostname="localhost") as tls:
                assert tls.recv(2) == b"ok"
        server.join(5)
    return fingerprint_of(seen["der"])


def test_pem_pair_loads_with_fingerprint_and_subject(generated_pki):
    client = generated_pki.identities[0]
    identity = load_identity("client-1", client.cert_file, client.key_file)
    assert identity == client
    assert identity.requests_cert() == (client.cert_file, client.key_file)
    assert identity.fingerprint == fingerprint_of(read(client.cert_file))
    assert len(identity.fingerprint) == 64 and identity.fingerprint == identity.fingerprint.lower()
    assert identity.subject == "CN=client-1,OU=clients,O=locust-mtls"
    assert fingerprint_seen_by_server(identity, generated_pki) == identity.fingerprint


def test_identity_is_immutable_hashable_and_its_repr_holds_no_key(generated_pki):
    identity = generated_pki.identities[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.name = "other"  # type: ignore[misc]
    assert len({identity, dataclasses.replace(identity), generated_pki.identities[1]}) == 2
    key_body = read(identity.key_file).decode().splitlines()[1]
    assert key_body not in repr(identity) and "PRIVATE" not in repr(identity)
    assert key_body not in repr(generated_pki)


def test_fingerprint_accepts_pem_der_and_parsed(generated_pki):
    pem = read(generated_pki.identities[1].cert_file)
    parsed = x509.load_pem_x509_certificate(pem)
    der = parsed.public_bytes(serialization.Encoding.DER)
    expected = generated_pki.identities[1].fingerprint
    assert {fingerprint_of(value) for value in (pem, pem.decode(), der, parsed)} == {expected}
    assert generated_pki.identities[1].subject == "CN=client-2,OU=clients,O=locust-mtls"


@pytest.mark.parametrize("key_first", [True, False])
def test_combined_pem_loads_from_one_file(certs, key_first, generated_pki):
    parts = [read(certs / "client-1.key"), read(certs / "client-1.pem")]
    combined = certs / "combined.pem"
    combined.write_bytes(b"".join(parts if key_first else parts[::-1]))
    identity = load_identity("client-1", str(combined))
    assert identity.cert_file == identity.key_file == str(combined)
    assert identity.fingerprint == generated_pki.identities[0].fingerprint
    assert fingerprint_seen_by_server(identity, generated_pki) == identity.fingerprint


@pytest.mark.parametrize("password", ["s3cret", b"s3cret"])
@pytest.mark.parametrize("kind", ["p12", "encrypted-pem"])
def test_a_protected_key_is_kept_encrypted_in_memory(certs, generated_pki, kind, password):
    secret = password.encode() if isinstance(password, str) else password
    if kind == "p12":
        write_p12(certs / "client-2.pem", certs / "client-2.key", certs / "client-2.p12", secret)
        identity = load_identity("client-2", str(certs / "client-2.p12"), password=password)
    else:
        write_encrypted_key(certs / "client-2.key", certs / "client-2.enc.key", secret)
        identity = load_identity(
            "client-2", str(certs / "client-2.pem"), str(certs / "client-2.enc.key"), password
        )
    assert identity.fingerprint == generated_pki.identities[1].fingerprint
    assert identity.key_encrypted and identity.key_file.startswith("/proc/self/fd/")
    # A memory file (memfd_create): no name on disk, gone with the process.
    assert os.readlink(identity.key_file).startswith("/memfd:")
    assert b"ENCRYPTED PRIVATE KEY" in read(identity.key_file)  # under a random password
    assert fingerprint_seen_by_server(identity, generated_pki) == identity.fingerprint
    plain, same = identity.requests_cert()  # requests' cert= takes no password
    assert plain == same and os.readlink(plain).startswith("/memfd:")
    assert b"BEGIN PRIVATE KEY" in read(plain)
    # A context takes the key still encrypted, with the password (contexts.py).
    context = contexts.client_context(generated_pki.ca_file, identity)
    assert context.verify_mode == ssl.CERT_REQUIRED
    again = load_identity("client-2", str(certs / "client-2.pem"), str(certs / "client-2.key"))
    assert again.fingerprint == identity.fingerprint


# Each case: (cert, key, password) relative to the certs dir, the file the message must
# name, and words it must contain. Files not in the session PKI are made by make_bad_files.
BAD_IDENTITY_CASES = {
    "missing-cert": (("nope.pem", None, None), "nope.pem", "not found"),
    "missing-key": (("client-1.pem", "nope.key", None), "nope.key", "not found"),
    "cert-is-a-directory": (("subdir", "client-1.key", None), "subdir", "is a directory"),
    "empty-cert": (("empty.pem", "client-1.key", None), "empty.pem", "is empty"),
    "neither-pem-nor-pkcs12": (("garbage.pem", "client-1.key", None), "garbage.pem", "neither"),
    "damaged-pem-cert": (("damaged.pem", "client-1.key", None), "damaged.pem", "damaged"),
    "key-does-not-match": (
        ("client-1.pem", "client-2.key", None),
        "client-2.key",
        "does not match",
    ),
    "cert-and-key-swapped": (("client-1.key", "client-1.pem", None), "client-1.key", "swapped"),
    "key-given-as-cert": (("client-1.key", None, None), "client-1.key", "not a certificate"),
    "cert-without-key": (("client-1.pem", None, None), "client-1.pem", "no private key"),
    "cert-given-as-key": (("client-1.pem", "client-2.pem", None), "client-2.pem", "not a private"),
    "leaf-not-first": (("ca-then-leaf.pem", "client-1.key", None), "ca-then-leaf.pem", "first"),
    "encrypted-key-no-password": (("client-1.pem", "enc.key", None), "enc.key", "password"),
    "encrypted-key-wrong-password": (
        ("client-1.pem", "enc.key", "bad"),
        "enc.key",
        "wrong password",
    ),
    "p12-no-password": (("c.p12", None, None), "c.p12", "password-protected"),
    "p12-wrong-password": (("c.p12", None, "bad"), "c.p12", "wrong password"),
}


def make_bad_files(certs) -> None:
    (certs / "subdir").mkdir()
    (certs / "empty.pem").write_bytes(b"")
    (certs / "garbage.pem").write_bytes(b"this is not a certificate\n")
    (certs / "damaged.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    )
    (certs / "ca-then-leaf.pem").write_bytes(read(certs / "ca.pem") + read(certs / "client-1.pem"))
    write_encrypted_key(certs / "client-1.key", certs / "enc.key", b"right")
    write_p12(certs / "client-1.pem", certs / "client-1.key", certs / "c.p12", b"right")


@pytest.mark.parametrize("case", BAD_IDENTITY_CASES)
def test_bad_identity_files_give_one_line_naming_the_file(certs, case):
    make_bad_files(certs)
    (cert, key, password), named_file, words = BAD_IDENTITY_CASES[case]
    with pytest.raises(ConfigError) as raised:
        load_identity("client-1", str(certs / cert), key and str(certs / key), password)
    message = str(raised.value)
    assert str(certs / named_file) in message and words in message
    assert "\n" not in message and "Traceback" not in message


def test_mismatch_message_says_how_to_fix(certs):
    with pytest.raises(ConfigError, match="regenerate with 'locust-mtls certs --force'"):
        load_identity("c", str(certs / "client-1.pem"), str(certs / "client-2.key"))


def test_identities_json_entries_may_use_p12_and_passwords(certs, generated_pki):
    write_p12(certs / "client-1.pem", certs / "client-1.key", certs / "one.p12", b"pw1")
    write_encrypted_key(certs / "client-2.key", certs / "two.key", b"pw2")
    document = {
        "ca": "ca.pem",
        "identities": [
            {"name": "one", "p12": "one.p12", "password": "pw1"},
            {"name": "two", "cert": "client-2.pem", "key": "two.key", "password": "pw2"},
        ],
    }
    (certs / "mine.json").write_text(json.dumps(document))
    loaded = load_identities(str(certs / "mine.json"))
    assert loaded.server_cert is None and loaded.ca_bundle_file is None
    assert loaded.ca_file == str(certs / "ca.pem")
    assert [i.fingerprint for i in loaded.identities] == [
        i.fingerprint for i in generated_pki.identities[:2]
    ]


def edit_index(certs, change) -> None:
    document = json.loads((certs / "identities.json").read_text())
    change(document)
    (certs / "identities.json").write_text(json.dumps(document))


BAD_INDEX_CASES = {
    "missing-json": (lambda c: os.unlink(c / "identities.json"), "not found"),
    "malformed-json": (lambda c: (c / "identities.json").write_text("{"), "not valid JSON"),
    "no-identities": (lambda c: edit_index(c, lambda d: d.pop("identities")), 'no "identities"'),
    "entry-file-missing": (lambda c: os.unlink(c / "client-3.pem"), "client-3.pem not found"),
    "ca-file-missing": (lambda c: os.unlink(c / "ca.pem"), "ca.pem"),
    "duplicate-name": (
        lambda c: edit_index(c, lambda d: d["identities"].append(d["identities"][0])),
        "appears twice",
    ),
    "entry-without-cert": (
        lambda c: edit_index(c, lambda d: d["identities"][0].pop("cert")),
        'needs "cert" or "p12"',
    ),
    "fingerprint-differs": (
        lambda c: edit_index(c, lambda d: d["identities"][0].update(fingerprint="00" * 32)),
        "fingerprint differs",
    ),
}


@pytest.mark.parametrize("case", BAD_INDEX_CASES)
def test_bad_identities_json_gives_one_line(certs, case):
    damage, words = BAD_INDEX_CASES[case]
    damage(certs)
    with pytest.raises(ConfigError) as raised:
        load_identities(str(certs / "identities.json"))
    message = str(raised.value)
    assert words in message and "\n" not in message and str(certs) in message


def test_loads_1000_identities_in_well_under_a_few_seconds(tmp_path):
    index = os.path.join(tmp_path, "identities.json")
    pki.generate_pki(str(tmp_path), clients=1000)
    started = time.perf_counter()
    identity_set = load_identities(index)
    elapsed = time.perf_counter() - started
    assert len({identity.fingerprint for identity in identity_set.identities}) == 1000
    assert elapsed < 3.0, f"loading 1000 identities took {elapsed:.2f}s"
