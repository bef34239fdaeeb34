"""A run's checks as a CI pipeline sees them, from its summary document alone: each threshold
verdict (the document's "thresholds" list) and each `--mtls-fail-on` counter of each row.

The JUnit file (one testcase per check) and the Markdown summary (the gate's verdict) both
read these, so the two never disagree about what failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from locust_mtls.results.junit import Case, Suite
from locust_mtls.results.thresholds import measured_text, value_text
from locust_mtls.settings import BASE_WORDS, fail_on_counters, rate_base

# Test classes: CI tools split a classname at its dots (a row name may hold "TLS 1.2").
THRESHOLDS_CLASS = "locust-mtls.thresholds"
GATE_CLASS = "locust-mtls.gate"
# counter -> what a reader calls it (the tab's column titles)
COUNTER_TITLES = {
    "wrong_identity": "wrong identity",
    "missing_certificate": "missing certificate",
    "bleed": "cert bleed",
    "crashes": "crashes",
    "unreported": "unreported identity",
}


@dataclass(frozen=True)
class SafetyCheck:
    """One gated counter of one row: failed when `count` > 0."""

    row: str
    counter: str
    count: int
    requests: int  # the requests it could happen to (settings.rate_base): its base
    base: str = "requests"  # which they are, a key of settings.BASE_WORDS

    @property
    def failed(self) -> bool:
        return self.count > 0

    @property
    def message(self) -> str:
        """'cert bleed: 30 in 30 requests sent without a certificate (must be 0)'"""
        title = COUNTER_TITLES.get(self.counter, self.counter)
        of = f"{self.requests:,} {BASE_WORDS[self.base]}"
        return f"{title}: {self.count:,} in {of} (must be 0)"


def safety_checks(
    document: dict, fail_on: str, identity_check: str = "auto"
) -> list[SafetyCheck]:
    """Every counter `--mtls-fail-on` gates on, for every row, each in the row's own
    --mtls-identity-check mode (`identity_check` for rows that do not say)."""
    checks = []
    for name, data in document.get("strategies", {}).items():
        for counter in fail_on_counters(fail_on, data.get("identity_check") or identity_check):
            base, requests = rate_base(data, counter)
            checks.append(SafetyCheck(name, counter, int(data.get(counter) or 0), requests, base))
    return checks


def threshold_limit(verdict: dict) -> str:
    """'>= 400', '< 50 ms': the threshold's operator and limit."""
    return f"{verdict['operator']} {value_text(verdict['limit'], verdict.get('unit') or '')}"


def threshold_name(verdict: dict) -> str:
    """The expression, with the row it was evaluated on when that is not obvious from it."""
    row = verdict.get("row") or "all"
    if row in ("all", verdict.get("scope")):
        return verdict["expression"]
    return f"{verdict['expression']} [{row}]"


def threshold_message(verdict: dict) -> str:
    """'rps: measured 388.2, limit >= 400': what a failed threshold says."""
    text = f"{verdict['metric']}: measured {measured_text(verdict)}, limit {threshold_limit(verdict)}"
    return text + (" (aborted the run)" if verdict.get("aborted") else "")


def run_cases(document: dict, fail_on: str, identity_check: str = "auto") -> list[Case]:
    """One testcase per threshold verdict, then one per safety check per row."""
    cases = [
        Case(
            THRESHOLDS_CLASS,
            threshold_name(verdict),
            failure=None if verdict.get("passed") else threshold_message(verdict),
            failure_type="threshold",
        )
        for verdict in document.get("thresholds", [])
    ]
    cases += [
        Case(
            GATE_CLASS,
            f"{check.row}: {check.counter} == 0",
            failure=check.message if check.failed else None,
            failure_type="mtls-gate",
        )
        for check in safety_checks(document, fail_on, identity_check)
    ]
    return cases


def run_suite(
    document: dict,
    fail_on: str,
    identity_check: str = "auto",
    started_at: datetime | None = None,
    time_s: float = 0.0,
) -> Suite:
    """The run as one testsuite; its properties are the versions the run measured."""
    facts = {name: str(value) for name, value in (document.get("environment") or {}).items()}
    return Suite(
        "locust-mtls",
        run_cases(document, fail_on, identity_check),
        time_s=time_s,
        timestamp=started_at,
        properties={**facts, "client_path": document.get("client_path", "")},
    )


def failed_checks(document: dict, fail_on: str, identity_check: str = "auto") -> list[str]:
    """One line per failed threshold or safety check: the gate's verdict, empty if passed."""
    lines = [
        f"{threshold_name(verdict)}: {threshold_message(verdict)}"
        for verdict in document.get("thresholds", [])
        if not verdict.get("passed")
    ]
    checks = safety_checks(document, fail_on, identity_check)
    return lines + [f"{check.row}: {check.message}" for check in checks if check.failed]
