"""Native-thread engine: real OS threads in a child process, crash isolated.

Runs in the test process with gevent's own subprocess pipes (no monkey-patching).
"""

import os

import gevent
import pytest

from locust_mtls.engine.checkpoint import Sent
from locust_mtls.engine.checks import failure_for
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.identity_check import IdentityChecker
from locust_mtls.engine.runners import ThreadEngine
from locust_mtls.settings import RunSettings

from test_strategies import SAFE


def engine_for(trust, identities, tmp_path, strategy="identity-cache"):
    crashes = []
    settings = RunSettings(
        strategy=strategy, concurrency="native-threads", keepalive=False, crash_dir=str(tmp_path)
    )
    return ThreadEngine(settings, trust, identities, on_crash=crashes.append), crashes


def test_requests_run_on_threads_of_the_engine(trust, identities, pki_server, tmp_path):
    engine, crashes = engine_for(trust, identities, tmp_path)
    try:
        outcomes = [
            engine.call(n % 3, "GET", pki_server.url, Sent(identities[n % 3], None))
            for n in range(9)
        ]
    finally:
        engine.close()
    assert all(isinstance(o, Outcome) and o.status == 200 for o in outcomes)
    assert [o.reported for o in outcomes[:3]] == [i.fingerprint for i in identities[:3]]
    assert all(len(o.connections.full_ms) == 1 for o in outcomes)  # keep-alive off
    assert crashes == []


@pytest.mark.parametrize("strategy", SAFE)
def test_safe_strategies_stay_clean_in_the_engine(
    strategy, trust, identities, pki_server, tmp_path
):
    engine, crashes = engine_for(trust, identities, tmp_path, strategy)
    checker = IdentityChecker(identities)
    sent = [
        (thread, identities[thread % 4] if n % 2 else None) for n in range(6) for thread in range(8)
    ]
    try:
        waiting = [
            gevent.spawn(engine.call, t, "GET", pki_server.url, Sent(i, None)) for t, i in sent
        ]
        outcomes = [greenlet.get(timeout=60) for greenlet in waiting]
    finally:
        engine.close()
    verdicts = [
        failure_for(checker.verdict(i, o.reported))
        for (_, i), o in zip(sent, outcomes, strict=True)
    ]
    assert [o.error for o in outcomes if o.error] == []
    assert verdicts == [None] * len(sent)
    assert crashes == []


def test_a_segfault_is_recorded_and_the_engine_restarts(
    trust, identities, pki_server, tmp_path, monkeypatch
):
    monkeypatch.setenv("LOCUST_MTLS_ENGINE_CRASH_AFTER", "3")  # a real SIGSEGV, by kill
    engine, crashes = engine_for(trust, identities, tmp_path)
    try:
        outcomes = [
            engine.call(0, "GET", pki_server.url, Sent(identities[0], None)) for _ in range(6)
        ]
    finally:
        engine.close()
    assert len(crashes) >= 1
    crash = crashes[0]
    assert crash["signal"] == "SIGSEGV"
    assert crash["strategy"] == "identity-cache"
    assert crash["requests_done"] == 3
    with open(crash["faulthandler_file"]) as file:
        assert "Fatal Python error: Segmentation fault" in file.read()
    # Only the crash left a file: one stack log per crash, nothing else.
    assert sorted(os.listdir(tmp_path)) == sorted(
        os.path.basename(c["faulthandler_file"]) for c in crashes
    )
    assert all(o.status == 200 for o in outcomes[:3])
    assert outcomes[-1].status == 200  # a new engine took over


def test_a_sigabrt_is_a_crash_like_a_segfault(trust, identities, pki_server, tmp_path, monkeypatch):
    """glibc's `munmap_chunk(): invalid pointer` ends in abort(): a crash, with its stacks."""
    monkeypatch.setenv("LOCUST_MTLS_ENGINE_CRASH_AFTER", "2")
    monkeypatch.setenv("LOCUST_MTLS_ENGINE_CRASH_SIGNAL", "SIGABRT")
    engine, crashes = engine_for(trust, identities, tmp_path)
    try:
        outcomes = [
            engine.call(0, "GET", pki_server.url, Sent(identities[0], None)) for _ in range(4)
        ]
    finally:
        engine.close()
    assert crashes and crashes[0]["signal"] == "SIGABRT"
    with open(crashes[0]["faulthandler_file"]) as file:
        assert "Fatal Python error: Aborted" in file.read()
    assert outcomes[-1].status == 200


def test_a_run_without_a_crash_leaves_no_file(trust, identities, pki_server, tmp_path):
    crash_dir = tmp_path / "crashes"
    engine, crashes = engine_for(trust, identities, crash_dir)
    try:
        outcomes = [
            engine.call(0, "GET", pki_server.url, Sent(identities[0], None)) for _ in range(3)
        ]
    finally:
        engine.close()
    assert [o.status for o in outcomes] == [200] * 3 and crashes == []
    assert not crash_dir.exists()


def test_closing_leaves_no_child_behind(trust, identities, pki_server, tmp_path):
    engine, _ = engine_for(trust, identities, tmp_path)
    engine.call(0, "GET", pki_server.url, Sent(None, None))
    pid = engine.process.pid
    engine.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
