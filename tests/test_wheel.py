"""Installed, not only checked out: build the wheel, install it into a fresh virtualenv
outside the repository, run one short matrix cell and a locustfile that only imports
locust_mtls."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = """
from locust_mtls import MtlsUser


class Caller(MtlsUser):
    pass
"""


def run(*argv, cwd, timeout=900):
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{argv}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv (outside the repo) with the wheel of this checkout installed."""
    work = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", ROOT,
        cwd=work)  # fmt: skip
    (wheel,) = (work / "dist").glob("locust_mtls-*.whl")
    run(sys.executable, "-m", "venv", work / "venv", cwd=work)
    run(work / "venv" / "bin" / "pip", "install", "-q", wheel, cwd=work)
    return work


@pytest.mark.slow
def test_the_wheel_holds_no_checkout_paths_and_runs_a_plain_locustfile(installed):
    venv_bin = installed / "venv" / "bin"
    done = run(venv_bin / "python", "-c", "import locust_mtls; print(locust_mtls.__file__)",
               cwd=installed)  # fmt: skip
    assert str(ROOT) not in done.stdout  # the wheel's copy, not this checkout
    (installed / "locustfile.py").write_text(LOCUSTFILE)
    run(venv_bin / "locust", "-f", "locustfile.py", "--headless", "-u", "2", "-r", "2", "-t",
        "2s", "--mtls-summary-file", "s.json", cwd=installed, timeout=120)  # fmt: skip
    summary = json.loads((installed / "s.json").read_text())
    (row,) = summary["strategies"].values()
    assert row["requests"] > 0 and row["wrong_identity"] == row["bleed"] == 0


@pytest.mark.slow
def test_the_installed_matrix_runs_a_cell(installed):
    import requests  # the cell runs with this requests, so its env is likely cached

    out = installed / "results"
    run(installed / "venv" / "bin" / "locust-mtls", "matrix", "--requests", requests.__version__,
        "--strategies", "identity-cache", "--concurrency", "greenlet", "--keepalive", "off",
        "--users", "2", "--run-time", "2s", "--out", out, cwd=installed)  # fmt: skip
    (row,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert row["outcome"] == "clean" and row["requests"] > 0
