"""locust/thresholds: --mtls-threshold judged on real runs (console lines, the summary's
"thresholds", exit codes), from the command line, the environment and locust.conf, and
--mtls-abort-on-threshold stopping a bleeding run. Locust always runs in a subprocess."""

import html
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from test_charts import dump_dom

from conftest import LocustWithWebUI, processes, run_locust

REPO = Path(__file__).resolve().parent.parent
MTLS = str(REPO / "locustfiles" / "mtls.py")
# shared-context bleeds within a second with keep-alive off; the gate off so that only
# the thresholds decide the exit code.
BLEEDING = ("--mtls-strategy", "shared-context", "--mtls-keepalive", "off", "--mtls-fail-on", "")


def verdict_lines(done) -> list[str]:
    return [line for line in done.stdout.splitlines() if line.startswith("threshold ")]


def test_shared_context_fails_bleed_and_names_it_in_console_and_summary(tmp_path):
    thresholds = ["bleed<=0", "shared-context:rps>=1", "handshake_p95<2s", "rps>=1000000"]
    thresholds.append("bleed_rate<=0")
    done = run_locust(
        *("-f", MTLS, *BLEEDING, "--exit-code-on-error", "0", "--mtls-summary-file", "s.json"),
        *(arg for expression in thresholds for arg in ("--mtls-threshold", expression)),
        cwd=tmp_path,
        users=4,
        run_time="3s",
    )
    assert done.returncode == 1, done.stderr[-2000:]
    lines = verdict_lines(done)
    assert len(lines) == 5, done.stdout
    assert lines[0].startswith("threshold bleed<=0 on all: ") and lines[0].endswith(" FAILED")
    assert lines[1].startswith("threshold shared-context:rps>=1 on shared-context [keep-alive off]")
    assert lines[1].endswith(" passed") and lines[2].endswith(" ms passed")
    assert lines[3].startswith("threshold rps>=1000000 on all: ") and lines[3].endswith("FAILED")
    summary = json.loads((tmp_path / "s.json").read_text())
    verdicts = summary["thresholds"]
    assert [(v["expression"], v["row"], v["passed"]) for v in verdicts] == [
        ("bleed<=0", "all", False),
        ("shared-context:rps>=1", "shared-context [keep-alive off]", True),
        ("handshake_p95<2s", "all", True),
        ("rps>=1000000", "all", False),
        ("bleed_rate<=0", "all", False),
    ]
    (row,) = summary["strategies"].values()
    # A share of the requests sent without a certificate, which are half of all requests.
    assert row["with_cert"] + row["without_cert"] == row["requests"]
    assert verdicts[4]["measured"] == pytest.approx(row["bleed"] / row["without_cert"], abs=1e-6)
    assert verdicts[0]["measured"] == row["bleed"] > 0
    assert verdicts[1]["measured"] == pytest.approx(row["rps"], abs=0.11)
    assert verdicts[2]["limit"] == 2000.0 and verdicts[2]["unit"] == "ms"
    assert not any(v["aborted"] for v in verdicts)


def test_identity_cache_passes_thresholds_from_locust_conf(tmp_path):
    (tmp_path / "locust.conf").write_text("mtls-threshold = [rps>=1, bleed<=0, crashes==0]\n")
    done = run_locust("-f", MTLS, cwd=tmp_path, users=2, run_time="3s")
    assert done.returncode == 0, done.stderr[-2000:]
    lines = verdict_lines(done)
    assert [line.split(" on ")[0] for line in lines] == [
        "threshold rps>=1",
        "threshold bleed<=0",
        "threshold crashes==0",
    ]
    assert all(line.endswith(" passed") for line in lines), lines


def test_an_impossible_rps_fails_whatever_exit_code_on_error_says(tmp_path):
    done = run_locust(
        *("-f", MTLS, "--exit-code-on-error", "0"),
        cwd=tmp_path,
        users=2,
        run_time="3s",
        env={"LOCUST_MTLS_THRESHOLD": "rps>=1000000"},
    )
    assert done.returncode == 1, done.stderr[-2000:]
    (line,) = verdict_lines(done)
    assert line.startswith("threshold rps>=1000000 on all: ") and line.endswith(" FAILED")


def test_abort_stops_a_bleeding_run_long_before_its_run_time(tmp_path):
    done = run_locust(
        *("-f", MTLS, *BLEEDING, "--exit-code-on-error", "0", "--mtls-summary-file", "s.json"),
        *("--mtls-threshold", "bleed<=0", "--mtls-threshold", "rps>=1"),
        "--mtls-abort-on-threshold",
        cwd=tmp_path,
        users=4,
        run_time="120s",
        timeout=60,  # the bound: without the abort this run would take 120 s
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "threshold bleed<=0 failed on all (bleed " in done.stderr
    assert "stopping the run (--mtls-abort-on-threshold)" in done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    bleed, rps = summary["thresholds"]
    assert bleed["aborted"] and not bleed["passed"] and bleed["measured"] > 0
    assert not rps["aborted"]
    (row,) = summary["strategies"].values()
    assert row["elapsed_s"] < 60


@pytest.mark.parametrize(
    "where, bad",
    [
        ("command line", "bleed=0"),
        ("environment", "[bleed<=0, fastest:rps>=1]"),  # configargparse's list syntax
        ("environment", "latency<5"),
        ("locust.conf", "[bleed<=0, handshake_p95<50us]"),
    ],
)
def test_a_bad_expression_stops_locust_before_anything_starts(tmp_path, where, bad):
    args, env = ["-f", MTLS, "-t", "1s"], {}
    if where == "command line":
        args += ["--mtls-threshold", "bleed<=0", "--mtls-threshold", bad]
    elif where == "environment":
        env["LOCUST_MTLS_THRESHOLD"] = bad
    else:
        (tmp_path / "locust.conf").write_text(f"mtls-threshold = {bad}\n")
    done = run_locust(*args, cwd=tmp_path, env=env, timeout=30)
    assert done.returncode == 2
    (line,) = [text for text in done.stderr.splitlines() if "error" in text]
    # The list is split into expressions: the message names the bad one alone.
    bad_one = bad.strip("[]").split(", ")[-1]
    assert line.startswith(f"locust-mtls: error: --mtls-threshold {bad_one!r}: ")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "certs").exists()  # no echo server, nothing written


def test_abort_without_a_safety_threshold_is_bad_input(tmp_path):
    done = run_locust(
        *("-f", MTLS, "-t", "1s", "--mtls-abort-on-threshold", "--mtls-threshold", "rps>=1"),
        cwd=tmp_path,
        timeout=30,
    )
    assert done.returncode == 2
    assert "--mtls-abort-on-threshold needs a --mtls-threshold on a count" in done.stderr


def test_the_web_ui_serves_the_verdicts_so_far_and_the_tab_shows_them(tmp_path):
    args = ["-f", MTLS, "-u", "2", "-r", "2", "-t", "30s", "--autoquit", "0"]
    args += ["--mtls-threshold", "identity-cache:requests>=1", "--mtls-threshold", "rps>=1e6"]
    with LocustWithWebUI(args, tmp_path) as locust:
        deadline, verdicts = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            verdicts = json.loads(locust.get("/mtls/thresholds") or "[]")
            if verdicts and verdicts[0]["passed"]:
                break
            time.sleep(1)
        # The tab's table (static/mtls-tab.js), when Debian's chromium is there to draw it.
        tab = dump_dom(locust.url("/?tab=mtls")) if shutil.which("chromium") else None
    assert [(v["row"], v["passed"]) for v in verdicts] == [
        ("identity-cache", True),
        ("all", False),
    ], (tmp_path / "locust.log").read_text()[-2000:]
    assert verdicts[1]["line"].startswith("threshold rps>=1e6 on all: ")
    if tab is not None:
        table = re.search(r'<table id="mtls-thresholds".*?</table>', tab, re.S)
        assert table, tab[-2000:]
        cells = [html.unescape(c) for c in re.findall(r"<t[hd][^>]*>([^<]*)</t[hd]>", table[0])]
        assert cells[:4] == ["Threshold", "Row", "Measured", "Verdict"]
        assert cells[4:6] == ["identity-cache:requests>=1", "identity-cache"]
        assert cells[7] == "passed" and cells[8:10] == ["rps>=1e6", "all"]
        assert cells[11] == "FAILED"


def test_a_distributed_run_is_judged_once_on_the_workers_sum(tmp_path):
    done = run_locust(
        *("-f", MTLS, *processes(), "--mtls-summary-file", "s.json"),
        *("--mtls-threshold", "requests>=1", "--mtls-threshold", "identity-cache:bleed<=0"),
        cwd=tmp_path,
        users=4,
        run_time="3s",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(verdict_lines(done)) == 2, done.stdout  # the master's, not each worker's
    summary = json.loads((tmp_path / "s.json").read_text())
    assert len(summary["workers_reported"]) == 2
    (row,) = summary["strategies"].values()
    assert summary["thresholds"][0]["measured"] == row["requests"] > 0
