"""Echo server: real TLS on loopback with trustme certificates (fixtures in conftest.py)."""

from __future__ import annotations

import hashlib
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
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from locust_mtls.errors import ConfigError
from locust_mtls.server import http as echo_http
from locust_mtls.server import routes
from locust_mtls.server.echo import (
    EchoServer,
    Faults,
    InjectedFaults,
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


def test_a_request_head_must_be_whole_in_time_but_a_keep_alive_wait_need_not(echo_pki):
    """The head deadline runs from the head's first byte: a trickled head gets 408, a
    connection idle between requests for longer than the deadline is still served."""
    with EchoServer(
        echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file, head_timeout=0.3
    ) as server:
        quiet = connect(server, client_context(echo_pki))
        assert get(quiet)[0].status == 200
        time.sleep(0.6)  # the scenario: longer than the head deadline, between requests
        assert get(quiet)[0].status == 200
        quiet.close()
        slow = raw_tls(server, client_context(echo_pki))
        started = time.monotonic()
        answer = trickle_head(slow, give_up_s=5.0)
        slow.close()
    assert answer == b"HTTP/1.1 408 Request Timeout"
    assert 0.3 <= time.monotonic() - started < 2.0


def trickle_head(tls_socket, give_up_s: float, every_s: float = 0.1) -> bytes:
    """Send a request head one header line every `every_s`, never its end; the status line
    of the answer (b"" if none within `give_up_s` or the connection closed)."""
    deadline = time.monotonic() + give_up_s
    try:
        tls_socket.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        tls_socket.settimeout(every_s)
        while time.monotonic() < deadline:
            try:
                return tls_socket.recv(4096).partition(b"\r\n")[0]
            except TimeoutError:
                tls_socket.sendall(b"X-Slow: 1\r\n")
    except OSError:
        pass
    return b""


def slow_client(url: str, ca_file: str, give_up_s: float) -> bytes:
    """One slowloris connection: TLS handshake (it may wait in the listen backlog), then a
    trickled head; the status line it got."""
    port = urllib.parse.urlsplit(url).port
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=give_up_s) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls_socket:
                return trickle_head(tls_socket, give_up_s)
    except OSError:
        return b""


def test_slow_heads_under_a_descriptor_limit_do_not_starve_other_clients(echo_pki, tmp_path):
    """200 connections that trickle header lines into a server allowed 128 file descriptors
    (#27: 248 of them under `ulimit -n 256` timed out every other client, and accept's
    EMFILE logged a traceback a second). Each gets 408 once its head is 1 s old, the
    server says "out of file descriptors" once, without a traceback, and then a normal
    request answers within 2 s."""
    log = tmp_path / "server.log"
    with start_echo_server_process(echo_pki.dir, log_file=str(log), head_timeout=1.0) as server:
        psutil.Process(server.pid).rlimit(psutil.RLIMIT_NOFILE, (128, 128))
        with ThreadPoolExecutor(max_workers=200) as pool:
            slow = [
                pool.submit(slow_client, server.url, echo_pki.ca_file, 30.0) for _ in range(200)
            ]
            answers = [future.result() for future in slow]
        started = time.monotonic()
        port = urllib.parse.urlsplit(server.url).port
        normal = http.client.HTTPSConnection(
            "127.0.0.1", port, context=client_context(echo_pki), timeout=5
        )
        response, _ = get(normal)
        elapsed = time.monotonic() - started
    assert answers == [b"HTTP/1.1 408 Request Timeout"] * 200
    assert response.status == 200 and elapsed < 2.0
    said = log.read_text()
    assert "Traceback" not in said
    assert said.count("echo server: out of file descriptors (errno EMFILE)") == 1, said


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


# -- a realistic target: any method, request bodies, query, cookie login, orders, /private --


def raw_exchange(server, context, request: bytes) -> bytes:
    """Send raw bytes on a new TLS connection; everything the server sent until it closed."""
    sock = raw_tls(server, context)
    try:
        sock.sendall(request)
        return read_until_eof(sock)
    finally:
        sock.close()


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_answers_every_method_on_any_path(echo_pki, echo_server, method):
    client = echo_pki.clients[0]
    connection = connect(echo_server, client_context(echo_pki, client))
    response, body = get(connection, "/a/b.json", method=method)
    connection.close()
    assert response.status == 200
    assert (body["method"], body["path"], body["fingerprint"]) == (
        method,
        "/a/b.json",
        client.fingerprint,
    )
    assert (body["body_length"], body["body_sha256"]) == (0, hashlib.sha256(b"").hexdigest())
    assert body["query"] == {}


def test_head_gets_the_headers_without_a_body(echo_pki, echo_server):
    client = echo_pki.clients[1]
    connection = connect(echo_server, client_context(echo_pki, client))
    connection.request("HEAD", "/anything")
    response = connection.getresponse()
    assert response.read() == b""
    assert response.status == 200 and int(response.getheader("Content-Length")) > 0
    assert response.getheader("X-Client-Cert-Fingerprint") == client.fingerprint
    # the next request on the same connection is not garbled by a stray body
    assert get(connection, "/after-head")[1]["connection_requests"] == 2
    connection.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_request_bodies_are_read_and_hashed(echo_pki, echo_server, framing):
    payload = os.urandom(300_000)
    body_arg = payload if framing == "content-length" else iter([payload[:1], payload[1:]])
    connection = connect(echo_server, client_context(echo_pki, echo_pki.clients[0]))
    response, body = get(connection, "/upload", method="POST", body=body_arg)
    after = get(connection, "/after")[1]  # the body was consumed exactly
    connection.close()
    assert response.status == 200
    assert body["body_length"] == len(payload)
    assert body["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert (after["body_length"], after["connection_requests"]) == (0, 2)


def test_query_string_is_parsed_into_lists(echo_pki, echo_server):
    connection = connect(echo_server, client_context(echo_pki))
    body = get(connection, "/search?q=a&q=b&empty=&name=%C3%A9t%C3%A9+x")[1]
    connection.close()
    assert body["path"] == "/search"
    assert body["query"] == {"q": ["a", "b"], "empty": [""], "name": ["été x"]}


@pytest.mark.parametrize("tls_version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_reports_tls_version_cipher_and_session_reuse(echo_pki, echo_server, tls_version):
    context = client_context(echo_pki, echo_pki.clients[2], tls_version)
    first = raw_tls(echo_server, context)
    first.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    first_body = json.loads(first.recv(65536).split(b"\r\n\r\n", 1)[1])  # TLS 1.3: ticket read
    sock = socket.create_connection(("127.0.0.1", echo_server.port), timeout=5)
    second = context.wrap_socket(sock, server_hostname="127.0.0.1", session=first.session)
    second.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    second_body = json.loads(read_until_eof(second).split(b"\r\n\r\n", 1)[1])
    cipher = first.cipher()[0]
    first.close()
    second.close()
    expected_version = "TLSv1.2" if tls_version == ssl.TLSVersion.TLSv1_2 else "TLSv1.3"
    assert first_body["tls_version"] == second_body["tls_version"] == expected_version
    assert first_body["cipher"] == cipher
    assert (first_body["session_reused"], second_body["session_reused"]) == (False, True)
    assert second_body["fingerprint"] == echo_pki.clients[2].fingerprint


def test_login_cookie_round_trip_with_requests(echo_pki, echo_server):
    client = echo_pki.clients[0]
    with requests.Session() as session:
        session.trust_env = False  # REQUESTS_CA_BUNDLE would beat session.verify (requests#3829)
        session.verify = echo_pki.ca_file
        session.cert = (client.cert_file, client.key_file)
        before = session.get(f"{echo_server.url}/profile", timeout=5).json()
        login = session.post(f"{echo_server.url}/login", timeout=5)
        after = session.get(f"{echo_server.url}/profile", timeout=5).json()
    assert login.status_code == 200
    cookie = login.cookies["session"]
    assert "Path=/" in login.headers["Set-Cookie"]
    assert login.json()["session"] == cookie
    assert (before["cookie_session"], before["session_fingerprint"]) == (None, None)
    assert (after["cookie_session"], after["session_fingerprint"]) == (cookie, client.fingerprint)


def test_a_session_this_server_never_issued_is_not_reported(echo_pki, echo_server):
    connection = connect(echo_server, client_context(echo_pki))
    body = get(connection, "/", headers={"Cookie": "theme=dark; session=forged"})[1]
    connection.close()
    assert body["cookie_session"] is None


def test_orders_are_created_and_read_back(echo_pki, echo_server):
    connection = connect(echo_server, client_context(echo_pki, echo_pki.clients[1]))
    sent = {"item": "book", "quantity": 2, "id": 99999}
    response, created = get(connection, "/orders", "POST", body=json.dumps(sent))
    assert response.status == 201
    assert created == {"id": created["id"], "item": "book", "quantity": 2}
    assert created["id"] != 99999  # the server numbers orders, whatever the client sent
    assert response.getheader("Location") == f"/orders/{created['id']}"
    response, read_back = get(connection, f"/orders/{created['id']}")
    assert (response.status, read_back) == (200, created)
    for unknown in ("/orders/123456789", "/orders/abc", "/orders/" + "9" * 5000):
        assert get(connection, unknown)[0].status == 404
    for not_an_object in (b"[1, 2]", b"{", b"\xff", b"[" * 100_000):
        response, error = get(connection, "/orders", "POST", body=not_an_object)
        assert response.status == 400 and "JSON object" in error["error"]
    assert get(connection, "/still-open")[0].status == 200  # a 400 here keeps the connection
    connection.close()


def test_only_the_latest_orders_are_kept(echo_pki, server, monkeypatch):
    monkeypatch.setattr(routes, "MAX_ORDERS", 2)
    connection = connect(server, client_context(echo_pki))
    ids = [get(connection, "/orders", "POST", body=b"{}")[1]["id"] for _ in range(3)]
    statuses = [get(connection, f"/orders/{order_id}")[0].status for order_id in ids]
    connection.close()
    assert statuses == [404, 200, 200]


def test_health_needs_no_certificate(echo_pki, echo_server):
    connection = connect(echo_server, client_context(echo_pki))
    response, body = get(connection, "/health")
    connection.close()
    assert (response.status, body) == (200, {"status": "ok"})


def test_private_is_401_without_a_certificate_403_refused_200_otherwise(echo_pki):
    refused, allowed = echo_pki.clients[0], echo_pki.clients[1]
    files = (echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file)
    with EchoServer(*files, faults=InjectedFaults(reject=[refused.name])) as server:
        statuses = {}
        for name, client in (("none", None), ("allowed", allowed), ("refused", refused)):
            connection = connect(server, client_context(echo_pki, client))
            response, body = get(connection, "/private")
            connection.close()
            statuses[name] = response.status
        assert body == {"error": "this client certificate is refused"}
        assert response.getheader("X-Client-Cert-Fingerprint") == refused.fingerprint
        with pytest.raises((ConnectionError, ssl.SSLError)):  # other paths: closed unanswered
            get(connect(server, client_context(echo_pki, refused)), "/")
        stats = fetch_stats(server.url, echo_pki.ca_file)
    assert statuses == {"none": 401, "allowed": 200, "refused": 403}
    assert stats["handshake_failures"] == {"rejected_identity": 2}


def test_oversize_bodies_get_413(echo_pki, server, monkeypatch):
    context = client_context(echo_pki)
    too_long = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {16 * 1024 * 1024 + 1}\r\n"
    reply = raw_exchange(server, context, too_long.encode() + b"Expect: 100-continue\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413 ")  # and no 100 Continue before it
    monkeypatch.setattr(echo_http, "MAX_BODY_BYTES", 1000)
    chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    two_chunks = (b"258\r\n" + b"x" * 600 + b"\r\n") * 2  # 0x258 = 600
    reply = raw_exchange(server, context, chunked + two_chunks + b"0\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 413 ")  # 600 + 600 bytes: over the limit at chunk 2


@pytest.mark.parametrize(
    "head, body, status",
    [
        (b"Transfer-Encoding: chunked", b"zz\r\nabc\r\n0\r\n\r\n", 400),  # not hex
        (b"Transfer-Encoding: chunked", b"-3\r\nabc\r\n0\r\n\r\n", 400),  # int() would take it
        (b"Transfer-Encoding: chunked", b"3\r\nabcXY0\r\n\r\n", 400),  # no CRLF after the data
        (b"Content-Length: +3", b"abc", 400),
        (b"Content-Length: 3\r\nTransfer-Encoding: chunked", b"3\r\nabc\r\n0\r\n\r\n", 400),
        (b"Transfer-Encoding: gzip", b"abc", 501),
    ],
    ids=["chunk-size-not-hex", "chunk-size-negative", "chunk-no-crlf", "length-sign",
         "length-and-chunked", "unknown-coding"],
)  # fmt: skip
def test_malformed_bodies_get_an_error_and_the_server_goes_on(echo_pki, server, head, body, status):
    context = client_context(echo_pki)
    request = b"POST / HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n\r\n" + body
    reply = raw_exchange(server, context, request)
    assert reply.startswith(f"HTTP/1.1 {status} ".encode())
    assert b"\r\nConnection: close\r\n" in reply
    connection = connect(server, context)
    assert get(connection, "/next")[0].status == 200
    connection.close()


@pytest.mark.parametrize(
    "option, value, kind",
    [
        *(("--port", port, "port (0-65535)") for port in ("70000", "-1", "abc")),
        *(("--head-timeout", seconds, "seconds (> 0)") for seconds in ("nan", "inf", "0")),
    ],
)
def test_serve_rejects_a_bad_number_in_one_line(option, value, kind):
    done = subprocess.run(
        [sys.executable, "-m", "locust_mtls.cli", "serve", f"{option}={value}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last == f"locust-mtls serve: error: argument {option}: invalid {kind} value: '{value}'"
