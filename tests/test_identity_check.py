"""engine/identity_check.py and the Checkpoint's judge/count: the check modes, the formats,
the application-level identity, "who was seen" and the gate, with trustme identities."""

from __future__ import annotations

import logging

import pytest

from locust_mtls.engine.checkpoint import Sent
from locust_mtls.engine.checks import failure_for
from locust_mtls.engine.execution import Outcome
from locust_mtls.engine.identity_check import IdentityChecker, MismatchLog
from locust_mtls.engine.run import MtlsRun
from locust_mtls.engine.run_options import RunOptions
from locust_mtls.engine.stats import OTHER_PAIR, SEEN_PAIRS_MAX, MtlsStats, StrategyStats
from locust_mtls.settings import DEFAULT_FAIL_ON, RunSettings, fail_on_counters
from locust_mtls.tls.reported_identity import Verdict, VerdictKind, describe


@pytest.fixture(scope="module")
def run(generated_pki, trust):
    return MtlsRun(RunOptions(trust=trust, identities=tuple(generated_pki.identities)))


def judged(run, identity, reported, mode, identity_format="auto", **seen):
    """(verdict, failure, checkpoint) of one answered request."""
    settings = RunSettings("identity-cache", identity_check=mode, identity_format=identity_format)
    checkpoint = run.checkpoint(settings)
    failure, verdict = checkpoint.judge(Outcome(status=200, reported=reported), identity, **seen)
    return verdict, failure, checkpoint


@pytest.mark.parametrize(
    "mode, fails, counted",
    [("require", True, 1), ("auto", False, 1), ("off", False, 0)],
)
def test_an_unreported_response_in_each_mode(generated_pki, trust, mode, fails, counted):
    run = MtlsRun(RunOptions(trust=trust, identities=tuple(generated_pki.identities)))
    verdict, failure, checkpoint = judged(run, generated_pki.identities[0], None, mode)
    assert (failure is not None) == fails
    if fails:
        assert failure.kind == "unreported" and "--mtls-identity-check auto" in str(failure)
    checkpoint.count(Sent(generated_pki.identities[0], checkpoint), verdict, failure)
    row = checkpoint.row
    assert (row.unreported, row.checked, row.failures) == (counted, 0, int(fails))
    assert row.identity_check == mode


def test_off_never_fails_even_on_bleed(run, generated_pki):
    bleed = generated_pki.identities[0].fingerprint
    assert judged(run, None, bleed, "off")[1] is None
    assert judged(run, None, bleed, "auto")[1].kind == "bleed"


@pytest.mark.parametrize("identity_format", ["sha1", "auto"])
def test_sha1_fingerprints_of_nginx_are_right_in_sha1_and_auto(run, generated_pki, identity_format):
    first, second = generated_pki.identities[:2]
    colons = ":".join(first.sha1_fingerprint[i : i + 2] for i in range(0, 40, 2)).upper()
    verdict, failure, _ = judged(run, first, colons, "require", identity_format)
    assert failure is None and verdict.kind == VerdictKind.RIGHT
    verdict, failure, _ = judged(run, second, first.sha1_fingerprint, "require", identity_format)
    assert failure.kind == "wrong_identity"
    assert (verdict.sent, verdict.seen) == (second.name, first.name)


def test_sha1_read_as_sha256_is_unchecked_under_auto_and_says_why(run, generated_pki):
    first = generated_pki.identities[0]
    verdict, failure, _ = judged(run, first, first.sha1_fingerprint, "auto", "sha256")
    assert failure is None and verdict.kind == VerdictKind.UNPARSED
    assert "use --mtls-identity-format sha1" in verdict.hint
    _, failure, _ = judged(run, first, first.sha1_fingerprint, "require", "sha256")
    assert failure.kind == "unreported" and "not readable as sha256" in str(failure)


def test_subject_in_legacy_order(run, generated_pki):
    first = generated_pki.identities[0]
    legacy = "/" + "/".join(reversed(first.subject.split(",")))
    assert judged(run, first, legacy, "require", "subject")[1] is None


@pytest.mark.parametrize("how", ["name", "common name", "sha256", "sha1"])
def test_application_identity_by_name_cn_or_fingerprint(run, generated_pki, how):
    first, second = generated_pki.identities[:2]
    value = {
        "name": first.name,
        "common name": first.subject.split("CN=")[1].split(",")[0].upper(),
        "sha256": first.fingerprint,
        "sha1": first.sha1_fingerprint,
    }[how]
    assert judged(run, first, None, "require", seen=value)[1] is None
    assert judged(run, second, None, "require", seen=value)[1].kind == "wrong_identity"
    assert judged(run, None, None, "require", seen=value)[1].kind == "bleed"


def test_application_identity_none_unknown_and_silent(run, generated_pki):
    first = generated_pki.identities[0]
    assert judged(run, None, "ignored header", "require", seen="none")[1] is None
    verdict, failure, _ = judged(run, first, None, "auto", seen="svc-unknown")
    assert failure is None and verdict.kind == VerdictKind.UNPARSED
    assert "not the name, CN or fingerprint of any identity" in describe(verdict)
    assert judged(run, first, first.fingerprint, "require", seen=None)[1].kind == "unreported"


def test_two_identities_with_one_common_name_match_like_a_shared_subject(generated_pki):
    import dataclasses

    first, second = generated_pki.identities[:2]
    first = dataclasses.replace(first, name="twin-a")  # names other than the CN
    twin = dataclasses.replace(second, name="twin-b", subject=first.subject)
    checker = IdentityChecker([first, twin])
    common_name = first.subject.split("CN=")[1].split(",")[0]
    verdict = checker.verdict(twin, common_name, application=True)
    assert verdict.kind == VerdictKind.RIGHT  # the subject cannot tell the twins apart
    assert checker.verdict(None, common_name, application=True).seen.endswith("(same subject)")


def test_failure_messages_are_stable_and_carry_the_verdict():
    other = Verdict(VerdictKind.WRONG, "a", "b", "fingerprint")
    wrong = failure_for(other)
    none = failure_for(Verdict(VerdictKind.MISSING, "a", "no certificate", "none"))
    assert str(wrong) == "wrong identity: server saw another client's certificate"
    assert str(none) == "missing certificate: sent one, server saw none"
    assert wrong.verdict is other and describe(other) == "sent a, server saw b"
    assert failure_for(Verdict(VerdictKind.RIGHT)) is None
    assert failure_for(Verdict(VerdictKind.UNREPORTED, "x"), "auto") is None


def test_mismatches_are_logged_once_per_pair_per_interval(caplog):
    now = [100.0]
    log = MismatchLog(interval_s=10.0, clock=lambda: now[0])
    bleed = Verdict(VerdictKind.BLEED, "no certificate", "client-1")
    other = Verdict(VerdictKind.BLEED, "no certificate", "client-2")
    with caplog.at_level(logging.WARNING, logger="locust_mtls"):
        assert log.log("row", bleed) and not log.log("row", bleed)
        assert log.log("row", other) and log.log("other row", bleed)
        now[0] += 10.0
        assert log.log("row", bleed)
    assert len(caplog.records) == 4
    assert "row: bleed: sent no certificate, server saw client-1" in caplog.records[0].message


def test_record_counts_pairs_and_logs_them(run, generated_pki, caplog):
    first = generated_pki.identities[0]
    with caplog.at_level(logging.WARNING, logger="locust_mtls"):
        checkpoint = run.checkpoint(RunSettings("shared-context", keepalive=False))
        for _ in range(3):
            sent = Sent(None, checkpoint, Outcome(status=200, reported=first.fingerprint))
            checkpoint.check(sent)
    row = checkpoint.row
    assert row.bleed == 3 and row.checked == 3
    assert row.seen_pairs == {("no certificate", first.name): 3}
    (line,) = [r.message for r in caplog.records if "shared-context [keep-alive off]" in r.message]
    assert line.endswith(f"sent no certificate, server saw {first.name}")


def test_seen_pairs_are_bounded_and_merge_across_workers():
    stats = StrategyStats(strategy="shared-context")
    for n in range(SEEN_PAIRS_MAX + 5):
        stats.count_pair("no certificate", f"unknown certificate {n}")
    assert len(stats.seen_pairs) == SEEN_PAIRS_MAX + 1 and stats.seen_pairs[OTHER_PAIR] == 5
    worker = MtlsStats()
    worker.row("shared-context").count_pair("no certificate", "client-1", 4)
    worker.row("shared-context").use_check("require")
    other = MtlsStats()
    other.row("shared-context").count_pair("no certificate", "client-1", 2)
    other.row("shared-context").use_check("auto")
    merged = MtlsStats.merged([worker.to_dict(), other.to_dict()]).rows["shared-context"]
    assert merged.seen_pairs == {("no certificate", "client-1"): 6}
    assert merged.identity_check == "require"  # the strictest mode gates the row
    pairs = worker.to_dict()["strategies"]["shared-context"]["seen_pairs"]
    assert pairs == [{"sent": "no certificate", "seen": "client-1", "count": 4}]


def test_the_default_gate_adds_unreported_under_require_only():
    default = DEFAULT_FAIL_ON
    assert "unreported" in fail_on_counters(default, "require")
    assert "unreported" not in fail_on_counters(default, "auto")
    assert fail_on_counters("bleed", "require") == ["bleed"]  # an explicit list is kept
    assert fail_on_counters("unreported", "auto") == ["unreported"]
