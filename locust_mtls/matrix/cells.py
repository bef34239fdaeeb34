"""One matrix cell: a headless Locust process, crash-isolated, turned into one result row.

Each cell runs in a process group of its own with a hard timeout, so a segfault or a hang is
a row (`crashed: SIGSEGV after N requests ...`, `hung ...`), never a lost row and never a
crash of the runner. Counters come from the summary file Locust rewrites every second
(docs/design.md), so a killed cell still reports what it measured.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from locust_mtls.matrix.envs import Env
from locust_mtls.matrix.outcomes import IDENTITY_KINDS, IDENTITY_WORDS
from locust_mtls.settings import BASE_WORDS, RATE_BASES, rate_base

# Found by path, not imported: the matrix never imports the Locust room (it runs Locust).
LOCUSTFILE = Path(__file__).resolve().parent.parent / "locust" / "locustfile.py"


@dataclass(frozen=True)
class Cell:
    """One point of the matrix, run once (repeat counts from 1)."""

    python: str
    requests_version: str
    concurrency: str
    keepalive: bool
    strategy: str
    repeat: int
    locust_version: str = ""  # empty: the runner's own Locust
    client: str = "requests"  # the library the strategy drives (strategies/libraries.py)
    client_version: str = ""  # its version, for a client other than requests

    @property
    def key(self) -> str:
        """Stable name of this cell run; --resume skips keys already in results.jsonl."""
        keepalive = "on" if self.keepalive else "off"
        locust = f"locust-{self.locust_version}/" if self.locust_version else ""
        measured = f"requests-{self.requests_version}"
        if self.client != "requests":
            measured = f"{self.client}-{self.client_version}"
        return (
            f"py{self.python}/{locust}{measured}/{self.concurrency}/"
            f"keepalive-{keepalive}/{self.strategy}/{self.repeat}"
        )

    @property
    def env_key(self) -> tuple[str, str, str, str, str]:
        """Which env the cell runs in: (python, requests version, Locust version or '',
        client, client version); a client other than requests gets an env of its own."""
        return (
            self.python, self.requests_version, self.locust_version, self.client,
            self.client_version,
        )  # fmt: skip


@dataclass(frozen=True)
class CellSettings:
    """What every cell shares: load shape, target, identities and the hard timeout."""

    users: int
    run_time_s: int
    host: str
    identities: str
    timeout_s: float
    host_label: str = "embedded"
    no_cert_split: str = "requests"  # or "users" (see --mtls-no-cert-split)


# (cell, env, settings, summary_file) -> argv of the process that runs the cell
ArgvBuilder = Callable[[Cell, Env, CellSettings, Path], list[str]]


def locust_argv(cell: Cell, env: Env, settings: CellSettings, summary_file: Path) -> list[str]:
    """The headless Locust command line of one cell (the default ArgvBuilder)."""
    users = str(settings.users)
    return [
        env.python, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", users, "-r", users, "-t", f"{settings.run_time_s}s", "--only-summary",
        "--host", settings.host, "--exit-code-on-error", "0",
        "--mtls-identities", settings.identities, "--mtls-strategy", cell.strategy,
        "--mtls-concurrency", cell.concurrency,
        "--mtls-keepalive", "on" if cell.keepalive else "off",
        "--mtls-no-cert-split", settings.no_cert_split,
        "--mtls-summary-file", str(summary_file),
        "--mtls-crash-dir", str(summary_file.parent / "crashes"),
    ]  # fmt: skip


def run_cell(
    cell: Cell, env: Env, settings: CellSettings, out_dir: Path, build_argv: ArgvBuilder
) -> dict:
    """Run one cell until it exits, times out or Ctrl-C; return its row (see cell_row)."""
    out_dir = out_dir.resolve()  # the cell runs in cells/: every path it gets is absolute
    cells_dir = out_dir / "cells"
    cells_dir.mkdir(parents=True, exist_ok=True)
    stem = cell.key.replace("/", "_")
    summary_file, log_file = cells_dir / f"{stem}.json", cells_dir / f"{stem}.log"
    summary_file.unlink(missing_ok=True)
    child_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    # A segfault of Locust itself then leaves its Python stack in the cell's log.
    child_env.update(PYTHONFAULTHANDLER="1", PYTHONUNBUFFERED="1")
    started_at, started = datetime.now(UTC), time.monotonic()
    with open(log_file, "wb") as log:
        # cwd: the cell directory, so no locust.conf / pyproject.toml of the caller applies.
        process = subprocess.Popen(
            build_argv(cell, env, settings, summary_file),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=cells_dir, env=child_env, start_new_session=True,
        )  # fmt: skip
        try:
            returncode, hung = process.wait(timeout=settings.timeout_s), False
        except subprocess.TimeoutExpired:
            returncode, hung = None, True
        finally:  # also on Ctrl-C; a thread-engine child left behind must not linger either
            kill_group(process)
    row = {
        "key": cell.key, "strategy": cell.strategy, "python": cell.python,
        "requests_version": cell.requests_version,
        "client": cell.client, "client_version": cell.client_version or cell.requests_version,
        "concurrency": cell.concurrency,
        "locust_version": cell.locust_version, "env_labels": list(env.labels),
        "requests_range": env.requests_range,
        "keepalive": cell.keepalive, "repeat": cell.repeat, "users": settings.users,
        "run_time_s": settings.run_time_s, "host": settings.host_label,
        "no_cert_split": settings.no_cert_split,
        "started_at": started_at.isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - started, 1),
        "load_average": round(os.getloadavg()[0], 1),  # how busy the machine was (1 min)
        "log_file": str(log_file.relative_to(out_dir)),
        "summary_file": str(summary_file.relative_to(out_dir)),
    }  # fmt: skip
    return cell_row(row, read_summary(summary_file), env, returncode, hung, out_dir)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the process group the cell was started in (id = its pid), reap the leader."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def read_summary(path: Path) -> dict | None:
    """The cell's last summary file, or None when missing or cut short by a kill."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cell_row(
    row: dict, summary: dict | None, env: Env, returncode: int | None, hung: bool, out_dir: Path
) -> dict:
    """Complete one results.jsonl row from the cell's summary file and exit status.

    Keys (docs/matrix.md has the table): key, strategy, python, requests_version ("" for
    another client: the env's is in environment), client and client_version (requests and
    its version, or the library the strategy drives), locust_version ("" unless --locust),
    env_labels (e.g. "requests 2.32.0 yanked"),
    requests_range (the requests versions the env's Locust declares, e.g. ">=2.33.1"),
    concurrency, keepalive (bool), repeat (from 1), users, run_time_s, host ("embedded" or
    the URL), must_be_clean (bool), outcome (clean | errors | bleed | wrong-identity | hung |
    crashed | no-result), detail (one line, e.g. "crashed: SIGSEGV after 812 requests,
    faulthandler stack saved"), the strategy's last counters requests, failures,
    wrong_identity, bleed, handshakes, handshake_ms {p50, p95}, rps, elapsed_s; crash (null or
    {signal, where: "locust" | "thread-engine", requests_done, stack_file}: the last one),
    crashes (how many, the engine restarting after each); returncode
    (negative: killed by that signal; null: hung); environment {requests, urllib3, locust,
    gevent, python, openssl}; client_path; started_at (UTC), wall_s, load_average (the
    machine's 1-minute load when the cell ended); log_file and
    summary_file (relative to the --out directory). cell_runs.execute adds repeats (the
    --repeat of the run) and until_crash (null or {max_runs, max_s}).
    """
    summary = summary or {}
    strategies = summary.get("strategies") or {}
    counters = strategies.get(row["strategy"]) or next(iter(strategies.values()), {})
    for name in ("requests", "failures", *IDENTITY_KINDS.values(), "handshakes"):
        row[name] = int(counters.get(name) or 0)
    # The bases of the rates, when the cell's counters split requests (since issue 26).
    row.update({name: int(counters[name]) for name in RATE_BASES.values() if name in counters})
    row["rps"] = float(counters.get("rps") or 0.0)
    row["elapsed_s"] = float(counters.get("elapsed_s") or 0.0)
    row["handshake_ms"] = counters.get("handshake_ms") or {}
    row["crash"] = crash_of(counters, returncode, out_dir / row["log_file"], out_dir)
    # The engine restarts after a crash: `crash` is the last one, `crashes` all of them.
    row["crashes"] = max(int(counters.get("crashes") or 0), 1 if row["crash"] else 0)
    row["returncode"] = returncode
    row["environment"] = {**env.facts, **(summary.get("environment") or {})}
    # The strategy's own path (locust-httpuser's is Locust's, not requests'), else the run's.
    row["client_path"] = counters.get("client_path") or summary.get("client_path")
    row["outcome"], row["detail"] = classify(row, hung, summary)
    row.setdefault("must_be_clean", False)
    return row


def crash_of(counters: dict, returncode: int | None, log_file: Path, out_dir: Path) -> dict | None:
    """The crash of a cell: Locust killed by a signal, or its thread-engine child's report."""
    if returncode is not None and returncode < 0:
        stack = "Fatal Python error" in log_file.read_text(errors="replace")
        return {
            "signal": signal_name(-returncode),
            "where": "locust",
            "requests_done": int(counters.get("requests") or 0),
            "stack_file": str(log_file.relative_to(out_dir)) if stack else None,
        }
    reported = counters.get("crash")
    if not reported:
        return None
    stack = log_file.parent / (reported.get("faulthandler_file") or "missing")  # cwd: cells/
    saved = stack.is_file() and stack.stat().st_size > 0
    if saved and stack.resolve().is_relative_to(out_dir.resolve()):
        stack = stack.resolve().relative_to(out_dir.resolve())
    return {
        "signal": reported.get("signal") or "unknown signal",
        "where": "thread-engine",
        "requests_done": int(reported.get("requests_done") or counters.get("requests") or 0),
        "stack_file": str(stack) if saved else None,
    }


def classify(row: dict, hung: bool, summary: dict) -> tuple[str, str]:
    """(outcome, one-line detail) of a finished cell; the worst thing seen wins."""
    crash = row["crash"]
    if crash:
        saved = ", faulthandler stack saved" if crash["stack_file"] else ", no stack saved"
        where = "" if crash["where"] == "locust" else " (native-thread engine)"
        if row["crashes"] > 1:
            return "crashed", (
                f"crashed {row['crashes']} times (last: {crash['signal']}{where}), "
                f"{row['requests']} requests across restarts{saved}"
            )
        done = crash["requests_done"]
        more = f", {row['requests']} in all" if row["requests"] > done else ""
        return "crashed", f"crashed: {crash['signal']}{where} after {done} requests{more}{saved}"
    if hung:
        return "hung", f"hung: killed after {row['wall_s']:.0f} s, {row['requests']} requests done"
    requests = row["requests"]
    found = [(kind, counter) for kind, counter in IDENTITY_KINDS.items() if row.get(counter)]
    if found:
        texts = [f"{IDENTITY_WORDS[kind]}: {of_base(row, counter)}" for kind, counter in found]
        return found[0][0], ", ".join(texts)
    if not requests:
        reason = "no summary file" if not summary else "0 requests"
        return "no-result", f"no result: {reason}, exit status {row['returncode']}"
    other = row["failures"] - sum(row.get(counter) or 0 for counter in IDENTITY_KINDS.values())
    if other > 0:
        return "errors", f"{other} of {requests} requests failed"
    return "clean", f"clean: {requests} requests, {row['rps']:.0f} rps"


def of_base(row: dict, counter: str) -> str:
    """'859 of 863 requests sent without a certificate' (settings.RATE_BASES)."""
    base, count = rate_base(row, counter)
    return f"{row[counter]} of {count} {BASE_WORDS[base]}"


def signal_name(number: int) -> str:
    """'SIGSEGV' for 11; 'signal 99' for a number without a name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
