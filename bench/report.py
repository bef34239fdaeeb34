"""Reduce the runs of one benchmark to medians, ratios and targets; render Markdown."""

from __future__ import annotations

import statistics
from collections import defaultdict

from .cells import HTTPUSER, RAW_REQUESTS

NOTES_MARKER = "<!-- notes below this line are kept when the benchmark rewrites this file -->"
SUMMED = ("failures", "wrong_identity", "bleed", "crashes")
MEDIANS = (
    "handshakes_per_s",
    "handshake_p50_ms",
    "handshake_p95_ms",
    "rss_peak_mb",
    "client_cpu_ms_per_request",
)


def aggregate(runs: list[dict]) -> list[dict]:
    """One row per cell: rps median/min/max over its repetitions, other numbers medians."""
    by_key: dict[tuple, list[dict]] = defaultdict(list)
    for run in runs:
        cell = run["cell"]
        by_key[tuple(cell.values())].append(run)
    rows = []
    for group in by_key.values():
        ok = [run for run in group if "rps" in run]
        rates = [run["rps"] for run in ok]
        row = dict(group[0]["cell"])
        row["runs"] = len(group)
        row["errors"] = [run["error"] for run in group if "error" in run]
        row["rps"] = statistics.median(rates) if rates else None
        row["rps_min"], row["rps_max"] = (min(rates), max(rates)) if rates else (None, None)
        for name in MEDIANS:
            values = [run[name] for run in ok if run.get(name) is not None]
            row[name] = round(statistics.median(values), 3) if values else None
        for name in SUMMED:
            row[name] = sum(run.get(name, 0) for run in ok)
        rows.append(row)
    _add_ratios(rows)
    return rows


def find(rows, *, kind="throughput", **match) -> dict | None:
    for row in rows:
        if row["kind"] == kind and all(row.get(k) == v for k, v in match.items()):
            return row
    return None


def _ratio(numerator, denominator) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 2)


def _add_ratios(rows) -> None:
    for row in rows:
        if row["kind"] != "throughput":
            continue
        for name, client in (("x_httpuser", HTTPUSER), ("x_raw_requests", RAW_REQUESTS)):
            base = find(rows, target=row["target"], client=client, keepalive=row["keepalive"])
            row[name] = _ratio(row["rps"], base and base["rps"])


def targets(rows: list[dict], memory_users: int) -> list[dict]:
    """The issue's targets, per target server: measured ratio, goal, met."""
    checks = []

    def check(what, mine, other, goal, at_most=False):
        metric = "rss_peak_mb" if at_most else "rps"
        ratio = _ratio(mine and mine.get(metric), other and other.get(metric))
        met = None if ratio is None else (ratio <= goal if at_most else ratio >= goal)
        # The same comparison by client CPU per request (other / mine: higher is better),
        # which the other load on a shared machine disturbs far less than wall-clock req/s.
        cpu = "client_cpu_ms_per_request"
        cpu_ratio = None if at_most else _ratio(other and other.get(cpu), mine and mine.get(cpu))
        checks.append(
            {
                "target": what,
                "ratio": ratio,
                "cpu_ratio": cpu_ratio,
                "goal": f"{'<=' if at_most else '>='} {goal}x",
                "met": met,
                "other_side": _failures(other),
            }
        )

    for server in sorted({row["target"] for row in rows if row["kind"] == "throughput"}):
        ours = {
            ka: find(
                rows, target=server, client="identity-cache", concurrency="greenlet", keepalive=ka
            )
            for ka in (True, False)
        }
        for concurrency in ("greenlet", "native-threads"):
            mine = find(
                rows,
                target=server,
                client="identity-cache",
                concurrency=concurrency,
                keepalive=False,
            )
            shared = find(
                rows,
                target=server,
                client="shared-context",
                concurrency=concurrency,
                keepalive=False,
            )
            check(
                f"{server}, {concurrency}, keep-alive off: identity-cache / shared-context",
                mine,
                shared,
                0.95,
            )
        default = find(
            rows, target=server, client="requests-default", concurrency="greenlet", keepalive=False
        )
        check(
            f"{server}, keep-alive off: identity-cache / requests-default", ours[False], default, 5
        )
        httpuser = find(rows, target=server, client=HTTPUSER, keepalive=True)
        check(
            f"{server}, keep-alive on: identity-cache / plain HttpUser cert=",
            ours[True],
            httpuser,
            0.95,
        )
    plain = find(rows, kind="memory", client=HTTPUSER, users=memory_users)
    for client in ("identity-cache", "per-thread-session"):
        mine = find(rows, kind="memory", client=client, users=memory_users)
        check(
            f"RSS, {memory_users} users x 10 identities: {client} / plain HttpUser",
            mine,
            plain,
            1.2,
            at_most=True,
        )
    return checks  # fmt: skip


def _failures(row: dict | None) -> str:
    """What went wrong on a compared cell (its CPU per request then means little)."""
    if not row:
        return ""
    parts = [f"{row[k]} {k.replace('_', ' ')}" for k in ("wrong_identity", "bleed", "crashes")]
    return ", ".join(p for p in parts if not p.startswith("0 "))


def _fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def render(result: dict) -> str:
    """The whole docs/benchmarks.md text (without the kept notes)."""
    env, rows = result["environment"], result["rows"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{result['command']}` on {result['date']} "
        f"({result['duration_s']:.0f} s). Raw numbers: `docs/benchmarks.json`.",
        "",
        "## Environment",
        "",
        ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        f"Method: each cell is one isolated subprocess (Locust headless, or a raw loop), "
        f"{result['seconds']:g} s, {result['users']} users/threads with "
        f"{result['identities']} identities, every request with a client certificate; "
        f"{result['reps']} repetitions interleaved across all cells (median, min-max). "
        f"Servers on CPUs {result['server_cpus']}, clients on CPUs {result['client_cpus']}; "
        f"1-minute load average before/after: {result['load_average_before_after']} "
        "(other work shares this machine).",
        "",
        "## Targets",
        "",
        "| target | measured (req/s or RSS) | by client CPU per request | goal | met "
        "| compared cell's failures |",
        "|---|---:|---:|---|---|---|",
    ]
    for check in result["targets"]:
        met = {True: "yes", False: "**no**", None: "not measured"}[check["met"]]
        lines.append(
            f"| {check['target']} | {_fmt(check['ratio'], 2)}x | {_fmt(check['cpu_ratio'], 2)}x "
            f"| {check['goal']} | {met} | {check['other_side'] or '-'} |"
        )
    for server in sorted({r["target"] for r in rows if r["kind"] == "throughput"}):
        lines += ["", f"## Throughput against {server}", "", *_throughput_table(rows, server)]
    lines += ["", "## Memory (peak RSS of the client process tree, keep-alive on)", ""]
    lines += _memory_table(rows)
    lines += ["", "## Building blocks (timeit, 50 single runs each)", ""]
    lines += ["| block | min ms | median ms |", "|---|---:|---:|"]
    lines += [
        f"| {name} | {ms['min_ms']:.3f} | {ms['median_ms']:.3f} |"
        for name, ms in result["blocks"].items()
    ]
    return "\n".join(lines) + "\n"


def _throughput_table(rows, server) -> list[str]:
    lines = [
        "| client | concurrency | keep-alive | req/s median (min-max) | handshakes/s "
        "| handshake p50/p95 ms | client CPU ms/req | x HttpUser | x raw requests "
        "| failures | wrong id | bleed | crashes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    chosen = [r for r in rows if r["kind"] == "throughput" and r["target"] == server]
    chosen.sort(key=lambda r: (not r["keepalive"], r["concurrency"], -(r["rps"] or 0)))
    for r in chosen:
        rate = f"{_fmt(r['rps'])} ({_fmt(r['rps_min'])}-{_fmt(r['rps_max'])})"
        handshake = (
            "-"
            if r["handshake_p50_ms"] is None
            else f"{r['handshake_p50_ms']:g} / {r['handshake_p95_ms']:g}"
        )
        hps = _fmt(r["handshakes_per_s"]) if not r["keepalive"] else "-"
        cpu = _fmt(r["client_cpu_ms_per_request"], 2)
        ratios = f"{_fmt(r['x_httpuser'], 2)} | {_fmt(r['x_raw_requests'], 2)}"
        lines.append(
            f"| {r['client']} | {r['concurrency']} | {'on' if r['keepalive'] else 'off'} | {rate} "
            f"| {hps} | {handshake} | {cpu} | {ratios} "
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
            f"| {client} | "
            + " | ".join(_fmt(c and c["rss_peak_mb"], 1) for c in cells)
            + f" | {_fmt(ratio, 2)} |"
        )
    return lines
