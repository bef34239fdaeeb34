"""Soak: 1,000 users for 60 s, no orphans, 1,000 identities. Prints figures; not a test.

    /work/venv/bin/python bench/soak.py [--users 1000] [--seconds 60] [--warmup 15]
        [--keepalive on|off] [--only soak,orphans,identities]

soak        Locust with --users users against the embedded echo server (loopback); the
            Locust process's open file descriptors and RSS are sampled every 2 s, and
            after --warmup s compared with the end. The run ends by Ctrl-C (SIGINT), and
            every child process must be gone afterwards.
orphans     native-thread engine + echo server under Locust ended by SIGINT, SIGTERM and
            SIGSEGV (a crash that cleans up nothing): no child may survive.
identities  1,000 identities: generation, load time and memory, and the memory of the
            contexts built lazily (measured in a fresh interpreter).

Bounded: every Locust run has a hard --run-time and is killed by PID if it outlives it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from locust_mtls.processes import alive, descendants

ROOT = Path(__file__).resolve().parent.parent
MTLS = str(ROOT / "locustfiles" / "mtls.py")
LOCUST = os.path.join(os.path.dirname(sys.executable), "locust")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def totals(summary_file: Path) -> dict:
    try:
        strategies = json.loads(summary_file.read_text())["strategies"]
    except (OSError, ValueError, KeyError):
        return {}
    return next(iter(strategies.values()), {})


def start_locust(cwd: str, users: int, run_time: int, *extra: str) -> subprocess.Popen:
    command = [LOCUST, "-f", MTLS, "--headless", "--only-summary"]
    command += ["-u", str(users), "-r", str(min(users, 200)), "-t", f"{run_time}s"]
    command += ["--mtls-summary-file", "summary.json", *extra]
    return subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def wait_for_requests(cwd: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if totals(Path(cwd) / "summary.json").get("requests"):
            return
        time.sleep(0.2)
    raise SystemExit("Locust served no request in time; see its output")


def end_and_check_orphans(process: subprocess.Popen, signal_number: int) -> tuple[int, int]:
    """Send the signal, wait for Locust, then for its children; (children, survivors)."""
    children = descendants(process.pid)
    process.send_signal(signal_number)
    try:
        process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    survivors = [pid for pid in children if alive(pid)]
    for pid in survivors:  # ours: started by this Locust run
        os.kill(pid, signal.SIGKILL)
    return len(children), len(survivors)


def soak(users: int, seconds: int, warmup: int, keepalive: str) -> None:
    print(f"== soak: {users} users, {seconds} s, keep-alive {keepalive}, ended by SIGINT")
    with tempfile.TemporaryDirectory(prefix="soak-") as cwd:
        process = start_locust(cwd, users, seconds + 60, "--mtls-keepalive", keepalive)
        try:
            wait_for_requests(cwd, process, 60)
            started = time.monotonic()
            samples = []
            columns = ("t s", "fds", "RSS MiB", "server fds", "handshakes", "requests", "fails")
            print("".join(f"{name:>11}" for name in columns))
            while (elapsed := time.monotonic() - started) < seconds:
                servers = descendants(process.pid)
                server = min(servers) if servers else None
                sample = {
                    "t": elapsed,
                    "fds": open_fds(process.pid),
                    "rss": rss_mib(process.pid),
                    "server_fds": open_fds(server) if server else 0,
                    **totals(Path(cwd) / "summary.json"),
                }
                samples.append(sample)
                print(
                    f"{elapsed:11.0f}{sample['fds']:11d}{sample['rss']:11.1f}"
                    f"{sample['server_fds']:11d}{sample.get('handshakes', 0):11d}"
                    f"{sample.get('requests', 0):11d}{sample.get('failures', 0):11d}"
                )
                time.sleep(2.0)
            children, survivors = end_and_check_orphans(process, signal.SIGINT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        final = totals(Path(cwd) / "summary.json")
    # Warm-up ends at --warmup s and, with keep-alive, once every user holds both its
    # connections (cert and no cert): until then the fd count rises by design.
    connections = 2 * users if keepalive == "on" else 0
    warm = next(
        (s for s in samples if s["t"] >= warmup and s.get("handshakes", 0) >= connections),
        None,
    )
    end = samples[-1]
    if warm is None or warm is end:
        print(f"warm-up did not end within {seconds} s: run longer (--seconds)")
        warm = samples[len(samples) // 2]
    window = [s for s in samples if s["t"] >= warm["t"]]
    later_half = window[len(window) // 2]
    print(
        f"after warm-up ({warm['t']:.0f} s): {warm['fds']} fds, {warm['rss']:.1f} MiB RSS; "
        f"end ({end['t']:.0f} s): {end['fds']} fds, {end['rss']:.1f} MiB RSS"
    )
    print(
        f"from warm-up to end: fds {min(s['fds'] for s in window)}..{max(s['fds'] for s in window)}"
        f", RSS {min(s['rss'] for s in window):.1f}..{max(s['rss'] for s in window):.1f} MiB; "
        f"last half ({later_half['t']:.0f}-{end['t']:.0f} s): {end['fds'] - later_half['fds']:+d} "
        f"fds, {end['rss'] - later_half['rss']:+.1f} MiB"
    )
    print(
        f"requests {final.get('requests', 0)}, failures {final.get('failures', 0)} "
        f"{final.get('failure_classes', {})}, {final.get('rps', 0)} req/s; "
        f"SIGINT: {children} children, {survivors} left behind"
    )


def orphans() -> None:
    print("== orphans: native-thread engine + embedded echo server")
    for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGSEGV):
        with tempfile.TemporaryDirectory(prefix="orphans-") as cwd:
            process = start_locust(cwd, 20, 120, "--mtls-concurrency", "native-threads")
            try:
                wait_for_requests(cwd, process, 60)
                children, survivors = end_and_check_orphans(process, signal_number)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        name = signal.Signals(signal_number).name
        print(
            f"{name:8} Locust exit {process.returncode:4d}: {children} children, {survivors} left"
        )


IDENTITIES_CHILD = """
import json, os, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
from locust_mtls.tls.identity import load_identities
from locust_mtls.strategies import Trust, create
path = sys.argv[1]
facts = {"rss_start": rss()}
started = time.perf_counter()
identity_set = load_identities(path)
facts["load_s"] = time.perf_counter() - started
facts["rss_loaded"] = rss()
strategy = create("identity-cache", Trust(identity_set.ca_file, identity_set.ca_bundle_file))
facts["contexts_before_use"] = len(strategy._contexts)
started = time.perf_counter()
for identity in identity_set.identities:
    strategy.context_for(identity)
facts["build_all_s"] = time.perf_counter() - started
facts["contexts_after"] = len(strategy._contexts)
facts["rss_all_contexts"] = rss()
print(json.dumps(facts))
"""


def identities(count: int = 1000) -> None:
    from locust_mtls.tls.pki import generate_pki

    print(f"== identities: {count}")
    with tempfile.TemporaryDirectory(prefix="identities-") as directory:
        started = time.perf_counter()
        generate_pki(directory, clients=count)
        generated = time.perf_counter() - started
        done = subprocess.run(
            [sys.executable, "-c", IDENTITIES_CHILD, os.path.join(directory, "identities.json")],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    facts = json.loads(done.stdout)
    print(f"generate (ECDSA P-256, trustme): {generated:.2f} s")
    print(
        f"load identities.json: {facts['load_s']:.2f} s, RSS {facts['rss_start']:.1f} -> "
        f"{facts['rss_loaded']:.1f} MiB (+{facts['rss_loaded'] - facts['rss_start']:.1f})"
    )
    per_context = (facts["rss_all_contexts"] - facts["rss_loaded"]) / count * 1024
    print(
        f"identity-cache contexts: {facts['contexts_before_use']} before first use; all "
        f"{facts['contexts_after']} built in {facts['build_all_s']:.2f} s, RSS "
        f"{facts['rss_all_contexts']:.1f} MiB (~{per_context:.0f} KiB per context)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=15)
    parser.add_argument("--keepalive", choices=["on", "off"], default="on")
    parser.add_argument("--only", default="soak,orphans,identities")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if "identities" in parts:
        identities()
    if "orphans" in parts:
        orphans()
    if "soak" in parts:
        soak(args.users, args.seconds, args.warmup, args.keepalive)


if __name__ == "__main__":
    main()
