"""`locust-mtls matrix --junit FILE` (and `locust-mtls report --junit FILE`): the matrix as
JUnit XML, one testcase per cell (strategy x Python x Locust/requests or client versions x
mode).

A cell's repeats are one testcase (its worst run decides), so a test keeps its name from
one build to the next whatever --repeat or --until-crash ran. A must-be-clean cell fails
exactly when the exit status counts it (outcomes.failing_rows); a baseline is skipped.
"""

from __future__ import annotations

from datetime import datetime

from locust_mtls.matrix.aggregate import cell_groups, grid
from locust_mtls.matrix.outcomes import OUTCOMES, failing_rows, mode_label
from locust_mtls.results.junit import Case, Suite, write_junit
from locust_mtls.strategies import LIBRARIES


def cell_name(column: tuple, many_pythons: bool) -> str:
    """'requests 2.32.3, greenlet, keep-alive off' (with 'py3.12 ' when several Pythons)."""
    python, versions, concurrency, keepalive = column
    mode = mode_label({"concurrency": concurrency, "keepalive": keepalive})
    first = versions.split(" ", 1)[0]
    label = versions if first == "locust" or first in LIBRARIES else f"requests {versions}"
    return f"{'py' + python + ' ' if many_pythons else ''}{label}, {mode}"


def cell_case(strategy: str, name: str, group: list[dict], aggregate: dict) -> Case:
    classname = f"locust-mtls.matrix.{strategy}"
    failing = failing_rows(group)
    if failing:
        details = "\n".join(row.get("detail", "") for row in failing)
        message = f"{len(failing)}/{len(group)} runs not clean: {failing[0].get('detail', '')}"
        return Case(classname, name, failure=message, failure_type=failing[0]["outcome"],
                    details=details)  # fmt: skip
    if any(row.get("must_be_clean") for row in group):
        return Case(classname, name)
    # A baseline (unsafe by design, or safe only on some versions) is skipped, not passed or
    # failed: a pass would read as "this strategy is fine" when it bled, and a failure
    # would turn a build red that the matrix's own exit status (0) calls clean. The reason
    # says what it did, so the bug it exists to show is visible in the CI's test view.
    reason = f"baseline, not must-be-clean: {aggregate['text']}"
    return Case(classname, name, skipped=f"{reason} ({OUTCOMES[aggregate['outcome']][2]})")


def matrix_suite(rows: list[dict]) -> Suite:
    """One testcase per cell of results.jsonl rows, in the report's order."""
    strategies, columns, aggregates = grid(rows)
    many_pythons = len({row["python"] for row in rows}) > 1
    groups = cell_groups(rows)
    cases = [
        cell_case(strategy, cell_name(column, many_pythons), groups[key], aggregates[key])
        for strategy in strategies
        for column in columns
        if (key := (strategy, column)) in groups
    ]
    time_s = sum(float(row.get("wall_s") or 0.0) for row in rows)
    starts = sorted(row["started_at"] for row in rows if row.get("started_at"))
    started_at = datetime.fromisoformat(starts[0]) if starts else None  # UTC, ISO: sortable
    return Suite("locust-mtls matrix", cases, time_s=time_s, timestamp=started_at)


def write_matrix_junit(path: str, rows: list[dict]) -> None:
    """Write the matrix's JUnit XML to `path` (atomically)."""
    write_junit(path, [matrix_suite(rows)])
