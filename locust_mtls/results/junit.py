"""JUnit XML, the one results format every CI test reporter reads (Jenkins' junit plugin,
GitLab's `artifacts:reports:junit`, GitHub actions such as dorny/test-reporter).

The shape is the common subset of the Ant/Jenkins schema (junit-10.xsd in
jenkinsci/xunit-plugin) those tools accept: `<testsuites tests failures errors time>` around `<testsuite name tests failures
errors skipped time timestamp hostname>`, each holding `<testcase classname name time>` with
an optional `<failure message type>details</failure>` or `<skipped message/>`. The run
(`--mtls-junit`) and the matrix (`--junit`) both build their files here.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime

from locust_mtls.results.files import write_atomically

# XML 1.0 has no way to write these (not even escaped); a crash detail may carry one.
NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class Case:
    """One testcase: passed, failed (`failure` is its one-line message) or skipped."""

    classname: str
    name: str
    failure: str | None = None
    failure_type: str = ""
    details: str = ""  # the failure's body: what a reader opens the test for
    skipped: str | None = None  # the reason
    time_s: float = 0.0


@dataclass(frozen=True)
class Suite:
    """One testsuite: a run, or a matrix. `properties` are shown by Jenkins, ignored elsewhere."""

    name: str
    cases: list[Case]
    time_s: float = 0.0
    timestamp: datetime | None = None  # default: now
    properties: dict[str, str] = field(default_factory=dict)


def counts(cases: list[Case]) -> dict[str, str]:
    """The tests/failures/errors/skipped attributes of a set of cases."""
    return {
        "tests": str(len(cases)),
        "failures": str(sum(case.failure is not None for case in cases)),
        "errors": "0",  # an error is a test that could not run; every check here ran
        "skipped": str(sum(case.skipped is not None for case in cases)),
    }


def xml_text(text: str) -> str:
    return NOT_XML.sub("\ufffd", text)


def seconds(value: float) -> str:
    return f"{value:.3f}"


def suite_element(suite: Suite) -> ET.Element:
    # The XSD's timestamp has no time zone: UTC, said in the suite's properties.
    stamp = (suite.timestamp or datetime.now(UTC)).astimezone(UTC)
    element = ET.Element(
        "testsuite",
        {
            "name": xml_text(suite.name),
            **counts(suite.cases),
            "time": seconds(suite.time_s),
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S"),
            "hostname": socket.gethostname(),
        },
    )
    if suite.properties:
        properties = ET.SubElement(element, "properties")
        for name, value in suite.properties.items():
            ET.SubElement(properties, "property", name=xml_text(name), value=xml_text(str(value)))
    for case in suite.cases:
        testcase = ET.SubElement(
            element,
            "testcase",
            classname=xml_text(case.classname),
            name=xml_text(case.name),
            time=seconds(case.time_s),
        )
        if case.failure is not None:
            failure = ET.SubElement(
                testcase, "failure", message=xml_text(case.failure), type=case.failure_type
            )
            failure.text = xml_text(case.details or case.failure)
        elif case.skipped is not None:
            ET.SubElement(testcase, "skipped", message=xml_text(case.skipped))
    return element


def junit_xml(suites: list[Suite]) -> str:
    """The XML document (UTF-8, with its declaration) of `suites`."""
    every_case = [case for suite in suites for case in suite.cases]
    totals = counts(every_case)
    del totals["skipped"]  # junit-10.xsd allows it on <testsuite> only; strict validators check
    root = ET.Element("testsuites", {**totals, "time": seconds(sum(s.time_s for s in suites))})
    root.extend(suite_element(suite) for suite in suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: str, suites: list[Suite]) -> None:
    """Replace `path` atomically with the JUnit XML of `suites`."""
    write_atomically(path, junit_xml(suites))
