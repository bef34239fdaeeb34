"""Full vs resumed handshakes, next to `openssl s_time -new` / `-reuse`, in one run.

Keep-alive off and one user, so every request is a new TLS connection to the echo server
(a child process). For identity-cache (`MtlsUser`) and `MtlsFastHttpUser`, with
`--mtls-resumption off` and `on`: handshake p50 of full and of resumed handshakes (the
run's own counters) and client CPU per connection (the Locust process tree's CPU over the
window where the server's count moved, bench/cells.py). s_time reports its own user CPU
per connection and wall time per connection (it has no per-handshake timing).

    .venv/bin/python -m bench.resumption [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

from bench.cells import sample_process, window_rates
from bench.clients import (
    MTLS_FASTHTTP,
    S_TIME_NEW,
    S_TIME_REUSE,
    locust_command,
    missing_tool,
    reference_command,
)
from bench.server_counts import ServerCounter
from locust_mtls.server.process import start_echo_server_process
from locust_mtls.tls.pki import generate_pki

S_TIME_LINE = re.compile(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec")
S_TIME_REAL = re.compile(r"(\d+) connections in (\d+) real seconds")
LOCUST_CLIENTS = (
    ("identity-cache", "`MtlsUser` identity-cache"),
    (MTLS_FASTHTTP, "`MtlsFastHttpUser`"),
)


def s_time_row(client: str, url: str, identity, ca_file: str, seconds: float, run_dir: str):
    if why := missing_tool(client):
        return {"client": client, "note": why}
    command = reference_command(client, url, identity, ca_file, False, 1, seconds, run_dir)
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    # -reuse prints its first (full) connection's line too; the last line is the timing.
    user, real = S_TIME_LINE.findall(output)[-1], S_TIME_REAL.findall(output)[-1]
    return {
        "client": f"`openssl s_time {'-new' if client == S_TIME_NEW else '-reuse'}`",
        "connections": int(user[0]),
        "full_p50_ms": "",
        "resumed_p50_ms": "",
        "wall_ms_per_connection": round(int(real[1]) * 1000.0 / int(real[0]), 3),
        "client_cpu_ms_per_connection": round(1000.0 / float(user[2]), 3),
    }


def locust_row(client, title, resumption, url, identities_file, ca_file, seconds, run_dir):
    command, env = locust_command(client, url, identities_file, False, 1, seconds, run_dir)
    command += ["--mtls-resumption", resumption]
    with open(os.path.join(run_dir, "locust.log"), "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampled = sample_process(
            process, ServerCounter(url + "/stats", ca_file), time.monotonic() + 120
        )
    if process.returncode != 0:
        return {"client": f"{title}, resumption {resumption}", "note": f"exit {process.returncode}"}
    with open(os.path.join(run_dir, "summary.json")) as file:
        (row,) = json.load(file)["strategies"].values()
    window = window_rates(sampled["samples"])
    return {
        "client": f"{title}, resumption {resumption}",
        "connections": row["handshakes"],
        "full_p50_ms": row["handshake_ms"]["p50"] if row["full_handshakes"] else "",
        "resumed_p50_ms": row["resumed_handshake_ms"]["p50"] if row["resumed_handshakes"] else "",
        "resumed_share": round(row["resumed_handshakes"] / max(1, row["handshakes"]), 2),
        "wall_ms_per_connection": round(1000.0 / window["rps"], 3) if window else "",
        "client_cpu_ms_per_connection": window.get("client_cpu_ms_per_request", ""),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-resumption-") as work:
        pki = generate_pki(os.path.join(work, "certs"), clients=4)
        identities_file = os.path.join(work, "certs", "identities.json")
        first = pki.identities[0]
        server = start_echo_server_process(os.path.join(work, "certs"))
        rows = []
        try:
            for number, client in enumerate((S_TIME_NEW, S_TIME_REUSE)):
                run_dir = os.path.join(work, f"ref-{number}")
                os.mkdir(run_dir)
                identity = (first.cert_file, first.key_file)
                rows.append(
                    s_time_row(client, server.url, identity, pki.ca_file, args.seconds, run_dir)
                )
            for client, title in LOCUST_CLIENTS:
                for resumption in ("off", "on"):
                    run_dir = os.path.join(work, f"{client}-{resumption}")
                    os.mkdir(run_dir)
                    rows.append(
                        locust_row(
                            client, title, resumption, server.url, identities_file,
                            pki.ca_file, args.seconds, run_dir,
                        )
                    )  # fmt: skip
        finally:
            server.stop()
    print(table(rows))


def table(rows: list[dict]) -> str:
    columns = (
        ("client", "client (keep-alive off, 1 user)"),
        ("connections", "connections"),
        ("resumed_share", "resumed"),
        ("full_p50_ms", "full handshake p50 (ms)"),
        ("resumed_p50_ms", "resumed handshake p50 (ms)"),
        ("wall_ms_per_connection", "wall ms / connection"),
        ("client_cpu_ms_per_connection", "client CPU ms / connection"),
    )
    lines = ["| " + " | ".join(title for _, title in columns) + " |"]
    lines.append("|" + "---|" * len(columns))
    for row in rows:
        if "note" in row:
            lines.append(f"| {row['client']} | {row['note']} |")
            continue
        lines.append("| " + " | ".join(str(row.get(key, "")) for key, _ in columns) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
