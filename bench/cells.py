"""One benchmark cell = one isolated client process, measured from outside.

While it runs, every 0.1 s: the CPU time (user + system) of the client's process tree
and the requests the *server* has answered. The measured window is where the server's
count moves (minus the first half second: Locust still spawning users), so start-up,
shutdown and the client's own bookkeeping stay out of both req/s and CPU per request.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass

import psutil

from .clients import C_REFERENCES, locust_command, reference_command
from .server_counts import ServerCounter

SAMPLE_EVERY = 0.1
WARMUP = 0.5  # seconds of server activity left out at the start


@dataclass(frozen=True)
class Cell:
    """What one run measures: a client on a target, keep-alive or not, with N users."""

    target: str  # "nginx" | "echo"
    client: str  # a name from bench/clients.py or a strategy name
    concurrency: str  # "greenlet" | "native-threads" ("-" for C references)
    keepalive: bool
    users: int
    kind: str = "throughput"  # or "memory"
    processes: int = 1  # Locust --processes (scale-out cells)

    def key(self) -> str:
        ka = "ka-on" if self.keepalive else "ka-off"
        procs = f"|p{self.processes}" if self.processes > 1 else ""
        parts = (self.kind, self.target, self.client, self.concurrency, ka, str(self.users))
        return "|".join(parts) + procs

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """A running server: its URL, where to read its request count, the trust it needs."""

    url: str
    counter_url: str
    ca_file: str


def run_cell(
    cell: Cell, target: Target, identities_file: str, seconds: float, workdir: str
) -> dict:
    """Run one cell to completion (bounded: `seconds` + a generous grace) and measure it."""
    run_dir = tempfile.mkdtemp(prefix="cell-", dir=workdir)
    env = None
    if cell.client in C_REFERENCES:
        identity = _first_identity(identities_file)
        command = reference_command(
            cell.client, target.url, identity, target.ca_file, cell.keepalive, cell.users,
            seconds, run_dir,
        )  # fmt: skip
    else:
        command, env = locust_command(
            cell.client, target.url, identities_file, cell.keepalive, cell.users, seconds,
            run_dir, concurrency=cell.concurrency, processes=cell.processes,
        )  # fmt: skip
    counter = ServerCounter(target.counter_url, target.ca_file)
    with open(os.path.join(run_dir, "output.log"), "w+") as log:
        process = subprocess.Popen(
            command, cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            usage = sample_process(process, counter, deadline=time.monotonic() + seconds + 30)
        finally:
            counter.close()
        log.seek(0)
        output = log.read()
    samples = usage.pop("samples")
    result = {"cell": cell.to_dict(), "exit_code": process.returncode, **usage}
    result.update(_client_counts(os.path.join(run_dir, "summary.json"), cell.client))
    result.update(window_rates(samples))
    if "rps" not in result:
        result["error"] = (output.strip().splitlines() or ["no output"])[-1][:300]
    return result


def _first_identity(identities_file: str) -> tuple[str, str]:
    with open(identities_file) as file:
        entry = json.load(file)["identities"][0]
    base = os.path.dirname(os.path.abspath(identities_file))
    return os.path.join(base, entry["cert"]), os.path.join(base, entry["key"])


def _client_counts(path: str, client: str) -> dict:
    """Failures and identity checks the client counted (its summary file, if any)."""
    try:
        with open(path) as file:
            document = json.load(file)
    except (OSError, json.JSONDecodeError):
        return {}
    stats = next(iter(document.get("strategies", {}).values()), document)
    counts = {name: stats.get(name, 0) for name in ("failures", "wrong_identity", "bleed")}
    counts["crashes"] = stats.get("crashes", 0)
    if "handshake_ms" in stats:
        counts["handshake_p50_ms"] = stats["handshake_ms"]["p50"]
    counts["client_requests"] = stats.get("requests", 0)
    return counts


def sample_process(process: subprocess.Popen, counter, deadline: float) -> dict:
    """Wait for `process` (killed at `deadline`), sampling its tree and the server.

    Returns the peak RSS in MiB and (wall time, client CPU seconds, server requests)
    samples.
    """
    peak, samples = 0, []
    cpu_by_pid: dict[int, float] = {}  # a child that exited keeps its last CPU reading
    try:
        root = psutil.Process(process.pid)
    except psutil.NoSuchProcess:
        root = None
    while True:
        finished = process.poll() is not None
        if root is not None:
            peak = max(peak, _tree_usage(root, cpu_by_pid))
        samples.append((time.monotonic(), sum(cpu_by_pid.values()), counter.read()))
        if finished:
            break
        if time.monotonic() > deadline:
            process.kill()  # our own child, by PID
        time.sleep(SAMPLE_EVERY)
    process.wait()
    return {"rss_peak_mb": round(peak / 2**20, 1), "samples": samples}


def _tree_usage(root: psutil.Process, cpu_by_pid: dict[int, float]) -> int:
    """RSS of `root` and its descendants now; updates each one's CPU seconds so far."""
    rss = 0
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for proc in processes:
        try:
            with proc.oneshot():
                rss += proc.memory_info().rss
                times = proc.cpu_times()
                cpu_by_pid[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return rss


def window_rates(samples: list[tuple[float, float, int]]) -> dict:
    """req/s and client CPU ms per request over the window where the server's count moved.

    The window starts WARMUP s after the first sample that saw a request and ends at the
    first sample that saw the final count; {} when fewer than two samples fall inside.
    """
    if len(samples) < 2 or samples[-1][2] == samples[0][2]:
        return {}
    initial, final = samples[0][2], samples[-1][2]
    first = next(i for i, s in enumerate(samples) if s[2] > initial)
    last = next(i for i, s in enumerate(samples) if s[2] == final)
    warm = samples[first][0] + WARMUP
    start = next((i for i in range(first, last) if samples[i][0] >= warm), first)
    (t0, cpu0, count0), (t1, cpu1, count1) = samples[start], samples[last]
    requests = count1 - count0
    if last <= start or requests <= 0:
        return {}
    return {
        "requests": requests,
        "elapsed_s": round(t1 - t0, 2),
        "rps": round(requests / (t1 - t0), 1),
        "client_cpu_ms_per_request": round((cpu1 - cpu0) * 1000.0 / requests, 4),
    }
