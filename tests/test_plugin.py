"""plugin: options from the command line, the environment and locust.conf; one-line
errors; summary file, CSV and the exit-code gate. Locust always runs in a subprocess."""

import csv
import json
from pathlib import Path

import pytest

from conftest import run_locust

REPO = Path(__file__).resolve().parent.parent
MTLS = str(REPO / "locustfiles" / "mtls.py")


def test_locust_conf_and_environment_set_every_kind_of_option(tmp_path):
    (tmp_path / "locust.conf").write_text(
        "headless = true\n"
        "users = 4\n"
        "spawn-rate = 4\n"
        "run-time = 2s\n"
        "stop-timeout = 3\n"
        "csv = out\n"
        "mtls-strategy = shared-context\n"
        "mtls-keepalive = off\n"
        "mtls-no-cert-fraction = 0.25\n"
        "mtls-summary-file = summary.json\n"
        "mtls-fail-on = crash\n"
    )
    done = run_locust(
        "-f",
        MTLS,
        cwd=tmp_path,
        env={"LOCUST_MTLS_STRATEGY": "per-thread-session"},  # the environment beats the file
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["finished"]
    (name,) = summary["strategies"]
    stats = summary["strategies"][name]
    assert name == "per-thread-session [keep-alive off]"  # a row per run setting
    assert stats["strategy"] == "per-thread-session"
    assert stats["keepalive"] is False and stats["handshakes"] == stats["requests"]
    # Users finish their request at the end (stop-timeout): the server saw exactly ours.
    server = summary["echo_server"]
    assert server["requests"] == stats["requests"] > 50
    without_cert = server["requests_by_fingerprint"]["none"] / server["requests"]
    assert 0.2 <= without_cert <= 0.3
    (row,) = csv.DictReader(open(tmp_path / "out_mtls.csv"))
    assert row["strategy"] == "per-thread-session" and int(row["requests"]) == stats["requests"]
    assert "echo server saw" in done.stdout


@pytest.mark.parametrize("where", ["command line", "environment", "locust.conf"])
def test_unknown_choice_is_one_line_listing_the_valid_ones(tmp_path, where):
    args, env = ["-f", MTLS, "-t", "1s"], {}
    if where == "command line":
        args += ["--mtls-strategy", "fastest"]
    elif where == "environment":
        env["LOCUST_MTLS_STRATEGY"] = "fastest"
    else:
        (tmp_path / "locust.conf").write_text("mtls-strategy = fastest\n")
    done = run_locust(*args, cwd=tmp_path, env=env, timeout=30)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "--mtls-strategy" in line and "'fastest'" in line
    assert "'identity-cache'" in line and "'shared-context'" in line
    assert not (tmp_path / "certs").exists()  # nothing started, nothing written


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--mtls-keepalive", "maybe", "invalid choice: 'maybe' (choose from 'on', 'off')"),
        ("--mtls-no-cert-fraction", "2", "--mtls-no-cert-fraction must be between 0 and 1"),
        ("--mtls-fail-on", "bleed,typo", "--mtls-fail-on: unknown 'typo'"),
    ],
)
def test_bad_value_fails_at_start_with_one_line(tmp_path, option, value, message):
    done = run_locust("-f", MTLS, "-t", "1s", option, value, cwd=tmp_path, timeout=30)
    assert done.returncode == 2
    (line,) = [text for text in done.stderr.splitlines() if "error" in text]
    assert message in line
    assert "Traceback" not in done.stderr


# (strategy, extra options, expected exit code): the mTLS gate and Locust's own
# --exit-code-on-error compose; bleed is also a Locust failure.
GATES = [
    ("shared-context", ["--exit-code-on-error", "0"], 1),  # the gate alone fails the run
    ("shared-context", ["--mtls-fail-on", "crash", "--exit-code-on-error", "0"], 0),
    ("shared-context", ["--mtls-fail-on", ""], 1),  # no gate: Locust's failures count
    ("identity-cache", [], 0),
]


@pytest.mark.parametrize("strategy, extra, expected", GATES)
def test_exit_code_gate_composes_with_exit_code_on_error(tmp_path, strategy, extra, expected):
    done = run_locust(
        "-f",
        MTLS,
        "--mtls-strategy",
        strategy,
        "--mtls-keepalive",
        "off",
        *extra,
        cwd=tmp_path,
        users=4,
        run_time="2s",
    )
    assert done.returncode == expected, done.stderr[-2000:]
    gate_failed = "failed its mTLS gate" in done.stderr
    assert gate_failed == (strategy == "shared-context" and "--mtls-fail-on" not in extra)


def test_identities_load_and_the_target_is_probed_once_before_the_clock(tmp_path, pki_server):
    """Loading 10,000 identities takes seconds: done at init, not again at test start
    (inside -t)."""
    ids = str(Path(pki_server.ca_file).parent / "identities.json")
    done = run_locust(
        *("-f", MTLS, "--host", pki_server.url, "--mtls-identities", ids),
        *("--loglevel", "DEBUG", "--mtls-summary-file", "summary.json"),
        cwd=tmp_path,
        users=2,
        run_time="2s",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.count("identities loaded") == 1
    assert json.loads((tmp_path / "summary.json").read_text())["strategies"]


def test_ctrl_c_prints_no_keyboard_interrupt_traceback(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "locust", "-f", MTLS, "--headless", "-u", "20", "-r", "20"]
    command += ["-t", "60s", "--mtls-summary-file", "summary.json", "--mtls-keepalive", "off"]
    locust = subprocess.Popen(
        command, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (
            b'"requests": 0' in _read(tmp_path / "summary.json")
            or not (tmp_path / "summary.json").exists()
        ):
            assert time.monotonic() < deadline, "no requests"
            time.sleep(0.2)
        time.sleep(1.0)  # 20 busy users: Ctrl-C lands in one of their greenlets
        locust.send_signal(signal.SIGINT)
        _, err = locust.communicate(timeout=60)
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
    assert "KeyboardInterrupt" not in err and "Traceback" not in err, err[-3000:]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
