"""Benchmark the clients the field compares, against nginx and the echo server, in one run.

    .venv/bin/python -m bench            # full run, ~18 min on 2 cores
    .venv/bin/python -m bench --quick    # smoke test, ~2 min

Every cell runs one client process on its own core (the servers on the first CPU, when
there are two), interleaved over the repetitions; req/s is counted by the server, CPU
per request from the client's process tree (bench/cells.py). Prints progress and the
Markdown report, writes docs/benchmarks.md (its first section from bench/glance.py) and
docs/benchmarks.json.
Installs nothing: without nginx it prints the apt command to run (or use --targets echo).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import ssl
import sys
import tempfile
import time
from contextlib import ExitStack
from importlib import metadata

from bench import nginx
from locust_mtls.server.echo import start_echo_server_process
from locust_mtls.strategies import STRATEGIES
from locust_mtls.tls.pki import generate_pki

from . import blocks, glance, report
from .cells import Cell, Target, run_cell
from .clients import (
    AB,
    C_REFERENCES,
    FASTHTTPUSER,
    HTTPUSER,
    MTLS_FASTHTTP,
    REPO,
    S_TIME_NEW,
    S_TIME_REUSE,
    missing_tool,
)

# locust-httpuser: how Locust's docs send a certificate, measured next to ours.
QUICK_STRATEGIES = ("identity-cache", "locust-httpuser")
MEMORY_CLIENTS = (HTTPUSER, FASTHTTPUSER, MTLS_FASTHTTP)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few cells, 1 repetition, 2 s")
    parser.add_argument("--targets", default="", help="nginx,echo (default both; --quick: nginx)")
    parser.add_argument("--strategies", default="", help="comma list (default: all)")
    parser.add_argument("--concurrency", default="greenlet", help="greenlet,native-threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="per cell")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--users", type=int, default=16, help="users / connections per cell")
    parser.add_argument("--identities", type=int, default=10)
    parser.add_argument("--memory-users", default="1000")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work dir (certs, per-cell logs)"
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false",
        help="do not pin servers to the first CPU and clients to the others",
    )  # fmt: skip
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks"),
                        help="writes OUT.md and OUT.json")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.reps, args.memory_users = 2.0, 1, "100"
        args.strategies = args.strategies or ",".join(QUICK_STRATEGIES)
    args.targets = args.targets or ("nginx" if args.quick else "nginx,echo")
    args.targets = [t for t in args.targets.split(",") if t]
    args.strategies = [s for s in args.strategies.split(",") if s] or list(STRATEGIES)
    args.concurrency = [c for c in args.concurrency.split(",") if c]
    args.memory_users = [int(n) for n in args.memory_users.split(",") if n]
    for name in args.strategies:
        if name not in STRATEGIES:
            parser.error(f"--strategies: unknown {name!r}; choose from {', '.join(STRATEGIES)}")
    if not set(args.targets) <= {"nginx", "echo"} or not args.targets:
        parser.error("--targets takes nginx, echo or both")
    return args


def throughput_cells(args) -> list[Cell]:
    """References first, then the Locust baselines, ours, and the scale-out cell."""
    references = [(S_TIME_NEW, False), (AB, False), (AB, True)]
    if not args.quick:
        references.insert(1, (S_TIME_REUSE, False))
    references = [(client, ka) for client, ka in references if missing_tool(client) is None]
    locust = [(c, "greenlet") for c in (HTTPUSER, FASTHTTPUSER, MTLS_FASTHTTP)]
    locust += [(s, c) for s in args.strategies for c in args.concurrency]
    cells = []
    for target in args.targets:
        cells += [Cell(target, client, "-", ka, args.users) for client, ka in references]
        cells += [
            Cell(target, client, concurrency, keepalive, args.users)
            for keepalive in (False, True)
            for client, concurrency in locust
        ]
        # Scale-out: Locust --processes 2 on the keep-alive path (report: ratio to 1).
        cells.append(Cell(target, MTLS_FASTHTTP, "greenlet", True, args.users, processes=2))
    return cells


def memory_cells(args) -> list[Cell]:
    clients = [*MEMORY_CLIENTS, *args.strategies]
    return [
        Cell(args.targets[0], client, "greenlet", True, users, kind="memory")
        for users in args.memory_users
        for client in clients
    ]


def environment() -> dict:
    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "requests": version("requests"),
        "urllib3": version("urllib3"),
        "locust": version("locust"),
        "gevent": version("gevent"),
        "Python": platform.python_version(),
        "OpenSSL": ssl.OPENSSL_VERSION,
        "nginx": nginx.version(),
        "CPUs": os.cpu_count(),
    }


def pin(cpus: set[int]) -> None:
    """Pin this process (and every child started afterwards) to `cpus`, where possible."""
    if hasattr(os, "sched_setaffinity") and cpus:
        os.sched_setaffinity(0, cpus)


def start_targets(args, identity_set, certs_dir, stack: ExitStack) -> dict[str, Target]:
    targets = {}
    if "nginx" in args.targets:
        server = stack.enter_context(
            nginx.start_nginx(
                identity_set.server_cert, identity_set.server_key, identity_set.ca_file,
                status=True,
            )
        )  # fmt: skip
        targets["nginx"] = Target(server.url, server.status_url, identity_set.ca_file)
    if "echo" in args.targets:
        url = stack.enter_context(start_echo_server_process(certs_dir)).url
        targets["echo"] = Target(url, url + "/stats", identity_set.ca_file)
    return targets


def run_schedule(schedule, targets, identities_file, seconds, workdir, cpus) -> list[dict]:
    """Run every cell in order, printing one progress line each.

    `cpus` is (client CPUs, all CPUs): a scale-out cell may use every CPU, because
    `--processes 2` pinned to one core could not scale at all.
    """
    runs = []
    for number, cell in enumerate(schedule, 1):
        pin(cpus[1] if cell.processes > 1 else cpus[0])
        cell_seconds = seconds + (2 if cell.kind == "memory" else 0)  # time to spawn 1,000
        result = run_cell(cell, targets[cell.target], identities_file, cell_seconds, workdir)
        runs.append(result)
        cpu = result.get("client_cpu_ms_per_request")
        shown = f"{result.get('rps', 0):.0f} req/s, {cpu} ms CPU/req, {result['rss_peak_mb']} MiB"
        print(
            f"[{number}/{len(schedule)}] {cell.key()}: {result.get('error') or shown}",
            file=sys.stderr,
        )
    pin(cpus[0])
    return runs


def rerender(path: str) -> int:
    """Recompute rows and targets from the runs in PATH.json; rewrite PATH.md/.json."""
    with open(path + ".json") as file:
        result = json.load(file)
    for run in result["runs"]:
        run.pop("samples", None)  # runs before bench/cells.py stopped keeping them
    result["rows"] = report.aggregate(result["runs"])
    memory_users = max((r["users"] for r in result["rows"] if r["kind"] == "memory"), default=0)
    result["targets"] = report.targets(result["rows"], memory_users)
    write(path, result, report.render(result, glance.lines(result)))
    return 0


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["--rerender"]:  # after a change to the report only: no new run
        out = argv[1] if len(argv) > 1 else os.path.join(REPO, "docs", "benchmarks")
        return rerender(out)
    args = parse_args(argv)
    if "nginx" in args.targets and (reason := nginx.missing_reason()):
        print(
            f"bench: {reason}\n  (or benchmark the echo server alone: --targets echo)",
            file=sys.stderr,
        )
        return 2
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="locust-mtls-bench-")
    certs_dir = os.path.join(workdir, "certs")
    identity_set = generate_pki(certs_dir, clients=args.identities)
    identities_file = os.path.join(certs_dir, "identities.json")
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpus, client_cpus = set(cpus), set(cpus)
    if args.pin and len(cpus) >= 2:
        server_cpus, client_cpus = set(cpus[:1]), set(cpus[1:])
    load_before = os.getloadavg()
    cells = throughput_cells(args)
    memory = memory_cells(args)
    missing = [m for m in map(missing_tool, C_REFERENCES) if m]
    runs_total = len(cells) * args.reps + len(memory)
    print(
        f"bench: {runs_total} runs of ~{args.seconds + 2:g} s each, work dir {workdir}"
        + "".join(f"\n  reference skipped: {m}" for m in sorted(set(missing))),
        file=sys.stderr,
    )
    schedule = []
    for rep in range(args.reps):  # interleaved: every cell once per pass, alternating order
        schedule += cells if rep % 2 == 0 else cells[::-1]
    schedule += memory
    try:
        with ExitStack() as stack:
            pin(server_cpus)  # the servers inherit this
            targets = start_targets(args, identity_set, certs_dir, stack)
            pin(client_cpus)  # this process, and every client after it
            building_blocks = blocks.measure(
                identity_set, {name: target.url for name, target in targets.items()}
            )
            runs = run_schedule(
                schedule, targets, identities_file, args.seconds, workdir,
                (client_cpus, set(cpus) or client_cpus),
            )  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.aggregate(runs)
    result = {
        "command": "python -m bench " + shlex.join(argv),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "duration_s": time.time() - started,
        "environment": environment(),
        "seconds": args.seconds,
        "reps": args.reps,
        "users": args.users,
        "identities": args.identities,
        "server_cpus": sorted(server_cpus),
        "client_cpus": sorted(client_cpus),
        "load_average_before_after": [
            [round(x, 2) for x in load_before],
            [round(x, 2) for x in os.getloadavg()],
        ],
        "references_skipped": sorted(set(missing)),
        "blocks": building_blocks,
        "targets": report.targets(rows, max(args.memory_users, default=0)),
        "rows": rows,
        "runs": runs,
    }
    markdown = report.render(result, glance.lines(result))
    print(markdown)
    write(args.out, result, markdown)
    return 0


def write(out: str, result: dict, markdown: str) -> None:
    """OUT.json, and OUT.md keeping the hand-written notes below the marker."""
    with open(out + ".json", "w") as file:
        json.dump(result, file, indent=1)
    notes = ""
    if os.path.exists(out + ".md"):
        with open(out + ".md") as file:
            text = file.read()
        if report.NOTES_MARKER in text:
            notes = text[text.index(report.NOTES_MARKER) :]
    with open(out + ".md", "w") as file:
        file.write(markdown + ("\n" + notes if notes else ""))
    print(f"bench: wrote {out}.md and {out}.json", file=sys.stderr)
