"""Every request accounted for: counted and checked, or in flight when the test stopped it,
exactly what the echo server saw; and no load left behind when a process of the run dies.

Each run stops at a random moment (the seed is printed), half of them with
--stop-timeout 0 (users killed mid-request), half with a stop timeout. Repeated
LOCUST_MTLS_COUNT_REPEATS times (default 2; .ci/run runs 10, also under stress-ng).
"""

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from locust_mtls.processes import alive, descendants
from locust_mtls.server.process import fetch_stats, start_echo_server_process
from locust_mtls.strategies import LIBRARIES
from locust_mtls.tls.pki import generate_pki

from conftest import processes, wait_for

pytestmark = pytest.mark.counting

MTLS = str(Path(__file__).resolve().parent.parent / "locustfiles" / "mtls.py")
PROBES = str(Path(__file__).resolve().parent.parent / "locustfiles" / "strategies.py")
REPEATS = int(os.environ.get("LOCUST_MTLS_COUNT_REPEATS", "2"))
MODES = {
    "greenlets-120": ["-u", "120", "-r", "120"],
    "native-threads-200": ["-u", "200", "-r", "200", "--mtls-concurrency", "native-threads"],
    "processes-2": ["-u", "40", "-r", "40"],  # and processes(): a port of its own
    "httpx-60": ["-f", PROBES, "HttpxIdentityCacheUser", "-u", "60", "-r", "60"],
    "niquests-60": ["-f", PROBES, "NiquestsIdentityCacheUser", "-u", "60", "-r", "60"],
}


def sent_and_seen(summary: dict) -> tuple[int, int, int]:
    rows = summary["strategies"].values()
    counted = sum(row["requests"] for row in rows)
    in_flight = sum(row["in_flight_at_stop"] for row in rows)
    return counted, in_flight, summary["echo_server"]["requests"]


def summary_requests(path: Path) -> int:
    try:
        rows = json.loads(path.read_text())["strategies"].values()
    except (OSError, ValueError, KeyError):
        return 0
    return sum(row["requests"] for row in rows)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("repeat", range(REPEATS))
def test_counted_plus_in_flight_is_what_the_server_saw(tmp_path, mode, repeat):
    if mode.startswith("niquests") and importlib.util.find_spec("niquests") is None:
        pytest.skip(f"niquests not installed: {LIBRARIES['niquests'].install}")
    seed = random.randrange(1 << 30)
    after = random.Random(seed).uniform(0.0, 1.5)
    stop_timeout = ["--stop-timeout", "0" if repeat % 2 == 0 else "2"]
    run = locust(
        tmp_path, *MODES[mode], "-t", "60s", *stop_timeout, "--mtls-summary-file", "s.json"
    )
    try:
        wait_for(lambda: summary_requests(tmp_path / "s.json") > 0, 60, "load started")
        time.sleep(after)  # a random moment into the load
        run.send_signal(signal.SIGTERM)  # as a CI job's cancel or Ctrl-C would
        _, stderr = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    where = f"seed {seed}, SIGTERM {after:.2f} s in, {' '.join(stop_timeout)}: {stderr[-1500:]}"
    assert run.returncode == 0, where
    counted, in_flight, seen = sent_and_seen(json.loads((tmp_path / "s.json").read_text()))
    assert counted > 0 and counted + in_flight == seen, where


@pytest.fixture
def echo_server(tmp_path):
    """An echo server of our own (it outlives the Locust run it serves)."""
    generate_pki(str(tmp_path / "certs"), clients=2)
    server = start_echo_server_process(str(tmp_path / "certs"))
    yield server
    server.stop()


def server_count(server, tmp_path) -> int:
    return fetch_stats(server.url, str(tmp_path / "certs" / "ca.pem"))["requests"]


def locust(tmp_path, *args: str) -> subprocess.Popen:
    """`locust -f mtls.py --headless` (or the -f in `args`) in `tmp_path`, running until
    it is stopped."""
    locustfile = () if "-f" in args else ("-f", MTLS)
    return subprocess.Popen(
        [sys.executable, "-m", "locust", *locustfile, "--headless", "--only-summary", *args],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def test_a_sigkilled_processes_master_leaves_no_load(tmp_path, echo_server):
    identities = str(tmp_path / "certs" / "identities.json")
    master = locust(
        tmp_path, "--host", echo_server.url, "--mtls-identities", identities,
        *processes(), "-u", "10", "-r", "10", "-t", "60s",
    )  # fmt: skip
    try:

        def started_or_ended():
            return master.poll() is not None or server_count(echo_server, tmp_path) > 200

        wait_for(started_or_ended, 60, "load started")
        assert master.poll() is None, master.communicate()[1][-2000:]  # it never started
        workers = descendants(master.pid)
        assert len(workers) >= 2
        master.send_signal(signal.SIGKILL)
        master.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in workers), 5, "workers gone")
        before = server_count(echo_server, tmp_path)
        time.sleep(1.0)  # nothing of the run may still send: the count stands still
        assert server_count(echo_server, tmp_path) == before
    finally:
        for pid in [master.pid, *descendants(master.pid)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is `directory` (every process of one run here)."""
    found = []
    for process in psutil.process_iter(["cwd"]):
        if process.info["cwd"] == str(directory):
            found.append(process.pid)
    return found


def test_bad_input_at_a_processes_master_leaves_no_locust_process(tmp_path):
    master = locust(tmp_path, *processes(), "-u", "2", "--mtls-no-cert-fraction", "2")
    _, stderr = master.communicate(timeout=60)
    assert master.returncode == 2
    assert "locust-mtls: error: --mtls-no-cert-fraction must be between 0 and 1, not '2'" in (
        stderr.splitlines()
    )
    wait_for(lambda: not processes_in(tmp_path), 3, "no Locust process left")


def test_the_engine_and_the_echo_server_die_with_a_sigkilled_locust(tmp_path):
    run = locust(
        tmp_path, "-u", "4", "-r", "4", "-t", "60s", "--mtls-concurrency", "native-threads"
    )
    try:

        def both_children():
            names = [" ".join(psutil.Process(pid).cmdline()) for pid in descendants(run.pid)]
            return len([n for n in names if "thread_engine" in n or "server.echo" in n]) >= 2

        wait_for(both_children, 60, "engine child and echo server started")
        children = descendants(run.pid)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in children), 5, "children gone")
    finally:
        for pid in [run.pid, *descendants(run.pid)]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_workers_stop_their_users_when_the_master_goes_silent(tmp_path, echo_server):
    from test_distributed import locust_process

    from bench.nginx import free_port

    identities = str(tmp_path / "certs" / "identities.json")
    port = str(free_port())
    master = locust_process(
        ["-f", MTLS, "--master", "--headless", "--expect-workers", "1", "-u", "4", "-r", "4"]
        + ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "-t", "60s"]
        + ["--host", echo_server.url, "--mtls-identities", identities],
        tmp_path,
        "master.log",
    )
    worker = locust_process(
        ["-f", MTLS, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
        tmp_path,
        "worker.log",
    )
    try:
        wait_for(lambda: server_count(echo_server, tmp_path) > 100, 60, "load started")
        master.send_signal(signal.SIGSTOP)  # a master host that vanished: no heartbeats
        silenced = time.monotonic()

        def standing_still():
            before = server_count(echo_server, tmp_path)
            time.sleep(0.5)
            return server_count(echo_server, tmp_path) == before

        wait_for(standing_still, 12, "the worker stopped its users")
        assert time.monotonic() - silenced < 12
        assert "no heartbeat from the master" in (tmp_path / "worker.log").read_text()
    finally:
        master.send_signal(signal.SIGCONT)
        for process in (master, worker):
            process.kill()
            process.wait()


# The forked worker sleeps before it goes on (this hook runs before the plugin's), so the
# master's bad input ends it first: the worker must not then wait minutes to connect.
SLOW_FORK = """
import os
import time

os.register_at_fork(after_in_child=lambda: time.sleep(3))

from locust_mtls import MtlsUser  # noqa: E402


class EchoUser(MtlsUser):
    pass
"""


def test_a_worker_forked_just_before_its_master_ended_ends_too(tmp_path):
    (tmp_path / "slow_fork.py").write_text(SLOW_FORK)
    master = locust(
        tmp_path, "-f", "slow_fork.py", *processes(), "-u", "2", "--mtls-no-cert-fraction", "2"
    )
    try:
        _, stderr = master.communicate(timeout=30)  # the workers hold stderr until they end
        assert master.returncode == 2, stderr[-2000:]
        wait_for(lambda: not processes_in(tmp_path), 3, "no Locust process left")
    finally:
        for pid in processes_in(tmp_path):  # ours: started in this test's directory
            os.kill(pid, signal.SIGKILL)
