"""distributed: worker counters summed on the master; a master and two workers on
loopback, and --processes, each checked against what the echo server saw."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.nginx import free_port
from locust_mtls.engine.stats import MtlsStats
from locust_mtls.locust.distributed import REPORT_KEY, WorkerReports
from locust_mtls.results import tables
from locust_mtls.tls.connections import ConnectionLog

from conftest import processes, row_of, run_locust

REPO = Path(__file__).resolve().parent.parent
MTLS = str(REPO / "locustfiles" / "mtls.py")
SERVER_STARTED = "embedded mTLS echo server on"


def worker_stats(requests: int, bleed: int = 0, identity: str = "client-1") -> MtlsStats:
    stats = MtlsStats(client_path="requests 9.9: test")
    strategy = stats.row("shared-context", "greenlet", False)
    for n in range(requests):
        kind = "bleed" if n < bleed else None
        strategy.record(
            failed=kind is not None,
            failure_kind=kind,
            connections=ConnectionLog([2.0]),
            identity_name=identity,
        )
    return stats


def report_of(stats: MtlsStats) -> dict:
    data = {"stats": [], "errors": {}}  # what Locust itself puts in a worker report
    WorkerReports.attach(data, stats)
    return json.loads(json.dumps(data))  # travels as plain data


def test_reports_sum_workers_and_never_count_twice():
    reports = WorkerReports()
    reports.receive("w1", report_of(worker_stats(3, bleed=1)))
    reports.receive("w1", report_of(worker_stats(3, bleed=1)))  # the same report again
    reports.receive("w2", report_of(worker_stats(2, identity="client-2")))
    reports.receive("w1", report_of(worker_stats(5, bleed=2)))  # later, cumulative
    total = reports.total().rows["shared-context [keep-alive off]"]
    assert (total.requests, total.bleed, total.failures) == (7, 2, 2)
    assert sum(total.handshake_histogram.values()) == 7
    assert total.identities_in_use == {"client-1", "client-2"}
    assert (total.strategy, total.concurrency, total.keepalive) == (
        "shared-context",
        "greenlet",
        False,
    )
    assert reports.total().client_path == "requests 9.9: test"


def test_reports_without_ours_are_ignored_and_clear_starts_over():
    reports = WorkerReports()
    reports.receive("w1", {"stats": []})
    assert reports.total().rows == {}
    reports.receive("w1", report_of(worker_stats(4)))
    reports.clear()
    assert reports.total().rows == {}


def test_total_adds_this_process_and_its_finished_flag():
    reports = WorkerReports()
    reports.receive("w1", report_of(worker_stats(4)))
    local = worker_stats(1)
    local.finished = True
    total = reports.total(local)
    assert total.rows["shared-context [keep-alive off]"].requests == 5
    assert total.finished


def locust_process(args: list[str], cwd: Path, log_name: str) -> subprocess.Popen:
    with open(cwd / log_name, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "locust", *args],
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def master_and_two_workers(tmp_path, load: list[str]):
    """A master (summary.json, master.log) and two workers on loopback."""
    port = str(free_port())
    master = locust_process(
        ["-f", MTLS, "--master", "--headless", "--only-summary", "--expect-workers", "2"]
        + ["--master-bind-host", "127.0.0.1", "--master-bind-port", port]
        + [*load, "--mtls-summary-file", "summary.json"],
        tmp_path,
        "master.log",
    )
    return master, two_workers(tmp_path, port)


def two_workers(tmp_path, port: str) -> list[subprocess.Popen]:
    """Two workers of the master on 127.0.0.1:`port` (worker1.log, worker2.log)."""
    return [
        locust_process(
            ["-f", MTLS, "--worker", "--master-host", "127.0.0.1", "--master-port", port],
            tmp_path,
            f"worker{n}.log",
        )
        for n in (1, 2)
    ]


def kill_all(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_master_and_two_workers_sum_to_what_the_echo_server_saw(tmp_path):
    # Only the master names the strategy: options reach the workers with each spawn.
    master, workers = master_and_two_workers(
        tmp_path,
        ["-u", "8", "-r", "8", "-t", "3s", "--stop-timeout", "3"]
        + ["--mtls-strategy", "per-thread-session", "--mtls-keepalive", "off"],
    )
    try:
        assert master.wait(timeout=60) == 0, (tmp_path / "master.log").read_text()[-2000:]
        assert [worker.wait(timeout=15) for worker in workers] == [0, 0]
    finally:
        kill_all([master, *workers])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["workers_reported"]) == 2
    stats = row_of(summary, "per-thread-session")
    assert list(summary["strategies"]) == ["per-thread-session [keep-alive off]"]
    assert stats["keepalive"] is False
    assert stats["requests"] == summary["echo_server"]["requests"] > 50
    assert stats["wrong_identity"] == stats["bleed"] == stats["failures"] == 0
    assert (tmp_path / "master.log").read_text().count(SERVER_STARTED) == 1
    for n in (1, 2):
        assert SERVER_STARTED not in (tmp_path / f"worker{n}.log").read_text()


def test_processes_run_one_server_and_gate_on_the_summed_counters(tmp_path):
    done = run_locust(
        "-f",
        MTLS,
        *processes(),
        "--stop-timeout",
        "3",
        "--mtls-strategy",
        "shared-context",
        "--mtls-keepalive",
        "off",
        "--exit-code-on-error",
        "0",
        "--mtls-summary-file",
        "summary.json",
        cwd=tmp_path,
        users=4,
        run_time="3s",
    )
    assert done.returncode == 1, done.stderr[-2000:]  # the gate, on the master
    assert "shared-context [keep-alive off] failed its mTLS gate" in done.stderr
    assert done.stderr.count(SERVER_STARTED) == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    stats = row_of(summary, "shared-context")
    assert len(summary["workers_reported"]) == 2
    assert stats["requests"] == summary["echo_server"]["requests"]
    assert stats["bleed"] > 0


def test_one_strategy_in_two_modes_keeps_two_rows():
    stats = MtlsStats()
    stats.row("identity-cache", "greenlet", True).record(
        failed=False, failure_kind=None, identity_name="client-1"
    )
    stats.row("identity-cache", "native-threads", False).record(
        failed=True, failure_kind="bleed", identity_name=None
    )
    merged = MtlsStats.merged([stats.to_dict(), stats.to_dict()])
    assert sorted(merged.rows) == [
        "identity-cache",
        "identity-cache [native-threads, keep-alive off]",
    ]
    assert merged.rows["identity-cache"].bleed == 0
    assert merged.rows["identity-cache [native-threads, keep-alive off]"].bleed == 2


def test_a_lost_worker_keeps_what_it_reported_and_bounds_what_may_be_missing():
    reports = WorkerReports()
    reports.receive("w1", report_of(worker_stats(30)), now=1000.0)
    reports.receive("w1", report_of(worker_stats(60)), now=1003.0)  # 10 requests/s
    reports.receive("w1", report_of(worker_stats(75)), now=1006.0)  # 5 requests/s
    reports.receive("w2", report_of(worker_stats(10)), now=1006.0)
    reports.mark_lost("w1", now=1010.0)
    total = reports.total()
    assert total.rows["shared-context [keep-alive off]"].requests == 85  # its 75 kept
    lost = total.to_dict()["workers_lost"]["w1"]
    assert lost["requests_reported"] == 75
    # An upper bound: its fastest rate yet over the whole time since its last report.
    assert lost["requests_possibly_missing"] == 40
    assert "worker w1 lost: 75 requests reported" in tables.text_table(total)
    assert [row["mode"] for row in tables.rows(total) if row["strategy"] == "worker lost"] == ["w1"]
    reports.receive("w1", report_of(worker_stats(76)), now=1011.0)  # only late, after all
    assert "workers_lost" not in reports.total().to_dict()


def test_a_worker_without_a_final_report_makes_the_counts_incomplete():
    reports = WorkerReports()
    reports.receive("w1", report_of(worker_stats(30)), now=1000.0)
    final = report_of(worker_stats(20))
    final[REPORT_KEY]["final"] = True
    reports.receive("w2", final, now=1000.0)
    reports.mark_incomplete(["w1", "w2"], now=1002.0)
    document = reports.total().to_dict()
    assert list(document["workers_incomplete"]) == ["w1"]
    assert document["workers_incomplete"]["w1"]["why"] == "no final report"
    assert "worker w1 sent no final report: 30 requests reported" in tables.text_table(
        reports.total()
    )


def test_a_killed_worker_is_lost_named_and_fails_the_gate(tmp_path):
    master, workers = master_and_two_workers(
        tmp_path, ["-u", "4", "-r", "4", "-t", "14s", "--stop-timeout", "3"]
    )
    try:
        deadline = time.monotonic() + 40
        while len(reported(tmp_path / "summary.json")) < 2:
            assert time.monotonic() < deadline, (tmp_path / "master.log").read_text()[-2000:]
            time.sleep(0.3)
        workers[0].kill()  # SIGKILL: no goodbye to the master
        assert master.wait(timeout=60) == 1  # incomplete counts cannot pass silently
    finally:
        kill_all([master, *workers])
    summary = json.loads((tmp_path / "summary.json").read_text())
    (lost_id, lost), = summary["workers_lost"].items()  # fmt: skip
    assert summary["workers_incomplete"][lost_id]["why"] == "lost"
    assert lost_id in summary["workers_reported"]
    assert lost["requests_reported"] > 0 and lost["requests_possibly_missing"] >= 0
    assert row_of(summary, "identity-cache")["requests"] > lost["requests_reported"]
    log = (tmp_path / "master.log").read_text()
    assert f"worker {lost_id} lost:" in log and "the counts are incomplete" in log


def test_a_silent_worker_is_waited_for_then_named_unless_allowed(tmp_path):
    master, workers = master_and_two_workers(
        tmp_path,
        ["-u", "4", "-r", "4", "-t", "4s", "--mtls-report-timeout", "1"]
        + ["--mtls-allow-incomplete"],
    )
    try:
        deadline = time.monotonic() + 40
        while len(reported(tmp_path / "summary.json")) < 2:
            assert time.monotonic() < deadline, (tmp_path / "master.log").read_text()[-2000:]
            time.sleep(0.3)
        workers[1].send_signal(signal.SIGSTOP)  # alive, but it will not answer
        assert master.wait(timeout=60) == 0  # allowed: judged on what came
    finally:
        workers[1].send_signal(signal.SIGCONT)
        kill_all([master, *workers])
    summary = json.loads((tmp_path / "summary.json").read_text())
    (silent,) = summary["workers_incomplete"].values()
    assert silent["why"] in ("no final report", "lost")
    assert "sent no final report" in (tmp_path / "master.log").read_text()


def reported(path: Path) -> list:
    try:
        return json.loads(path.read_text()).get("workers_reported", [])
    except (FileNotFoundError, json.JSONDecodeError):
        return []


# A worker whose init event takes a while (its locustfile's own listener, registered before
# locust-mtls's): Locust's worker has said client_ready by then, so the master starts the
# test and asks for the identity set before the worker's handler exists.
SLOW_INIT_WORKER = """
import gevent
from locust import events

events.init.add_listener(lambda **_: gevent.sleep(2))  # yields: the question arrives now

from locust_mtls import MtlsUser  # noqa: E402 - the plugin's listeners come after


class EchoUser(MtlsUser):  # the master's class (locustfiles/mtls.py), without the wait
    pass
"""


def test_a_worker_slow_to_start_is_asked_again_not_refused(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_INIT_WORKER)
    port = str(free_port())
    master = locust_process(
        ["-f", MTLS, "--master", "--headless", "--only-summary", "--expect-workers", "1"]
        + ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "-u", "2", "-r", "2"]
        + ["-t", "6s", "--mtls-summary-file", "summary.json"],
        tmp_path,
        "master.log",
    )
    worker = locust_process(
        ["-f", "slow.py", "--worker", "--master-host", "127.0.0.1", "--master-port", port],
        tmp_path,
        "worker.log",
    )
    try:
        log = lambda name: (tmp_path / name).read_text()  # noqa: E731
        assert master.wait(timeout=60) == 0, log("master.log")[-2000:]
        assert worker.wait(timeout=15) == 0
    finally:
        kill_all([master, worker])
    assert "Unknown message type received: locust_mtls_identity_set" in log("worker.log")
    assert "the master and 1 workers agree" in log("master.log")
    assert (
        row_of(json.loads((tmp_path / "summary.json").read_text()), "identity-cache")["requests"]
        > 0
    )
