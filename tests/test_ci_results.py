"""--mtls-junit and --mtls-markdown on a real run (locust/ci_results.py, markdown_summary.py):
the JUnit file shows shared-context's bleed, and the Markdown tables have the very numbers
and threshold verdicts the console printed. Bad paths are one line and exit code 2."""

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_junit import check_schema

from locust_mtls.settings import DEFAULT_FAIL_ON, fail_on_counters

from conftest import run_locust

MTLS = str(Path(__file__).resolve().parent.parent / "locustfiles" / "mtls.py")
ROW = "shared-context [keep-alive off]"
# console header -> Markdown title, for the numbers both show
SAME_NUMBERS = {
    "requests": "Requests",
    "rps": "RPS",
    "wrong id": "Wrong identity",
    "no cert": "Missing certificate",
    "bleed": "Cert bleed",
    "unrep": "Unreported",
    "crashes": "Crashes",
    "hs p50": "Full handshake p50 (ms)",
    "hs p95": "Full handshake p95 (ms)",
}


def console_numbers(stdout: str, row: str) -> dict[str, str]:
    """The numbers of `row` in the printed mTLS summary (web_ui.text_table)."""
    (line,) = [line for line in stdout.splitlines() if line.startswith(row + " ")]
    return dict(zip(SAME_NUMBERS, line.split()[-len(SAME_NUMBERS) :], strict=True))


# Two pass, two fail (one scoped: judged on the row, named in the console line and the table).
THRESHOLDS = (
    "shared-context:bleed<=0",
    "requests>=1",
    "shared-context:handshake_p95<60s",
    "rps>=1000000",
)
VERDICT_LINE = re.compile(
    r"^threshold (?P<expression>\S+) on (?P<row>.+): (?P<measured>.+) (?P<verdict>passed|FAILED)$"
)


def console_verdicts(stdout: str) -> list[dict[str, str]]:
    """The printed threshold verdicts (results.thresholds.verdict_line), in order."""
    return [m.groupdict() for line in stdout.splitlines() if (m := VERDICT_LINE.match(line))]


def markdown_rows(text: str, section: int = 0) -> list[dict[str, str]]:
    """A table of the Markdown summary (0: mTLS, 1: thresholds), as {title: cell} per row."""
    part = re.split(r"^### ", text, flags=re.M)[section]
    lines = [line for line in part.splitlines() if line.startswith("|")]
    header, _rule, *body = (
        [cell.strip() for cell in line.strip("|").split(" | ")] for line in lines
    )
    return [dict(zip(header, cells, strict=True)) for cells in body]


@pytest.fixture(scope="module")
def shared_context_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ci")
    done = run_locust(
        *("-f", MTLS, "--mtls-strategy", "shared-context", "--mtls-keepalive", "off"),
        *("--mtls-junit", "junit.xml", "--mtls-markdown", "summary.md"),
        *("--mtls-summary-file", "summary.json"),
        *(arg for expression in THRESHOLDS for arg in ("--mtls-threshold", expression)),
        cwd=cwd,
        users=4,
        run_time="3s",
    )
    return done, cwd


def test_junit_of_a_bleeding_run_has_the_failing_safety_check(shared_context_run):
    done, cwd = shared_context_run
    assert done.returncode == 1, done.stderr[-2000:]  # the mTLS gate (and 2 thresholds) failed
    bleed = json.loads((cwd / "summary.json").read_text())["strategies"][ROW]["bleed"]
    assert bleed > 0
    root = ET.parse(cwd / "junit.xml").getroot()
    check_schema(root)
    (suite,) = root.findall("testsuite")
    cases = {
        case.get("name"): case.find("failure")
        for case in suite.findall("testcase")
        if case.get("classname") == "locust-mtls.gate"
    }
    gated = fail_on_counters(DEFAULT_FAIL_ON)  # the default --mtls-fail-on
    assert set(cases) == {f"{ROW}: {counter} == 0" for counter in gated}
    failure = cases[f"{ROW}: bleed == 0"]
    assert failure is not None and failure.get("type") == "mtls-gate"
    assert failure.get("message").startswith(f"cert bleed: {bleed:,} in ")
    assert cases[f"{ROW}: crashes == 0"] is None
    thresholds = [c for c in suite.findall("testcase") if c.get("classname").endswith("thresholds")]
    assert len(thresholds) == len(THRESHOLDS)
    failed = sum(f is not None for f in cases.values()) + 2  # bleed<=0 and rps>=1000000
    assert int(suite.get("failures")) == failed


def test_markdown_shows_the_numbers_the_console_printed(shared_context_run):
    done, cwd = shared_context_run
    console = console_numbers(done.stdout, ROW)
    text = (cwd / "summary.md").read_text()
    (markdown,) = markdown_rows(text)
    assert markdown["Strategy"] == ROW  # the row's full name, as the console prints it
    assert {key: markdown[title] for key, title in SAME_NUMBERS.items()} == console
    assert int(console["bleed"]) > 0 and int(console["requests"]) > 0
    gate = text.split("### Gate")[1]
    assert "**FAILED**: 3 check(s) failed" in gate  # two thresholds, then the bleed gate
    assert f"- {ROW}: cert bleed: {int(console['bleed']):,} in" in gate


def test_markdown_shows_the_threshold_verdicts_the_console_printed(shared_context_run):
    done, cwd = shared_context_run
    assert done.returncode == 1
    printed = console_verdicts(done.stdout)
    assert [line["expression"] for line in printed] == list(THRESHOLDS), done.stdout[-3000:]
    # scoped ones are judged on the row they cover, unscoped ones on the run's total
    assert [line["row"] for line in printed] == [ROW, "all", ROW, "all"]
    assert [line["verdict"] for line in printed] == ["FAILED", "passed", "passed", "FAILED"]
    assert printed[2]["measured"].endswith(" ms")
    table = markdown_rows((cwd / "summary.md").read_text(), section=1)
    shown = [
        {
            "expression": row["Threshold"].strip("`"),
            "row": row["Row"],
            "measured": row["Measured"],
            "verdict": row["Verdict"].strip("*"),
        }
        for row in table
    ]
    assert shown == printed


# The other two pairs are rows of tests/test_options.py's BAD_INPUT (the troubleshooting table).
@pytest.mark.parametrize("option, path, message", [
    ("--mtls-junit", ".", "is a directory; name a file"),
    ("--mtls-markdown", "missing/out.md", "does not exist; create it"),
])  # fmt: skip
def test_a_bad_path_is_one_line_and_exit_code_2(tmp_path, option, path, message):
    done = run_locust("-f", MTLS, "-t", "1s", option, path, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    (line,) = [text for text in done.stderr.splitlines() if "error" in text]
    assert f"{option} {path}" in line and message in line and "Traceback" not in done.stderr
    assert not (tmp_path / "certs").exists()  # nothing started
