"""A matrix's results.jsonl read and summed up per cell (worst outcome, runs per kind of
failure, crashes, rps over repeats), in the grid every view draws: summary.md,
report.html, JUnit; and the settings that change a result, said once for all of them.

Below report.py, report_html.py and junit_cases.py, which all read it.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from locust_mtls.errors import ConfigError
from locust_mtls.matrix.outcomes import (
    IDENTITY_KINDS,
    KINDS,
    NO_CERT_SPLIT_MEANINGS,
    OUTCOMES,
    STRATEGIES,
    measured_order,
    row_kinds,
    version_key,
    versions_text,
)
from locust_mtls.results.row_cells import percent
from locust_mtls.settings import RATE_BASES, rate_base


def load_rows(results_dir: str | Path) -> list[dict]:
    """Every row of RESULTS_DIR/results.jsonl (or of a .jsonl file named instead, such as
    docs/results/clients.jsonl); ConfigError naming the file or line if bad."""
    path = Path(results_dir)
    if path.suffix != ".jsonl":
        path = path / "results.jsonl"
    if not path.is_file():
        raise ConfigError(f"{path} not found; pass the --out directory of `locust-mtls matrix`")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise ConfigError(f"{path}:{number} is not JSON; delete that line") from None
    return rows


# Kinds counted in requests (their share of the requests they can happen to is said:
# settings.RATE_BASES), and their counter.
COUNTED = {**IDENTITY_KINDS, "errors": "failures"}
# What a share in a cell is of, in a few characters (CELLS_EXPLAINED says them in full).
SHORT_BASES = {"without_cert": " of no-cert", "with_cert": " of with-cert", "requests": "",
               "all": " of all"}  # fmt: skip


def aggregate_cell(rows: list[dict]) -> dict:
    """The runs of one cell summed up: the worst outcome (the cell's colour), then every kind
    of failure with the runs that showed it; crashes, requests, rps mean/min/max.

    `text` is one line (summary.md): `clean 412 rps`, `wrong id 3% of with-cert, bleed 94%
    of no-cert` (one run), `crash 1/4 runs (first: run 4), wrong id 4/4 runs (3% of
    with-cert), bleed 4/4 runs (94% of no-cert)`;
    `lines` the same in short lines for a heatmap square.
    """
    worst = min((row["outcome"] for row in rows), key=list(OUTCOMES).index)
    total_requests = sum(row.get("requests") or 0 for row in rows)
    rps = [row["rps"] for row in rows if row.get("rps")]
    # Rows written before `crashes` existed count their one recorded crash.
    crashes = sum(row.get("crashes") or (1 if row.get("crash") else 0) for row in rows)
    parts, heads, crash_line = [], [], []
    for kind in KINDS:
        hit = [row for row in rows if kind in row_kinds(row)]
        if not hit:
            continue
        head, extras = OUTCOMES[kind][0], []
        if kind in COUNTED:
            share = share_text(rows, kind)
            head, extras = (f"{head} {share}", []) if len(rows) == 1 else (head, [share])
        if len(rows) > 1:
            head += f" {len(hit)}/{len(rows)} runs"
        if kind == "crashed":
            first = min(row["repeat"] for row in hit)
            extras += [f"first: run {first}"] if first > 1 else []
            extras += [f"{crashes} crashes"] if crashes > len(hit) else []
            plural = "es" if crashes > 1 else ""
            crash_line = [f"{crashes} crash{plural}, {short(total_requests)} req"]
        heads.append(head)
        parts.append(head + (f" ({'; '.join(extras)})" if extras else ""))
    lines = heads + crash_line
    if not parts:
        parts = lines = [f"clean {statistics.mean(rps):.0f} rps"] if rps else ["clean"]
    return {
        "outcome": worst,
        "text": ", ".join(parts),
        "lines": lines,
        "runs": len(rows),
        "crashes": crashes,
        "requests": total_requests,
        "rps": statistics.mean(rps) if rps else 0.0,
        "rps_min": min(rps, default=0.0),
        "rps_max": max(rps, default=0.0),
        "details": [row.get("detail", "") for row in rows],
    }


def kind_count(rows: list[dict], kind: str) -> int:
    """Requests of `kind` over `rows` (errors: failures that were neither kind of mix-up)."""
    count = sum(row.get(COUNTED[kind]) or 0 for row in rows)
    if kind == "errors":
        count -= sum(kind_count(rows, mixed_up) for mixed_up in IDENTITY_KINDS)
    return count


def share_text(rows: list[dict], kind: str) -> str:
    """'94% of no-cert': a kind's requests over `rows` as a share of the requests it can
    happen to (rows from before issue 26 lack the split: ' of all')."""
    counter = COUNTED[kind]
    split = {
        key: sum(row.get(key) or 0 for row in rows) for key in ("requests", *RATE_BASES.values())
    }
    split = {key: n for key, n in split.items() if all(key in row for row in rows)}
    base, count = rate_base(split, counter)
    return percent(kind_count(rows, kind), count, digits=0) + SHORT_BASES[base]


def short(count: int) -> str:
    """812, 2.4k, 31k, 1.2M: a request count that fits a small square."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M"


def cell_groups(rows: list[dict]) -> dict[tuple, list[dict]]:
    """The runs of each cell: (strategy, (python, versions, concurrency, keepalive)) -> rows."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        column = (row["python"], versions_text(row), row["concurrency"], row["keepalive"])
        groups.setdefault((row["strategy"], column), []).append(row)
    return groups


def grid(rows: list[dict]) -> tuple[list[str], list[tuple], dict]:
    """Strategies (rows), columns (python, requests, concurrency, keepalive), aggregates."""
    groups = cell_groups(rows)
    names = {row["strategy"] for row in rows}
    strategies = [s for s in STRATEGIES if s in names] + sorted(names - set(STRATEGIES))
    columns = sorted({column for _, column in groups}, key=column_order)
    return strategies, columns, {key: aggregate_cell(group) for key, group in groups.items()}


def column_order(column: tuple) -> tuple:
    """Sort by python, client and version (numerically), concurrency, keep-alive on first."""
    python, versions, concurrency, keepalive = column
    return (version_key(python), measured_order(versions), concurrency, not keepalive)


def environment_facts(rows: list[dict]) -> list[dict]:
    """One entry per (python, requests[, Locust]) or (python, client version) environment:
    the exact versions it reported."""
    facts: dict[tuple, dict] = {}
    for row in rows:
        key = (row["python"], versions_text(row), row.get("locust_version") or "")
        entry = facts.setdefault(key, {"python_label": row["python"], "paths": set()})
        entry["labels"] = row.get("env_labels") or []
        entry.update({k: v for k, v in (row.get("environment") or {}).items() if v})
        if row.get("client_path"):
            entry["paths"].add(row["client_path"])
    return [
        facts[key]  # by python, Locust, client and version
        for key in sorted(
            facts, key=lambda k: (version_key(k[0]), version_key(k[2]), measured_order(k[1]))
        )  # fmt: skip
    ]


def settings_facts(rows: list[dict]) -> list[str]:
    """Every setting that changes a result, in words (summary.md's footer, report.html's head).

    `repeats` and `until_crash` are stamped on rows since issue 26; older rows say only how
    many runs a cell had.
    """

    def values(key: str, default="?") -> str:
        found = sorted({str(row.get(key, default)) for row in rows})
        return " / ".join(found) if found else default

    runs = max((len(group) for group in cell_groups(rows).values()), default=0)
    facts = [
        f"{len(rows)} cell runs",
        f"{values('users')} users",
        f"{values('run_time_s')} s per run",
    ]
    if any(row.get("repeats") for row in rows):
        facts.append(f"--repeat {values('repeats')}")
    limits = sorted({(u["max_runs"], u["max_s"]) for row in rows if (u := row.get("until_crash"))})
    for max_runs, max_s in limits:
        facts.append(
            f"--until-crash: native-thread cells ran again until a run crashed, "
            f"at most {max_runs} runs / {max_s:.0f} s"
        )
    facts.append(f"up to {runs} run{'s' if runs != 1 else ''} per cell")
    splits = sorted({row.get("no_cert_split", "requests") for row in rows})
    facts += [f"no-cert split {s} ({NO_CERT_SPLIT_MEANINGS.get(s, '?')})" for s in splits]
    facts.append(f"host {values('host')}")
    return facts
