"""Real gateways in front of a tiny plain-HTTP backend, reporting the client certificate.

Debian's HAProxy and nginx terminate TLS on 127.0.0.1 (free ports, `verify optional`
with the private CA) and add a response header that says which certificate they saw,
the way a user would configure them. Each `Variant` holds exactly the lines a user adds
to their own config; docs/gateways.md shows the same text (tests/test_gateways.py
checks), so the documented recipes are the tested ones. Processes are our children,
stopped by PID; nothing system-wide is read or changed.

    python -m bench.gateways            # print every variant's snippet as Markdown
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import nginx
from bench.nginx import ServerProcess, free_port, start_server
from locust_mtls.errors import ConfigError

HAPROXY_INSTALL_COMMAND = "apt-get install -y haproxy"
SHA256_HEADER = "X-Client-Cert-Fingerprint"


@dataclass(frozen=True)
class Variant:
    """One way to configure a gateway to report the client certificate.

    `http_lines` (nginx `http {}` level) and `lines` (nginx `location {}` or HAProxy
    `frontend` level) are what a user copies; `reports` is False for the trap.
    """

    name: str
    server: str  # "nginx" | "haproxy"
    header: str  # the response header carrying the identity
    identity_format: str  # the --mtls-identity-format to use with it
    lines: str
    http_lines: str = ""
    reports: bool = True


def nginx_map(variable: str, target: str, value: str = "") -> str:
    """`map $variable $target`: `value` (default: the variable itself), or "none" when empty."""
    # nginx sends no header at all for an empty value: map "" to "none" so that "no
    # certificate" is reported, not left for the reader to guess from an absent header.
    value = value or f"${variable}"
    return f'map ${variable} ${target} {{\n    "" none;\n    default {value};\n}}\n'


def haproxy_report(header: str, value: str) -> str:
    """`http-after-response` lines that set `header` to `value`, or to "none" without a
    client certificate (http-after-response: see the trap below)."""
    return (
        f"http-after-response set-header {header} {value} if {{ ssl_c_used }}\n"
        f"http-after-response set-header {header} none if !{{ ssl_c_used }}\n"
    )


HAPROXY_SHA256 = "%[ssl_c_der,digest(sha256),hex,lower]"


VARIANTS = (
    Variant(
        "haproxy-sha256",
        "haproxy",
        SHA256_HEADER,
        "sha256",
        haproxy_report(SHA256_HEADER, HAPROXY_SHA256),
    ),
    Variant(
        # The trap: `http-response` rules run only on responses that came from a server;
        # a response made by `http-request return` (or a deny, or a redirect) skips them.
        "haproxy-trap",
        "haproxy",
        SHA256_HEADER,
        "sha256",
        'http-request return status 200 content-type text/plain string "ok"\n'
        f"http-response set-header {SHA256_HEADER} {HAPROXY_SHA256}\n",
        reports=False,
    ),
    Variant(
        "nginx-sha1",
        "nginx",
        SHA256_HEADER,
        "sha1",
        "add_header X-Client-Cert-Fingerprint $client_cert_sha1 always;\n",
        nginx_map("ssl_client_fingerprint", "client_cert_sha1"),
    ),
    Variant(
        "nginx-subject",
        "nginx",
        "X-Client-Cert-Subject",
        "subject",
        "add_header X-Client-Cert-Subject $client_cert_subject always;\n",
        nginx_map("ssl_client_s_dn", "client_cert_subject"),
    ),
    Variant(
        "nginx-escaped-cert",
        "nginx",
        "X-Client-Cert",
        "pem",
        "add_header X-Client-Cert $client_cert_pem always;\n",
        nginx_map("ssl_client_escaped_cert", "client_cert_pem"),
    ),
    Variant(
        "nginx-njs-sha256",
        "nginx",
        SHA256_HEADER,
        "sha256",
        nginx.NJS_LOCATION_LINES,
        nginx.NJS_HTTP_LINES,
    ),
)


def variant(name: str) -> Variant:
    """The variant called `name`."""
    return next(found for found in VARIANTS if found.name == name)


def find_haproxy() -> str | None:
    """Path of the haproxy binary (PATH, then /usr/sbin), or None."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def missing_reason(chosen: Variant) -> str | None:
    """Why `chosen` cannot run here (with the apt command that fixes it), or None."""
    if chosen.server == "haproxy":
        found = find_haproxy()
        return None if found else f"haproxy is not installed; run: {HAPROXY_INSTALL_COMMAND}"
    return nginx.missing_reason(needs_js="js_" in chosen.http_lines)


def haproxy_config(port: int, backend_port: int, crt_file: str, ca_file: str, lines: str) -> str:
    """The whole haproxy.cfg: TLS on 127.0.0.1:`port`, client cert optional, `lines` in
    the frontend, a plain-HTTP backend on 127.0.0.1:`backend_port`."""
    frontend_lines = "".join(f"    {line}\n" for line in lines.splitlines())
    return f"""\
global
    maxconn 1000

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend mtls
    bind 127.0.0.1:{port} ssl crt {crt_file} ca-file {ca_file} verify optional
{frontend_lines}    default_backend app

backend app
    server app 127.0.0.1:{backend_port}
"""


@contextmanager
def plain_backend():
    """A plain-HTTP backend on a free loopback port answering 200 "ok"; yields the port."""
    server = _QuietServer(("127.0.0.1", 0), _OkHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="gateway-backend", daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a stopping gateway resets its idle keep-alive connections: not our error


class _OkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args) -> None:
        pass  # quiet: the tests read headers, not logs


def start_gateway(
    chosen: Variant, cert_file: str, key_file: str, ca_file: str, backend_port: int
) -> ServerProcess:
    """Run `chosen` in a new temp prefix in front of 127.0.0.1:`backend_port`."""
    reason = missing_reason(chosen)
    if reason:
        raise ConfigError(reason)
    if chosen.server == "nginx":
        proxy = f"proxy_pass http://127.0.0.1:{backend_port};\n"
        return nginx.start_nginx(
            cert_file,
            key_file,
            ca_file,
            http_lines=chosen.http_lines,
            location_lines=proxy + chosen.lines,
        )
    prefix = tempfile.mkdtemp(prefix="locust-mtls-haproxy-")
    crt_file = os.path.join(prefix, "server-with-key.pem")  # HAProxy wants both in one file
    with open(crt_file, "wb") as crt, open(cert_file, "rb") as cert, open(key_file, "rb") as key:
        crt.write(cert.read() + b"\n" + key.read())
    os.chmod(crt_file, 0o600)
    port = free_port()
    config_file = os.path.join(prefix, "haproxy.cfg")
    with open(config_file, "w") as file:
        file.write(
            haproxy_config(port, backend_port, crt_file, os.path.abspath(ca_file), chosen.lines)
        )
    command = [find_haproxy(), "-db", "-f", config_file]  # -db: foreground, no daemon
    # SIGUSR1: soft stop (finish open requests), SIGKILL after the timeout.
    return start_server(
        "haproxy", command, port, prefix, True, config_file, stop_signal=signal.SIGUSR1
    )


def markdown(chosen: Variant) -> str:
    """`chosen`'s snippet as the fenced block docs/gateways.md shows."""
    if chosen.server == "haproxy":
        return f"```haproxy\n# in your TLS frontend\n{chosen.lines}```\n"
    http = f"# in http {{ }}\n{chosen.http_lines}\n" if chosen.http_lines else ""
    return f"```nginx\n{http}# in the location {{ }} that proxies to your app\n{chosen.lines}```\n"


def version(server: str) -> str:
    """`HAProxy version 2.6.12…` / `nginx/1.22.1`, or "not installed"."""
    if server == "nginx":
        return nginx.version()
    binary = find_haproxy()
    if binary is None:
        return "not installed"
    result = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return result.stdout.splitlines()[0] if result.stdout else "unknown"


if __name__ == "__main__":
    for each in VARIANTS:
        sys.stdout.write(f"<!-- {each.name} -->\n{markdown(each)}\n")
