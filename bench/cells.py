"""One benchmark cell = one isolated subprocess: a Locust run (ours or the plain HttpUser
baseline) or a raw requests loop. Each returns plain numbers, with the peak RSS of the
client process tree sampled while it ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import psutil

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MTLS_LOCUSTFILE = os.path.join(REPO, "locustfiles", "mtls.py")
PLAIN_LOCUSTFILE = os.path.join(REPO, "bench", "plain_httpuser.py")
FASTHTTP_LOCUSTFILE = os.path.join(REPO, "bench", "fasthttp_mtls.py")

# Clients that are not one of our strategies.
HTTPUSER = "plain HttpUser cert="
RAW_REQUESTS = "raw requests loop"
RAW_IDENTITY_CACHE = "raw identity-cache loop"
FASTHTTP = "FastHttpUser + identity-cache contexts"
LOCUSTFILES = {HTTPUSER: PLAIN_LOCUSTFILE, FASTHTTP: FASTHTTP_LOCUSTFILE}


@dataclass(frozen=True)
class Cell:
    """What one run measures: a client on a target, in a concurrency mode, with N users."""

    target: str  # "nginx" | "echo"
    client: str  # a strategy name, HTTPUSER, RAW_REQUESTS or RAW_IDENTITY_CACHE
    concurrency: str  # "greenlet" | "native-threads" ("native-threads" for raw loops)
    keepalive: bool
    users: int
    kind: str = "throughput"  # or "memory"

    def key(self) -> str:
        ka = "ka-on" if self.keepalive else "ka-off"
        return f"{self.kind}|{self.target}|{self.client}|{self.concurrency}|{ka}|{self.users}"

    def to_dict(self) -> dict:
        return asdict(self)


def run_cell(cell: Cell, url: str, identities_file: str, seconds: float, workdir: str) -> dict:
    """Run one cell to completion (bounded: `seconds` + a generous grace) and measure it."""
    run_dir = tempfile.mkdtemp(prefix="cell-", dir=workdir)
    summary_file = os.path.join(run_dir, "summary.json")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
    }
    if cell.client in (RAW_REQUESTS, RAW_IDENTITY_CACHE):
        command = [
            sys.executable, "-m", "bench.raw_loop", "--url", url + "/",
            "--identities", identities_file, "--threads", str(cell.users),
            "--seconds", str(seconds), "--keepalive", "on" if cell.keepalive else "off",
            "--client", "requests" if cell.client == RAW_REQUESTS else "identity-cache",
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "locust", "--headless", "--only-summary",
            "-u", str(cell.users), "-r", str(cell.users), "-t", f"{max(1, round(seconds))}s",
            "--host", url, "--stop-timeout", "5",
        ]  # fmt: skip
        if cell.client in LOCUSTFILES:
            command += ["-f", LOCUSTFILES[cell.client]]
            env.update(
                BENCH_IDENTITIES=identities_file,
                BENCH_SUMMARY=summary_file,
                BENCH_KEEPALIVE="on" if cell.keepalive else "off",
            )
        else:
            command += [
                "-f", MTLS_LOCUSTFILE, "--mtls-identities", identities_file,
                "--mtls-strategy", cell.client, "--mtls-concurrency", cell.concurrency,
                "--mtls-keepalive", "on" if cell.keepalive else "off",
                "--mtls-no-cert-fraction", "0", "--mtls-fail-on=",
                "--mtls-summary-file", summary_file,
                "--mtls-crash-dir", os.path.join(run_dir, "crashes"),
            ]  # fmt: skip
    with open(os.path.join(run_dir, "output.log"), "w+") as log:
        process = subprocess.Popen(
            command, cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        usage = sample_process(process, deadline=time.monotonic() + seconds + 30)
        log.seek(0)
        output = log.read()
    result = {
        "cell": cell.to_dict(),
        "exit_code": process.returncode,
        "rss_peak_mb": usage["rss_peak_mb"],
    }
    if cell.client in (RAW_REQUESTS, RAW_IDENTITY_CACHE):
        lines = [line for line in output.splitlines() if line.startswith("{")]
        data = json.loads(lines[-1]) if lines else {}
    else:
        data = _read_summary(summary_file, cell.client)
    if not data:
        result["error"] = (output.strip().splitlines() or ["no output"])[-1][:300]
    result.update(data)
    cpu = cpu_between(usage["cpu_samples"], data.get("started_at", 0), data.get("ended_at", 0))
    if cpu and data.get("requests"):
        # Client CPU per request: the comparison that other load on the machine disturbs least.
        result["client_cpu_ms_per_request"] = round(cpu * 1000.0 / data["requests"], 3)
    return result


def _read_summary(path: str, client: str) -> dict:
    try:
        with open(path) as file:
            document = json.load(file)
    except (OSError, json.JSONDecodeError):
        return {}
    if client in LOCUSTFILES:
        return document
    stats = document.get("strategies", {}).get(client, {})
    if not stats:
        return {}
    handshakes = stats.get("handshakes", 0)
    elapsed = stats.get("elapsed_s", 0.0)
    return {
        "requests": stats["requests"],
        "failures": stats["failures"],
        "wrong_identity": stats["wrong_identity"],
        "bleed": stats["bleed"],
        "crashes": stats["crashes"],
        "crash_signal": (stats.get("crash") or {}).get("signal"),
        "elapsed_s": elapsed,
        "rps": stats["rps"],
        "handshakes": handshakes,
        "handshakes_per_s": round(handshakes / elapsed, 1) if elapsed else 0.0,
        "handshake_p50_ms": stats["handshake_ms"]["p50"],
        "handshake_p95_ms": stats["handshake_ms"]["p95"],
        "client_path": document.get("client_path", ""),
        "started_at": stats.get("first_request_at", 0.0),
        "ended_at": stats.get("last_request_at", 0.0),
    }


def sample_process(process: subprocess.Popen, deadline: float, every: float = 0.1) -> dict:
    """Wait for `process` (killed at `deadline`), sampling its tree's RSS and CPU time.

    Returns the peak RSS in MiB and (wall time, CPU seconds) samples, from which the CPU
    spent between the first and the last request is interpolated.
    """
    peak, samples = 0, []
    cpu_by_pid: dict[int, float] = {}  # a child that exited keeps its last CPU reading
    try:
        root = psutil.Process(process.pid)
    except psutil.NoSuchProcess:
        root = None
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()  # our own child, by PID
            break
        if root is not None:
            peak = max(peak, _tree_usage(root, cpu_by_pid))
            samples.append((time.time(), sum(cpu_by_pid.values())))
        time.sleep(every)
    process.wait()
    return {"rss_peak_mb": round(peak / 2**20, 1), "cpu_samples": samples}


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


def cpu_between(samples: list[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU seconds the client spent between wall times `start` and `end` (interpolated)."""

    def at(moment):
        # Linear between the two samples around `moment`; a moment up to half a second
        # past either end (the process exited right after its last request) extends the
        # nearest segment.
        if len(samples) < 2 or not samples[0][0] - 0.5 <= moment <= samples[-1][0] + 0.5:
            return None
        pairs = list(zip(samples, samples[1:], strict=False))
        (t0, c0), (t1, c1) = next(
            (pair for pair in pairs if pair[0][0] <= moment <= pair[1][0]),
            pairs[0] if moment < samples[0][0] else pairs[-1],
        )
        return c0 + (c1 - c0) * (moment - t0) / ((t1 - t0) or 1)

    first, last = at(start), at(end)
    return None if first is None or last is None else last - first
