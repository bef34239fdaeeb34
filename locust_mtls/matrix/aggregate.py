"""A matrix's results.jsonl read and summed up per cell (worst outcome, rates, crashes,
rps over repeats), in the grid every view draws: summary.md, report.html, JUnit.

Below report.py, report_html.py and junit_cases.py, which all read it.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from locust_mtls.errors import ConfigError
from locust_mtls.matrix.outcomes import OUTCOMES, STRATEGIES, version_key, versions_text


def load_rows(results_dir: str | Path) -> list[dict]:
    """Every row of RESULTS_DIR/results.jsonl; ConfigError naming the file or line if bad."""
    path = Path(results_dir) / "results.jsonl"
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


def aggregate_cell(rows: list[dict]) -> dict:
    """The repeats of one cell summed up: worst outcome, its rate, crashes, rps mean/min/max.

    `text` is one line (summary.md); `lines` the same in short lines for a heatmap square.
    """
    worst = min((row["outcome"] for row in rows), key=list(OUTCOMES).index)
    count = sum(row["outcome"] == worst for row in rows)
    total_requests = sum(row.get("requests") or 0 for row in rows)
    rps = [row["rps"] for row in rows if row.get("rps")]
    # Rows written before `crashes` existed count their one recorded crash.
    crashes = sum(row.get("crashes") or (1 if row.get("crash") else 0) for row in rows)
    field = {"wrong-identity": "wrong_identity", "bleed": "bleed", "errors": "failures"}.get(worst)
    if field:
        bad = sum(row.get(field) or 0 for row in rows)
        if worst == "errors":
            bad -= sum((row.get("wrong_identity") or 0) + (row.get("bleed") or 0) for row in rows)
        lines = [f"{OUTCOMES[worst][0]} {percent(bad, total_requests)}"]
        bleed = sum(row.get("bleed") or 0 for row in rows)
        if worst == "wrong-identity" and bleed:  # both at once is common on shared contexts
            lines.append(f"bleed {percent(bleed, total_requests)}")
    elif worst == "clean":
        lines = ["clean", f"{statistics.mean(rps):.0f} rps"] if rps else ["clean"]
    else:
        lines = [f"{OUTCOMES[worst][0]} {count}/{len(rows)}"]
        if worst == "crashed":
            lines.append(
                f"{crashes} crash{'es' if crashes > 1 else ''}, {short(total_requests)} req"
            )
    text = " ".join(lines) if worst == "clean" else ", ".join(lines)
    if worst == "crashed":  # "crash 3/3" (runs), plus the restarts when more crashes than runs
        text = lines[0] + (f" ({crashes} crashes)" if crashes > count else "")
    return {
        "outcome": worst,
        "text": text,
        "lines": lines,
        "runs": len(rows),
        "crashes": crashes,
        "requests": total_requests,
        "rps": statistics.mean(rps) if rps else 0.0,
        "rps_min": min(rps, default=0.0),
        "rps_max": max(rps, default=0.0),
        "details": [row.get("detail", "") for row in rows],
    }


def short(count: int) -> str:
    """812, 2.4k, 31k, 1.2M: a request count that fits a small square."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 1_000_000:
        return f"{count // 1000}k"
    return f"{count / 1_000_000:.1f}M"


def percent(part: int, whole: int) -> str:
    """'50%', or '<1%' for a small non-zero share."""
    if not whole:
        return "n/a"
    share = 100 * part / whole
    return "<1%" if 0 < share < 1 else f"{share:.0f}%"


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
    """Sort by python, requests version (numerically), concurrency, keep-alive on first."""
    python, versions, concurrency, keepalive = column
    numbers = [version_key(v) for v in re.findall(r"\d+(?:\.\d+)+", versions)]
    return (version_key(python), numbers, concurrency, not keepalive)


def environment_facts(rows: list[dict]) -> list[dict]:
    """One entry per (python, requests) environment: the exact versions it reported."""
    facts: dict[tuple, dict] = {}
    for row in rows:
        key = (row["python"], row["requests_version"], row.get("locust_version") or "")
        entry = facts.setdefault(key, {"python_label": row["python"], "paths": set()})
        entry["labels"] = row.get("env_labels") or []
        entry.update({k: v for k, v in (row.get("environment") or {}).items() if v})
        if row.get("client_path"):
            entry["paths"].add(row["client_path"])
    return [
        facts[key]  # by python, Locust, requests
        for key in sorted(facts, key=lambda k: [version_key(part) for part in (k[0], k[2], k[1])])
    ]
