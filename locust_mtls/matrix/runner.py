"""`locust-mtls matrix`: strategies x requests versions x concurrency x keep-alive, and the
same for every other client library asked for (`--clients`), each over its own versions.

Each requests version (and client version) gets a cached virtualenv (envs.py); each cell
is one headless Locust process in it, crash-isolated (cells.py), against one embedded echo server
started for the whole matrix (or --host). Rows go to OUT/results.jsonl as cells end;
summary.md and report.html are rebuilt from that file (report.py). Exit status 1 when a
--must-be-clean strategy crashed, hung, showed a wrong identity or bleed, or gave no result.
"""

from __future__ import annotations

import argparse
import re
import socket
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from packaging.version import InvalidVersion, Version

from locust_mtls.errors import ConfigError
from locust_mtls.matrix.aggregate import load_rows
from locust_mtls.matrix.cell_runs import execute
from locust_mtls.matrix.cells import Cell, CellSettings, locust_argv
from locust_mtls.matrix.envs import (
    CLIENTS,
    DEFAULT_ENV_DIR,
    Env,
    Environments,
    current_python,
    env_name,
    resolve_python,
)
from locust_mtls.matrix.junit_cases import write_matrix_junit
from locust_mtls.matrix.outcomes import (
    MUST_BE_CLEAN_DEFAULT,
    NO_CERT_SPLIT_MEANINGS,
    failing_rows,
)
from locust_mtls.matrix.progress import EnvStatus, StatusLog
from locust_mtls.matrix.repeats import UntilCrash
from locust_mtls.matrix.report import write_reports
from locust_mtls.matrix.verdict import verdict_lines
from locust_mtls.results.files import check_output_file
from locust_mtls.settings import CONCURRENCY_MODES
from locust_mtls.strategies import LIBRARIES, STRATEGIES

DEFAULT_REQUESTS = "2.31.0,2.32.3,2.32.4,2.32.5,2.34.2"
KEEPALIVE = {"on": True, "off": False}
TIMESPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `locust-mtls matrix` (imports nothing heavy)."""
    add = parser.add_argument
    add(
        "--requests",
        default=DEFAULT_REQUESTS,
        metavar="V1,V2",
        help="requests versions, one cached virtualenv each",
    )
    add(
        "--clients",
        default="requests",
        metavar="C1,C2",
        help=f"client libraries, or all: {', '.join(LIBRARIES)}; each runs its own strategies "
        "in an env of its own",
    )
    for client in CLIENTS:
        add(
            f"--{client}",
            default=LIBRARIES[client].measured,
            metavar="V1,V2",
            help=f"{client} versions with --clients {client}, one cached virtualenv each",
        )
    add(
        "--locust",
        default="",
        metavar="V1,V2",
        help="Locust versions, one env per (Locust, requests) pair pip can install "
        "(default: the Locust running this command)",
    )
    add(
        "--strategies",
        default="all",
        metavar="S1,S2",
        help="client strategies, or all (of the --clients): " + ", ".join(STRATEGIES),
    )
    add(
        "--concurrency",
        default=",".join(CONCURRENCY_MODES),
        metavar="MODE[,MODE]",
        help=f"any of {', '.join(CONCURRENCY_MODES)}, comma-separated; each client runs on "
        "those it can (requests: greenlet, native-threads; aiohttp: asyncio)",
    )
    add(
        "--keepalive",
        default="on,off",
        metavar="on|off[,...]",
        help="on (reuse connections), off (a new TLS connection per request), or on,off for both",
    )
    add("--users", type=int, default=32, help="Locust users per cell")
    add("--run-time", default="20s", help="run time per cell, e.g. 20s or 1m")
    add(
        "--no-cert-split",
        choices=list(NO_CERT_SPLIT_MEANINGS),
        default="requests",
        help="; ".join(f"{name}: {meaning}" for name, meaning in NO_CERT_SPLIT_MEANINGS.items())
        + " (requests 2.31.0 reuses a Session's connections across certs, "
        "psf/requests#2863, so the two differ there)",
    )
    add("--repeat", type=int, default=1, help="runs per cell; races are intermittent")
    add("--host", default="", help="https://host:port to test instead of the embedded server")
    add("--identities", default="", help="identities.json for --host (see docs/design.md)")
    add("--out", default="results", help="output directory")
    add("--junit", default="", metavar="FILE", help="also write JUnit XML: a testcase per cell")
    add(
        "--python",
        default="",
        metavar="3.12,/path/python",
        help="interpreters to run under (default: the one running this command)",
    )
    add(
        "--env-dir",
        default=str(DEFAULT_ENV_DIR),
        help="virtualenv cache",
    )
    add(
        "--resume",
        action="store_true",
        help="skip cells already in OUT/results.jsonl if run with the same users, run time, "
        "no-cert split and host (others move to results.superseded.jsonl and run again)",
    )
    add(
        "--until-crash",
        action="store_true",
        help="run each native-thread cell again until one run crashes, or --max-runs / "
        "--max-cell-time is reached: one short run misses most crashes",
    )
    add(
        "--max-runs",
        type=int,
        default=UntilCrash.max_runs,
        help="--until-crash: runs per cell at most",
    )
    add(
        "--max-cell-time",
        default=f"{UntilCrash.max_s:.0f}s",
        help="--until-crash: seconds per cell at most, summed over its runs",
    )
    add(
        "--must-be-clean",
        default=",".join(MUST_BE_CLEAN_DEFAULT),
        metavar="S1,S2",
        help="strategies that make the exit status 1 when not clean; empty: never",
    )
    add(
        "--timeout-margin",
        type=float,
        default=30.0,
        help="seconds past --run-time before a cell is killed and recorded as hung",
    )
    # fmt: skip


def choices(option: str, text: str, allowed, everything: str | None = None) -> list[str]:
    """Split a comma list and check every item; ConfigError naming the option otherwise."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if everything and items == [everything]:
        return list(allowed)
    for item in items:
        if item not in allowed:
            raise ConfigError(f"{option}: unknown {item!r}; choose from {', '.join(allowed)}")
    if not items:
        raise ConfigError(f"{option} is empty; choose from {', '.join(allowed)}")
    return list(dict.fromkeys(items))


def parse_versions(text: str, option: str = "--requests") -> list[str]:
    """'2.31.0,2.32.3' -> versions; ConfigError on anything that is not a version number."""
    versions = [item.strip() for item in text.split(",") if item.strip()]
    for version in versions:
        try:
            Version(version)
        except InvalidVersion:
            raise ConfigError(f"{option}: {version!r} is not a version like 2.32.3") from None
    if not versions:
        raise ConfigError(f"{option} is empty; pass versions like 2.31.0,2.32.3")
    return list(dict.fromkeys(versions))


def parse_run_time(text: str) -> int:
    """'20s', '2m', '1h30m' or '20' -> seconds, like Locust's -t."""
    match = TIMESPAN.match(text.strip())
    seconds = 0
    if match and any(match.groups()):
        hours, minutes, secs = (int(group or 0) for group in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if seconds <= 0:
        raise ConfigError(f"--run-time {text!r}: use a duration like 20s, 2m or 1h30m")
    return seconds


def check_host(url: str) -> None:
    """ConfigError unless `url` is https:// and something listens there."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(f"--host {url!r}: use an https:// URL like https://127.0.0.1:8443")
    port = parts.port or 443
    try:
        socket.create_connection((parts.hostname, port), timeout=3).close()
    except OSError as error:
        raise ConfigError(
            f"--host {url}: cannot connect to {parts.hostname}:{port} ({error.strerror or error}); "
            "start the server, or drop --host to use the embedded echo server"
        ) from None


def plan(args: argparse.Namespace) -> tuple[list[Cell], list[tuple[str, str]]]:
    """Every cell run of the matrix, and the interpreters (path, 'X.Y') it needs."""
    clients = choices("--clients", args.clients, LIBRARIES, everything="all")
    strategies = choices("--strategies", args.strategies, STRATEGIES, everything="all")
    modes = choices("--concurrency", args.concurrency, CONCURRENCY_MODES)
    keepalives = [KEEPALIVE[k] for k in choices("--keepalive", args.keepalive, list(KEEPALIVE))]
    if args.users < 1 or args.repeat < 1:
        raise ConfigError("--users and --repeat must be at least 1")
    specs = [item.strip() for item in args.python.split(",") if item.strip()]
    pythons = [resolve_python(spec) for spec in specs] or [current_python()]
    cells = []
    for client in clients:
        mine = [s for s in strategies if STRATEGIES[s].library == client]
        runs_on = [mode for mode in modes if mode in LIBRARIES[client].concurrency]
        if not mine or not runs_on:
            continue
        cells += [
            Cell(label, requests, mode, keepalive, strategy, repeat, locust, client, version)
            for _, label in pythons
            for requests, locust, version in env_versions(args, client)
            for mode in runs_on
            for keepalive in keepalives
            for strategy in mine
            for repeat in range(1, args.repeat + 1)
        ]
    not_run = [s for s in strategies if STRATEGIES[s].library not in clients]
    if args.strategies.strip() != "all" and not_run:
        raise ConfigError(
            f"--strategies {', '.join(not_run)}: drives "
            f"{', '.join(sorted({STRATEGIES[s].library for s in not_run}))}; add it to --clients"
        )
    if not cells:
        raise ConfigError(
            f"no cell to run: --clients {', '.join(clients)} with --strategies "
            f"{args.strategies} on --concurrency {', '.join(modes)} ("
            + "; ".join(f"{c} runs on {', '.join(LIBRARIES[c].concurrency)}" for c in clients)
            + ")"
        )
    return cells, pythons


def env_versions(args: argparse.Namespace, client: str) -> list[tuple[str, str, str]]:
    """(requests version, Locust version, client version) of each env `client` needs:
    requests x --locust for requests, else the client's own versions (--httpx ...)."""
    if client == "requests":
        locusts = parse_versions(args.locust, "--locust") if args.locust.strip() else [""]
        return [(v, locust, "") for locust in locusts for v in parse_versions(args.requests)]
    return [("", "", v) for v in parse_versions(getattr(args, client), f"--{client}")]


def build_envs(
    environments: Environments,
    cells: list[Cell],
    interpreters: dict[str, str],
    status_log: StatusLog,
) -> tuple[list[Cell], dict[tuple, Env]]:
    """One env per (python, requests, Locust) and per (python, client version) the cells
    need, each ready before any cell runs; what pip cannot install is said (one line each,
    from the wheels' metadata, before any build) and its cells dropped. The bar shows the
    env being built."""
    wanted = list(dict.fromkeys(cell.env_key for cell in cells))
    envs: dict[tuple, Env] = {}
    for number, key in enumerate(wanted, 1):
        python, requests_version, locust_version, client, client_version = key
        if client == "requests":
            check = environments.check(python, locust_version, requests_version)
            what = f"locust {locust_version or '(runner)'} + requests {requests_version}"
        else:
            check = environments.check_client(python, client, client_version)
            what = f"{client} {client_version}"
        if check.problem:
            status_log.log(f"skipping {what}: {check.problem}")
            continue
        status = EnvStatus(status_log, f"{number}/{len(wanted)}", env_name(python, *key[1:]))
        env = environments.ensure(
            interpreters[python], python, requests_version, locust_version, status.on_step,
            **({"client": client, "client_version": client_version} if client != "requests"
               else {}),
        )  # fmt: skip
        status.done()
        envs[key] = replace(
            env, labels=check.labels + overridden_urllib3(env), requests_range=check.requests_range
        )
    kept = [cell for cell in cells if cell.env_key in envs]
    if not kept:
        raise ConfigError("no env of the matrix can be installed; see the lines above")
    return kept, envs


def overridden_urllib3(env: Env) -> tuple[str, ...]:
    """A niquests env's label: its `import urllib3` is urllib3-future (envs.py)."""
    future = env.facts.get("urllib3-future")
    if future and env.facts.get("urllib3") == future:
        return (f"urllib3 is urllib3-future {future}, installed over it by niquests",)
    return ()


def start_target(args: argparse.Namespace, out_dir: Path):
    """(url, identities.json, echo server handle or None): --host, or the embedded server."""
    if args.host:
        check_host(args.host)
        if not args.identities or not Path(args.identities).is_file():
            raise ConfigError(
                "--host needs --identities FILE: an identities.json the server trusts"
            )
        return args.host, str(Path(args.identities).resolve()), None
    if args.identities:
        raise ConfigError("--identities is for --host; the embedded server makes its own PKI")
    from locust_mtls.server.echo import start_echo_server_process  # gevent: only when needed
    from locust_mtls.tls.pki import generate_pki

    certs_dir = out_dir / "certs"
    generate_pki(str(certs_dir))
    server = start_echo_server_process(str(certs_dir), log_file=str(out_dir / "echo-server.log"))
    return server.url, str((certs_dir / "identities.json").resolve()), server


def run(args: argparse.Namespace) -> int:
    """Build the envs, run every cell, write the reports; 1 if a must-be-clean cell is not."""
    run_time_s = parse_run_time(args.run_time)
    must_be_clean = ()
    if args.must_be_clean.strip():  # an empty list: the exit status never fails
        must_be_clean = tuple(choices("--must-be-clean", args.must_be_clean, list(STRATEGIES)))
    cells, pythons = plan(args)
    check_output_file(args.junit, "--junit")
    out_dir = Path(args.out)
    results = out_dir / "results.jsonl"
    if results.exists() and results.stat().st_size and not args.resume:
        raise ConfigError(f"{results} exists; pass --resume to continue it, or another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    until_crash = None
    if args.until_crash:
        until_crash = UntilCrash(args.max_runs, parse_run_time(args.max_cell_time))
        if args.max_runs < args.repeat:
            raise ConfigError("--max-runs must be at least --repeat")
    host, identities, server = start_target(args, out_dir)
    status_log = StatusLog()
    try:
        environments = Environments(args.env_dir)
        interpreters = {label: path for path, label in pythons}
        cells, envs = build_envs(environments, cells, interpreters, status_log)
        settings = CellSettings(
            users=args.users, run_time_s=run_time_s, host=host, identities=identities,
            timeout_s=run_time_s + args.timeout_margin, host_label=args.host or "embedded",
            no_cert_split=args.no_cert_split,
        )  # fmt: skip
        _, interrupted = execute(
            cells, envs, settings, out_dir, must_be_clean, locust_argv, resume=args.resume,
            until_crash=until_crash, status_log=status_log,
        )  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    if not results.exists():
        return 130 if interrupted else 0
    summary_path, html_path = write_reports(out_dir)
    rows = load_rows(out_dir)
    print(f"wrote {results}, {summary_path}, {html_path}")
    if args.junit:
        write_matrix_junit(args.junit, rows)
        print(f"wrote {args.junit}")
    print("\n".join(verdict_lines(rows)))
    if interrupted:
        return 130
    return 1 if failing_rows(rows) else 0
