"""The identity check against real gateways: one Locust run per gateway x format x strategy.

Each gateway of bench/gateways.py (Debian's HAProxy / nginx as TLS terminators in front
of a plain backend, on 127.0.0.1) is started once; Locust runs `locustfiles/mtls.py`
against it with `--mtls-identity-format` of the recipe, keep-alive off and half the
requests without a certificate. Prints a Markdown table of requests, wrong identities,
bleed, unreported and the exit code, from one run each (the closing note of issue 13).
tests/test_gateways.py runs the same command lines (`locust_args`) and asserts on them.

    python -m bench.gateway_table [--seconds 3] [--users 6]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from bench import gateways
from locust_mtls.tls.pki import generate_pki

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCUSTFILE = os.path.join(REPO, "locustfiles", "mtls.py")

# (variant, --mtls-identity-format, strategy, --mtls-identity-check)
CELLS = (
    ("haproxy-sha256", "sha256", "identity-cache", "auto"),
    ("haproxy-sha256", "sha256", "shared-context", "auto"),
    ("nginx-sha1", "sha1", "identity-cache", "auto"),
    ("nginx-sha1", "sha1", "shared-context", "auto"),
    ("nginx-sha1", "auto", "identity-cache", "auto"),
    ("nginx-sha1", "sha256", "identity-cache", "auto"),  # the wrong format: unchecked
    ("nginx-subject", "subject", "identity-cache", "auto"),
    ("nginx-subject", "subject", "shared-context", "auto"),
    ("nginx-escaped-cert", "pem", "identity-cache", "auto"),
    ("nginx-escaped-cert", "pem", "shared-context", "auto"),
    ("nginx-njs-sha256", "sha256", "identity-cache", "auto"),
    ("nginx-njs-sha256", "sha256", "shared-context", "auto"),
    # The trap never sets the header: with format auto an absent header is unreported
    # (a named format would read it as "no certificate", see reported_identity.py).
    ("haproxy-trap", "auto", "identity-cache", "require"),
    ("haproxy-trap", "auto", "identity-cache", "auto"),
    ("haproxy-trap", "auto", "identity-cache", "off"),
)


def locust_args(
    url: str,
    chosen: gateways.Variant,
    identities_file: str,
    strategy: str,
    identity_format: str,
    identity_check: str = "auto",
    summary_file: str = "summary.json",
) -> list[str]:
    """The Locust options of one cell (headless, users and run time are the caller's)."""
    return [
        *("-f", LOCUSTFILE, "--host", url, "--mtls-identities", identities_file),
        *("--mtls-identity-header", chosen.header, "--mtls-identity-format", identity_format),
        *("--mtls-identity-check", identity_check, "--mtls-strategy", strategy),
        *("--mtls-keepalive", "off", "--mtls-summary-file", summary_file),
        *("--exit-code-on-error", "0"),  # the mTLS gate alone decides
    ]


def run_cell(url, chosen, identities_file, cell, workdir, seconds, users) -> dict:
    """One Locust run; its totals and exit code."""
    _, identity_format, strategy, identity_check = cell
    summary_file = os.path.join(workdir, "summary.json")
    command = [sys.executable, "-m", "locust", "--headless", "--only-summary"]
    command += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
    command += locust_args(
        url, chosen, identities_file, strategy, identity_format, identity_check, summary_file
    )
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=seconds + 60
    )
    (row,) = json.load(open(summary_file))["strategies"].values()
    unchecked = [line for line in done.stdout.splitlines() if "identity checked on" in line]
    return {**row, "exit_code": done.returncode, "unchecked_line": bool(unchecked)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--users", type=int, default=6)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="locust-mtls-gateway-table-")
    pki = generate_pki(os.path.join(workdir, "certs"), clients=4)
    identities_file = os.path.join(workdir, "certs", "identities.json")
    print(f"{gateways.version('haproxy')}; {gateways.version('nginx')}; {args.users} users, ")
    print(f"{args.seconds} s per run, keep-alive off, half the requests without a certificate\n")
    print(
        "| gateway | format | strategy | check | requests | wrong identity | bleed | unreported "
        "| exit code |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    with gateways.plain_backend() as backend_port:
        for name in dict.fromkeys(cell[0] for cell in CELLS):
            chosen = gateways.variant(name)
            reason = gateways.missing_reason(chosen)
            if reason:
                print(f"| {name} | | | | skipped: {reason} | | | | |")
                continue
            with gateways.start_gateway(
                chosen, pki.server_cert, pki.server_key, pki.ca_file, backend_port
            ) as server:
                for cell in (cell for cell in CELLS if cell[0] == name):
                    row = run_cell(
                        server.url, chosen, identities_file, cell, workdir, args.seconds, args.users
                    )
                    print(
                        f"| {name} | {cell[1]} | {cell[2]} | {cell[3]} | {row['requests']:,} "
                        f"| {row['wrong_identity']:,} | {row['bleed']:,} | {row['unreported']:,} "
                        f"| {row['exit_code']} |",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
