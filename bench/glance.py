"""The first section of docs/benchmarks.md: one server's table and what it shows.

Rendered from one run's result like the rest of the page (report.render takes it);
tests/test_bench.py re-renders the page from the committed docs/benchmarks.json and
compares, so the page never shows a number the run did not measure.
"""

from __future__ import annotations

from locust_mtls.strategies import STRATEGIES

from .clients import C_REFERENCES, FASTHTTPUSER, HTTPUSER, MTLS_FASTHTTP, label
from .report import CPU, cpu_digits, fmt, load_note, ordered, scale_out


def lines(result: dict) -> list[str]:
    """The section's lines: the table of one server (nginx when measured) and findings."""
    rows = result["rows"]
    servers = sorted({r["target"] for r in rows if r["kind"] == "throughput"})
    server = "nginx" if "nginx" in servers else servers[0]
    found = [
        "## Last run at a glance",
        "",
        f"From the run of {result['date']} against {server} ({result['users']} users or "
        f"connections, {result['identities']} identities, median of {result['reps']} "
        f"interleaved repetitions of {result['seconds']:g} s; {load_note(result)}):",
        "",
        "| client | keep-alive | req/s | client CPU ms/request | fraction of best C reference |",
        "|---|---|---:|---:|---:|",
    ]
    shown = (*C_REFERENCES, HTTPUSER, FASTHTTPUSER, MTLS_FASTHTTP, *STRATEGIES)
    for r in ordered(rows, server):
        if r["client"] not in shown or r["concurrency"] not in ("-", "greenlet"):
            continue
        name = label(r["client"], r["keepalive"], r["users"], r.get("processes", 1))
        found.append(
            f"| {name} | {'on' if r['keepalive'] else 'off'} | {fmt(r['rps'])} "
            f"| {fmt(r[CPU], cpu_digits(r[CPU]))} | {fmt(r['x_best_c_cpu'], 2)} |"
        )
    return [*found, "", *_findings(rows, server, result)]


def _findings(rows, server, result) -> list[str]:
    """Which client and strategy cost least per request on each path, by this run."""
    found = []
    for keepalive in (False, True):
        path = "with keep-alive" if keepalive else "on new connections (keep-alive off)"
        candidates = [
            r
            for r in ordered(rows, server)
            if r["keepalive"] == keepalive
            and r[CPU]
            and r.get("processes", 1) == 1
            and r["concurrency"] in ("-", "greenlet")
            and not (r["wrong_identity"] or r["bleed"] or r["crashes"])
        ]
        locust = [r for r in candidates if r["client"] not in C_REFERENCES]
        strategies = [r for r in candidates if r["client"] in STRATEGIES]
        if locust:
            best = locust[0]
            found.append(
                f"- Least client CPU per request {path}: "
                f"{label(best['client'], keepalive, best['users'])} "
                f"({fmt(best[CPU], cpu_digits(best[CPU]))} ms)"
                + (
                    f"; among `MtlsUser` strategies (requests), `{strategies[0]['client']}` "
                    f"({fmt(strategies[0][CPU], cpu_digits(strategies[0][CPU]))} ms)."
                    if strategies
                    else "."
                )
            )
    for entry in scale_out(rows):
        if entry["target"] == server:
            found.append(
                f"- Scale-out: {label(entry['client'], True, 0)} with `--processes "
                f"{entry['processes']}` (keep-alive on, free to use every CPU) served "
                f"{fmt(entry['ratio'], 2)}x the req/s of one process."
            )
    misses = [
        check["target"]
        for check in result["targets"]
        if check["met"] is False and check["target"].startswith(server)
    ]
    if misses:
        found.append(f"- Goals not met in this run: {'; '.join(misses)}.")
    return found
