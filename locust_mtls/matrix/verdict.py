"""The verdict of a matrix: are the must-be-clean strategies clean, and did each baseline
fail where it should (naming the versions and modes where it crashed or leaked)?"""

from __future__ import annotations

from locust_mtls.matrix.aggregate import cell_groups
from locust_mtls.matrix.outcomes import (
    STRATEGIES,
    UNSAFE_BY_DESIGN,
    failing_rows,
    measured_text,
    mode_label,
    row_kinds,
    version_key,
    version_label,
)


def verdict_lines(rows: list[dict]) -> list[str]:
    """The verdict: the must-be-clean strategies (one line if clean, else one line per
    failing run), then what every baseline did, naming where it crashed or leaked."""
    failing = failing_rows(rows)
    if failing:
        lines = [
            f"NOT CLEAN: {row['strategy']} on {measured_text(row)} "
            f"(py{row['python']}, {mode_label(row)}, run {row['repeat']}): {row['detail']}"
            for row in failing
        ]
    else:
        clean = [s for s in ordered_strategies(rows) if must_be_clean(rows, s)]
        runs = sum(1 for row in rows if row.get("must_be_clean"))
        lines = [
            f"All must-be-clean strategies are clean: {', '.join(clean) or 'none run'}"
            + (f" ({runs} runs)." if runs else ".")
        ]
    return lines + baseline_lines(rows)


def ordered_strategies(rows: list[dict]) -> list[str]:
    names = {row["strategy"] for row in rows}
    return [s for s in STRATEGIES if s in names] + sorted(names - set(STRATEGIES))


def must_be_clean(rows: list[dict], strategy: str) -> bool:
    return any(row["strategy"] == strategy and row.get("must_be_clean") for row in rows)


# kind of failure (outcomes.KINDS) -> how a baseline line says it
OUTCOME_VERBS = {
    "crashed": "crashed",
    "hung": "hung",
    "wrong-identity": "sent a wrong identity",
    "missing-certificate": "dropped a certificate",
    "bleed": "bled a certificate",
    "no-result": "gave no result",
    "errors": "had failed requests",
}


def baseline_lines(rows: list[dict]) -> list[str]:
    """One line per strategy outside --must-be-clean: where it failed and how, where clean.

    Each kind counts every run that showed it, whatever the run's worst outcome: a run
    that bled and then crashed counts for both. An unsafe-by-design baseline that never
    failed is said plainly: the run did not show the bug it exists to show (too little
    load, or no no-cert requests reached it)."""
    many_pythons = len({row["python"] for row in rows}) > 1
    lines = []
    for strategy in ordered_strategies(rows):
        if must_be_clean(rows, strategy):
            continue
        mine = [row for row in rows if row["strategy"] == strategy]
        parts = []
        for kind, verb in OUTCOME_VERBS.items():
            hit = [row for row in mine if kind in row_kinds(row)]
            if hit:
                parts.append(f"{verb} on {where(hit, mine, many_pythons)}")
        versions = {version_label(row, many_pythons) for row in mine}
        dirty = {version_label(row, many_pythons) for row in mine if row_kinds(row)}
        if not parts:
            expected = strategy in UNSAFE_BY_DESIGN
            lines.append(
                f"{strategy}: clean in all {len(mine)} runs"
                + (
                    " - NOT the failure it exists to show; more users or run time?"
                    if expected
                    else "."
                )
            )
            continue
        clean = sorted(versions - dirty, key=version_key)
        tail = f"; clean on {', '.join(clean)}" if clean else ""
        lines.append(f"{strategy}: {'; '.join(parts)}{tail}.")
    if lines:
        lines[0] = "Baselines (not must-be-clean): " + lines[0]
    return lines


def where(hit: list[dict], mine: list[dict], many_pythons: bool) -> str:
    """'2.32.3, 2.32.4 (native-threads, 5 of 6 runs, first in run 4)': versions, the modes
    if not all, the runs that showed it of the runs there, and the first such run of each
    cell when one came after run 1 (--until-crash stops at the first crash)."""
    versions = sorted({version_label(row, many_pythons) for row in hit}, key=version_key)
    every = len(versions) > 1 and len(versions) == len(
        {version_label(r, many_pythons) for r in mine}
    )
    modes = []
    for key, name in (("concurrency", None), ("keepalive", "keep-alive")):
        values = {row[key] for row in hit}
        if len(values) == 1 and len({row[key] for row in mine}) > 1:
            (value,) = values
            modes.append(f"{name} {'on' if value else 'off'}" if name else value)
    runs = [row for row in mine if version_label(row, many_pythons) in versions]
    runs = [
        row
        for row in runs
        if all(row[k] in {h[k] for h in hit} for k in ("concurrency", "keepalive"))
    ]
    named = "every version" if every else ", ".join(versions)
    facts = [*modes, f"{len(hit)} of {len(runs)} runs"]
    firsts = sorted({min(row["repeat"] for row in cell) for cell in cell_groups(hit).values()})
    if firsts[-1] > 1:
        facts.append(f"first in run{'s' if len(firsts) > 1 else ''} {', '.join(map(str, firsts))}")
    return f"{named} ({', '.join(facts)})"
