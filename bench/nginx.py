"""nginx as a real mTLS target: a generated config and a child process started by PID.

nginx terminates TLS on 127.0.0.1 with `ssl_verify_client optional` and the private CA,
and answers every request with the same headers as the echo server:
`X-Client-Cert-Fingerprint` (SHA-256 of the client leaf's DER, lowercase hex, or
`none`) and `X-Client-Cert-Subject`. nginx's own `$ssl_client_fingerprint` is SHA-1,
so the SHA-256 is computed by a few lines of njs (Debian: libnginx-mod-http-js) from
`$ssl_client_raw_cert`. Everything nginx writes (config, pid, logs, temp dirs) lives in
its own prefix directory; nothing system-wide is read or changed.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from locust_mtls.errors import ConfigError
from locust_mtls.processes import stop as stop_process

INSTALL_COMMAND = "apt-get install -y nginx libnginx-mod-http-js"
JS_MODULE_PATHS = (
    "/usr/lib/nginx/modules/ngx_http_js_module.so",  # Debian / Ubuntu
    "/usr/lib64/nginx/modules/ngx_http_js_module.so",
    "/etc/nginx/modules/ngx_http_js_module.so",
)

# SHA-256 of the DER inside the PEM nginx hands us; "none" (not "") because nginx drops
# a header whose value is empty, and the identity check must see "no certificate".
FINGERPRINT_JS = """\
import crypto from 'crypto';

function sha256(r) {
    var pem = r.variables.ssl_client_raw_cert;
    if (!pem) {
        return 'none';
    }
    var base64 = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\\s+/g, '');
    return crypto.createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex');
}

export default {sha256};
"""


# The http-level and location-level lines the njs target adds; bench/gateways.py reuses
# them for its "nginx-njs-sha256" variant and docs/gateways.md shows them verbatim.
NJS_HTTP_LINES = """\
js_import fingerprint from fingerprint.js;
js_set $client_cert_sha256 fingerprint.sha256;
"""
NJS_LOCATION_LINES = """\
add_header X-Client-Cert-Fingerprint $client_cert_sha256 always;
"""
ECHO_HTTP_LINES = (
    NJS_HTTP_LINES
    + """\
map $ssl_client_s_dn $client_cert_subject {
    "" none;
    default $ssl_client_s_dn;
}
"""
)
ECHO_LOCATION_LINES = (
    NJS_LOCATION_LINES
    + """\
add_header X-Client-Cert-Subject $client_cert_subject always;
default_type application/json;
return 200 '{"fingerprint": "$client_cert_sha256", "server": "nginx"}';
"""
)


def find_nginx() -> str | None:
    """Path of the nginx binary (PATH, then /usr/sbin), or None."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def find_js_module() -> str | None:
    """Path of the njs dynamic module, or None."""
    return next((path for path in JS_MODULE_PATHS if os.path.isfile(path)), None)


def missing_reason(needs_js: bool = True) -> str | None:
    """Why nginx cannot be used here (with the one command that fixes it), or None."""
    if find_nginx() is None:
        return f"nginx is not installed; run: {INSTALL_COMMAND}"
    if needs_js and find_js_module() is None:
        return f"nginx's njs module (SHA-256 fingerprints) is missing; run: {INSTALL_COMMAND}"
    return None


def nginx_config(
    prefix: str,
    port: int,
    cert_file: str,
    key_file: str,
    ca_file: str,
    *,
    js_module: str | None,
    workers: int = 1,
    http_lines: str = ECHO_HTTP_LINES,
    location_lines: str = ECHO_LOCATION_LINES,
    status_port: int | None = None,
    http2: bool = False,
) -> str:
    """The whole nginx.conf: 127.0.0.1:`port`, TLS 1.2+1.3, client cert optional, keep-alive.

    `http_lines` and `location_lines` are what a user would add to their own config (the
    echo-like njs target by default); njs modules are looked up in `prefix`. With
    `status_port`, plain-HTTP `stub_status` on 127.0.0.1:`status_port`/status: the request
    counter the benchmark reads (the server's count, whatever the client claims). With
    `http2`, h2 is offered by ALPN beside http/1.1 (nginx 1.22's `listen ... http2`).
    """
    temp_paths = "\n".join(
        f"    {kind}_temp_path {prefix}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    load_js = f"load_module {js_module};\n" if js_module else ""
    js_path = f"    js_path {prefix};\n" if js_module else ""
    status = (
        f"\n    server {{\n        listen 127.0.0.1:{status_port};\n"
        "        location = /status {\n            stub_status;\n        }\n    }\n"
        if status_port
        else ""
    )
    return f"""\
{load_js}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;

events {{
    worker_connections 8192;
}}

http {{
    access_log off;
{temp_paths}
{js_path}{_indent(http_lines, 4)}
    keepalive_timeout 75s;
    keepalive_requests 1000000;

    server {{
        listen 127.0.0.1:{port} ssl{" http2" if http2 else ""};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {cert_file};
        ssl_certificate_key {key_file};
        ssl_client_certificate {ca_file};
        ssl_verify_client optional;
        ssl_verify_depth 3;

        location / {{
{_indent(location_lines, 12)}
        }}
    }}
{status}}}
"""


def _indent(lines: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line if line else line for line in lines.splitlines())


class ServerProcess:
    """A server (nginx, HAProxy) running in the foreground as our child; stopped by its PID."""

    def __init__(
        self,
        process: subprocess.Popen,
        url: str,
        prefix: str,
        owns_prefix: bool,
        stop_signal: int = signal.SIGQUIT,  # nginx: graceful shutdown
    ):
        self.process = process
        self.url = url
        self.prefix = prefix
        self._owns_prefix = owns_prefix
        self._stop_signal = stop_signal
        self.status_url: str | None = None  # nginx's stub_status, when started with one

    @property
    def pid(self) -> int:
        """PID of the master (nginx's workers are its children)."""
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """PIDs of the worker processes (for CPU pinning and memory readings)."""
        import psutil

        try:
            return [child.pid for child in psutil.Process(self.pid).children()]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 5.0) -> int:
        """Stop signal (graceful), SIGKILL after `timeout` s; removes a prefix we created."""
        stop_process(self.process, self._stop_signal, timeout)
        if self._owns_prefix:
            shutil.rmtree(self.prefix, ignore_errors=True)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


NginxProcess = ServerProcess


def start_nginx(
    cert_file: str,
    key_file: str,
    ca_file: str,
    *,
    prefix: str | None = None,
    workers: int = 1,
    ready_timeout: float = 10.0,
    http_lines: str = ECHO_HTTP_LINES,
    location_lines: str = ECHO_LOCATION_LINES,
    status: bool = False,
    http2: bool = False,
) -> ServerProcess:
    """Write a config into `prefix` (default: a new temp dir) and run nginx on a free port.

    Raises ConfigError with the install command when nginx (or njs, if the lines use it)
    is missing, or with the last line of nginx's error log when it does not start.
    """
    needs_js = "js_" in http_lines
    reason = missing_reason(needs_js)
    if reason:
        raise ConfigError(reason)
    owns_prefix = prefix is None
    prefix = os.path.abspath(prefix or tempfile.mkdtemp(prefix="locust-mtls-nginx-"))
    if os.geteuid() == 0:
        # Workers drop to `nobody`; they must be able to enter the prefix.
        os.chmod(prefix, 0o755)
    with open(os.path.join(prefix, "fingerprint.js"), "w") as file:
        file.write(FINGERPRINT_JS)
    port = free_port()
    status_port = free_port() if status else None
    config = nginx_config(
        prefix,
        port,
        *(os.path.abspath(path) for path in (cert_file, key_file, ca_file)),
        js_module=find_js_module() if needs_js else None,
        workers=workers,
        http_lines=http_lines,
        location_lines=location_lines,
        status_port=status_port,
        http2=http2,
    )
    config_file = os.path.join(prefix, "nginx.conf")
    with open(config_file, "w") as file:
        file.write(config)
    command = [find_nginx(), "-p", prefix, "-c", config_file, "-e", f"{prefix}/error.log"]
    server = start_server(
        "nginx", command, port, prefix, owns_prefix, config_file, ready_timeout=ready_timeout
    )
    if status_port:
        server.status_url = f"http://127.0.0.1:{status_port}/status"
    return server


def start_server(
    name: str,
    command: list[str],
    port: int,
    prefix: str,
    owns_prefix: bool,
    config_file: str,
    *,
    stop_signal: int = signal.SIGQUIT,
    ready_timeout: float = 10.0,
) -> ServerProcess:
    """Run `command` as our child and wait until it accepts on `port`; its log (or the
    last line of `prefix`/error.log) goes into the ConfigError when it does not start."""
    log_file = os.path.join(prefix, "error.log")
    with open(log_file, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    handle = ServerProcess(process, f"https://127.0.0.1:{port}", prefix, owns_prefix, stop_signal)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if _accepts(port):
            return handle
        time.sleep(0.05)
    handle._owns_prefix = False  # keep the log for the user to read
    handle.stop()
    raise ConfigError(f"{name} did not start (config {config_file}): {_last_line(log_file)}")


def free_port() -> int:
    """A loopback port that was free a moment ago, for a server that cannot report port 0
    (nginx, HAProxy, Locust's master and web UI). Drawn below the kernel's ephemeral range:
    a port bind(0) hands out can be taken by the local end of an outgoing connection before
    the server binds it (thousands of keep-alive-off connections a second in the counting
    tests under stress-ng did, and the master never started)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as file:
        ephemeral_low = int(file.read().split()[0])
    lowest = 10_000 if ephemeral_low > 11_000 else 1_024  # clear of well-known services
    draw = random.SystemRandom()
    for _ in range(200):
        port = draw.randrange(lowest, ephemeral_low)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port on 127.0.0.1 between {lowest} and {ephemeral_low}")


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _last_line(path: str) -> str:
    try:
        with open(path, errors="replace") as file:
            lines = [line.strip() for line in file if line.strip()]
    except OSError:
        return "no error log"
    return lines[-1] if lines else "error log empty"


def version() -> str:
    """`nginx/1.22.1`, or "not installed"."""
    binary = find_nginx()
    if binary is None:
        return "not installed"
    result = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (result.stderr or result.stdout).strip().removeprefix("nginx version: ")
