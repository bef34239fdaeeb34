"""Matrix runner: crash-isolated cells (a real SIGSEGV, a real hang), resume, Ctrl-C, exit code.

Cells here are short fake processes (argv injected), not Locust: each writes a summary file
in the format of docs/design.md and then exits, segfaults, hangs or fails to start.
"""

import argparse
import json
import os
import signal
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from locust_mtls.cli import main
from locust_mtls.matrix import envs
from locust_mtls.matrix import runner as matrix
from locust_mtls.matrix.envs import Env, Environments, PairCheck, runner_locust
from locust_mtls.matrix.outcomes import row_kinds, versions_text
from locust_mtls.matrix.runner import Cell, CellSettings, execute

FAKE_CELL = textwrap.dedent(
    """
    import ctypes, faulthandler, json, os, subprocess, sys, time
    mode, strategy, summary_file = sys.argv[1:4]

    def summary(requests, **extra):
        counters = {"requests": requests, "failures": extra.get("bleed", 0), "wrong_identity": 0,
                    "bleed": 0, "crashes": 0, "crash": None, "handshakes": requests,
                    "handshake_ms": {"p50": 2.0, "p95": 5.0}, "rps": requests / 2,
                    "elapsed_s": 2.0, "concurrency": "greenlet", "keepalive": False}
        counters.update(extra)
        document = {"finished": mode == "clean", "client_path": "fake path",
                    "environment": {"requests": "2.32.3"}, "strategies": {strategy: counters}}
        with open(summary_file + ".tmp", "w") as f:
            json.dump(document, f)
        os.replace(summary_file + ".tmp", summary_file)

    if mode == "clean":
        summary(100)
    elif mode == "bleed":
        summary(100, bleed=50, with_cert=50, without_cert=50)  # every no-cert request bled
    elif mode == "segfault":
        summary(42)
        ctypes.string_at(0)  # a real SIGSEGV; PYTHONFAULTHANDLER (set by the runner) logs the stack
    elif mode == "child-crash":
        stack = os.path.join(os.path.dirname(summary_file), "engine.faulthandler.log")
        with open(stack, "w") as f:
            f.write("Fatal Python error: Segmentation fault\\n")
        summary(17, crashes=1, crash={"signal": "SIGSEGV", "time": "now", "requests_done": 17,
                                      "faulthandler_file": stack})
    elif mode == "hang":
        summary(7)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        with open(summary_file + ".grandchild", "w") as f:
            f.write(str(grandchild.pid))
        time.sleep(60)
    elif mode == "no-start":
        print("locust-mtls: error: something the user must fix", file=sys.stderr)
        sys.exit(2)
    """
)
MODES = {
    "identity-cache": "clean",
    "shared-context": "bleed",
    "thread-local": "segfault",
    "per-thread-session": "child-crash",
    "locked-context": "hang",
    "requests-default": "no-start",
}
# locust-httpuser on a Locust axis: clean before Locust's shared context (2.43.0), bleed after.
LOCUST_MODES = {"2.42.0": "clean", "2.47.0": "bleed"}
ENV = Env(python=sys.executable, facts={"requests": "2.32.3", "python": "3.11.7"})


@pytest.fixture
def fake_argv(tmp_path):
    """An ArgvBuilder running FAKE_CELL in the mode MODES gives the cell's strategy."""
    script = tmp_path / "fake_cell.py"
    script.write_text(FAKE_CELL)

    def build(cell, env, settings, summary_file):
        mode = MODES.get(cell.strategy) or LOCUST_MODES[cell.locust_version]
        return [env.python, str(script), mode, cell.strategy, str(summary_file)]

    return build


def cells_for(*strategies, repeat=1):
    return [
        Cell("3.11", "2.32.3", "greenlet", False, s, r)
        for s in strategies
        for r in range(1, repeat + 1)
    ]


def settings(timeout_s=20.0):
    return CellSettings(users=4, run_time_s=2, host="https://127.0.0.1:1", identities="x.json",
                        timeout_s=timeout_s)  # fmt: skip


def run_execute(tmp_path, fake_argv, cells, timeout_s=20.0, resume=False):
    return execute(cells, {cells[0].env_key: ENV}, settings(timeout_s), tmp_path / "out",
                   must_be_clean=("identity-cache", "thread-local", "locked-context",
                                  "per-thread-session"),
                   build_argv=fake_argv, resume=resume)  # fmt: skip


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_every_kind_of_cell_end_is_a_row_and_the_runner_carries_on(tmp_path, fake_argv):
    started = time.monotonic()
    rows, interrupted = run_execute(tmp_path, fake_argv, cells_for(*MODES), timeout_s=3.0)
    assert not interrupted and time.monotonic() - started < 15
    by_strategy = {row["strategy"]: row for row in rows}
    assert {s: r["outcome"] for s, r in by_strategy.items()} == {
        "identity-cache": "clean",
        "shared-context": "bleed",
        "thread-local": "crashed",
        "per-thread-session": "crashed",
        "locked-context": "hung",
        "requests-default": "no-result",
    }
    segfault = by_strategy["thread-local"]
    assert segfault["returncode"] == -signal.SIGSEGV
    assert segfault["detail"] == "crashed: SIGSEGV after 42 requests, faulthandler stack saved"
    assert "Fatal Python error" in (tmp_path / "out" / segfault["crash"]["stack_file"]).read_text()
    child = by_strategy["per-thread-session"]
    assert child["crash"]["where"] == "thread-engine" and child["returncode"] == 0
    assert child["detail"].startswith("crashed: SIGSEGV (native-thread engine) after 17 requests")
    hung = by_strategy["locked-context"]
    assert hung["returncode"] is None and hung["requests"] == 7
    assert hung["detail"].startswith("hung: killed after 3 s")
    grandchild = int((tmp_path / "out" / (hung["summary_file"] + ".grandchild")).read_text())
    time.sleep(0.2)  # the process group was SIGKILLed; give init a moment to reap
    assert not pid_alive(grandchild) or open(f"/proc/{grandchild}/stat").read().split()[2] == "Z"
    assert by_strategy["shared-context"]["detail"] == (
        "cert bleed: 50 of 50 requests sent without a certificate"
    )
    assert by_strategy["requests-default"]["detail"] == "no result: no summary file, exit status 2"
    clean = by_strategy["identity-cache"]
    assert clean["rps"] == 50.0 and clean["handshake_ms"] == {"p50": 2.0, "p95": 5.0}
    assert clean["environment"]["requests"] == "2.32.3" and clean["client_path"] == "fake path"
    written = [
        json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    assert [row["key"] for row in written] == [row["key"] for row in rows]
    assert [row["must_be_clean"] for row in written] == [True, False, True, True, True, False]


def test_resume_skips_cells_already_in_results(tmp_path, fake_argv):
    first, _ = run_execute(tmp_path, fake_argv, cells_for("identity-cache", repeat=2))
    assert len(first) == 2
    second, _ = run_execute(tmp_path, fake_argv, cells_for("identity-cache", repeat=3), resume=True)
    assert [row["repeat"] for row in second] == [3]
    lines = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["repeat"] for line in lines] == [1, 2, 3]


def test_ctrl_c_kills_the_running_cell_and_keeps_finished_rows(tmp_path, fake_argv):
    cells = cells_for("identity-cache", "locked-context", "identity-cache", repeat=1)
    cells[2] = Cell("3.11", "2.32.3", "greenlet", True, "identity-cache", 1)
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    started = time.monotonic()
    try:
        rows, interrupted = run_execute(tmp_path, fake_argv, cells, timeout_s=30.0)
    finally:
        timer.cancel()
    assert interrupted and time.monotonic() - started < 10
    assert [row["strategy"] for row in rows] == ["identity-cache"]
    grandchild_file = next((tmp_path / "out" / "cells").glob("*.grandchild"))
    time.sleep(0.2)
    pid = int(grandchild_file.read_text())
    assert not pid_alive(pid) or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


class FakeEnvironments:
    """No pip, no env: every pair installs, except Locust 9.9.9; 2.32.0 is yanked."""

    def __init__(self, env_dir):
        pass

    def check(self, python_label, locust_version, requests_version):
        if locust_version == "9.9.9":
            return PairCheck(locust_version, requests_version, "pip cannot find locust==9.9.9")
        yanked = ("requests 2.32.0 yanked",) if requests_version == "2.32.0" else ()
        return PairCheck(locust_version, requests_version, labels=yanked)

    def ensure(self, interpreter, python_label, requests_version, locust_version="", on_step=None):
        facts = {**ENV.facts, "requests": requests_version, "locust": locust_version or "2.47.0"}
        return Env(python=ENV.python, facts=facts)


@pytest.fixture
def fake_matrix(monkeypatch, fake_argv):
    """`locust-mtls matrix` with fake cells, no env building and no echo server."""
    monkeypatch.setattr(matrix, "Environments", FakeEnvironments)
    monkeypatch.setattr(matrix, "locust_argv", fake_argv)
    monkeypatch.setattr(
        matrix, "start_target", lambda args, out: ("https://127.0.0.1:1", "x", None)
    )


def test_exit_status_is_1_only_when_a_must_be_clean_strategy_is_not_clean(
    tmp_path, fake_matrix, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # a relative --out, as in the default "results"
    base = ["matrix", "--requests", "2.32.3", "--concurrency", "greenlet", "--keepalive", "off",
            "--run-time", "2s"]  # fmt: skip
    clean_run = [*base, "--strategies", "identity-cache,shared-context", "--out", "a"]
    assert main(clean_run) == 0  # shared-context bleeds, but it is not required to be clean
    assert (tmp_path / "a" / "summary.md").is_file() and (tmp_path / "a" / "report.html").is_file()
    row = json.loads((tmp_path / "a" / "results.jsonl").read_text().splitlines()[0])
    assert row["outcome"] == "clean"  # the cell found its summary file under a relative --out
    crash_run = [*base, "--strategies", "identity-cache,thread-local", "--out", str(tmp_path / "b")]
    assert main(crash_run) == 1
    assert main([*crash_run, "--resume", "--must-be-clean", "identity-cache"]) == 0


def test_a_locust_axis_runs_one_env_per_installable_pair_and_groups_by_it(
    tmp_path, fake_matrix, capsys
):
    out = tmp_path / "out"
    argv = ["matrix", "--locust", "2.42.0,2.47.0,9.9.9", "--requests", "2.32.0,2.34.2",
            "--strategies", "locust-httpuser,identity-cache", "--concurrency", "greenlet",
            "--keepalive", "off", "--run-time", "2s", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0  # locust-httpuser is version-dependent, never must-be-clean
    err = capsys.readouterr().err
    assert "skipping locust 9.9.9 + requests 2.32.0: pip cannot find locust==9.9.9" in err
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2  # 9.9.9's cells were never run
    outcomes = {
        (row["locust_version"], row["requests_version"]): row["outcome"]
        for row in rows
        if row["strategy"] == "locust-httpuser"
    }
    assert outcomes == {
        ("2.42.0", "2.32.0"): "clean", ("2.42.0", "2.34.2"): "clean",
        ("2.47.0", "2.32.0"): "bleed", ("2.47.0", "2.34.2"): "bleed",
    }  # fmt: skip
    python = f"py{sys.version_info[0]}.{sys.version_info[1]}"  # the runner's own Python
    assert any(f"{python}/locust-2.42.0/requests-2.34.2/" in row["key"] for row in rows)
    header = (out / "summary.md").read_text().splitlines()[0]
    columns = [cell.split("<br>")[0].strip() for cell in header.strip("|").split("|")[1:]]
    assert columns == [
        "locust 2.42.0, requests 2.32.0 (yanked)", "locust 2.42.0, requests 2.34.2",
        "locust 2.47.0, requests 2.32.0 (yanked)", "locust 2.47.0, requests 2.34.2",
    ]  # fmt: skip
    assert "locust 2.47.0, requests 2.34.2" in (out / "report.html").read_text()


def test_requests_outside_the_runners_locust_range_are_labelled(tmp_path, monkeypatch):
    """No --locust: envs get the runner's Locust, whose declared requests range (from its
    installed metadata) labels the versions installed over it with --no-deps."""
    locust_version, declared = runner_locust()
    assert locust_version and declared  # Locust 2.47 declares requests>=2.33.1
    monkeypatch.setattr(envs, "wheel_metadata", lambda name, wanted: {})  # no pip: not yanked
    environments = Environments(tmp_path)
    outside = environments.check("3.11", "", "2.31.0")
    assert outside.requests_range == declared and not outside.problem
    assert outside.labels == (f"outside locust {locust_version}'s requests{declared} (--no-deps)",)
    row = {"requests_version": "2.31.0", "requests_range": declared}
    assert versions_text(row) == "2.31.0 (outside Locust's range)"
    inside = environments.check("3.11", "", "2.34.2")
    assert inside.labels == () and inside.requests_range == declared
    assert versions_text({**row, "requests_version": "2.34.2"}) == "2.34.2"
    assert versions_text({"requests_version": "2.31.0"}) == "2.31.0"  # older rows: no range


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--locust", "latest", "--locust: 'latest' is not a version"),
        ("--strategies", "identity-cache,fastest", "--strategies: unknown 'fastest'"),
        ("--requests", "2.32.x", "--requests: '2.32.x' is not a version"),
        ("--concurrency", "processes", "--concurrency: unknown 'processes'"),
        ("--run-time", "soon", "--run-time 'soon'"),
        ("--must-be-clean", "safest", "--must-be-clean: unknown 'safest'"),
        ("--python", "2.99", "--python 2.99: no working interpreter"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, capsys, option, value, message):
    assert main(["matrix", option, value, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_what_help_says_concurrency_and_keepalive_take_is_accepted(capsys):
    with pytest.raises(SystemExit):
        main(["matrix", "--help"])
    shown = " ".join(capsys.readouterr().out.split()).replace("native- threads", "native-threads")
    assert "both" not in shown.split("--keepalive")[0].split("--concurrency")[1]
    assert "(default: greenlet,native-threads,asyncio)" in shown and "(default: on,off)" in shown
    parser = argparse.ArgumentParser()
    matrix.add_arguments(parser)
    for concurrency, keepalive in (
        ("greenlet,native-threads", "on,off"),
        ("native-threads", "off"),
        ("greenlet", "on"),
    ):
        args = parser.parse_args(["--concurrency", concurrency, "--keepalive", keepalive])
        cells, _ = matrix.plan(args)
        assert {cell.concurrency for cell in cells} == set(concurrency.split(","))
        assert {cell.keepalive for cell in cells} == {k == "on" for k in keepalive.split(",")}


def test_unreachable_host_is_a_one_line_error(tmp_path, capsys):
    with socket.socket() as unused:  # bound, never listening: connections are refused
        unused.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{unused.getsockname()[1]}"
        assert main(["matrix", "--host", url, "--identities", "x", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--host {url}: cannot connect" in err and len(err.strip().splitlines()) == 1


def test_existing_results_need_resume(tmp_path, capsys, fake_matrix):
    (tmp_path / "results.jsonl").write_text("{}\n")
    assert main(["matrix", "--out", str(tmp_path)]) == 2
    assert "pass --resume" in capsys.readouterr().err


def test_locust_argv_is_the_documented_command():
    cell = Cell("3.11", "2.32.3", "native-threads", False, "identity-cache", 1)
    argv = matrix.locust_argv(cell, ENV, settings(), Path("/out/cells/c.json"))
    assert argv[:3] == [sys.executable, "-m", "locust"] and "--headless" in argv
    joined = " ".join(argv)
    for expected in (
        "-u 4 -r 4 -t 2s",
        "--mtls-strategy identity-cache",
        "--mtls-concurrency native-threads",
        "--mtls-keepalive off",
        "--mtls-summary-file /out/cells/c.json",
        "--exit-code-on-error 0",
    ):
        assert expected in joined


@pytest.mark.slow
def test_env_for_an_old_requests_is_built_once_and_imports_this_checkout(tmp_path):
    from locust_mtls.matrix.envs import current_python

    interpreter, label = current_python()
    environments = Environments()  # the real cache: a second run reuses it
    env = environments.ensure(interpreter, label, "2.31.0")
    assert env.facts["requests"] == "2.31.0" and env.facts["locust"] and env.facts["openssl"]
    # The runner's Locust (2.47 declares requests>=2.33.1) gets it with --no-deps: labelled.
    locust_version, declared = runner_locust()
    if declared and "2.31.0" not in SpecifierSet(declared):
        check = environments.check(label, "", "2.31.0")  # requests' wheel metadata: pip
        assert check.requests_range == declared
        assert check.labels == (
            f"outside locust {locust_version}'s requests{declared} (--no-deps)",
        )
    started = time.monotonic()
    assert environments.ensure(interpreter, label, "2.31.0") == env
    assert time.monotonic() - started < 5  # reused, not rebuilt
    import subprocess

    code = "import locust_mtls, requests; print(locust_mtls.__file__, requests.__version__)"
    done = subprocess.run([env.python, "-c", code], capture_output=True, text=True, check=True)
    package_file, version = done.stdout.split()
    assert Path(package_file).resolve().parent == Path(matrix.__file__).resolve().parent.parent
    assert version == "2.31.0"


@pytest.mark.slow
def test_a_client_axis_runs_each_client_in_its_own_env(tmp_path, matrix_envs):
    """Real cells: each client's strategy in its env (built once in .ci-venvs), judged on the
    one checked path; every class of issue 30's table shows, and the safe ones stay clean."""
    strategies = {
        "niquests-shared-session": "bleed",
        "httpx-verify-path": "missing-certificate",
        "httpx-client-per-identity": "clean",
        "urllib3-shared-context": "bleed",
        "aiohttp-per-request-context": "clean",
        "geventhttpclient-shared-factory": "wrong-identity",
    }
    out = tmp_path / "out"
    argv = ["matrix", "--clients", "niquests,httpx,urllib3,aiohttp,geventhttpclient",
            "--strategies", ",".join(strategies), "--concurrency", "greenlet,asyncio",
            "--keepalive", "off", "--users", "4", "--run-time", "2s", "--timeout-margin", "30",
            "--out", str(out), "--env-dir", str(matrix_envs.env_dir)]  # fmt: skip
    assert main(argv) == 0  # the clean ones are must-be-clean by default
    rows = {row["strategy"]: row for row in matrix.load_rows(out)}
    assert {name: kind in row_kinds(rows[name]) or rows[name]["outcome"] == kind
            for name, kind in strategies.items()} == dict.fromkeys(strategies, True)  # fmt: skip
    assert [(rows[n]["client"], rows[n]["concurrency"]) for n in strategies] == [
        ("niquests", "greenlet"), ("httpx", "greenlet"), ("httpx", "greenlet"),
        ("urllib3", "greenlet"), ("aiohttp", "asyncio"), ("geventhttpclient", "greenlet"),
    ]  # fmt: skip
    assert rows["httpx-verify-path"]["client_version"] == "0.28.1"
    assert any("urllib3-future" in label for label in rows["niquests-shared-session"]["env_labels"])
    summary = (out / "summary.md").read_text()
    assert "httpx 0.28.1<br>greenlet<br>keep-alive off" in summary and "no cert 100%" in summary
