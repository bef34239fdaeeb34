"""verdict: must-be-clean strategies judged, and every baseline's failures named."""

import json

from test_report import ROWS, crashed, row

from locust_mtls.matrix import aggregate, outcomes
from locust_mtls.matrix.report import summary_markdown
from locust_mtls.matrix.verdict import verdict_lines

UNTIL_CRASH = {"max_runs": 10, "max_s": 240.0}


def test_verdict_is_clean_when_only_unsafe_by_design_strategies_fail():
    rows = [
        r for r in ROWS if r["strategy"] in ("requests-default", "locked-load", "identity-cache")
    ]
    assert outcomes.failing_rows(rows) == []
    verdict = verdict_lines(rows)
    assert verdict[0] == "All must-be-clean strategies are clean: identity-cache (2 runs)."
    assert verdict[1:] == [
        "Baselines (not must-be-clean): requests-default: crashed on 2.32.3 (native-threads, "
        "3 of 3 runs); bled a certificate on 2.32.3 (greenlet, 2 of 2 runs); clean on 2.34.2.",
        "locked-load: sent a wrong identity on 2.32.3 (1 of 1 runs).",
    ]
    quiet = [r for r in rows if r["strategy"] != "locked-load"] + [row("locked-load")]
    assert "locked-load: clean in all 1 runs - NOT the failure" in verdict_lines(quiet)[-1]
    assert [r["strategy"] for r in outcomes.failing_rows(ROWS)] == ["thread-local"]


def until_crash_rows() -> list[dict]:
    """--repeat 1 --until-crash, as cell_runs writes it: native-thread cells run again until
    one crashes. Every run of shared-context bleeds (on 2.31.0 also with wrong identities,
    which is its worst outcome there); requests-default's one crash comes in run 4, after
    three runs of wrong identities and bleed, and that run had them too."""
    stamp = {"repeats": 1, "until_crash": UNTIL_CRASH}
    mixed = {"outcome": "wrong-identity", "wrong_identity": 30, "bleed": 470, "failures": 500}
    bleed = {"outcome": "bleed", "bleed": 500, "failures": 500}
    native = "native-threads"
    return [
        row("shared-context", "2.31.0", **mixed, **stamp),
        *(
            row("shared-context", "2.31.0", native, repeat=r, **mixed, **stamp)
            for r in (1, 2, 3, 4)
        ),
        row("shared-context", "2.32.3", **bleed, **stamp),
        *(row("shared-context", "2.32.3", native, repeat=r, **bleed, **stamp) for r in (1, 2)),
        crashed("shared-context", 3, bleed=40, failures=40, **stamp),
        *(row("requests-default", "2.32.3", native, repeat=r, **mixed, **stamp) for r in (1, 2, 3)),
        crashed("requests-default", 4, wrong_identity=2, bleed=30, failures=32, **stamp),
        row("requests-default", "2.32.3", **bleed, **stamp),
        row("identity-cache", "2.32.3", **stamp),
    ]


def test_verdict_and_cells_count_runs_per_kind_not_by_the_worst_outcome(tmp_path):
    (tmp_path / "results.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in until_crash_rows())
    )
    rows = aggregate.load_rows(tmp_path)
    verdict = verdict_lines(rows)
    assert verdict[1:] == [
        "Baselines (not must-be-clean): requests-default: crashed on 2.32.3 (native-threads, "
        "1 of 4 runs, first in run 4); sent a wrong identity on 2.32.3 (native-threads, 4 of 4 "
        "runs); bled a certificate on 2.32.3 (5 of 5 runs).",
        "shared-context: crashed on 2.32.3 (native-threads, 1 of 3 runs, first in run 3); sent a "
        "wrong identity on 2.31.0 (5 of 5 runs); bled a certificate on every version (9 of 9 "
        "runs).",
    ]
    _, _, cells = aggregate.grid(rows)
    native_232 = ("3.11", "2.32.3", "native-threads", False)
    assert cells[("requests-default", native_232)]["text"] == (
        "crash 1/4 runs (first: run 4), wrong id 4/4 runs (6% of with-cert), "
        "bleed 4/4 runs (94% of no-cert)"
    )
    assert cells[("shared-context", native_232)]["text"] == (
        "crash 1/3 runs (first: run 3), bleed 3/3 runs (100% of no-cert)"
    )
    assert cells[("shared-context", ("3.11", "2.31.0", "greenlet", False))]["text"] == (
        "wrong id 6% of with-cert, bleed 94% of no-cert"
    )
    settings = summary_markdown(rows).split("Settings: ")[1].split("\n")[0]
    assert settings == (
        "15 cell runs; 32 users; 15 s per run; --repeat 1; --until-crash: native-thread cells "
        "ran again until a run crashed, at most 10 runs / 240 s; up to 4 runs per cell; "
        "no-cert split requests (each user mixes cert and no-cert requests); host embedded."
    )
