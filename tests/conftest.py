"""Shared pytest fixtures (append yours; do not rewrite the file)."""

import pytest


# --- from identity/pki (tests/test_identity.py, tests/test_pki.py) ---
@pytest.fixture(scope="session")
def generated_pki(tmp_path_factory):
    """IdentitySet of a fresh `locust-mtls certs` dir: CA, server, client-1..client-4.

    Shared by the whole session: read it, do not modify it (copy the directory first).
    """
    from locust_mtls.tls.pki import generate_pki

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
    from locust_mtls.server.echo import EchoServer

    with EchoServer(echo_pki.cert_file, echo_pki.key_file, echo_pki.ca_file) as server:
        yield server


# --- from strategies / user (tests/test_strategies.py, tests/test_user.py, ...) ---
@pytest.fixture(scope="session")
def pki_server(generated_pki):
    """An in-process EchoServer serving generated_pki's server certificate."""
    from locust_mtls.server.echo import EchoServer

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


def run_locust(*args, cwd, users=None, run_time=None, timeout=90, env=None, python=None):
    """Run `locust` headless in a subprocess (never in the test process: importing locust
    monkey-patches everything), with `users` spawned at once for `run_time`. Returns the
    CompletedProcess; Locust's tables are in .stderr, ours in .stdout."""
    import os
    import subprocess
    import sys

    full_env = {**os.environ, **(env or {})}
    load = [
        *(("-u", str(users), "-r", str(users)) if users else ()),
        *(("-t", run_time) if run_time else ()),
    ]
    command = [
        python or sys.executable,
        "-m",
        "locust",
        "--headless",
        "--only-summary",
        *load,
        *args,
    ]
    return subprocess.run(
        command,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# --- from reliability (tests/test_failures.py, tests/test_reliability.py, ...) ---
@pytest.fixture(scope="session")
def bad_identities(generated_pki, tmp_path_factory):
    """Client identities the echo server must refuse, issued into their own directory:
    `.expired`, `.not_yet_valid` (signed by generated_pki's CA) and `.other_ca`
    (signed by an unrelated CA); each an Identity."""
    import datetime
    import os
    from types import SimpleNamespace

    import trustme

    from locust_mtls.tls.pki import issue_identity, load_ca

    ca = load_ca(os.path.dirname(generated_pki.ca_file))
    directory = str(tmp_path_factory.mktemp("bad-identities"))
    now = datetime.datetime.now(datetime.UTC)
    day = datetime.timedelta(days=1)
    return SimpleNamespace(
        expired=issue_identity(
            ca, "expired", directory, not_before=now - 10 * day, not_after=now - day
        ),
        not_yet_valid=issue_identity(
            ca, "not-yet-valid", directory, not_before=now + day, not_after=now + 10 * day
        ),
        other_ca=issue_identity(trustme.CA(), "other-ca", directory),
    )


@pytest.fixture(scope="session")
def server_identities(generated_pki, tmp_path_factory):
    """Server certificates that clients trusting generated_pki's CA must refuse:
    `.wrong_name` (our CA, issued for example.org only) and `.untrusted` (another CA,
    right names); each a (cert_file, key_file) pair."""
    import os
    from types import SimpleNamespace

    import trustme

    from locust_mtls.tls.pki import load_ca

    directory = str(tmp_path_factory.mktemp("server-identities"))

    def write(ca, name, *hosts):
        leaf = ca.issue_cert(*hosts)
        cert, key = (os.path.join(directory, f"{name}.{ext}") for ext in ("pem", "key"))
        leaf.cert_chain_pems[0].write_to_path(cert)
        leaf.private_key_pem.write_to_path(key)
        os.chmod(key, 0o600)
        return cert, key

    ca = load_ca(os.path.dirname(generated_pki.ca_file))
    return SimpleNamespace(
        wrong_name=write(ca, "wrong-name", "example.org"),
        untrusted=write(trustme.CA(), "untrusted", "127.0.0.1", "localhost"),
    )


@pytest.fixture(scope="module")
def plain_tcp_listener():
    """A loopback TCP listener that answers anything with an HTTP 400, like a plain-HTTP
    port: yields its port; closed (with its thread) after the test module."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(4096)
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


@pytest.fixture(scope="module")
def closed_port():
    """A loopback port where nothing listens (held bound, so no one else takes it)."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        yield holder.getsockname()[1]


def row_of(summary: dict, name: str) -> dict:
    """The counters row named `name` in a summary document (rows are keyed by run setting,
    e.g. 'shared-context [keep-alive off]'), else the one row of strategy `name` or whose
    name is `name` plus its modes."""
    rows = summary["strategies"]
    if name in rows:
        return rows[name]
    (row,) = [
        row for key, row in rows.items() if row["strategy"] == name or key.startswith(f"{name} [")
    ]
    return row


class LocustWithWebUI:
    """`locust ... --autostart` on a free 127.0.0.1 port, in a subprocess of `cwd` (logs in
    locust.log); `url(path)` and `get(path)` reach its web server. Killed by PID on exit."""

    def __init__(self, args: list[str], cwd, log_name: str = "locust.log"):
        import subprocess
        import sys

        from bench.nginx import free_port

        self.port = free_port()
        self.log = cwd / log_name
        command = [sys.executable, "-m", "locust", "--web-host", "127.0.0.1"]
        command += ["--web-port", str(self.port), "--autostart", *args]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> str | None:
        """The body of GET `path`, or None while the server is not up."""
        import urllib.request

        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return response.read().decode()
        except OSError:
            return None

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


# --- the fast subset (.ci/run on the other Pythons and the declared lower bounds) ---
# Modules whose tests mostly start Locust, gateways or a browser: marked `e2e`, so
# `pytest -m "not slow and not e2e"` is the quick unit-level pass, plus SMOKE below.
E2E_MODULES = {
    "test_audit", "test_charts", "test_checked_event", "test_ci_results", "test_cluster",
    "test_counting", "test_distributed", "test_examples", "test_fast_user", "test_gateways",
    "test_gateway_subjects",
    "test_http_user", "test_locust_httpuser", "test_many_identities", "test_matrix",
    "test_metrics", "test_nginx", "test_plugin", "test_reliability", "test_threshold_runs",
    "test_tls_controls", "test_user", "test_web_ui",
}  # fmt: skip


def pytest_collection_modifyitems(config, items):
    import pytest

    for item in items:
        if item.module.__name__ in E2E_MODULES:
            item.add_marker(pytest.mark.e2e)


def wait_for(condition, timeout: float, what: str):
    """`condition()`'s first true value, polled until `timeout` s; else AssertionError
    naming `what` (a deadline, never a fixed sleep)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def processes(count: int = 2) -> list[str]:
    """`--processes COUNT` on a port of its own: two such runs at once (pytest -n) would
    both bind Locust's default 5557, and their workers would meet the other master."""
    from bench.nginx import free_port

    port = str(free_port())
    return ["--processes", str(count), "--master-bind-port", port, "--master-port", port]


# --- other clients' strategies (issue 30) ---
def strategies_here(*, synchronous: bool = True) -> list[str]:
    """Strategies whose client library this venv has (niquests only where it was installed
    beside urllib3: its wheel replaces `import urllib3`; tests/test_niquests_session.py runs
    it in a matrix env), sending on the calling thread (`synchronous`) or as coroutines."""
    from locust_mtls.strategies import LIBRARIES, STRATEGIES

    return [
        name
        for name, cls in STRATEGIES.items()
        if LIBRARIES[cls.library].installed()
        and ("asyncio" not in LIBRARIES[cls.library].concurrency) == synchronous
    ]


@pytest.fixture(scope="session")
def matrix_envs():
    """The matrix's env cache for tests that run another client's env (.ci-venvs/, like
    .ci/run's venvs; gitignored): built on first use (slow tests), reused after."""
    from pathlib import Path

    from locust_mtls.matrix.envs import Environments

    return Environments(Path(__file__).resolve().parent.parent / ".ci-venvs" / "matrix-envs")
