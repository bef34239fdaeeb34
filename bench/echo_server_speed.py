"""How fast is the echo server on one core? Prints keep-alive req/s and new TLS connections/s.

The server runs as its child process pinned to CPU 0; the clients are raw `ssl` sockets in
a few processes pinned to the other CPUs, so they share no core with the server. Besides the
wall-clock rate it prints the rate per second of server CPU time: that is the server's
capacity on one core even when the clients could not saturate it.

    /work/venv/bin/python bench/echo_server_speed.py [--clients 4] [--seconds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import ssl
import sys
import tempfile
import time

import psutil
import trustme

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from locust_mtls.server.echo import fetch_stats, start_echo_server_process  # noqa: E402

REQUEST = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
CLOSE_REQUEST = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def read_response(sock: ssl.SSLSocket, buffer: bytearray) -> None:
    """Consume one response (head + Content-Length body) from sock."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        buffer += chunk
    head = bytes(buffer[:end]).lower()
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    while len(buffer) < end + 4 + length:
        buffer += sock.recv(65536)
    del buffer[: end + 4 + length]


def client(mode: str, port: int, files: dict, start_at: float, seconds: float, cpu) -> int:
    """One client process: count requests (keepalive) or full connections (connect) done."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    context = ssl.create_default_context(cafile=files["ca"])
    context.load_cert_chain(files["client_cert"], files["client_key"])
    time.sleep(max(0.0, start_at - time.time()))
    deadline = start_at + seconds
    done = 0
    sock = None
    buffer = bytearray()
    while time.time() < deadline:
        if sock is None:
            raw = socket.create_connection(("127.0.0.1", port))
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        if mode == "keepalive":
            sock.sendall(REQUEST)
            read_response(sock, buffer)
        else:
            sock.sendall(CLOSE_REQUEST)
            read_response(sock, buffer)
            sock.close()
            sock, buffer = None, bytearray()
        done += 1
    if sock is not None:
        sock.close()
    return done


def make_certs(directory: str) -> dict:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("bench-client@example.org")
    files = {name: os.path.join(directory, name) for name in ("ca", "client_cert", "client_key")}
    ca.cert_pem.write_to_path(files["ca"])
    server.cert_chain_pems[0].write_to_path(os.path.join(directory, "server.pem"))
    server.private_key_pem.write_to_path(os.path.join(directory, "server.key"))
    os.chmod(os.path.join(directory, "server.key"), 0o600)
    client_cert.cert_chain_pems[0].write_to_path(files["client_cert"])
    client_cert.private_key_pem.write_to_path(files["client_key"])
    os.chmod(files["client_key"], 0o600)
    os.link(files["ca"], os.path.join(directory, "ca.pem"))
    return files


def measure(mode: str, server, files: dict, clients: int, seconds: float, cpus) -> dict:
    """Run `clients` processes for `seconds`; rates by wall clock and by server CPU time."""
    port = int(server.url.rsplit(":", 1)[1])
    fetch_stats(server.url, files["ca"], reset=True)
    server_process = psutil.Process(server.pid)
    start_at = time.time() + 1.0  # let every client process load its context first
    client_cpus = [cpus[1 + i % (len(cpus) - 1)] if len(cpus) > 1 else None for i in range(clients)]
    args = [(mode, port, files, start_at, seconds, cpu) for cpu in client_cpus]
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        result = pool.starmap_async(client, args)
        time.sleep(max(0.0, start_at - time.time()))
        cpu_before = sum(server_process.cpu_times()[:2])
        time.sleep(seconds)
        cpu_used = sum(server_process.cpu_times()[:2]) - cpu_before
        done = sum(result.get(timeout=seconds + 30))
    stats = fetch_stats(server.url, files["ca"])
    return {
        "done": done,
        "per_s": done / seconds,
        "server_cpu": cpu_used / seconds,
        "per_server_cpu_s": done / cpu_used if cpu_used else float("nan"),
        "failures": stats["handshake_failures"],
        "server_counted": stats["requests"] if mode == "keepalive" else stats["handshakes"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--seconds", type=float, default=3.0, help="per mode (default 3)")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as directory:
        files = make_certs(directory)
        server = start_echo_server_process(directory)
        try:
            os.sched_setaffinity(server.pid, {cpus[0]})
            print(
                f"server pid {server.pid} on CPU {cpus[0]}, {args.clients} client processes "
                f"on CPUs {cpus[1:] or cpus}, {args.seconds:g} s per mode, {ssl.OPENSSL_VERSION}"
            )
            modes = (("keepalive", "keep-alive requests"), ("connect", "new TLS connections"))
            for mode, label in modes:
                r = measure(mode, server, files, args.clients, args.seconds, cpus)
                print(
                    f"{label:21s}: {r['per_s']:8.0f}/s wall  server CPU {r['server_cpu']:4.0%}  "
                    f"=> {r['per_server_cpu_s']:8.0f}/s per server CPU-second  "
                    f"(server counted {r['server_counted']}, client {r['done']}; "
                    f"handshake failures: {r['failures'] or 'none'})"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
