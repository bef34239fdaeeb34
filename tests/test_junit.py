"""JUnit XML of a run (results/junit.py, results/run_checks.py): the structure CI test
reporters read, counts that add up, one failing testcase per failed threshold or gated
counter, and text that survives any character. Thresholds are built by hand in the
contract's shape (the summary document's "thresholds" list)."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from locust_mtls.results.junit import Case, Suite, junit_xml, write_junit
from locust_mtls.results.run_checks import failed_checks, run_cases, run_suite
from locust_mtls.settings import DEFAULT_FAIL_ON


def verdict(expression, metric, operator, limit, measured, passed, row="all", unit=""):
    scope = expression.split(":")[0] if ":" in expression else ""
    return {"expression": expression, "scope": scope, "row": row, "metric": metric,
            "operator": operator, "limit": limit, "unit": unit, "measured": measured,
            "passed": passed, "aborted": False}  # fmt: skip


def row(requests=100, identity_check="auto", **counters):
    return {"requests": requests, "wrong_identity": 0, "bleed": 0, "crashes": 0,
            "unreported": 0, "identity_check": identity_check, **counters}  # fmt: skip


DOCUMENT = {
    "environment": {"requests": "2.32.3", "locust": "2.47.0"},
    "client_path": "requests 2.32.3",
    "strategies": {
        "identity-cache": row(),
        "shared-context [keep-alive off]": row(bleed=12, wrong_identity=3),
    },
    "thresholds": [
        verdict("bleed<=0", "bleed", "<=", 0.0, 12.0, False),
        verdict("identity-cache:rps>=400", "rps", ">=", 400.0, 388.2, False, "identity-cache"),
        verdict("handshake_p95<50ms", "handshake_p95", "<", 50.0, 12.5, True, unit="ms"),
        verdict("fail_ratio<0.01", "fail_ratio", "<", 0.01, None, False, "shared-context"),
    ],
}


# junit-10.xsd (jenkinsci/xunit-plugin), the parts we write: element -> (required
# attributes, allowed attributes, allowed children). GitLab and GitHub reporters read a subset.
SCHEMA = {
    "testsuites": (set(), {"name", "time", "tests", "failures", "errors"}, {"testsuite"}),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {"name", "tests", "failures", "errors", "time", "skipped", "timestamp", "hostname"},
        {"properties", "testcase"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": ({"name"}, {"name", "time", "classname"}, {"failure", "skipped"}),
    "failure": (set(), {"type", "message"}, set()),
    "skipped": (set(), {"type", "message"}, set()),
}
SUREFIRE_TIME = re.compile(r"(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?")


def check_schema(element: ET.Element) -> None:
    required, allowed, children = SCHEMA[element.tag]
    assert required <= set(element.attrib) <= allowed, element.tag
    if "time" in element.attrib and element.tag != "testcase":
        assert SUREFIRE_TIME.fullmatch(element.get("time")), element.get("time")
    for child in element:
        assert child.tag in children, f"{child.tag} in {element.tag}"
        check_schema(child)


def parse(text: str) -> ET.Element:
    root = ET.fromstring(text.encode())
    assert root.tag == "testsuites"
    check_schema(root)
    return root


def test_the_run_is_one_suite_whose_counts_match_its_testcases():
    root = parse(junit_xml([run_suite(DOCUMENT, DEFAULT_FAIL_ON, time_s=3.2)]))
    (suite,) = root
    assert suite.tag == "testsuite" and suite.get("name") == "locust-mtls"
    for attribute in ("name", "tests", "failures", "errors", "skipped", "time", "timestamp",
                      "hostname"):  # fmt: skip
        assert suite.get(attribute), attribute
    datetime.strptime(suite.get("timestamp"), "%Y-%m-%dT%H:%M:%S")  # the XSD's format
    cases = suite.findall("testcase")
    failed = [case for case in cases if case.find("failure") is not None]
    # 4 thresholds, then 3 gated counters x 2 rows
    assert len(cases) == int(suite.get("tests")) == int(root.get("tests")) == 4 + 8
    assert len(failed) == int(suite.get("failures")) == int(root.get("failures")) == 3 + 2
    assert suite.get("errors") == root.get("errors") == "0"
    assert float(suite.get("time")) == 3.2
    for case in cases:
        assert case.get("classname") and case.get("name") and float(case.get("time")) == 0
        assert [child.tag for child in case] in ([], ["failure"])
    properties = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert properties["requests"] == "2.32.3" and properties["client_path"] == "requests 2.32.3"


def test_one_failing_testcase_per_failed_threshold_with_measured_value_and_limit():
    cases = {case.name: case for case in run_cases(DOCUMENT, "")}
    assert len(cases) == 4  # --mtls-fail-on "": no gated counter, thresholds only
    assert cases["bleed<=0"].failure == "bleed: measured 12, limit <= 0"
    assert cases["identity-cache:rps>=400"].failure == "rps: measured 388.2, limit >= 400"
    assert cases["handshake_p95<50ms"].failure is None
    # unscoped on one row: the row is named; no data is a failure that says so
    no_data = cases["fail_ratio<0.01 [shared-context]"]
    assert no_data.failure == "fail_ratio: measured no data, limit < 0.01"  # as the console says
    assert {case.failure_type for case in cases.values()} == {"threshold"}


def test_gated_counters_come_from_fail_on_and_each_rows_identity_check():
    document = {
        "strategies": {
            "checked": row(unreported=5),
            "required": row(identity_check="require", unreported=5, crashes=1),
        }
    }
    names = {case.name: case.failure for case in run_cases(document, DEFAULT_FAIL_ON)}
    assert names == {
        "checked: wrong_identity == 0": None,
        "checked: missing_certificate == 0": None,
        "checked: bleed == 0": None,
        "checked: crashes == 0": None,
        "required: wrong_identity == 0": None,
        "required: missing_certificate == 0": None,
        "required: bleed == 0": None,
        "required: crashes == 0": "crashes: 1 in 100 requests (must be 0)",
        # require adds unreported to the default gate (settings.fail_on_counters)
        "required: unreported == 0": "unreported identity: 5 in 100 requests (must be 0)",
    }
    only_bleed = run_cases(document, "bleed")
    assert [case.name for case in only_bleed] == ["checked: bleed == 0", "required: bleed == 0"]
    assert failed_checks(document, "bleed") == []
    assert failed_checks(document, "crash") == ["required: crashes: 1 in 100 requests (must be 0)"]


def test_special_characters_are_escaped_and_survive_a_round_trip():
    nasty = "rps<400 & \"p95\">50 'quoted' <tag/> ]]> é \x00\x1b"
    suite = Suite(
        "s<&>",
        [Case("class&<>", nasty, failure=nasty, failure_type="t", details=nasty),
         Case("c", "skipped one", skipped=nasty)],
        timestamp=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )  # fmt: skip
    text = junit_xml([suite])
    assert "<tag/>" not in text and "\x00" not in text  # escaped, and the unwritable dropped
    (parsed,) = parse(text)
    assert parsed.get("name") == "s<&>" and parsed.get("timestamp") == "2026-01-02T03:04:05"
    failing, skipped = parsed.findall("testcase")
    readable = nasty.replace("\x00", "\ufffd").replace("\x1b", "\ufffd")
    assert failing.get("name") == readable and failing.get("classname") == "class&<>"
    assert failing.find("failure").get("message") == readable
    assert failing.find("failure").text == readable
    assert skipped.find("skipped").get("message") == readable
    assert parsed.get("skipped") == "1" and parsed.get("failures") == "1"
    with pytest.raises(AssertionError):  # the schema check can fail
        check_schema(ET.fromstring('<testsuites skipped="1"/>'))


def test_write_junit_replaces_the_file_whole(tmp_path):
    path = tmp_path / "junit.xml"
    path.write_text("old, half-written")
    write_junit(str(path), [Suite("s", [Case("c", "n")])])
    assert parse(path.read_text()).get("tests") == "1"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left
