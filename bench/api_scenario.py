"""locustfiles/api.py (MtlsHttpUser, identity-cache) against the same scenario on plain
Locust HttpUser with `cert=`, one echo server, measured in one run.

    python -m bench.api_scenario [--users 16] [--seconds 10]

Prints a Markdown table of requests/s (and failures, wrong identities, bleed) per
client, concurrency and keep-alive. Not a test: read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from locust_mtls.server.process import start_echo_server_process
from locust_mtls.tls.pki import generate_pki

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
API = os.path.join(REPO, "locustfiles", "api.py")
PLAIN = os.path.join(REPO, "bench", "plain_api.py")
CLIENTS = [
    ("MtlsHttpUser identity-cache", "greenlet"),
    ("MtlsHttpUser identity-cache", "native-threads"),
    ("plain HttpUser cert=", "greenlet"),
]


def run(client, mode, keepalive, url, identities, users, seconds, workdir) -> dict:
    summary = os.path.join(workdir, f"{len(os.listdir(workdir))}.json")
    command = [
        sys.executable, "-m", "locust", "--headless", "--only-summary", "--host", url,
        "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--stop-timeout", "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": REPO}
    if client.startswith("plain"):
        command += ["-f", PLAIN]
        env.update(BENCH_IDENTITIES=identities, BENCH_SUMMARY=summary)
        env["BENCH_KEEPALIVE"] = "on" if keepalive else "off"
    else:
        command += [
            "-f", API, "--mtls-identities", identities, "--mtls-concurrency", mode,
            "--mtls-keepalive", "on" if keepalive else "off", "--mtls-summary-file", summary,
            "--mtls-fail-on", "",
        ]  # fmt: skip
    subprocess.run(
        command, env=env, cwd=workdir, capture_output=True, timeout=seconds + 120, check=False
    )
    with open(summary) as file:
        document = json.load(file)
    if "strategies" in document:
        (row,) = document["strategies"].values()
        return {k: row[k] for k in ("requests", "failures", "rps", "wrong_identity", "bleed")}
    return {**{k: document[k] for k in ("requests", "failures", "rps")}, "wrong_identity": "-"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="bench-api-")
    generate_pki(os.path.join(workdir, "certs"))
    identities = os.path.join(workdir, "certs", "identities.json")
    server = start_echo_server_process(os.path.join(workdir, "certs"))
    print("| client | concurrency | keep-alive | req/s | requests | failures | wrong id | bleed |")
    print("|---|---|---|---|---|---|---|---|")
    try:
        for keepalive in (True, False):
            for client, mode in CLIENTS:
                result = run(
                    client, mode, keepalive, server.url, identities, args.users, args.seconds,
                    workdir,
                )  # fmt: skip
                print(
                    f"| {client} | {mode} | {'on' if keepalive else 'off'} | {result['rps']} "
                    f"| {result['requests']} | {result['failures']} "
                    f"| {result['wrong_identity']} | {result.get('bleed', '-')} |",
                    flush=True,
                )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
