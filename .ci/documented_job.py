"""Run the documented GitHub Actions job here, so the recipe in docs/ci.md cannot rot.

    python .ci/documented_job.py docs/ci/github-actions.yml [--job NAME] [--env KEY=VALUE]...

Every `run:` step of the job runs in order, as GitHub runs it (`bash --noprofile --norc
-eo pipefail`, in the checkout, with the workflow's, the job's and the step's `env:`, then
the `--env` overrides); every `uses:` step (checkout, setup-python, artifact upload, JUnit
check) needs GitHub's hosted runner and is skipped with a line naming it. Each step is
bounded by its `timeout-minutes` (and the job by its own); `if:` knows `always()`,
`!cancelled()`, `success()` and `failure()`. GITHUB_STEP_SUMMARY is a temporary file,
printed at the end. Exit code 1 when a step fails, 2 when the workflow uses something this
runner cannot do faithfully (an expression in a script, an unknown step key).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import yaml

# GitHub's `shell: bash` on Linux (docs: "Workflow syntax", jobs.<job_id>.steps[*].shell).
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
RUN_STEP_KEYS = {"name", "id", "run", "env", "if", "timeout-minutes", "shell", "working-directory"}
CONDITIONS = {"": "success", "success()": "success", "failure()": "failure"}
CONDITIONS |= {"always()": "always", "!cancelled()": "always"}
DEFAULT_TIMEOUT_MINUTES = 360  # GitHub's default for a job and a step


class WorkflowError(Exception):
    """The workflow asks for something this runner cannot reproduce faithfully."""


@dataclass(frozen=True)
class Step:
    """One step of the job: a script to run here, or an action that is skipped."""

    name: str
    script: str | None  # None: a `uses:` step
    env: dict[str, str]
    condition: str  # "success" | "failure" | "always"
    timeout_minutes: float
    working_directory: str


def load_job(path: str, job: str | None = None) -> tuple[dict[str, str], dict]:
    """(workflow env merged with the job's env, the job), the only job when `job` is None."""
    with open(path) as file:
        workflow = yaml.safe_load(file)
    jobs = workflow.get("jobs") or {}
    if job is None:
        if len(jobs) != 1:
            raise WorkflowError(f"{path} has jobs {sorted(jobs)}; name one with --job")
        job = next(iter(jobs))
    if job not in jobs:
        raise WorkflowError(f"{path} has no job {job!r}; it has {sorted(jobs)}")
    return _env(workflow.get("env")) | _env(jobs[job].get("env")), jobs[job]


def plan(job: dict) -> list[Step]:
    """The job's steps in order, each checked for what this runner can do."""
    return [_step(number, raw) for number, raw in enumerate(job.get("steps") or [], 1)]


def _step(number: int, raw: dict) -> Step:
    name = raw.get("name") or raw.get("id") or raw.get("uses") or f"step {number}"
    condition = _condition(name, raw.get("if", ""))
    if "uses" in raw:
        return Step(name, None, {}, condition, 0, ".")
    unknown = set(raw) - RUN_STEP_KEYS
    if unknown:
        raise WorkflowError(f"step {name!r}: documented_job.py does not know {sorted(unknown)}")
    if raw.get("shell", "bash") != "bash":
        raise WorkflowError(f"step {name!r}: only `shell: bash` runs here")
    env = _env(raw.get("env"))
    for text in [raw["run"], *env.values()]:
        if "${{" in text:
            # GitHub substitutes these before bash sees the script; we cannot.
            raise WorkflowError(f"step {name!r}: use an environment variable, not ${{{{ }}}}")
    timeout = float(raw.get("timeout-minutes", DEFAULT_TIMEOUT_MINUTES))
    return Step(name, raw["run"], env, condition, timeout, raw.get("working-directory", "."))


def _condition(name: str, expression) -> str:
    text = str(expression).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2].strip()
    if text not in CONDITIONS:
        raise WorkflowError(f"step {name!r}: cannot evaluate `if: {expression}` here")
    return CONDITIONS[text]


def _env(raw: dict | None) -> dict[str, str]:
    # GitHub turns YAML true/false into "true"/"false" and numbers into their text.
    return {
        str(key): str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in (raw or {}).items()
    }


def run_step(step: Step, env: dict[str, str], timeout_s: float) -> int:
    """Run one script in its own process group; on timeout that group is stopped."""
    with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as script:
        script.write(step.script)
    try:
        process = subprocess.Popen(
            [*BASH, script.name], cwd=step.working_directory, env=env, start_new_session=True
        )
        try:
            return process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            print(f"timed out after {timeout_s:.0f} s: stopping the step", flush=True)
            _stop_group(process)
            return 124  # what timeout(1) returns
    finally:
        os.unlink(script.name)


def _stop_group(process: subprocess.Popen) -> None:
    # The group is the one start_new_session made for this step (bash and its children).
    for stop_signal, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, stop_signal)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_job(steps: list[Step], env: dict[str, str], job_timeout_minutes: float) -> int:
    """Run the steps as GitHub would; 1 when any failed, else 0."""
    deadline = time.monotonic() + job_timeout_minutes * 60
    failed: list[str] = []
    for step in steps:
        print(f"\n=== {step.name}", flush=True)
        if step.script is None:
            print("skipped here: a `uses:` step needs GitHub's hosted runner", flush=True)
            continue
        wanted = {"always": True, "success": not failed, "failure": bool(failed)}
        if not wanted[step.condition]:
            print(f"skipped: `if: {step.condition}()` after {failed or 'no failure'}")
            continue
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            failed.append(f"{step.name} (job timeout)")
            continue
        started = time.monotonic()
        code = run_step(step, env | step.env, min(step.timeout_minutes * 60, remaining))
        took = time.monotonic() - started
        print(f"--- {'ok' if code == 0 else f'FAILED (exit {code})'} in {took:.1f} s", flush=True)
        if code:
            failed.append(step.name)
    print(f"\ndocumented job: {'failed: ' + ', '.join(failed) if failed else 'ok'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow")
    parser.add_argument("--job", help="job id (default: the only job)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        overrides = dict(_key_value(item) for item in args.env)
        workflow_env, job = load_job(args.workflow, args.job)
        steps = plan(job)
    except (WorkflowError, OSError, yaml.YAMLError) as error:
        print(f"documented_job.py: error: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="documented-job-") as temp:
        summary = os.path.join(temp, "step-summary.md")
        env = (
            os.environ
            | workflow_env
            | {
                "CI": "true",
                "GITHUB_WORKSPACE": os.getcwd(),
                "GITHUB_STEP_SUMMARY": summary,
                "RUNNER_TEMP": temp,
            }
        )
        steps = [_with_env(step, overrides) for step in steps]
        code = run_job(steps, env | overrides, float(job.get("timeout-minutes", 360)))
        if os.path.exists(summary) and os.path.getsize(summary):
            with open(summary) as file:
                print(f"\n=== GITHUB_STEP_SUMMARY\n{file.read()}")
    return code


def _with_env(step: Step, overrides: dict[str, str]) -> Step:
    # --env wins over every level of the workflow's env, the step's included.
    return Step(**{**step.__dict__, "env": step.env | overrides})


def _key_value(item: str) -> tuple[str, str]:
    key, equals, value = item.partition("=")
    if not equals or not key:
        raise WorkflowError(f"--env {item!r}: write KEY=VALUE")
    return key, value


if __name__ == "__main__":
    sys.exit(main())
