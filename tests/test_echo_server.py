"""Echo server: real TLS on loopback with trustme certificates (fixtures in conftest.py)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from locust_mtls.errors import ConfigError
from locust_mtls.server.echo import (
    EchoServer,
    Faults,
    fetch_stats,
    read_line_with_timeout,
    server_files,
    start_echo_server_process,
)

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def client_context(pki, client=None, tls_version=None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki.ca_file)
    if client is not None:
        context.load_cert_chain(client.cert_file, client.key_file)
    if tls_version is not None:
        context.minimum_version = context.maximum_version = tls_version
    return context


def get(connection: http.client.HTTPSConnection, path="/", method="GET", **kwargs):
    """One request; (response, decoded JSON body)."""
    connection.request(method, path, **kwargs)
    response = connection.getresponse()
    return response, json.loads(response.read())


def connect(server, context) -> http.client.HTTPSConnection:
    return http.client.HTTPSConnection("127.0.0.1", server.port, context=context, timeout=5)


def raw_tls(server, context) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return context.wrap_socket(sock, server_hostname="127.0.0.1")


def read_until_eof(sock, limit_s=5.0) -> bytes:
    sock.settimeout(limit_s)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.fixture
def server(echo_pki):
    """A fresh server per test, so its counters start at zero."""
    with EchoServer(echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file) as fresh:
        yield fresh


@pytest.mark.parametrize("tls_version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_reports_each_client_identity_and_none(echo_pki, echo_server, tls_version):
    for client in echo_pki.clients:
        connection = connect(echo_server, client_context(echo_pki, client, tls_version))
        response, body = get(connection, "/any/path?x=1", method="PUT", body=b"payload")
        connection.close()
        assert response.status == 200
        assert response.getheader("X-Client-Cert-Fingerprint") == client.fingerprint
        assert response.getheader("X-Client-Cert-Subject") == client.subject
        assert f"CN={client.name}" in client.subject
        assert (body["fingerprint"], body["subject"]) == (client.fingerprint, client.subject)
    connection = connect(echo_server, client_context(echo_pki, None, tls_version))
    response, body = get(connection)
    connection.close()
    assert response.getheader("X-Client-Cert-Fingerprint") == "none"
    assert response.getheader("X-Client-Cert-Subject") == "none"
    assert (body["fingerprint"], body["subject"]) == ("none", "none")


def test_keep_alive_serves_many_requests_on_one_connection(echo_pki, server):
    client = echo_pki.clients[0]
    connection = connect(server, client_context(echo_pki, client))
    bodies = [get(connection, f"/{n}")[1] for n in range(3)]
    # A chunked upload must be consumed exactly, or the next request would be garbled.
    response, chunked = get(connection, "/upload", method="POST", body=iter([b"ab", b"cde"]))
    bodies.append(chunked)
    bodies.append(get(connection, "/after-chunked")[1])
    assert response.getheader("Connection") == "keep-alive"
    connection.close()
    assert [b["connection_requests"] for b in bodies] == [1, 2, 3, 4, 5]
    assert len({b["connection_id"] for b in bodies}) == 1
    stats = fetch_stats(server.url, echo_pki.ca_file)
    # one connection for the requests, one for fetch_stats itself
    assert (stats["connections"], stats["handshakes"], stats["requests"]) == (2, 2, 5)
    assert stats["requests_by_fingerprint"] == {client.fingerprint: 5}


@pytest.mark.parametrize(
    "request_head",
    [b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"GET / HTTP/1.0\r\n\r\n"],
    ids=["connection-close", "http-1.0"],
)
def test_server_closes_when_asked(echo_pki, server, request_head):
    sock = raw_tls(server, client_context(echo_pki, echo_pki.clients[1]))
    sock.sendall(request_head)
    started = time.monotonic()
    reply = read_until_eof(sock)  # returns only because the server closed
    sock.close()
    assert time.monotonic() - started < 2
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\nConnection: close\r\n" in reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["connection_requests"] == 1


def test_separate_connections_get_separate_ids(echo_pki, server):
    context = client_context(echo_pki, echo_pki.clients[0])
    ids = []
    for _ in range(2):
        connection = connect(server, context)
        ids.append(get(connection)[1]["connection_id"])
        connection.close()
    assert ids[0] != ids[1]


def test_client_of_another_ca_is_rejected_and_counted(echo_pki, server):
    context = client_context(echo_pki, echo_pki.foreign_client)
    with pytest.raises(ssl.SSLError, match="UNKNOWN_CA"):
        get(connect(server, context))
    stats = fetch_stats(server.url, echo_pki.ca_file)
    assert stats["handshake_failures"] == {"CERTIFICATE_VERIFY_FAILED": 1}
    assert stats["requests"] == 0


def test_stats_reset_zeroes_counters(echo_pki, server):
    connection = connect(server, client_context(echo_pki))
    get(connection)
    connection.close()
    assert fetch_stats(server.url, echo_pki.ca_file)["requests_by_fingerprint"] == {"none": 1}
    fetch_stats(server.url, echo_pki.ca_file, reset=True)
    stats = fetch_stats(server.url, echo_pki.ca_file)
    assert stats["requests"] == 0 and stats["requests_by_fingerprint"] == {}
    assert stats["connections"] == 1  # only the fetch_stats connection itself


def test_malformed_request_gets_400_and_close(echo_pki, server):
    sock = raw_tls(server, client_context(echo_pki))
    sock.sendall(b"NONSENSE\r\n\r\n")
    reply = read_until_eof(sock)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_fault_hook_can_reject_an_identity(echo_pki):
    rejected = echo_pki.clients[0]

    class RejectOne(Faults):
        def after_handshake(self, tls_socket, fingerprint):
            return "rejected_identity" if fingerprint == rejected.fingerprint else None

    files = (echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file)
    with EchoServer(*files, faults=RejectOne()) as server:
        with pytest.raises((ConnectionError, ssl.SSLError)):
            get(connect(server, client_context(echo_pki, rejected)))
        assert get(connect(server, client_context(echo_pki, echo_pki.clients[1])))[0].status == 200
        stats = fetch_stats(server.url, echo_pki.ca_file)
    assert stats["handshake_failures"] == {"rejected_identity": 1}
    assert stats["requests"] == 1


def test_stuck_clients_are_timed_out(echo_pki):
    with EchoServer(
        echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file,
        handshake_timeout=0.3, idle_timeout=0.3,
    ) as server:  # fmt: skip
        silent = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        assert read_until_eof(silent) == b""  # no TLS byte from us: closed after 0.3 s
        silent.close()
        idle = raw_tls(server, client_context(echo_pki))
        idle.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"connection_requests" in read_until_eof(idle)  # kept alive, then idled out
        idle.close()
        stats = fetch_stats(server.url, echo_pki.ca_file)
    assert stats["handshake_failures"] == {"timeout": 1}


def test_port_in_use_is_a_config_error(echo_pki):
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        expected = f"port {port} on 127.0.0.1 is in use; pick another with --port"
        with pytest.raises(ConfigError, match=expected):
            EchoServer(echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file, port=port).start()
        # the child process reports the same line through the handle
        with pytest.raises(ConfigError, match=expected):
            start_echo_server_process(echo_pki.dir, port=port)


def test_bad_inputs_are_config_errors(echo_pki, tmp_path):
    with pytest.raises(ConfigError, match=r"server\.pem not found; run 'locust-mtls certs'"):
        EchoServer(*server_files(str(tmp_path)))
    missing = str(tmp_path / "nope.key")
    with pytest.raises(ConfigError, match=f"server key file {missing} not found"):
        EchoServer(echo_pki.cert_file, missing, echo_pki.ca_file)
    other_key = echo_pki.clients[0].key_file
    with pytest.raises(ConfigError, match="KEY_VALUES_MISMATCH"):
        EchoServer(echo_pki.cert_file, other_key, echo_pki.ca_file)
    with pytest.raises(ConfigError, match="add --bind"):
        EchoServer(echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file, host="0.0.0.0")


def test_process_handle_starts_serves_and_stops(echo_pki, tmp_path):
    log_file = str(tmp_path / "echo.log")
    handle = start_echo_server_process(echo_pki.dir, log_file=log_file)
    try:
        assert handle.url.startswith("https://127.0.0.1:")
        assert psutil.Process(handle.pid).ppid() == os.getpid()
        stats = fetch_stats(handle.url, echo_pki.ca_file)
        assert stats["handshakes"] == 1
    finally:
        exit_code = handle.stop()
    assert exit_code == 0  # SIGTERM is a clean shutdown
    assert not psutil.pid_exists(handle.pid)  # reaped: no zombie, no orphan
    assert handle.pid not in [child.pid for child in psutil.Process().children()]


def test_process_exits_when_its_parent_dies(echo_pki):
    script = textwrap.dedent(f"""
        import time
        from locust_mtls.server.echo import start_echo_server_process
        handle = start_echo_server_process({echo_pki.dir!r})
        print(handle.pid, flush=True)
        time.sleep(30)
    """)
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    server_pid = None
    try:
        server_pid = int(read_line_with_timeout(parent.stdout.fileno(), 15))
        parent.kill()  # like Locust dying to SIGKILL: no cleanup code runs
        parent.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_running(server_pid):
            time.sleep(0.05)
        assert not is_running(server_pid)
    finally:
        parent.stdout.close()
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if server_pid and is_running(server_pid):
            os.kill(server_pid, signal.SIGKILL)


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie is the init process's to reap)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_runs_inside_a_monkey_patched_process(echo_pki):
    """Under Locust gevent is monkey-patched: the server then shares the caller's hub."""
    script = textwrap.dedent(f"""
        from gevent import monkey
        monkey.patch_all()
        import http.client, ssl
        from locust_mtls.server.echo import EchoServer
        with EchoServer({echo_pki.cert_file!r}, {echo_pki.key_file!r}, {echo_pki.ca_file!r}) as s:
            context = ssl.create_default_context(cafile={echo_pki.ca_file!r})
            connection = http.client.HTTPSConnection("127.0.0.1", s.port, context=context)
            connection.request("GET", "/")
            print(connection.getresponse().getheader("X-Client-Cert-Fingerprint"))
            connection.close()
        print("stopped")
    """)
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.stdout.split() == ["none", "stopped"], result.stderr
