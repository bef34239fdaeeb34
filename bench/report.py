"""Reduce the runs of one benchmark to medians, ranges, fractions and targets; render Markdown."""

from __future__ import annotations

import statistics
from collections import defaultdict

from .clients import AB, C_REFERENCES, FASTHTTPUSER, HTTPUSER, MTLS_FASTHTTP, S_TIME_NEW, label

NOTES_MARKER = "<!-- notes below this line are kept when the benchmark rewrites this file -->"
SUMMED = ("failures", "wrong_identity", "bleed", "crashes")
CPU = "client_cpu_ms_per_request"
# A resumed session skips the server's chain check: shown, never the reference.
REFERENCES = (S_TIME_NEW, AB)
# `ab -k` speaks HTTP/1.0, which the echo server answers without keep-alive: there it
# measures new connections, so it is no keep-alive reference.
NO_HTTP10_KEEPALIVE = ("echo",)
# The goals, by client CPU per request (bench/clients.py names).
MTLS_OVER_PLAIN_CPU = 1.05
NEW_CONNECTIONS_OF_AB = 0.8
NEW_CONNECTION_CPU_MS = 1.2
# ...on the machine where `ab` took 0.74 ms per request: as a multiple of `ab`'s CPU in the
# same run, the goal holds on a slower machine too (both are reported).
AB_CPU_MS_WHEN_SET = 0.74
NEW_CONNECTION_CPU_OF_AB = round(NEW_CONNECTION_CPU_MS / AB_CPU_MS_WHEN_SET, 2)
NEW_CONNECTION_GOAL_SERVERS = ("nginx",)  # "against the same nginx" (issue 18)
CPU_COMPARISONS = (
    (MTLS_FASTHTTP, FASTHTTPUSER, False, MTLS_OVER_PLAIN_CPU, True),
    (MTLS_FASTHTTP, FASTHTTPUSER, True, MTLS_OVER_PLAIN_CPU, True),
    ("identity-cache", "shared-context", False, 0.95, False),
    ("identity-cache", "requests-default", False, 5, False),
    ("identity-cache", HTTPUSER, True, 0.95, False),
)


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per cell: median and min-max of req/s and CPU per request over its runs."""
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        by_key[tuple(run["cell"].values())].append(run)
    rows = []
    for group in by_key.values():
        ok = [run for run in group if "rps" in run]
        row = dict(group[0]["cell"])
        row["runs"] = len(group)
        row["errors"] = [run["error"] for run in group if "error" in run]
        for name in ("rps", CPU, "rss_peak_mb", "handshake_p50_ms"):
            values = [run[name] for run in ok if run.get(name) is not None]
            row[name] = round(statistics.median(values), 4) if values else None
            row[name + "_min"] = min(values) if values else None
            row[name + "_max"] = max(values) if values else None
        for name in SUMMED:
            row[name] = sum(run.get(name, 0) or 0 for run in ok)
        rows.append(row)
    for row in rows:
        best = best_reference(rows, row["target"], row["keepalive"])
        row["x_best_c_cpu"] = _ratio(best and best[CPU], row[CPU], digits=3)
    return rows


def find(rows, *, kind="throughput", processes=1, **match) -> dict | None:
    for row in rows:
        if row["kind"] != kind or row.get("processes", 1) != processes:
            continue
        if all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def best_reference(rows, target: str, keepalive: bool) -> dict | None:
    """The C reference with the least client CPU per request on this path."""
    candidates = [
        row
        for row in rows
        if row["kind"] == "throughput"
        and row["client"] in REFERENCES
        and row["target"] == target
        and row["keepalive"] == keepalive
        and row[CPU]
        and not (keepalive and target in NO_HTTP10_KEEPALIVE)
    ]
    return min(candidates, key=lambda row: row[CPU], default=None)


def _ratio(numerator, denominator, digits=2) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, digits)


def targets(rows: list[dict], memory_users: int) -> list[dict]:
    """The goals, per target server: what was measured, the goal, met or not."""
    checks = []

    def check(what, value, goal, at_most, unit="x", other=None):
        met = None if value is None else (value <= goal if at_most else value >= goal)
        checks.append(
            {
                "target": what,
                "measured": value,
                "unit": unit,
                "goal": f"{'<=' if at_most else '>='} {goal:g}{unit}",
                "met": met,
                "other_side": _failures(other),
            }
        )

    def cpu_of(row):
        return row and row[CPU]

    for server in sorted({row["target"] for row in rows if row["kind"] == "throughput"}):

        def cell(client, keepalive, server=server):
            return find(rows, target=server, client=client, concurrency="greenlet",
                        keepalive=keepalive)  # fmt: skip

        # (ours, theirs, keep-alive, goal, at_most): at_most compares CPU ours / theirs
        # (lower is better); otherwise theirs / ours, i.e. how many times ours is cheaper.
        for ours, theirs, keepalive, goal, at_most in CPU_COMPARISONS:
            mine, other = cell(ours, keepalive), cell(theirs, keepalive)
            ratio = (
                _ratio(cpu_of(mine), cpu_of(other))
                if at_most
                else _ratio(cpu_of(other), cpu_of(mine))
            )
            order = f"{ours} / {theirs}" if at_most else f"{theirs} / {ours}"
            check(
                f"{server}, keep-alive {'on' if keepalive else 'off'}: CPU per request, {order}",
                ratio,
                goal,
                at_most,
                other=other,
            )
        if server not in NEW_CONNECTION_GOAL_SERVERS:
            continue
        new = cell(MTLS_FASTHTTP, False)
        ab = find(rows, target=server, client=AB, keepalive=False)
        check(
            f"{server}, keep-alive off: req/s, {MTLS_FASTHTTP} / ab",
            _ratio(new and new["rps"], ab and ab["rps"]),
            NEW_CONNECTIONS_OF_AB,
            at_most=False,
        )
        check(
            f"{server}, keep-alive off: {MTLS_FASTHTTP} client CPU per request",
            cpu_of(new),
            NEW_CONNECTION_CPU_MS,
            at_most=True,
            unit=" ms",
        )
        check(
            f"{server}, keep-alive off: CPU per request, {MTLS_FASTHTTP} / ab "
            f"({NEW_CONNECTION_CPU_MS:g} ms where ab took {AB_CPU_MS_WHEN_SET:g} ms)",
            _ratio(cpu_of(new), cpu_of(ab)),
            NEW_CONNECTION_CPU_OF_AB,
            at_most=True,
        )
    plain = find(rows, kind="memory", client=HTTPUSER, users=memory_users)
    for client in ("identity-cache", "per-thread-session", MTLS_FASTHTTP):
        mine = find(rows, kind="memory", client=client, users=memory_users)
        check(
            f"RSS, {memory_users} users: {client} / plain HttpUser",
            _ratio(mine and mine["rss_peak_mb"], plain and plain["rss_peak_mb"]),
            1.2,
            at_most=True,
        )
    return checks


def scale_out(rows: list[dict]) -> list[dict]:
    """req/s with Locust --processes 2 over one process, per target (keep-alive on)."""
    ratios = []
    for row in rows:
        if row["kind"] == "throughput" and row.get("processes", 1) > 1:
            one = find(rows, target=row["target"], client=row["client"], keepalive=True)
            ratios.append(
                {
                    "target": row["target"],
                    "client": row["client"],
                    "processes": row["processes"],
                    "rps": row["rps"],
                    "rps_one_process": one and one["rps"],
                    "ratio": _ratio(row["rps"], one and one["rps"]),
                }
            )
    return ratios


def _failures(row: dict | None) -> str:
    """What went wrong on a compared cell (its CPU per request then means little)."""
    if not row:
        return ""
    parts = [f"{row[k]} {k.replace('_', ' ')}" for k in ("wrong_identity", "bleed", "crashes")]
    return ", ".join(p for p in parts if not p.startswith("0 "))


def fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def cpu_digits(value) -> int:
    """Enough digits for 0.017 ms as for 20.98 ms."""
    return 3 if value is not None and value < 0.1 else 2


def load_note(result: dict) -> str:
    before, after = result["load_average_before_after"]
    before = before if isinstance(before, list) else [before]
    after = after if isinstance(after, list) else [after]
    return (
        f"load average (1/5/15 min) {'/'.join(f'{x:g}' for x in before)} before, "
        f"{'/'.join(f'{x:g}' for x in after)} after, on {result['environment']['CPUs']} CPUs"
    )


def render(result: dict, glance: list[str] = ()) -> str:
    """The whole docs/benchmarks.md text (without the kept notes); `glance` (glance.py's
    lines) comes first."""
    env, rows = result["environment"], result["rows"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{result['command']}` on {result['date']} "
        f"({result['duration_s']:.0f} s). Raw numbers: `docs/benchmarks.json`.",
        "",
        *([*glance, ""] if glance else []),
        "## Environment",
        "",
        ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        f"Method: each cell is one client process ({result['users']} users or connections, "
        f"{result['identities']} identities, every request with a client certificate), "
        f"{result['seconds']:g} s, {result['reps']} repetitions interleaved across all cells "
        f"(median, min-max). req/s is counted by the server (nginx's stub_status, the echo "
        f"server's /stats) over the window its count moved; client CPU is user + system time "
        f"of the client's process tree over the same window, per request. Servers on CPUs "
        f"{result['server_cpus']}, clients on CPUs {result['client_cpus']} (the `--processes "
        f"2` cell on all). Machine shared with other work: {load_note(result)}.",
        "",
    ]
    if result.get("references_skipped"):
        lines += [f"References skipped: {'; '.join(result['references_skipped'])}.", ""]
    lines += [
        "## Targets",
        "",
        "| target | measured | goal | met | compared cell's failures |",
        "|---|---:|---|---|---|",
    ]
    for check in result["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[check["met"]]
        value = check["measured"]
        shown = "-" if value is None else f"{value:.3g}{check['unit']}"
        lines.append(
            f"| {check['target']} | {shown} | {check['goal']} | {met} "
            f"| {check['other_side'] or '-'} |"
        )
    lines += ["", "## Scale-out (keep-alive on)", ""]
    for entry in scale_out(rows):
        lines.append(
            f"- {entry['target']}: {label(entry['client'], True, 0)} with `--processes "
            f"{entry['processes']}`: {fmt(entry['rps'])} req/s, {fmt(entry['ratio'], 2)}x one "
            f"process ({fmt(entry['rps_one_process'])} req/s)."
        )
    for server in sorted({r["target"] for r in rows if r["kind"] == "throughput"}):
        lines += ["", f"## Throughput against {server}", "", *throughput_table(rows, server)]
    lines += ["", "## Memory (peak RSS of the client process tree, keep-alive on)", ""]
    lines += _memory_table(rows)
    lines += ["", "## Building blocks (timeit, 50 single runs each)", ""]
    lines += ["| block | min ms | median ms |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {ms['min_ms']:.3f} | {ms['median_ms']:.3f} |"
        for name, ms in result["blocks"].items()
    ]
    return "\n".join(lines) + "\n"


def ordered(rows, server) -> list[dict]:
    """Throughput rows of one server: keep-alive off first, C references first, then by CPU."""
    chosen = [r for r in rows if r["kind"] == "throughput" and r["target"] == server]
    return sorted(
        chosen,
        key=lambda r: (
            r["keepalive"],
            r["client"] not in C_REFERENCES,
            r.get("processes", 1),
            r[CPU] if r[CPU] is not None else float("inf"),
        ),
    )


def throughput_table(rows, server) -> list[str]:
    lines = [
        "| client | concurrency | keep-alive | req/s median (min-max) "
        "| client CPU ms/request median (min-max) | fraction of best C reference (CPU) "
        "| failures | wrong id | bleed | crashes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in ordered(rows, server):
        rate = f"{fmt(r['rps'])} ({fmt(r['rps_min'])}-{fmt(r['rps_max'])})"
        digits = cpu_digits(r[CPU])
        low, high = fmt(r[CPU + "_min"], digits), fmt(r[CPU + "_max"], digits)
        cpu = f"{fmt(r[CPU], digits)} ({low}-{high})"
        name = label(r["client"], r["keepalive"], r["users"], r.get("processes", 1))
        lines.append(
            f"| {name} | {r['concurrency']} | {'on' if r['keepalive'] else 'off'} | {rate} "
            f"| {cpu} | {fmt(r['x_best_c_cpu'], 2)} "
            f"| {r['failures']} | {r['wrong_identity']} | {r['bleed']} | {r['crashes']} |"
        )
    return lines


def _memory_table(rows) -> list[str]:
    memory = [r for r in rows if r["kind"] == "memory"]
    users = sorted({r["users"] for r in memory})
    clients = sorted({r["client"] for r in memory})
    lines = [
        "| client | " + " | ".join(f"{n} users MiB" for n in users) + " | x HttpUser (largest) |",
        "|---|" + "---:|" * (len(users) + 1),
    ]
    plain = find(rows, kind="memory", client=HTTPUSER, users=users[-1]) if users else None
    for client in clients:
        cells = [find(rows, kind="memory", client=client, users=n) for n in users]
        largest = cells[-1]
        ratio = _ratio(largest and largest["rss_peak_mb"], plain and plain["rss_peak_mb"])
        lines.append(
            f"| {label(client, True, 0)} | "
            + " | ".join(fmt(c and c["rss_peak_mb"], 1) for c in cells)
            + f" | {fmt(ratio, 2)} |"
        )
    return lines
