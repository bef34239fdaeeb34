"""nginx as a real mTLS target: generated config, start/stop by PID, identity headers.

Tests that need nginx are skipped, with the install command, when it is absent.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl

import psutil
import pytest

from bench import nginx
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.errors import ConfigError
from locust_mtls.strategies import create

from conftest import row_of, run_locust

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_nginx = pytest.mark.skipif(
    nginx.missing_reason() is not None, reason=str(nginx.missing_reason())
)


def test_config_is_loopback_tls12_13_optional_client_cert(tmp_path):
    config = nginx.nginx_config(
        str(tmp_path), 8443, "/c/server.pem", "/c/server.key", "/c/ca.pem", js_module="/m.so"
    )
    assert "listen 127.0.0.1:8443 ssl;" in config
    assert "ssl_verify_client optional;" in config
    assert "ssl_client_certificate /c/ca.pem;" in config
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in config
    assert "add_header X-Client-Cert-Fingerprint $client_cert_sha256 always;" in config
    assert f"pid {tmp_path}/nginx.pid;" in config  # nothing system-wide


def test_missing_nginx_names_the_apt_command(monkeypatch):
    monkeypatch.setattr(nginx, "find_nginx", lambda: None)
    assert nginx.missing_reason() == f"nginx is not installed; run: {nginx.INSTALL_COMMAND}"
    with pytest.raises(ConfigError, match="apt-get install -y nginx"):
        nginx.start_nginx("s.pem", "s.key", "ca.pem")


@pytest.fixture(scope="module")
def nginx_server(generated_pki):
    with nginx.start_nginx(
        generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file
    ) as server:
        yield server


def _get(server, context, path="/", connection=None):
    port = int(server.url.rsplit(":", 1)[1])
    connection = connection or http.client.HTTPSConnection("127.0.0.1", port, context=context)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    return connection, response


@needs_nginx
def test_every_strategy_client_sees_its_own_sha256_fingerprint(nginx_server, trust, identities):
    for name in ("identity-cache", "per-thread-session", "requests-default"):
        client = create(name, trust).new_client()
        for identity in (*identities, None):
            response = client.request("GET", nginx_server.url + "/", identity)
            reported = response.headers["X-Client-Cert-Fingerprint"]
            verdict = IdentityChecker(identities).verdict(identity, reported)
            assert verdict.kind == "right", (name, identity, reported)
            assert response.headers["X-Client-Cert-Subject"] == (
                identity.subject if identity else "none"
            )
        client.close()


@needs_nginx
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls12_and_13_with_keepalive(nginx_server, generated_pki, version):
    identity = generated_pki.identities[0]
    context = ssl.create_default_context(cafile=generated_pki.ca_file)
    context.load_cert_chain(identity.cert_file, identity.key_file)
    context.minimum_version = context.maximum_version = version
    connection, first = _get(nginx_server, context)
    sock = connection.sock
    connection, second = _get(nginx_server, context, connection=connection)
    assert connection.sock is sock  # the same TLS connection answered twice
    assert sock.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
    assert first.getheader("X-Client-Cert-Fingerprint") == identity.fingerprint
    assert second.getheader("X-Client-Cert-Fingerprint") == identity.fingerprint
    connection.close()


@needs_nginx
def test_certificate_from_another_ca_is_refused(nginx_server, generated_pki, echo_pki):
    intruder = echo_pki.foreign_client
    context = ssl.create_default_context(cafile=generated_pki.ca_file)
    context.load_cert_chain(intruder.cert_file, intruder.key_file)
    connection, response = _get(nginx_server, context)
    assert response.status == 400  # nginx: "The SSL certificate error"
    assert response.getheader("X-Client-Cert-Fingerprint") != intruder.fingerprint
    connection.close()


@needs_nginx
def test_stop_ends_the_process_tree_and_removes_the_prefix(generated_pki):
    server = nginx.start_nginx(
        generated_pki.server_cert, generated_pki.server_key, generated_pki.ca_file
    )
    pids = [server.pid, *server.worker_pids()]
    assert len(pids) == 2
    server.stop()
    assert not any(psutil.pid_exists(pid) for pid in pids)
    assert not os.path.exists(server.prefix)


@needs_nginx
def test_bad_certificate_file_names_the_config_and_the_reason(tmp_path, generated_pki):
    bad = tmp_path / "server.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"nginx did not start \(config .*nginx.conf\): .*"):
        nginx.start_nginx(str(bad), generated_pki.server_key, generated_pki.ca_file)


@needs_nginx
@pytest.mark.parametrize(
    ("strategy", "bleeds"), [("identity-cache", False), ("shared-context", True)]
)
def test_locust_run_against_nginx_catches_bleed(
    tmp_path, nginx_server, generated_pki, strategy, bleeds
):
    summary = tmp_path / "summary.json"
    identities_file = os.path.join(os.path.dirname(generated_pki.ca_file), "identities.json")
    result = run_locust(
        "-f",
        os.path.join(REPO, "locustfiles", "mtls.py"),
        "--host",
        nginx_server.url,
        "--mtls-identities",
        identities_file,
        "--mtls-strategy",
        strategy,
        "--mtls-summary-file",
        str(summary),
        cwd=tmp_path,
        users=4,
        run_time="2s",
    )
    stats = row_of(json.loads(summary.read_text()), strategy)
    assert stats["requests"] > 20, result.stdout + result.stderr
    assert stats["wrong_identity"] == 0
    assert (stats["bleed"] > 0) == bleeds, stats
    assert result.returncode == (1 if bleeds else 0), result.stderr[-2000:]
