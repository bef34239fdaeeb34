"""docs/ci.md's pipeline: the blocks are the files in docs/ci/, both are valid YAML that
run the same commands, and .ci/documented_job.py (which .ci/run uses to run the GitHub
job here) runs what GitHub would. The whole job is .ci/run's business, not this suite's:
the runner is checked on tiny sample workflows, the gateway script on Debian's nginx."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest
import requests
import yaml

from bench import gateways, nginx
from locust_mtls.config.options import OPTIONS
from locust_mtls.tls.identity import fingerprint_of

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO, "docs", "ci.md")
GITHUB = os.path.join(REPO, "docs", "ci", "github-actions.yml")
GITLAB = os.path.join(REPO, "docs", "ci", "gitlab-ci.yml")
GATEWAY_SCRIPT = os.path.join(REPO, "docs", "ci", "mtls-gateway.sh")
RUNNER = os.path.join(REPO, ".ci", "documented_job.py")
# The steps .ci/run runs here, in order; the others are actions on GitHub's runner.
LOCAL_STEPS = [
    "install",
    "certs",
    "embedded-run",
    "gateway-start",
    "gateway-run",
    "gateway-stop",
    "step-summary",
]
STRESS_RUNS = {"embedded-run": "results/embedded", "gateway-run": "results/gateway"}


def _load(path):
    with open(path) as file:
        return yaml.safe_load(file)


def _runner_module():
    spec = importlib.util.spec_from_file_location("documented_job", RUNNER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _github_job():
    return _load(GITHUB)["jobs"]["stress"]


def _run_scripts():
    return {step["id"]: step["run"] for step in _github_job()["steps"] if "run" in step}


def test_doc_shows_each_ci_file_verbatim():
    with open(DOC) as file:
        doc = file.read()
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```\n", doc, re.DOTALL)
    assert sorted(path for path, _ in blocks) == [
        "docs/ci/github-actions.yml",
        "docs/ci/gitlab-ci.yml",
    ]
    for path, block in blocks:
        with open(os.path.join(REPO, path)) as file:
            assert block == file.read(), f"docs/ci.md's block for {path} differs from the file"


def test_github_workflow_shape():
    workflow = _load(GITHUB)
    # PyYAML reads the key `on` as the boolean True (YAML 1.1); GitHub reads it as "on".
    assert set(workflow[True]) == {"pull_request", "push"}
    assert workflow["permissions"]["checks"] == "write"
    job = workflow["jobs"]["stress"]
    assert job["timeout-minutes"] <= 30
    steps = {step.get("id"): step for step in job["steps"]}
    for step_id in STRESS_RUNS:
        assert steps[step_id]["timeout-minutes"] <= 5
    for name in ("gateway-stop", "step-summary"):  # they must run after a failed gate too
        assert steps[name]["if"] in ("${{ always() }}", "${{ !cancelled() }}")
    uploads = [step for step in job["steps"] if "upload-artifact" in step.get("uses", "")]
    assert uploads[0]["with"]["path"] == "results/"
    assert uploads[0]["if"] == "${{ !cancelled() }}"


def test_actions_are_pinned_to_a_commit_with_the_version_named():
    with open(GITHUB) as file:
        lines = [line.strip() for line in file if re.match(r"\s*(- )?uses:", line)]
    assert len(lines) == 4
    for line in lines:
        assert re.fullmatch(r"(- )?uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def test_gitlab_job_runs_the_github_commands():
    job = _load(GITLAB)["mtls-stress"]
    scripts = _run_scripts()
    expected = [scripts[name] for name in LOCAL_STEPS[:5]]
    assert [item for item in job["script"]] == expected
    assert job["after_script"][0] == scripts["gateway-stop"]
    assert job["variables"]["GATEWAY_RUNTIME"] == "nginx"
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] == "results/*/junit.xml"
    assert job["timeout"] == "15 minutes"


def _locust_args(script: str) -> list[str]:
    command = script.replace("\\\n", " ").splitlines()[-1]
    return shlex.split(command)


def _values(args: list[str], option: str) -> list[str]:
    return [args[i + 1] for i, arg in enumerate(args) if arg == option]


@pytest.mark.parametrize("step_id", sorted(STRESS_RUNS))
def test_each_stress_run_is_bounded_and_writes_every_result(step_id):
    args = _locust_args(_run_scripts()[step_id])
    directory = STRESS_RUNS[step_id]
    assert args[:3] == [".venv/bin/locust", "-f", "locustfiles/mtls.py"]
    assert "--headless" in args and _values(args, "-t") == ["30s"]
    assert _values(args, "--exit-code-on-error") == ["0"]  # the thresholds judge failures
    assert {"wrong_identity<=0", "crashes==0", "fail_ratio<0.01"} <= set(
        _values(args, "--mtls-threshold")
    )
    for option, name in {
        "--mtls-junit": "junit.xml",
        "--mtls-markdown": "summary.md",
        "--html": "report.html",
        "--mtls-summary-file": "summary.json",
    }.items():
        assert _values(args, option) == [f"{directory}/{name}"]


def test_every_mtls_option_the_job_uses_exists():
    known = {option for option, *_ in OPTIONS}
    used = {
        arg
        for step_id in STRESS_RUNS
        for arg in _locust_args(_run_scripts()[step_id])
        if arg.startswith("--mtls-")
    }
    assert used - known == set()


def test_runner_runs_the_run_steps_and_skips_the_actions():
    runner = _runner_module()
    _, job = runner.load_job(GITHUB)
    steps = runner.plan(job)
    ran = [step.name for step in steps if step.script is not None]
    by_name = {step.get("name"): step.get("id") for step in job["steps"]}
    assert [by_name[name] for name in ran] == LOCAL_STEPS
    skipped = [step.name for step in steps if step.script is None]
    assert len(skipped) == 4 and skipped[0].startswith("actions/checkout@")


SAMPLE = """\
env: {LEVEL: workflow, FROM_WORKFLOW: "yes"}
jobs:
  only:
    timeout-minutes: 5
    env: {LEVEL: job, PORT: 8443, FLAG: true}
    steps:
      - uses: actions/checkout@0000000000000000000000000000000000000000
      - name: first
        run: echo "first $LEVEL $FROM_WORKFLOW $PORT $FLAG $OVERRIDE $CI" >> log.txt
      - name: second
        env: {LEVEL: step}
        run: |
          echo "second $LEVEL" >> log.txt
          echo "| table |" >> "$GITHUB_STEP_SUMMARY"
      - name: breaks
        run: |
          false
          echo "not reached" >> log.txt
      - name: after a failure
        run: echo "skipped step ran" >> log.txt
      - name: cleanup
        if: ${{ always() }}
        run: echo "cleanup" >> log.txt
      - name: on failure
        if: failure()
        run: echo "failure handler" >> log.txt
"""


def _run_runner(tmp_path, workflow: str, *args: str):
    path = tmp_path / "workflow.yml"
    path.write_text(workflow)
    return subprocess.run(
        [sys.executable, RUNNER, str(path), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_runner_follows_github_order_env_and_conditions(tmp_path):
    result = _run_runner(tmp_path, SAMPLE, "--env", "OVERRIDE=local")
    assert result.returncode == 1, result.stdout + result.stderr
    assert (tmp_path / "log.txt").read_text().splitlines() == [
        "first job yes 8443 true local true",
        "second step",
        "cleanup",
        "failure handler",
    ]
    assert "skipped here: a `uses:` step needs GitHub's hosted runner" in result.stdout
    assert "documented job: failed: breaks" in result.stdout
    assert "=== GITHUB_STEP_SUMMARY\n| table |" in result.stdout


def test_runner_override_wins_over_the_step_env(tmp_path):
    workflow = "jobs:\n  j:\n    steps:\n      - env: {A: step}\n        run: echo $A > a.txt\n"
    result = _run_runner(tmp_path, workflow, "--env", "A=override")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "a.txt").read_text() == "override\n"


def test_runner_stops_a_step_at_its_timeout(tmp_path):
    workflow = (
        "jobs:\n  j:\n    steps:\n      - name: slow\n        timeout-minutes: 0.01\n"
        "        run: |\n          sleep 30\n          echo late > late.txt\n"
    )
    result = _run_runner(tmp_path, workflow)
    assert result.returncode == 1
    assert "timed out after" in result.stdout
    assert not (tmp_path / "late.txt").exists()


@pytest.mark.parametrize(
    ("workflow", "message"),
    [
        (
            "jobs:\n  j:\n    steps:\n      - run: echo ${{ github.sha }}\n",
            "step 'step 1': use an environment variable, not ${{ }}",
        ),
        (
            "jobs:\n  j:\n    steps:\n      - if: github.ref == 'main'\n        run: 'true'\n",
            "step 'step 1': cannot evaluate `if: github.ref == 'main'` here",
        ),
        (
            "jobs:\n  j:\n    steps:\n      - run: 'true'\n        continue-on-error: true\n",
            "step 'step 1': documented_job.py does not know ['continue-on-error']",
        ),
        ("jobs:\n  a: {}\n  b: {}\n", "has jobs ['a', 'b']; name one with --job"),
    ],
)
def test_runner_refuses_what_it_cannot_reproduce(tmp_path, workflow, message):
    result = _run_runner(tmp_path, workflow)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.nginx
def test_gateway_script_requires_and_reports_the_client_certificate(tmp_path, generated_pki):
    reason = nginx.missing_reason(needs_js=False)
    if reason:
        pytest.skip(reason)
    certs = os.path.dirname(generated_pki.ca_file)
    port = nginx.free_port()
    env = os.environ | {
        "GATEWAY_RUNTIME": "nginx",
        "GATEWAY_PORT": str(port),
        "CERTS": certs,
        "RUNNER_TEMP": str(tmp_path),
    }

    def script(action):
        return subprocess.run(
            ["bash", GATEWAY_SCRIPT, action], env=env, capture_output=True, text=True, timeout=60
        )

    started = script("start")
    pid_file = tmp_path / "mtls-gateway" / "nginx.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        client = generated_pki.identities[1]
        url = f"https://127.0.0.1:{port}/"
        response = requests.get(url, verify=generated_pki.ca_file, cert=client.requests_cert())
        assert response.headers[gateways.SHA256_HEADER] == fingerprint_of(
            open(client.requests_cert()[0], "rb").read(), "sha1"
        )
        without = requests.get(url, verify=generated_pki.ca_file)
        assert without.status_code == 400  # ssl_verify_client on: a certificate is required
        config = (tmp_path / "mtls-gateway" / "nginx.conf").read_text()
        recipe = gateways.variant("nginx-sha1")
        config_lines = [line.strip() for line in config.splitlines()]
        for line in (recipe.http_lines + recipe.lines).splitlines():
            assert line.strip() in config_lines  # docs/gateways.md's tested recipe
    finally:
        stopped = script("stop")
    assert stopped.returncode == 0, stopped.stderr
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
