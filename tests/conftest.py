"""Shared pytest fixtures (append yours; do not rewrite the file)."""

import pytest


# --- from identity/pki (tests/test_identity.py, tests/test_pki.py) ---
@pytest.fixture(scope="session")
def generated_pki(tmp_path_factory):
    """IdentitySet of a fresh `locust-mtls certs` dir: CA, server, client-1..client-4.

    Shared by the whole session: read it, do not modify it (copy the directory first).
    """
    from locust_mtls.pki import generate_pki

    return generate_pki(str(tmp_path_factory.mktemp("certs")), clients=4)


# --- from echo_server (tests/test_echo_server.py) ---
def _echo_write_leaf(leaf, directory, name):
    """Write a trustme leaf as NAME.pem + NAME.key (0600), described as a SimpleNamespace."""
    import os
    from types import SimpleNamespace

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert_file = os.path.join(directory, f"{name}.pem")
    key_file = os.path.join(directory, f"{name}.key")
    leaf.cert_chain_pems[0].write_to_path(cert_file)
    leaf.private_key_pem.write_to_path(key_file)
    os.chmod(key_file, 0o600)
    cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    return SimpleNamespace(
        name=name,
        cert_file=cert_file,
        key_file=key_file,
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        subject=cert.subject.rfc4514_string(),
    )


@pytest.fixture(scope="session")
def echo_pki(tmp_path_factory):
    """trustme PKI for echo-server tests, independent of pki.py.

    `.dir` holds server.pem / server.key / ca.pem (what `start_echo_server_process(dir)`
    expects); `.clients` are three identities of that CA and `.foreign_client` one of an
    unrelated CA, each a SimpleNamespace(name, cert_file, key_file, fingerprint, subject).
    Read-only: copy the directory before changing anything in it.
    """
    import os
    from types import SimpleNamespace

    import trustme

    directory = str(tmp_path_factory.mktemp("echo-certs"))
    ca, foreign_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(os.path.join(directory, "ca.pem"))
    server = _echo_write_leaf(ca.issue_cert("127.0.0.1", "localhost", "::1"), directory, "server")

    def client(issuer, name):
        leaf = issuer.issue_cert(f"{name}@example.org", common_name=name)
        return _echo_write_leaf(leaf, directory, name)

    return SimpleNamespace(
        dir=directory,
        ca=ca,
        ca_file=os.path.join(directory, "ca.pem"),
        cert_file=server.cert_file,
        key_file=server.key_file,
        clients=[client(ca, f"client-{n}") for n in (1, 2, 3)],
        foreign_client=client(foreign_ca, "intruder"),
    )


@pytest.fixture(scope="session")
def echo_server(echo_pki):
    """An in-process EchoServer on a free loopback port, shared by the session.

    Counters are shared too: call `fetch_stats(echo_server.url, echo_pki.ca_file, reset=True)`
    before counting, or start your own `EchoServer` for exact numbers.
    """
    from locust_mtls.echo_server import EchoServer

    with EchoServer(echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file) as server:
        yield server


# --- from strategies / user (tests/test_strategies.py, tests/test_user.py, ...) ---
@pytest.fixture(scope="session")
def pki_server(generated_pki):
    """An in-process EchoServer serving generated_pki's server certificate."""
    from locust_mtls.echo_server import EchoServer

    with EchoServer(
        generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file
    ) as server:
        yield server


@pytest.fixture(scope="session")
def trust(generated_pki):
    from locust_mtls.strategies import Trust

    return Trust(generated_pki.ca_file, generated_pki.ca_bundle_file)


@pytest.fixture(scope="session")
def identities(generated_pki):
    return generated_pki.identities


def run_locust(*args, cwd, timeout=90, env=None, python=None):
    """Run `locust` headless in a subprocess (never in the test process: importing locust
    monkey-patches everything). Returns the CompletedProcess; output in .stdout."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {})}
    command = [python or sys.executable, "-m", "locust", "--headless", "--only-summary", *args]
    return subprocess.run(
        command,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
