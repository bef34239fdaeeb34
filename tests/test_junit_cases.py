"""`locust-mtls matrix --junit` and `locust-mtls report --junit` (matrix/junit_cases.py): one
testcase per cell, failing exactly where the exit status does, baselines skipped with what
they did. Cells are test_matrix.py's short fake processes (a real segfault, a real bleed)."""

import json
import xml.etree.ElementTree as ET

import pytest
from test_junit import check_schema
from test_matrix import fake_argv, fake_matrix  # noqa: F401 (the fixtures, reused)

from locust_mtls.cli import main

pytestmark = pytest.mark.usefixtures("fake_matrix")  # fake cells, no env build, no server

BASE = ["matrix", "--requests", "2.32.3", "--concurrency", "greenlet", "--keepalive", "off",
        "--run-time", "2s"]  # fmt: skip
NAME = "requests 2.32.3, greenlet, keep-alive off"


def read_cases(path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    check_schema(root)
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == int(root.get("tests"))
    failures = sum(case.find("failure") is not None for case in cases)
    skipped = sum(case.find("skipped") is not None for case in cases)
    assert (int(suite.get("failures")), int(suite.get("skipped"))) == (failures, skipped)
    return {f"{case.get('classname')}/{case.get('name')}": case for case in cases}


def test_matrix_junit_fails_the_must_be_clean_cells_that_crashed_and_skips_baselines(tmp_path):
    junit = tmp_path / "junit.xml"
    argv = [*BASE, "--strategies", "identity-cache,thread-local,shared-context", "--repeat", "2",
            "--out", str(tmp_path / "out"), "--junit", str(junit)]  # fmt: skip
    assert main(argv) == 1  # thread-local (must be clean) segfaults
    cases = read_cases(junit)
    # one per cell whatever --repeat (names stay from build to build), in the report's order
    assert list(cases) == [
        f"locust-mtls.matrix.shared-context/{NAME}",
        f"locust-mtls.matrix.thread-local/{NAME}",
        f"locust-mtls.matrix.identity-cache/{NAME}",
    ]
    baseline, crashed, clean = cases.values()
    assert list(clean) == []  # passed
    failure = crashed.find("failure")
    assert failure.get("type") == "crashed"
    assert failure.get("message").startswith("2/2 runs not clean: crashed: SIGSEGV")
    assert failure.text.count("crashed: SIGSEGV") == 2  # every failing run's detail
    reason = baseline.find("skipped").get("message")
    assert reason.startswith("baseline, not must-be-clean: bleed 2/2 runs (100% of no-cert)")
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").open()]
    first = min(row["started_at"] for row in rows)  # e.g. 2026-11-29T18:44:35+00:00
    assert ET.parse(junit).getroot()[0].get("timestamp") == first[:19]


def test_report_writes_the_same_junit_from_results_jsonl(tmp_path):
    out = tmp_path / "out"
    argv = [*BASE, "--strategies", "identity-cache,shared-context", "--out", str(out),
            "--junit", str(tmp_path / "matrix.xml")]  # fmt: skip
    assert main(argv) == 0
    assert main(["report", str(out), "--junit", str(tmp_path / "report.xml")]) == 0
    from_matrix = read_cases(tmp_path / "matrix.xml")
    from_report = read_cases(tmp_path / "report.xml")
    assert list(from_matrix) == list(from_report) and len(from_report) == 2
    outcome = {name: [child.tag for child in case] for name, case in from_report.items()}
    assert outcome == {
        f"locust-mtls.matrix.identity-cache/{NAME}": [],
        f"locust-mtls.matrix.shared-context/{NAME}": ["skipped"],
    }


def test_a_bad_junit_path_is_one_line_before_any_cell_runs(tmp_path, capsys):
    argv = [*BASE, "--out", str(tmp_path / "out"), "--junit", str(tmp_path / "no" / "j.xml")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--junit" in err and "does not exist; create it" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
