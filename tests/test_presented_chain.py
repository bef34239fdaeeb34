"""The client chain completed once at context build (tls/presented_chain.py), real TLS."""

from __future__ import annotations

import os
import socket
import ssl
import threading

import trustme
from cryptography import x509

from locust_mtls.tls.contexts import client_context, server_context
from locust_mtls.tls.identity import Identity
from locust_mtls.tls.presented_chain import completed_chain_file, presented_chain


def _identity(leaf: trustme.LeafCert, directory, chain: bool = False) -> Identity:
    cert_file, key_file = os.path.join(directory, "client.pem"), os.path.join(directory, "c.key")
    pems = leaf.cert_chain_pems if chain else leaf.cert_chain_pems[:1]
    with open(cert_file, "wb") as file:
        file.writelines(pem.bytes() for pem in pems)
    leaf.private_key_pem.write_to_path(key_file)
    return Identity("client", cert_file, key_file, "", "CN=client")


def _subjects(certificates) -> list[str]:
    return [c.subject.rfc4514_string() for c in certificates]


def test_a_lone_leaf_gets_its_issuers_up_to_the_root_checked_by_signature(tmp_path):
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("client@example.org", common_name="client")
    trust = root.cert_pem.bytes() + intermediate.cert_pem.bytes()
    chain = presented_chain(leaf.cert_chain_pems[0].bytes(), trust)
    expected = [leaf.cert_chain_pems[0], intermediate.cert_pem, root.cert_pem]
    assert _subjects(chain) == _subjects(
        x509.load_pem_x509_certificate(pem.bytes()) for pem in expected
    )
    # Same names, another key: not the issuer (OpenSSL would not chain it either).
    impostor = trustme.CA()
    assert presented_chain(leaf.cert_chain_pems[0].bytes(), impostor.cert_pem.bytes()) == []


def test_nothing_is_added_when_the_file_has_a_chain_or_the_issuer_is_unknown(tmp_path):
    ca = trustme.CA()
    leaf = ca.issue_cert("client@example.org")
    other = ca.create_child_ca().issue_cert("other@example.org")
    with_chain = b"".join(pem.bytes() for pem in other.cert_chain_pems)
    assert presented_chain(with_chain, ca.cert_pem.bytes()) == []
    assert presented_chain(leaf.cert_chain_pems[0].bytes(), trustme.CA().cert_pem.bytes()) == []
    identity = _identity(leaf, tmp_path)
    with completed_chain_file(identity.cert_file, None) as path:
        assert path == identity.cert_file


def test_the_completed_file_is_certificates_only_and_removed_after_loading(tmp_path):
    ca = trustme.CA()
    identity = _identity(ca.issue_cert("client@example.org"), tmp_path)
    ca_file = str(tmp_path / "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    with completed_chain_file(identity.cert_file, ca_file) as path:
        assert path != identity.cert_file
        text = open(path).read()
        assert text.count("BEGIN CERTIFICATE") == 2 and "PRIVATE KEY" not in text
    assert not os.path.exists(path)


def test_server_requiring_a_client_cert_accepts_the_completed_chain(tmp_path):
    """A server that verifies the client (CERT_REQUIRED) through an intermediate CA."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert("client@example.org", common_name="client")
    identity = _identity(leaf, tmp_path)
    trust_file = str(tmp_path / "trust.pem")
    with open(trust_file, "wb") as file:
        file.write(root.cert_pem.bytes() + intermediate.cert_pem.bytes())
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    root.issue_cert("127.0.0.1").configure_cert(server_context)
    root.configure_trust(server_context)  # the root only: the client must send the intermediate
    server_context.verify_mode = ssl.CERT_REQUIRED
    seen = {}
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve():
            connection, _ = listener.accept()
            with server_context.wrap_socket(connection, server_side=True) as tls:
                seen["subject"] = dict(x[0] for x in tls.getpeercert()["subject"])
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        context = client_context(trust_file, identity)
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.recv(2) == b"ok"
        thread.join(timeout=10)
    assert seen["subject"]["commonName"] == "client"


def test_the_echo_servers_context_sends_its_leaf_with_the_issuers_a_client_needs(tmp_path):
    """The echo server loads its chain completed too: a client trusting only the root
    verifies a server whose certificate file holds the leaf alone (the intermediate comes
    from the server's CA file, as OpenSSL's per-handshake chain building sent it)."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    server = intermediate.issue_cert("127.0.0.1")
    cert_file, key_file = str(tmp_path / "server.pem"), str(tmp_path / "server.key")
    server.cert_chain_pems[0].write_to_path(cert_file)  # the leaf alone
    server.private_key_pem.write_to_path(key_file)
    ca_file = str(tmp_path / "ca.pem")
    with open(ca_file, "wb") as file:
        file.write(root.cert_pem.bytes() + intermediate.cert_pem.bytes())
    root_file = str(tmp_path / "root.pem")
    root.cert_pem.write_to_path(root_file)
    context = server_context(cert_file, key_file, ca_file)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def serve():
            connection, _ = listener.accept()
            with context.wrap_socket(connection, server_side=True) as tls:
                tls.sendall(b"ok")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_context(root_file).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.recv(2) == b"ok"
        thread.join(timeout=10)
