"""Running the planned cells of a matrix: skip what --resume may reuse, run each cell in
order, append its row to results.jsonl as it ends, run native-thread cells again under
--until-crash, and show it all (finished cells logged above a one-line bar)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from locust_mtls.matrix.aggregate import load_rows
from locust_mtls.matrix.cells import ArgvBuilder, Cell, CellSettings, locust_argv, run_cell
from locust_mtls.matrix.envs import Env
from locust_mtls.matrix.progress import Progress, StatusLog
from locust_mtls.matrix.repeats import UntilCrash, same_cell
from locust_mtls.results.files import write_atomically


def execute(
    cells: list[Cell],
    envs: dict[tuple[str, str], Env],
    settings: CellSettings,
    out_dir: Path,
    must_be_clean: tuple[str, ...],
    build_argv: ArgvBuilder = locust_argv,
    resume: bool = False,
    until_crash: UntilCrash | None = None,
    status_log: StatusLog | None = None,
) -> tuple[list[dict], bool]:
    """Run the cells not yet in results.jsonl (with these settings), appending a row as
    each ends; with `until_crash`, native-thread cells run again until one crashes.

    Returns (rows written now, interrupted): Ctrl-C kills the running cell's process group
    and stops; rows already written stay.
    """
    results = out_dir / "results.jsonl"
    earlier = reuse_earlier_rows(out_dir, settings, must_be_clean) if resume else []
    done = {row["key"] for row in earlier}
    todo = [cell for cell in cells if cell.key not in done]
    progress, rows = Progress(len(todo), settings.run_time_s + 5, status_log), []

    # Settings that change a result and live outside CellSettings, on every row (views say them).
    limits = asdict(until_crash) if until_crash else None

    def run_one(cell: Cell, repeats: int, note: str = "") -> dict:
        progress.start(cell.key + note)
        row = run_cell(cell, envs[cell.env_key], settings, out_dir, build_argv)
        row["must_be_clean"] = cell.strategy in must_be_clean
        row.update(repeats=repeats, until_crash=limits)
        with open(results, "a") as output:
            output.write(json.dumps(row) + "\n")
        rows.append(row)
        progress.finish(f"{cell.key}: {row['detail']}")
        return row

    try:
        for group in cell_groups(cells):
            for cell in group:
                if cell.key not in done:
                    run_one(cell, len(group))
            if until_crash is not None and group[0].concurrency == "native-threads":
                history = [r for r in [*earlier, *rows] if same_cell(r, group[0])]
                for cell in until_crash.more_runs(group[-1], history):
                    progress.total += 1
                    note = f" (until a crash, at most {until_crash})"
                    history.append(run_one(cell, len(group), note))
    except KeyboardInterrupt:
        progress.close()
        print(f"interrupted: kept {len(rows)} finished cells in {results}", file=sys.stderr)
        return rows, True
    progress.close()
    return rows, False


def cell_groups(cells: list[Cell]) -> list[list[Cell]]:
    """The cells in plan order, grouped by everything but the repeat."""
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(replace(cell, repeat=0), []).append(cell)
    return list(groups.values())


def settings_of(row: dict) -> dict:
    """The settings a row was run with that decide whether it can be reused."""
    return {
        "users": row.get("users"),
        "run_time_s": row.get("run_time_s"),
        "no_cert_split": row.get("no_cert_split", "requests"),
        "host": row.get("host"),
    }


def reuse_earlier_rows(out_dir: Path, settings: CellSettings, must_be_clean) -> list[dict]:
    """--resume: keep the rows run with these settings (users, run time, split, host) and
    say so; move the others to results.superseded.jsonl, so their cells run again."""
    results = out_dir / "results.jsonl"
    if not results.exists():
        return []
    wanted = {
        "users": settings.users,
        "run_time_s": settings.run_time_s,
        "no_cert_split": settings.no_cert_split,
        "host": settings.host_label,
    }
    earlier, superseded = [], []
    for row in load_rows(out_dir):
        (earlier if settings_of(row) == wanted else superseded).append(row)
    # One matrix, one policy: earlier rows follow this run's --must-be-clean too.
    for row in earlier:
        row["must_be_clean"] = row["strategy"] in must_be_clean
    write_atomically(str(results), "".join(json.dumps(r) + "\n" for r in earlier))
    said = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in wanted.items())
    print(f"resuming: reusing {len(earlier)} cell runs with {said}", file=sys.stderr)
    if superseded:
        with open(out_dir / "results.superseded.jsonl", "a") as file:
            file.writelines(json.dumps(row) + "\n" for row in superseded)
        differences = sorted(
            {
                f"{key.replace('_', ' ')} {value}"
                for row in superseded
                for key, value in settings_of(row).items()
                if value != wanted[key]
            }
        )
        print(
            f"resuming: {len(superseded)} earlier cell runs used other settings "
            f"({', '.join(differences)}): moved to results.superseded.jsonl, run again",
            file=sys.stderr,
        )
    return earlier
