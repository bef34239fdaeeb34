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
# Patterns no row of a page may show, and why: said under its table when absent.
NOT_MEASURED = {
    "httpx-h2-": "httpx with `http2=True` (`httpx-h2-*`: it needs a server offering h2, which "
    "the echo server does not; run them with `--host` against one, e.g. nginx's `listen ... "
    "ssl http2`)",
}
ALWAYS_NOT_MEASURED = "niquests' `AsyncSession`"
# Per-machine paths a committed copy of the rows has no use for.
LOCAL_KEYS = ("log_file", "summary_file")


def clients_page(rows: list[dict], page: str = "docs/results/clients.md") -> str:
    """The whole page `page`, from the rows of the other clients (requests' are left out)."""
    rows = [row for row in rows if client_of(row) != "requests"]
    measured = sorted({versions_text(row) for row in rows}, key=measured_order)
    clients = [client for client in LIBRARIES if any(client_of(row) == client for row in rows)]
    not_measured = [
        why
        for prefix, why in NOT_MEASURED.items()
        if not any(row["strategy"].startswith(prefix) for row in rows)
    ]
    lines = [
        "# Other clients: the same failures",
        "",
        f"{', '.join(clients[:-1])}{' and ' if len(clients) > 1 else ''}{clients[-1]}, each "
        "with the patterns users write, measured by the matrix in an env of its own "
        "(server-side identity check of every response, half of the requests without a "
        "certificate). "
        f"Measured: {', '.join(measured)}.",
        "",
        "```sh",
        *commands(rows, page),
        "```",
        "",
        f"Settings: {'; '.join(settings_facts(rows))}; {load_text(rows)}. {environment_text(rows)}",
        "",
        "| client | pattern | safe? | bleed (of no-cert) | wrong id (of cert) | "
        "missing certificate (of cert) | crashes | other errors (of all) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in strategies_in(rows):
        mine = [row for row in rows if row["strategy"] == name]
        shares = [share_range(mine, counter) for counter in COUNTED]
        lines.append(
            f"| {versions_text(mine[0])} | [`{name}`](#{name}) | {safety(name)} | "
            f"{' | '.join(shares)} | {crash_text(mine)} | {share_range(mine, 'errors')} |"
        )
    lines += [
        "",
        "Each share is the range over every run of the pattern (concurrency × keep-alive × "
        "repeats): a bleed is a request sent without a certificate that reached the server "
        "with one, a wrong identity one sent with a certificate that arrived as another, a "
        "missing certificate one that arrived without any (the client dropped it).",
        "",
        f"Not measured here: {' and '.join([*not_measured, ALWAYS_NOT_MEASURED])}.",
    ]
    for client in clients:
        mine = [row for row in rows if client_of(row) == client]
        lines += ["", f"## {versions_text(mine[0])}"]
        for name in strategies_in(mine):
            lines += strategy_section(name, [row for row in mine if row["strategy"] == name])
    return "\n".join(lines) + "\n"


def strategy_section(name: str, rows: list[dict]) -> list[str]:
    """One pattern: its code, its cells (mode x keep-alive), why, what to write instead."""
    cls = STRATEGIES[name]
    path = cls.context_path[:1].upper() + cls.context_path[1:]
    lines = ["", f"### `{name}` ({safety(name)}) {{#{name}}}", "", f"{path}.", ""]
    lines += ["```python", cls.pattern, "```", ""]
    lines.append("| users | concurrency | keep-alive | what the runs showed |")
    lines.append("|---|---|---|---|")
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        cells.setdefault((row["users"], row["concurrency"], not row["keepalive"]), []).append(row)
    for (users, concurrency, keepalive_off), group in sorted(cells.items()):
        text = aggregate_cell(group)["text"]
        keepalive = "off" if keepalive_off else "on"
        lines.append(f"| {users} | {concurrency} | {keepalive} | {text} |")
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
    """'61-100 %' (the lowest and highest share over the runs), '100 %', or '-' for none;
    `errors`: the failures that are none of the identity check's, of all requests."""
    shares = [errors_share(row) if counter == "errors" else rate_of(row, counter) for row in rows]
    shares = [share for share in shares if share is not None]
    if not any(shares):
        return "–"
    low, high = (percent(share) for share in (min(shares), max(shares)))
    return f"{high} %" if low == high else f"{low}–{high} %"


def errors_share(row: dict) -> float | None:
    if not row.get("requests"):
        return None
    errors = (row.get("failures") or 0) - sum(row.get(c) or 0 for c in COUNTED)
    return errors / row["requests"]


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


def commands(rows: list[dict], page: str) -> list[str]:
    """The matrix commands the rows were measured with, as far as the rows tell: one per
    load (users, run time, repeats); the strategies when not all of their clients', the
    host when not the embedded server (its identities file is the user's)."""
    loads = sorted({(r.get("users"), r.get("run_time_s"), r.get("repeats") or 1) for r in rows})
    lines = []
    for users, run_time, repeats in loads:
        out = f"results/clients-{users}" if len(loads) > 1 else "results/clients"
        mine = [r for r in rows if (r.get("users"), r.get("run_time_s")) == (users, run_time)]
        clients = [c for c in LIBRARIES if any(client_of(row) == c for row in mine)]
        versions = [
            f"--{c} {','.join(sorted({r['client_version'] for r in mine if client_of(r) == c}))}"
            for c in clients
        ]
        names = [name for name in STRATEGIES if any(row["strategy"] == name for row in mine)]
        if names != [name for name in STRATEGIES if STRATEGIES[name].library in clients]:
            versions.append(f"--strategies {','.join(names)}")
        hosts = sorted({row.get("host") or "embedded" for row in mine} - {"embedded"})
        versions += [f"--host {host} --identities identities.json" for host in hosts]
        modes = sorted({row["concurrency"] for row in mine})
        keepalive = sorted({"on" if row["keepalive"] else "off" for row in mine}, reverse=True)
        lines.append(
            f"locust-mtls matrix --clients {','.join(clients)} {' '.join(versions)} "
            f"--concurrency {','.join(modes)} --keepalive {','.join(keepalive)} "
            f"--users {users} --run-time {run_time}s --repeat {repeats} --out {out}"
        )
    outs = " ".join(f"results/clients-{users}" for users, _, _ in loads)
    report = f"locust-mtls report {outs if len(loads) > 1 else 'results/clients'}"
    return [*lines, f"{report} --clients-page {page}"]


def environment_text(rows: list[dict]) -> str:
    """'Python 3.11.7, OpenSSL 3.0.19 ..., Locust 2.47.0, gevent 26.9.0.' (each value seen),
    and the env labels (urllib3-future in niquests' env)."""
    facts = []
    for name, label in (("python", "Python"), ("openssl", ""), ("locust", "Locust"),
                        ("gevent", "gevent")):  # fmt: skip
        seen = sorted({(row.get("environment") or {}).get(name) for row in rows} - {None})
        facts += [f"{label} {value}".strip() for value in seen]
    labels = sorted({label for row in rows for label in row.get("env_labels") or ()})
    return ", ".join(facts) + (f" ({'; '.join(labels)})." if labels else ".")


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
    write_atomically(str(page), clients_page(kept, str(page)))
    return page, data
