"""docs/results/clients.md: a client matrix's rows as the page of issue 30, per client and
pattern: bleed, wrong identity, missing certificate and crashes over the runs, the library
lines that cause each failure and what to write instead (both from the registry).

`locust-mtls report RESULTS --clients-page PAGE.md` writes the page and, beside it,
PAGE.jsonl: the rows it was made from, so `locust-mtls report PAGE.jsonl --clients-page
PAGE.md` makes it again (a test checks it is not stale).
"""

from __future__ import annotations

import json
from pathlib import Path

from locust_mtls.matrix.aggregate import aggregate_cell, settings_facts
from locust_mtls.matrix.outcomes import client_of, measured_order, row_kinds, versions_text
from locust_mtls.results.files import write_atomically
from locust_mtls.settings import SAFE, UNSAFE, rate_of
from locust_mtls.strategies import LIBRARIES, STRATEGIES

SAFETY_WORDS = {SAFE: "safe", UNSAFE: "unsafe"}  # else: depends on the library's version
# What each column counts, and the requests it is a share of (settings.RATE_BASES).
COUNTED = {
    "bleed": "bleed (of no-cert)",
    "wrong_identity": "wrong id (of cert)",
    "missing_certificate": "missing certificate (of cert)",
}
# Per-machine paths a committed copy of the rows has no use for.
LOCAL_KEYS = ("log_file", "summary_file")


def clients_page(rows: list[dict]) -> str:
    """The whole page, from the rows of the other clients (requests' are left out)."""
    rows = [row for row in rows if client_of(row) != "requests"]
    measured = sorted({versions_text(row) for row in rows}, key=measured_order)
    lines = [
        "# Other clients: the same failures",
        "",
        "niquests, httpx, urllib3, aiohttp and geventhttpclient, each with the patterns "
        "users write, measured by the matrix in an env of its own (server-side identity "
        "check of every response, half of the requests without a certificate). "
        f"Measured: {', '.join(measured)}.",
        "",
        "```sh",
        command(rows),
        "locust-mtls report RESULTS --clients-page docs/results/clients.md  # this page",
        "```",
        "",
        f"Settings: {'; '.join(settings_facts(rows))}; {load_text(rows)}.",
        "",
        "| client | pattern | safe? | bleed (of no-cert) | wrong id (of cert) | "
        "missing certificate (of cert) | crashes |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in strategies_in(rows):
        mine = [row for row in rows if row["strategy"] == name]
        shares = [share_range(mine, counter) for counter in COUNTED]
        lines.append(
            f"| {versions_text(mine[0])} | [`{name}`](#{name}) | {safety(name)} | "
            f"{' | '.join(shares)} | {crash_text(mine)} |"
        )
    lines += [
        "",
        "Each share is the range over every run of the pattern (concurrency × keep-alive × "
        "repeats): a bleed is a request sent without a certificate that reached the server "
        "with one, a wrong identity one sent with a certificate that arrived as another, a "
        "missing certificate one that arrived without any (the client dropped it).",
    ]
    for client in [c for c in LIBRARIES if any(client_of(row) == c for row in rows)]:
        mine = [row for row in rows if client_of(row) == client]
        lines += ["", f"## {versions_text(mine[0])}"]
        for name in strategies_in(mine):
            lines += strategy_section(name, [row for row in mine if row["strategy"] == name])
    return "\n".join(lines) + "\n"


def strategy_section(name: str, rows: list[dict]) -> list[str]:
    """One pattern: its code, its cells (mode x keep-alive), why, what to write instead."""
    cls = STRATEGIES[name]
    lines = ["", f"### `{name}` ({safety(name)}) {{#{name}}}", "", f"{cls.context_path}.", ""]
    lines += ["```python", cls.pattern, "```", ""]
    lines.append("| concurrency | keep-alive | what the runs showed |")
    lines.append("|---|---|---|")
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["concurrency"], row["keepalive"]), []).append(row)
    for (concurrency, keepalive), group in sorted(cells.items(), key=lambda c: (c[0][0], -c[0][1])):
        text = aggregate_cell(group)["text"]
        lines.append(f"| {concurrency} | {'on' if keepalive else 'off'} | {text} |")
    if cls.cause:
        lines += ["", f"**Why.** {cls.cause}"]
    if cls.instead:
        lines += ["", f"**Write instead** ([`{cls.instead}`](#{cls.instead})):", ""]
        lines += ["```python", STRATEGIES[cls.instead].pattern, "```"]
    return lines


def strategies_in(rows: list[dict]) -> list[str]:
    """The rows' strategies in registry order."""
    names = {row["strategy"] for row in rows}
    return [name for name in STRATEGIES if name in names]


def safety(name: str) -> str:
    cls = STRATEGIES[name]
    return SAFETY_WORDS.get(cls.safety, f"depends on the {cls.library} version")


def share_range(rows: list[dict], counter: str) -> str:
    """'61-100 %' (the lowest and highest share over the runs), '100 %', or '-' for none."""
    shares = [rate_of(row, counter) for row in rows]
    shares = [share for share in shares if share is not None]
    if not any(shares):
        return "–"
    low, high = (percent(share) for share in (min(shares), max(shares)))
    return f"{high} %" if low == high else f"{low}–{high} %"


def percent(share: float) -> str:
    """'75', or '<1' for a share that rounds to 0 but is not."""
    return "<1" if 0 < share < 0.005 else str(round(100 * share))


def crash_text(rows: list[dict]) -> str:
    """'2 of 4 runs (native-threads, keep-alive off)', or '–'."""
    crashed = [row for row in rows if "crashed" in row_kinds(row)]
    if not crashed:
        return "–"
    modes = sorted(
        {f"{r['concurrency']}, keep-alive {'on' if r['keepalive'] else 'off'}" for r in crashed}
    )
    same = [row for row in rows if (row["concurrency"], row["keepalive"]) in
            {(r["concurrency"], r["keepalive"]) for r in crashed}]  # fmt: skip
    return f"{len(crashed)} of {len(same)} runs ({'; '.join(modes)})"


def command(rows: list[dict]) -> str:
    """The matrix command the rows were measured with, as far as the rows tell."""
    clients = [c for c in LIBRARIES if any(client_of(row) == c for row in rows)]
    versions = [
        f"--{c} {','.join(sorted({r['client_version'] for r in rows if client_of(r) == c}))}"
        for c in clients
    ]
    modes = sorted({row["concurrency"] for row in rows})
    keepalive = sorted({"on" if row["keepalive"] else "off" for row in rows}, reverse=True)
    first = rows[0] if rows else {}
    return (
        f"locust-mtls matrix --clients {','.join(clients)} {' '.join(versions)} "
        f"--concurrency {','.join(modes)} --keepalive {','.join(keepalive)} "
        f"--users {first.get('users')} --run-time {first.get('run_time_s')}s "
        f"--repeat {first.get('repeats') or 1} --out RESULTS"
    )


def load_text(rows: list[dict]) -> str:
    """How busy the machine was: its 1-minute load average at the end of the cells."""
    loads = [row["load_average"] for row in rows if row.get("load_average") is not None]
    if not loads:
        return "machine load not recorded"
    return f"load average {min(loads)}–{max(loads)} at the end of the cells"


def write_clients_page(rows: list[dict], page: str | Path) -> tuple[Path, Path]:
    """PAGE (Markdown) and PAGE.jsonl (the rows, without per-machine paths), atomically."""
    page = Path(page)
    data = page.with_suffix(".jsonl")
    kept = []
    for row in rows:
        if client_of(row) != "requests":
            kept.append({k: v for k, v in row.items() if k not in LOCAL_KEYS})
            if kept[-1].get("crash"):
                kept[-1]["crash"] = {**kept[-1]["crash"], "stack_file": None}
    write_atomically(str(data), "".join(json.dumps(row, sort_keys=True) + "\n" for row in kept))
    write_atomically(str(page), clients_page(kept))
    return page, data
