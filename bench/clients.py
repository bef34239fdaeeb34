"""Every client the benchmark runs, as a command line: C references and Locust users.

C references (what the field compares against): `openssl s_time -new` (one full
handshake at a time), `openssl s_time -reuse` (TLS session resumption: no chain check
after the first handshake, so it is shown but never used as the reference), and `ab`
(Debian's apache2-utils; `-k` for keep-alive; the client certificate via `-E`). Neither
C tool checks the server's host name, and `ab` does not verify the server's chain at
all: they do less per handshake than every Python client here.

Locust clients: plain `HttpUser` with `cert=`/`verify=` and plain `FastHttpUser` with a
cert SSLContext (bench/plain_users.py, no locust_mtls import), the product's
`MtlsFastHttpUser`, and `MtlsUser` with each strategy (its name is the client name).
"""

from __future__ import annotations

import os
import shutil
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MTLS_LOCUSTFILE = os.path.join(REPO, "locustfiles", "mtls.py")
STRATEGIES_LOCUSTFILE = os.path.join(REPO, "locustfiles", "strategies.py")
PLAIN_LOCUSTFILE = os.path.join(REPO, "bench", "plain_users.py")

S_TIME_NEW = "s_time-new"
S_TIME_REUSE = "s_time-reuse"
AB = "ab"
HTTPUSER = "httpuser"
FASTHTTPUSER = "fasthttpuser"
MTLS_FASTHTTP = "mtls-fasthttp"

C_REFERENCES = (S_TIME_NEW, S_TIME_REUSE, AB)
# client -> the user class to run (None: MtlsUser with --mtls-strategy <client>)
LOCUST_CLIENTS = {
    HTTPUSER: (PLAIN_LOCUSTFILE, "PlainHttpUser"),
    FASTHTTPUSER: (PLAIN_LOCUSTFILE, "PlainFastHttpUser"),
    MTLS_FASTHTTP: (STRATEGIES_LOCUSTFILE, "FastHttpIdentityCacheUser"),
}
INSTALL = {"openssl": "apt-get install -y openssl", "ab": "apt-get install -y apache2-utils"}


def label(client: str, keepalive: bool, users: int, processes: int = 1) -> str:
    """How the reports name a client."""
    names = {
        S_TIME_NEW: "`openssl s_time -new` (one connection at a time)",
        S_TIME_REUSE: "`openssl s_time -reuse` (resumed sessions, no chain check)",
        AB: f"`ab {'-k ' if keepalive else ''}-c{users}` (C, cert via `-E`)",
        HTTPUSER: "plain `HttpUser` `cert=`, `verify=ca`",
        FASTHTTPUSER: "plain `FastHttpUser` + cert context",
        MTLS_FASTHTTP: "`MtlsFastHttpUser`",
    }
    name = names.get(client, client)
    return name + (f" `--processes {processes}`" if processes > 1 else "")


def missing_tool(client: str) -> str | None:
    """Why a C reference cannot run here (with the apt command), or None."""
    tool = {S_TIME_NEW: "openssl", S_TIME_REUSE: "openssl", AB: "ab"}.get(client)
    if tool and shutil.which(tool) is None:
        return f"{tool} is not installed; run: {INSTALL[tool]}"
    return None


def reference_command(client, url, identity, ca_file, keepalive, users, seconds, run_dir):
    """The command line of a C reference; `identity` is (cert file, key file)."""
    host_port = url.removeprefix("https://")
    if client in (S_TIME_NEW, S_TIME_REUSE):
        return [
            "openssl", "s_time", "-connect", host_port, "-new" if client == S_TIME_NEW
            else "-reuse", "-www", "/", "-time", str(max(1, round(seconds))), "-verify", "3",
            "-CAfile", ca_file, "-cert", identity[0], "-key", identity[1],
        ]  # fmt: skip
    combined = os.path.join(run_dir, "client.pem")  # ab -E takes one PEM: cert and key
    with open(combined, "w") as out:
        for path in identity:
            with open(path) as part:
                out.write(part.read())
    # -t alone stops at 50,000 requests; -n after it lifts that cap.
    command = ["ab", "-q", "-r", "-t", str(max(1, round(seconds))), "-n", "100000000"]
    return [*command, *(["-k"] if keepalive else []), "-c", str(users), "-E", combined, url + "/"]


def locust_command(
    client: str,
    url: str,
    identities_file: str,
    keepalive: bool,
    users: int,
    seconds: float,
    run_dir: str,
    *,
    concurrency: str = "greenlet",
    processes: int = 1,
) -> tuple[list[str], dict]:
    """The command line and environment of a headless Locust run of `client`."""
    summary_file = os.path.join(run_dir, "summary.json")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
    }
    # The measured window starts once requests flow: give spawning (and, with
    # --processes, forking workers) time on top of `seconds`.
    run_time = max(1, round(seconds)) + (1 if processes == 1 else 3)
    command = [
        sys.executable, "-m", "locust", "--headless", "--only-summary",
        "-u", str(users), "-r", str(users), "-t", f"{run_time}s",
        "--host", url, "--stop-timeout", "5",
    ]  # fmt: skip
    if processes > 1:
        command += ["--processes", str(processes)]
    on_off = "on" if keepalive else "off"
    if client in (HTTPUSER, FASTHTTPUSER):
        locustfile, user_class = LOCUST_CLIENTS[client]
        env.update(
            BENCH_IDENTITIES=identities_file, BENCH_SUMMARY=summary_file, BENCH_KEEPALIVE=on_off
        )
        return [*command, "-f", locustfile, user_class], env
    if client == MTLS_FASTHTTP:
        command += ["-f", STRATEGIES_LOCUSTFILE, LOCUST_CLIENTS[client][1]]
    else:
        command += ["-f", MTLS_LOCUSTFILE, "--mtls-strategy", client]
    command += [
        "--mtls-identities", identities_file, "--mtls-concurrency", concurrency,
        "--mtls-keepalive", on_off, "--mtls-no-cert-fraction", "0", "--mtls-fail-on=",
        "--mtls-summary-file", summary_file,
        "--mtls-crash-dir", os.path.join(run_dir, "crashes"),
    ]  # fmt: skip
    return command, env
