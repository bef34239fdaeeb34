"""The echo server as a child process: start it, wait until it serves, stop it by PID.

The locustfile and the matrix runner use this, so a crash of the load generator never
takes the server down and the server never outlives its parent (it watches its stdin).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import subprocess
import sys
import tempfile
import time
import urllib.parse

from locust_mtls.errors import ConfigError
from locust_mtls.processes import stop as stop_process
from locust_mtls.server.faults import InjectedFaults
from locust_mtls.settings import child_environment
from locust_mtls.tls import contexts as tls

CHILD_ERROR_PREFIX = "echo server: error: "
READY_PREFIX = "listening on "  # the child's one stdout line: "listening on https://..."


def server_files(certs_dir: str) -> tuple[str, str, str]:
    """(cert, key, CA) paths inside a directory written by `locust-mtls certs`.

    Not checked here: tls.server_context names any missing file and says how to make it.
    """
    return tuple(os.path.join(certs_dir, name) for name in ("server.pem", "server.key", "ca.pem"))


class EchoServerProcess:
    """Handle on an echo server running as a child process (crash-isolated from Locust)."""

    def __init__(self, process: subprocess.Popen, url: str, log) -> None:
        self.process = process
        self.url = url
        self._log = log

    @property
    def pid(self) -> int:
        """Process id of the server child."""
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after `timeout` s; reaps the child and returns its exit code."""
        stop_process(self.process, timeout=timeout)
        for stream in (self.process.stdin, self.process.stdout, self._log):
            if stream is not None:
                stream.close()
        return self.process.returncode

    def __enter__(self) -> EchoServerProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def start_echo_server_process(
    certs_dir: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_file: str | None = None,
    *,
    cert_file: str | None = None,
    key_file: str | None = None,
    ca_file: str | None = None,
    allow_non_loopback: bool = False,
    ready_timeout: float = 15.0,
    faults: InjectedFaults | None = None,
    head_timeout: float | None = None,
) -> EchoServerProcess:
    """Start `python -m locust_mtls.server.echo` and wait until it serves.

    Pass `certs_dir` or all three files; `faults` become the child's fault-mode options,
    `head_timeout` its --head-timeout.
    The child exits by itself when this process dies (it watches its stdin pipe for EOF).
    Raises ConfigError with the child's own message if it cannot start.
    """
    if certs_dir is not None:
        cert_file, key_file, ca_file = server_files(certs_dir)
    if not (cert_file and key_file and ca_file):
        raise ValueError("pass certs_dir or cert_file, key_file and ca_file")
    command = [
        sys.executable,
        "-m",
        "locust_mtls.server.echo",
        "--cert",
        cert_file,
        "--key",
        key_file,
        "--ca",
        ca_file,
        "--host",
        host,
        "--port",
        str(port),
        "--exit-with-parent",
    ] + (["--bind"] if allow_non_loopback else [])
    command += faults.to_args() if faults else []
    command += ["--head-timeout", f"{head_timeout:g}"] if head_timeout else []
    # The child must import this very package, installed or not.
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = child_environment(os.environ)  # the server needs no key password of Locust's
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    log = open(log_file, "a+b") if log_file else tempfile.TemporaryFile()
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
        start_new_session=True,  # a Ctrl-C meant for Locust must not kill the server first
    )
    handle = EchoServerProcess(process, "", log)
    line = read_line_with_timeout(process.stdout.fileno(), ready_timeout)
    if line.startswith(READY_PREFIX):
        handle.url = line.removeprefix(READY_PREFIX)
        return handle
    try:
        process.wait(timeout=2)  # no URL: the child is most likely exiting; let it say why
    except subprocess.TimeoutExpired:
        pass
    log.seek(0)
    stderr_lines = log.read().decode(errors="replace").splitlines()
    handle.stop()
    errors = [line for line in stderr_lines if line.startswith(CHILD_ERROR_PREFIX)]
    if errors:
        raise ConfigError(errors[-1].removeprefix(CHILD_ERROR_PREFIX))
    last_line = stderr_lines[-1] if stderr_lines else "no output"
    raise ConfigError(
        f"echo server did not start within {ready_timeout:g} s "
        f"(exit code {process.returncode}): {last_line}"
    )


def read_line_with_timeout(fd: int, timeout: float) -> str:
    """One line from a pipe, or what arrived before EOF / the deadline."""
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n") and (remaining := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([fd], [], [], remaining)
        chunk = os.read(fd, 4096) if readable else b""
        if readable and not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def fetch_stats(url: str, ca_file: str, timeout: float = 5.0, reset: bool = False) -> dict:
    """GET /stats (or POST /stats/reset) from an echo server, trusting `ca_file`."""
    parsed = urllib.parse.urlsplit(url)
    context = tls.client_context(ca_file)  # no client certificate: stats are not per identity
    connection = http.client.HTTPSConnection(
        parsed.hostname, parsed.port, context=context, timeout=timeout
    )
    try:
        connection.request("POST" if reset else "GET", "/stats/reset" if reset else "/stats")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"{url}/stats answered {response.status}")
    return json.loads(body)
