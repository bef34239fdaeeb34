"""Which path `verify=True` takes, and the private CA trusted on that path (real TLS).

The installed requests is 2.33.1+; the paths of older ones are chosen from the same facts
(is there a preloaded context? does requests ask the adapter for pool settings?), taken
away here with monkeypatch. tests/test_locust_httpuser.py runs requests 2.31.0 itself.
"""

import os
import socket
import ssl
from pathlib import Path

import pytest
import requests.adapters

from locust_mtls.tls import requests_path
from locust_mtls.tls.requests_path import VerifyPath

HOOK = "build_connection_pool_key_attributes"


def handshake(url: str, context: ssl.SSLContext) -> None:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host):
            pass


@pytest.fixture
def requests_2_31(monkeypatch):
    """requests as 2.31.0 has it: no preloaded context, no pool-settings hook."""
    monkeypatch.setattr(requests.adapters, "_preloaded_ssl_context", None, raising=False)
    monkeypatch.delattr(requests.adapters.HTTPAdapter, HOOK)
    monkeypatch.delenv(requests_path.DEFAULT_STORE_VARIABLE, raising=False)  # restored after
    monkeypatch.setattr(requests_path, "_in_default_store", set())


@pytest.mark.skipif(
    not requests_path.locust_has_shared_context(), reason="the installed Locust has no context"
)
def test_locusts_context_needs_requests_hook_else_openssls_default_cas(requests_2_31):
    assert requests_path.locust_session_path() is VerifyPath.DEFAULT_STORE
    assert requests_path.requests_session_path() is VerifyPath.CA_BUNDLE
    words = requests_path.describe_locust()
    assert "requests < 2.32.3 never asks for it" in words
    assert words.endswith(VerifyPath.DEFAULT_STORE.value)


def test_the_ca_is_trusted_where_load_default_certs_looks(requests_2_31, trust, pki_server):
    """urllib3 builds such a context per connection and calls load_default_certs():
    OpenSSL reads SSL_CERT_FILE then, so the bundle set there is what it trusts."""
    system = ssl.get_default_verify_paths().cafile
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(pki_server.url, ssl.create_default_context())  # the system's CAs only
    where = requests_path.trust_private_ca(
        VerifyPath.DEFAULT_STORE, trust.ca_file, trust.ca_bundle_file
    )
    bundle = os.environ[requests_path.DEFAULT_STORE_VARIABLE]
    assert where == f"SSL_CERT_FILE={bundle} (the system's CAs + the CA)"
    handshake(pki_server.url, ssl.create_default_context())
    with open(bundle, "rb") as file, open(trust.ca_file, "rb") as ca:
        assert file.read() == (Path(system).read_bytes() if system else b"") + b"\n" + ca.read()
    again = requests_path.trust_private_ca(
        VerifyPath.DEFAULT_STORE, trust.ca_file, trust.ca_bundle_file
    )
    assert again == where  # once per CA


def test_a_shared_context_gets_the_ca_once(trust, pki_server, monkeypatch):
    shared = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # what requests 2.32.0-2.32.4 keep
    monkeypatch.setattr(requests.adapters, "_preloaded_ssl_context", shared, raising=False)
    monkeypatch.setattr(requests_path, "_trusted", set())  # ids of contexts that live on
    assert requests_path.requests_session_path() is VerifyPath.REQUESTS_SHARED
    path = VerifyPath.REQUESTS_SHARED
    assert requests_path.trust_private_ca(path, trust.ca_file, trust.ca_bundle_file) == (
        "added to requests' shared context"
    )
    handshake(pki_server.url, shared)
    requests_path.trust_private_ca(path, trust.ca_file, trust.ca_bundle_file)
    assert shared.cert_store_stats()["x509_ca"] == 1
