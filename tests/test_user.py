"""MtlsUser and the locustfiles, run the way users run them: `locust` in a subprocess."""

import json
import os
from pathlib import Path

from conftest import row_of, run_locust

REPO = Path(__file__).resolve().parent.parent
MTLS = str(REPO / "locustfiles" / "mtls.py")
STRATEGIES_FILE = str(REPO / "locustfiles" / "strategies.py")


def echo_servers_started_in(directory) -> list[int]:
    """PIDs of echo servers whose command line points into `directory`."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "locust_mtls.server.echo" in cmdline and str(directory) in cmdline:
            pids.append(int(pid))
    return pids


def summary(path) -> dict:
    return json.loads(Path(path).read_text())


def test_out_of_the_box_run_is_clean_and_leaves_nothing_running(tmp_path):
    done = run_locust(
        "-f",
        MTLS,
        "-u",
        "20",
        "-r",
        "10",
        "-t",
        "5s",
        "--mtls-summary-file",
        "summary.json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "certs" / "identities.json").exists()
    result = summary(tmp_path / "summary.json")
    assert result["finished"]
    stats = row_of(result, "identity-cache")
    assert stats["requests"] > 100
    assert stats["failures"] == stats["wrong_identity"] == stats["bleed"] == stats["crashes"] == 0
    assert len(stats["identities_in_use"]) == 4
    assert (
        "identity-cache / (cert)" in done.stdout + done.stderr
        and "identity-cache / (no cert)" in done.stdout + done.stderr
    )
    assert echo_servers_started_in(tmp_path) == []


def test_shared_context_bleeds_under_greenlets_and_fails_the_gate(tmp_path):
    done = run_locust(
        "-f",
        MTLS,
        "--mtls-strategy",
        "shared-context",
        "--mtls-keepalive",
        "off",
        "--mtls-summary-file",
        "s.json",
        cwd=tmp_path,
        users=4,
        run_time="3s",
    )
    stats = row_of(summary(tmp_path / "s.json"), "shared-context")
    assert stats["bleed"] > 0
    assert stats["wrong_identity"] == 0  # greenlets never interleave inside a handshake
    assert done.returncode == 1
    assert "cert bleed: sent no certificate, server saw one" in done.stdout + done.stderr


def test_native_thread_crash_is_recorded_and_the_run_goes_on(tmp_path):
    done = run_locust(
        "-f",
        MTLS,
        "--mtls-concurrency",
        "native-threads",
        "--mtls-summary-file",
        "s.json",
        "--mtls-crash-dir",
        "crashes",
        cwd=tmp_path,
        env={"LOCUST_MTLS_ENGINE_CRASH_AFTER": "50"},
        users=4,
        run_time="4s",
    )
    result = summary(tmp_path / "s.json")
    stats = row_of(result, "identity-cache")
    assert result["finished"]  # Locust itself survived
    assert stats["crashes"] >= 1
    assert stats["crash"]["signal"] == "SIGSEGV"
    assert stats["requests"] > 100  # the engine restarted and the run went on
    assert "Segmentation fault" in Path(stats["crash"]["faulthandler_file"]).read_text()
    assert done.returncode == 1  # the crash gate
    assert "client crash: SIGSEGV" in done.stdout + done.stderr
    # Every crash is kept, not only the last: one stack file each, all in the crash dir.
    assert len(stats["crash_list"]) == stats["crashes"] >= 2
    assert stats["crash_list"][-1] == stats["crash"]
    stack_files = {crash["faulthandler_file"] for crash in stats["crash_list"]}
    assert len(stack_files) == stats["crashes"] and all(map(os.path.isfile, stack_files))
    crash_dir = str(tmp_path / "crashes")
    assert f"client crash(es); stacks in {crash_dir}" in done.stdout


def test_strategies_run_side_by_side(tmp_path):
    done = run_locust(
        "-f",
        STRATEGIES_FILE,
        "IdentityCacheUser",
        "PerThreadSessionUser",
        cwd=tmp_path,
        users=4,
        run_time="3s",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "identity-cache / (cert)" in done.stdout + done.stderr
    assert "per-thread-session / (cert)" in done.stdout + done.stderr


def test_unknown_strategy_is_one_line_and_exit_code_2(tmp_path):
    done = run_locust("-f", MTLS, "-t", "1s", "--mtls-strategy", "fastest", cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "--mtls-strategy: invalid choice: 'fastest' (choose from 'requests-default'," in done.stderr
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "certs").exists()  # nothing started, nothing written


def test_no_cert_split_by_users_gives_whole_users_no_certificate(tmp_path):
    done = run_locust(
        "-f", MTLS, "--mtls-no-cert-split", "users",
        "--mtls-summary-file", "s.json", cwd=tmp_path, users=4, run_time="3s")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    stats = row_of(summary(tmp_path / "s.json"), "identity-cache")
    assert stats["identities_in_use"] == ["client-1", "client-2"]  # 2 of 4 users, round-robin
    assert stats["failures"] == 0
    assert "identity-cache / (no cert)" in done.stdout + done.stderr


IDENTITY_SEEN_LOCUSTFILE = """
from locust_mtls import MtlsUser


class WhoAmIUser(MtlsUser):
    identity_check = "require"

    def identity_seen(self, response):
        return response.json()["subject"]  # the echo's subject, or "none"
"""


def test_identity_seen_hook_reads_the_body_on_both_concurrencies(tmp_path):
    """The hook replaces the header (which is made absent here): identity-cache is
    clean on native threads too (the body comes back from the engine), shared-context
    bleeds, both told by the application's own answer."""
    (tmp_path / "whoami.py").write_text(IDENTITY_SEEN_LOCUSTFILE)
    runs = {}
    for strategy, concurrency in (
        ("identity-cache", "native-threads"),
        ("shared-context", "greenlet"),
    ):
        done = run_locust(
            *("-f", "whoami.py", "--mtls-strategy", strategy, "--mtls-keepalive", "off"),
            *("--mtls-concurrency", concurrency, "--mtls-identity-header", "X-Not-Sent"),
            *("--mtls-summary-file", f"{strategy}.json"),
            cwd=tmp_path,
            users=4,
            run_time="2s",
        )
        runs[strategy] = done, row_of(summary(tmp_path / f"{strategy}.json"), strategy)
    done, clean = runs["identity-cache"]
    assert clean["requests"] > 0 and clean["checked"] == clean["requests"]
    assert (clean["failures"], clean["unreported"]) == (0, 0)
    assert done.returncode == 0, done.stderr[-2000:]
    done, bleeding = runs["shared-context"]
    assert bleeding["bleed"] > 0 and bleeding["unreported"] == 0
    assert done.returncode == 1


def test_other_clients_go_through_the_same_checked_path(tmp_path):
    """aiohttp's tasks on the engine child's loop, httpx's verify path on greenlets: the
    same request event, identity check, counters and gate as requests' strategies."""
    runs = {
        "aiohttp-per-request-context": ("--mtls-concurrency", "asyncio"),
        "httpx-verify-path": (),
    }
    done = {}
    for strategy, extra in runs.items():
        directory = tmp_path / strategy
        directory.mkdir()
        arguments = ["-f", MTLS, "--mtls-strategy", strategy, *extra, "--mtls-keepalive", "off"]
        done[strategy] = run_locust(
            *arguments, "--mtls-summary-file", "s.json", cwd=directory, users=4, run_time="2s"
        )
    clean = row_of(summary(tmp_path / "aiohttp-per-request-context" / "s.json"),
                   "aiohttp-per-request-context")  # fmt: skip
    assert done["aiohttp-per-request-context"].returncode == 0, done["aiohttp-per-request-context"]
    assert clean["with_cert"] > 0 and clean["without_cert"] > 0 and clean["failures"] == 0
    assert clean["handshakes"] >= clean["requests"]  # keep-alive off: one per request
    assert clean["concurrency"] == "asyncio"
    dropped = row_of(summary(tmp_path / "httpx-verify-path" / "s.json"), "httpx-verify-path")
    assert dropped["missing_certificate"] == dropped["with_cert"] > 0 and dropped["bleed"] == 0
    assert done["httpx-verify-path"].returncode == 1  # the gate: missing-certificate
