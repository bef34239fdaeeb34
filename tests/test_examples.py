"""Every locustfile the docs show is a file (examples/, locustfiles/) that the page
includes (pymdownx.snippets), and each one runs against the embedded echo server: a short
headless run, exit code 0, requests made, none failed.

Includes take the block form, `--8<--`, the path, `--8<--` on three lines: `ruff format`
formats Python blocks in Markdown and rewrites the one-line form, which parses as Python.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run_locust

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
INCLUDE = re.compile(r"^--8<--\n([^\n]+)\n--8<--$", re.M)
PYTHON_BLOCK = re.compile(r"```python[^\n]*\n(.*?)```", re.DOTALL)
USER_CLASS = re.compile(r"^class \w+\([\w.]*User\)", re.M)


def included_locustfiles() -> list[str]:
    return sorted(
        {
            name
            for page in PAGES
            for name in INCLUDE.findall(page.read_text())
            if name.endswith(".py")
        }
    )


def test_every_included_file_exists_under_examples_or_locustfiles():
    included = included_locustfiles()
    assert included, "no page includes a locustfile"
    for name in included:
        assert (ROOT / name).is_file(), name
        assert name.split("/")[0] in ("examples", "locustfiles"), name
    assert {f"examples/{path.name}" for path in (ROOT / "examples").glob("*.py")} <= set(included)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_no_page_writes_a_locustfile_out_by_hand(page):
    text = page.read_text()
    markers = re.findall(r"^--8<--.*$", text, re.M)
    assert len(markers) == 2 * len(INCLUDE.findall(text)), f"one-line include: {markers}"
    for block in PYTHON_BLOCK.findall(text):
        if USER_CLASS.search(block):
            assert INCLUDE.fullmatch(block.strip()), f"include it from a file: {block[:60]!r}"


@pytest.mark.parametrize("name", included_locustfiles())
def test_each_docs_locustfile_runs_clean_against_the_echo_server(name, tmp_path):
    done = run_locust(
        "-f", str(ROOT / name), "--mtls-summary-file", "summary.json",
        cwd=tmp_path, users=2, run_time="3s",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads((tmp_path / "summary.json").read_text())["strategies"].values()
    assert sum(row["requests"] for row in rows) > 0
    assert sum(row["failures"] for row in rows) == 0
    totals = [line for line in done.stderr.splitlines() if "Aggregated" in line and "%)" in line]
    assert " 0(0.00%) " in totals[-1], totals  # Locust's own failures column
