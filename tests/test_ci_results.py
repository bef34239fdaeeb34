"""--mtls-junit and --mtls-markdown on a real run (locust/ci_results.py, markdown_summary.py):
the JUnit file shows shared-context's bleed, and the Markdown table has the very numbers
the console summary printed. Bad paths are one line and exit code 2."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_junit import check_schema

from conftest import run_locust

MTLS = str(Path(__file__).resolve().parent.parent / "locustfiles" / "mtls.py")
ROW = "shared-context [keep-alive off]"
# console header -> Markdown title, for the numbers both show
SAME_NUMBERS = {
    "requests": "Requests",
    "rps": "RPS",
    "wrong id": "Wrong identity",
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


def markdown_rows(text: str) -> list[dict[str, str]]:
    """The first table of the Markdown summary, as {title: cell} per row."""
    lines = [line for line in text.split("### Thresholds")[0].splitlines() if line.startswith("|")]
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
        cwd=cwd,
        users=4,
        run_time="3s",
    )
    return done, cwd


def test_junit_of_a_bleeding_run_has_the_failing_safety_check(shared_context_run):
    done, cwd = shared_context_run
    assert done.returncode == 1, done.stderr[-2000:]  # the mTLS gate failed
    bleed = json.loads((cwd / "summary.json").read_text())["strategies"][ROW]["bleed"]
    assert bleed > 0
    root = ET.parse(cwd / "junit.xml").getroot()
    check_schema(root)
    (suite,) = root.findall("testsuite")
    cases = {case.get("name"): case.find("failure") for case in suite.findall("testcase")}
    gated = ("wrong_identity", "bleed", "crashes")  # the default --mtls-fail-on
    assert set(cases) == {f"{ROW}: {counter} == 0" for counter in gated}
    failure = cases[f"{ROW}: bleed == 0"]
    assert failure is not None and failure.get("type") == "mtls-gate"
    assert failure.get("message").startswith(f"cert bleed: {bleed:,} in ")
    assert cases[f"{ROW}: crashes == 0"] is None
    assert int(suite.get("failures")) == sum(f is not None for f in cases.values())


def test_markdown_shows_the_numbers_the_console_printed(shared_context_run):
    done, cwd = shared_context_run
    console = console_numbers(done.stdout, ROW)
    text = (cwd / "summary.md").read_text()
    (markdown,) = markdown_rows(text)
    assert markdown["Strategy"] == "shared-context"
    assert {key: markdown[title] for key, title in SAME_NUMBERS.items()} == console
    assert int(console["bleed"]) > 0 and int(console["requests"]) > 0
    assert "No thresholds" in text
    gate = text.split("### Gate")[1]
    assert "**FAILED**" in gate and f"- {ROW}: cert bleed: {int(console['bleed']):,} in" in gate


@pytest.mark.parametrize("option", ["--mtls-junit", "--mtls-markdown"])
@pytest.mark.parametrize("path, message", [
    ("missing/out.xml", "does not exist; create it"),
    (".", "is a directory; name a file"),
])  # fmt: skip
def test_a_bad_path_is_one_line_and_exit_code_2(tmp_path, option, path, message):
    done = run_locust("-f", MTLS, "-t", "1s", option, path, cwd=tmp_path, timeout=60)
    assert done.returncode == 2
    (line,) = [text for text in done.stderr.splitlines() if "error" in text]
    assert f"{option} {path}" in line and message in line and "Traceback" not in done.stderr
    assert not (tmp_path / "certs").exists()  # nothing started
