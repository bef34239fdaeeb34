"""cell_runs: --resume reuses only rows run with the same settings; --until-crash runs a
native-thread cell again until it crashes or hits its limits (fake cells, no Locust)."""

import io
import json
import sys
import textwrap

import pytest

from locust_mtls.matrix.cell_runs import execute
from locust_mtls.matrix.cells import Cell, CellSettings
from locust_mtls.matrix.envs import Env
from locust_mtls.matrix.progress import StatusLog
from locust_mtls.matrix.repeats import UntilCrash

# A cell that writes a clean summary, or a native-thread engine crash on its Nth run (N
# from the strategy name, e.g. "crash-on-3"; the runs are counted in a file).
FAKE_CELL = textwrap.dedent(
    """
    import json, os, sys
    strategy, summary_file, counter = sys.argv[1:4]
    runs = int(open(counter).read()) + 1 if os.path.exists(counter) else 1
    open(counter, "w").write(str(runs))
    crash_on = int(strategy.rsplit("-", 1)[1]) if strategy.startswith("crash-on-") else 0
    crash = {"signal": "SIGSEGV", "requests_done": 5} if runs == crash_on else None
    counters = {"requests": 10, "failures": 0, "wrong_identity": 0, "bleed": 0,
                "crashes": 2 if crash else 0, "crash": crash, "rps": 5.0}
    with open(summary_file, "w") as f:
        json.dump({"strategies": {strategy: counters}}, f)
    """
)
ENV = Env(python=sys.executable, facts={"requests": "2.32.3", "python": "3.11.7"})


@pytest.fixture
def fake_argv(tmp_path):
    script = tmp_path / "fake_cell.py"
    script.write_text(FAKE_CELL)

    def build(cell, env, settings, summary_file):
        counter = tmp_path / f"{cell.strategy}-{cell.concurrency}.runs"
        return [env.python, str(script), cell.strategy, str(summary_file), str(counter)]

    return build


def settings(users=4, split="requests"):
    return CellSettings(users=users, run_time_s=2, host="https://127.0.0.1:1",
                        identities="x.json", timeout_s=20, no_cert_split=split)  # fmt: skip


def run(tmp_path, fake_argv, cells, **options):
    out = io.StringIO()
    envs, chosen = {cell("any").env_key: ENV}, options.pop("settings", settings())
    rows, interrupted = execute(cells, envs, chosen, tmp_path / "out", (), fake_argv,
                                status_log=StatusLog(out), **options)  # fmt: skip
    assert not interrupted
    return rows, out.getvalue()


def cell(strategy, concurrency="native-threads", repeat=1):
    return Cell("3.11", "2.32.3", concurrency, False, strategy, repeat)


def test_until_crash_stops_at_the_first_crash_or_at_the_limit(tmp_path, fake_argv):
    cells = [cell("crash-on-3"), cell("never"), cell("greenlet", "greenlet")]
    rows, log = run(tmp_path, fake_argv, cells, until_crash=UntilCrash(max_runs=4, max_s=600))
    runs = {}
    for row in rows:
        runs.setdefault(row["strategy"], []).append((row["repeat"], row["outcome"]))
    assert runs["crash-on-3"] == [(1, "clean"), (2, "clean"), (3, "crashed")]
    assert runs["never"] == [(1, "clean"), (2, "clean"), (3, "clean"), (4, "clean")]
    assert runs["greenlet"] == [(1, "clean")]  # only native-thread cells repeat
    crashed = rows[2]
    assert crashed["crashes"] == 2 and crashed["detail"].startswith("crashed 2 times")
    assert "(until a crash, at most 4 runs / 600 s)" in log
    # What the views say of these settings travels on every row.
    assert {(row["repeats"], json.dumps(row["until_crash"])) for row in rows} == {
        (1, '{"max_runs": 4, "max_s": 600}')
    }
    assert "8/8 py3.11/requests-2.32.3/greenlet/keepalive-off/greenlet/1: clean" in log


def test_resume_reuses_only_rows_with_the_same_settings_and_says_so(tmp_path, fake_argv, capsys):
    first, _ = run(tmp_path, fake_argv, [cell("a"), cell("b")])
    assert len(first) == 2
    again, _ = run(tmp_path, fake_argv, [cell("a"), cell("b")], resume=True)
    assert again == []
    assert "reusing 2 cell runs with users 4, run time s 2" in capsys.readouterr().err
    changed, _ = run(tmp_path, fake_argv, [cell("a"), cell("b")], resume=True,
                     settings=settings(users=8, split="users"))  # fmt: skip
    assert [row["users"] for row in changed] == [8, 8]
    err = capsys.readouterr().err
    assert "2 earlier cell runs used other settings (no cert split requests, users 4)" in err
    superseded = (tmp_path / "out" / "results.superseded.jsonl").read_text().splitlines()
    assert [json.loads(line)["users"] for line in superseded] == [4, 4]
    kept = (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line)["no_cert_split"] for line in kept] == ["users", "users"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_finished_lines_stay_above_a_one_line_bar():
    screen = Terminal()
    log = StatusLog(screen)
    log.show(lambda: "[##   ] 1/3 cells")
    log.log("1/3 py3.11/requests-2.32.3/greenlet/keepalive-off/identity-cache/1: clean (0:02)")
    log.close()
    text = screen.getvalue()
    # Each kept line first clears the bar, ends with a newline, and the bar is redrawn below.
    assert (
        "\r\033[K1/3 py3.11/requests-2.32.3/greenlet/keepalive-off/identity-cache/1: clean (0:02)\n"
        in text
    )
    assert text.count("\n") == 1 and text.endswith("\r\033[K")
