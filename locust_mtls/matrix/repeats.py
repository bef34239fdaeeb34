"""How often a cell runs: `--repeat N` times, and with `--until-crash` native-thread cells
again and again until one run crashes, or a maximum of runs or seconds is reached.

Native-thread cells are where OpenSSL races crash the client, and one short run misses
most of them: under load, a 5 s cell of requests-default on requests 2.32.3 often ends
with a wrong identity before the crash the independent reproducer sees in most runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from locust_mtls.matrix.cells import Cell


@dataclass(frozen=True)
class UntilCrash:
    """Run a native-thread cell until it crashes, at most `max_runs` runs / `max_s` seconds."""

    # Measured with 32 users, 20 s runs, requests-default (docs/matrix.md): on 2.32.4 with
    # keep-alive off the first crash came in run 6, with keep-alive on in run 2; on 2.32.3
    # keep-alive off crashed in run 1 and keep-alive on not in 6 runs (it leaks instead).
    max_runs: int = 10
    max_s: float = 240.0

    def __str__(self) -> str:
        return f"{self.max_runs} runs / {self.max_s:.0f} s"

    def more_runs(self, last: Cell, history: list[dict]) -> Iterator[Cell]:
        """The next repeats of `last`'s cell while its verdict is not settled. `history`
        holds the cell's rows so far, and the caller appends each new row before asking
        for the next run."""
        repeat = last.repeat
        while (
            not any(row["outcome"] == "crashed" for row in history)
            and len(history) < self.max_runs
            and sum(row.get("wall_s") or 0 for row in history) < self.max_s
        ):
            repeat = max(repeat, *(row["repeat"] for row in history)) + 1
            yield replace(last, repeat=repeat)


def same_cell(row: dict, cell: Cell) -> bool:
    """Whether `row` is a run (any repeat) of `cell`."""
    return (row["python"], row["requests_version"], row["concurrency"], row["keepalive"],
            row["strategy"], row.get("client_version") or row["requests_version"]) == (
        cell.python, cell.requests_version, cell.concurrency, cell.keepalive, cell.strategy,
        cell.client_version or cell.requests_version,
    )  # fmt: skip
