"""httpx over HTTP/2: the client matrix's httpx-h2-* cells against nginx offering h2.

The embedded echo server speaks HTTP/1.1 only, so ALPN would never pick h2 there. This
starts Debian's nginx on 127.0.0.1 with `listen ... ssl http2` (bench/nginx.py, the echo
server's identity headers from njs) and a fresh private PKI, runs `locust-mtls matrix`
against it once per user count, and writes the page from the rows:

    python -m bench.http2_clients [--users 16,32] [--run-time 8s] [--repeat 2]
        [--page docs/results/clients-http2.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from bench import nginx
from locust_mtls.strategies import STRATEGIES
from locust_mtls.tls.pki import generate_pki

HTTP2_STRATEGIES = [name for name in STRATEGIES if name.startswith("httpx-h2-")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="16,32", help="user counts, comma-separated")
    parser.add_argument("--run-time", default="8s")
    parser.add_argument("--repeat", default="2")
    parser.add_argument("--page", default="docs/results/clients-http2.md")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="locust-mtls-h2-")
    pki = generate_pki(os.path.join(work, "certs"), clients=4)
    command = [sys.executable, "-m", "locust_mtls.cli"]
    identities = os.path.join(work, "certs", "identities.json")
    outs = []
    with nginx.start_nginx(pki.server_cert, pki.server_key, pki.ca_file, http2=True) as server:
        for users in args.users.split(","):
            outs.append(os.path.join(work, f"clients-h2-{users}"))
            subprocess.run(
                [*command, "matrix", "--clients", "httpx",
                 "--strategies", ",".join(HTTP2_STRATEGIES),
                 "--concurrency", "greenlet,native-threads", "--keepalive", "on,off",
                 "--users", users, "--run-time", args.run_time, "--repeat", args.repeat,
                 "--host", server.url, "--identities", identities, "--out", outs[-1]],
                check=True,
            )  # fmt: skip
    subprocess.run([*command, "report", *outs, "--clients-page", args.page], check=True)
    print(f"{args.page} written; the runs' files are in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
