"""Benchmark every client strategy against nginx and the echo server, in one run.

    /work/venv/bin/python -m bench            # full run, ~25 min on 2 cores
    /work/venv/bin/python -m bench --quick    # smoke test, ~2 min

Prints progress and the Markdown report, writes docs/benchmarks.md + docs/benchmarks.json.
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

from . import blocks, report
from .cells import FASTHTTP, HTTPUSER, RAW_IDENTITY_CACHE, RAW_REQUESTS, REPO, Cell, run_cell

QUICK_STRATEGIES = (
    "identity-cache",
    "shared-context",
    "requests-default",
    "per-thread-session",
    "locust-httpuser",
)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few cells, 1 repetition, 2 s")
    parser.add_argument("--targets", default="nginx,echo", help="nginx,echo (default both)")
    parser.add_argument("--strategies", default="", help="comma list (default: all)")
    parser.add_argument("--concurrency", default="greenlet,native-threads")
    parser.add_argument("--seconds", type=float, default=4.0, help="per cell")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--users", type=int, default=10, help="users (threads) per cell")
    parser.add_argument("--identities", type=int, default=10)
    parser.add_argument("--memory-users", default="100,1000")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work dir (certs, per-cell logs)"
    )
    parser.add_argument(
        "--pin", action="store_true", help="servers on the first CPU, clients on the others"
    )
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks"),
                        help="writes OUT.md and OUT.json")  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.reps, args.memory_users = 2.0, 1, "100"
        args.strategies = args.strategies or ",".join(QUICK_STRATEGIES)
        args.concurrency = "greenlet"
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
    clients = [(s, c) for s in args.strategies for c in args.concurrency]
    clients += [(HTTPUSER, "greenlet"), (RAW_REQUESTS, "native-threads")]
    clients += [(RAW_IDENTITY_CACHE, "native-threads"), (FASTHTTP, "greenlet")]
    return [
        Cell(target, client, concurrency, keepalive, args.users)
        for target in args.targets
        for keepalive in (True, False)
        for client, concurrency in clients
    ]


def memory_cells(args) -> list[Cell]:
    clients = [*args.strategies, HTTPUSER, FASTHTTP]
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


def start_targets(args, identity_set, certs_dir, stack: ExitStack) -> dict[str, str]:
    urls = {}
    if "nginx" in args.targets:
        server = stack.enter_context(
            nginx.start_nginx(
                identity_set.server_cert, identity_set.server_key, identity_set.ca_file
            )
        )
        urls["nginx"] = server.url
    if "echo" in args.targets:
        urls["echo"] = stack.enter_context(start_echo_server_process(certs_dir)).url
    return urls


def run_schedule(schedule, urls, identities_file, seconds, workdir) -> list[dict]:
    """Run every cell in order, printing one progress line each."""
    runs = []
    for number, cell in enumerate(schedule, 1):
        cell_seconds = seconds + (2 if cell.kind == "memory" else 0)  # time to spawn 1,000
        result = run_cell(cell, urls[cell.target], identities_file, cell_seconds, workdir)
        runs.append(result)
        shown = f"{result.get('rps', 0):.0f} req/s, {result['rss_peak_mb']:.0f} MiB"
        print(
            f"[{number}/{len(schedule)}] {cell.key()}: {result.get('error') or shown}",
            file=sys.stderr,
        )
    return runs


def main(argv=None) -> int:
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
    runs_total = len(cells) * args.reps + len(memory)
    print(
        f"bench: {runs_total} runs of ~{args.seconds + 1.5:g} s each, work dir {workdir}",
        file=sys.stderr,
    )
    schedule = []
    for rep in range(args.reps):  # interleaved: every cell once per pass, alternating order
        schedule += cells if rep % 2 == 0 else cells[::-1]
    schedule += memory
    try:
        with ExitStack() as stack:
            pin(server_cpus)  # the servers inherit this
            urls = start_targets(args, identity_set, certs_dir, stack)
            pin(client_cpus)  # this process, and every client after it
            building_blocks = blocks.measure(identity_set, urls)
            runs = run_schedule(schedule, urls, identities_file, args.seconds, workdir)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.aggregate(runs)
    result = {
        "command": "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "duration_s": time.time() - started,
        "environment": environment(),
        "seconds": args.seconds,
        "reps": args.reps,
        "users": args.users,
        "identities": args.identities,
        "server_cpus": sorted(server_cpus),
        "client_cpus": sorted(client_cpus),
        "load_average_before_after": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "blocks": building_blocks,
        "targets": report.targets(rows, max(args.memory_users, default=0)),
        "rows": rows,
        "runs": runs,
    }
    markdown = report.render(result)
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
