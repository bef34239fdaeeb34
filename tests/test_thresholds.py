"""results/thresholds: parsing every operator, unit and scope; one-line errors naming the
expression; verdicts over plain measured values; docs/locust.md's table from METRICS."""

from pathlib import Path

import pytest

from locust_mtls.errors import ConfigError
from locust_mtls.results.thresholds import (
    METRICS,
    OPERATORS,
    evaluate,
    failed_for_good,
    markdown_table,
    parse_threshold,
    parse_thresholds,
    verdict_line,
)
from locust_mtls.strategies import STRATEGIES

# The metrics table lives in docs/locust.md.
METRICS_DOC = Path(__file__).resolve().parent.parent / "docs" / "locust.md"


def parse(expression: str):
    return parse_threshold(expression, list(STRATEGIES))


@pytest.mark.parametrize("op", list(OPERATORS))
def test_every_operator_parses_and_judges(op):
    threshold = parse(f"bleed {op} 2")
    assert (threshold.metric, threshold.operator, threshold.limit) == ("bleed", op, 2.0)
    expected = {"<": [True, False, False], "<=": [True, True, False], ">": [False, False, True]}
    expected |= {">=": [False, True, True], "==": [False, True, False], "!=": [True, False, True]}
    assert [threshold.holds(value) for value in (1, 2, 3)] == expected[op]
    assert not threshold.holds(None)  # no data never passes


@pytest.mark.parametrize(
    "expression, metric, limit, unit",
    [
        ("handshake_p95<50ms", "handshake_p95", 50.0, "ms"),
        ("handshake_p95<50", "handshake_p95", 50.0, "ms"),  # time without a unit: ms
        ("handshake_p99 <= 0.25s", "handshake_p99", 250.0, "ms"),
        ("response_avg<1s", "response_avg", 1000.0, "ms"),
        ("fail_ratio<1%", "fail_ratio", 0.01, ""),
        ("wrong_identity_rate<0.0001", "wrong_identity_rate", 0.0001, ""),
        ("unreported_rate<=2.5%", "unreported_rate", 0.025, ""),
        ("rps>=1e3", "rps", 1000.0, ""),
        ("crashes==0", "crashes", 0.0, ""),
        ("requests > .5", "requests", 0.5, ""),
    ],
)
def test_units_convert_to_the_metrics_own(expression, metric, limit, unit):
    threshold = parse(expression)
    assert threshold.metric == metric and threshold.scope == ""
    assert threshold.limit == pytest.approx(limit) and threshold.unit == unit


@pytest.mark.parametrize(
    "expression, scope",
    [
        ("identity-cache:rps>=400", "identity-cache"),
        ("shared-context : bleed<=0", "shared-context"),
        ("identity-cache [keep-alive off]:bleed==0", "identity-cache [keep-alive off]"),
        # A row name may hold ':' (an OpenSSL cipher string): the scope ends at the last one.
        ("thread-local [ciphers ECDHE:AES128]:crashes==0", "thread-local [ciphers ECDHE:AES128]"),
    ],
)
def test_scopes_name_a_strategy_or_a_row(expression, scope):
    assert parse(expression).scope == scope


@pytest.mark.parametrize(
    "expression, says",
    [
        ("bleed=0", "unknown operator '='; use one of: < <= > >= == !="),
        ("bleed=<0", "unknown operator '=<'"),
        ("bleed", "write [STRATEGY:]METRIC OP VALUE, e.g. bleed<=0"),
        ("", "write [STRATEGY:]METRIC OP VALUE"),
        ("p95<50ms", "unknown metric 'p95'; use one of: bleed, wrong_identity"),
        ("fastest:rps>=1", "unknown scope 'fastest'; write a strategy (requests-default,"),
        ("bleed<=0ms", "bleed takes no unit, not 'ms'; e.g. bleed<=0"),
        ("rps>=400%", "rps takes no unit (per second), not '%'; e.g. rps>=400"),
        ("handshake_p95<50us", "handshake_p95 takes ms (the default) or s, not 'us'"),
        ("fail_ratio<1ms", "fail_ratio takes a fraction (0.01) or % (1%), not 'ms'"),
        ("rps>=fast", "'fast' is not a number; e.g. rps>=400"),
        ("rps>=nan", "'nan' is not a number"),
        ("bleed<=", "'' is not a number; e.g. bleed<=0"),
        ("identity-cache:response_p95<5", "has none per strategy; write it without a scope"),
    ],
)
def test_bad_input_is_one_line_naming_the_expression_and_the_fix(expression, says):
    with pytest.raises(ConfigError) as error:
        parse(expression)
    message = str(error.value)
    assert message.startswith(f"--mtls-threshold {expression!r}: ")
    assert says in message and "\n" not in message


def test_an_unknown_metric_lists_every_metric():
    with pytest.raises(ConfigError) as error:
        parse("latency<5")
    assert str(error.value).endswith(", ".join(METRICS))


def test_parse_thresholds_keeps_the_order_and_takes_none():
    assert parse_thresholds(None, STRATEGIES) == []
    parsed = parse_thresholds(["rps>=1", "bleed<=0"], STRATEGIES)
    assert [t.metric for t in parsed] == ["rps", "bleed"]


ROWS = {
    "shared-context": ("shared-context", {"bleed": 12, "rps": 210.04, "requests": 600}),
    "shared-context [keep-alive off]": ("shared-context", {"bleed": 0, "rps": 90.0}),
    "identity-cache": ("identity-cache", {"bleed": 0, "rps": 388.24}),
}
TOTAL = {"bleed": 12, "rps": 688.3, "handshake_p95": 7.8, "fail_ratio": 0.0000123456789}


def test_a_scoped_threshold_gets_one_verdict_per_row_of_its_strategy():
    verdicts = evaluate(parse_thresholds(["shared-context:bleed<=0"], STRATEGIES), ROWS, TOTAL)
    assert [(v["row"], v["measured"], v["passed"]) for v in verdicts] == [
        ("shared-context", 12, False),
        ("shared-context [keep-alive off]", 0, True),
    ]


def test_verdicts_have_the_summary_shape_and_round_what_they_judge():
    expressions = ["identity-cache:rps>=400", "handshake_p95<0.05s", "fail_ratio<0.001%"]
    verdicts = evaluate(parse_thresholds(expressions, STRATEGIES), ROWS, TOTAL)
    assert verdicts[0] == {
        "expression": "identity-cache:rps>=400",
        "scope": "identity-cache",
        "row": "identity-cache",
        "metric": "rps",
        "operator": ">=",
        "limit": 400.0,
        "unit": "",
        "measured": 388.2,
        "passed": False,
        "aborted": False,
    }
    assert verdicts[1]["row"] == "all" and verdicts[1]["unit"] == "ms"
    assert verdicts[1]["limit"] == 50.0 and verdicts[1]["passed"]
    assert verdicts[2]["measured"] == 0.000012 and not verdicts[2]["passed"]


def test_no_data_fails_and_a_scope_that_never_ran_gets_a_verdict():
    thresholds = parse_thresholds(["locked-load:rps>=1", "response_p95<500ms"], STRATEGIES)
    verdicts = evaluate(thresholds, ROWS, TOTAL)
    assert [(v["row"], v["measured"], v["passed"]) for v in verdicts] == [
        ("locked-load", None, False),
        ("all", None, False),
    ]
    line = "threshold locked-load:rps>=1 on locked-load: no data FAILED"
    assert verdict_line(verdicts[0]) == line


def test_verdict_lines_say_value_unit_and_outcome():
    thresholds = parse_thresholds(["bleed<=0", "handshake_p95<50ms"], STRATEGIES)
    aborted = frozenset({("bleed<=0", "all")})
    lines = [verdict_line(v) for v in evaluate(thresholds, ROWS, TOTAL, aborted)]
    assert lines == [
        "threshold bleed<=0 on all: 12 FAILED (aborted the run)",
        "threshold handshake_p95<50ms on all: 7.8 ms passed",
    ]


@pytest.mark.parametrize(
    "expression, measured, for_good",
    [
        ("bleed<=0", 1, True),
        ("bleed<=0", 0, False),
        ("failures<10", 10, True),
        ("crashes==2", 2, False),  # may still pass...
        ("crashes==2", 1, False),  # ...or reach 2
        ("crashes==2", 3, True),
        ("bleed>=5", 1, False),  # counts grow: can still pass
        ("bleed!=0", 0, False),
        ("rps<1", 5, False),  # not a count that only grows
        ("bleed_rate<1%", 0.5, False),  # rates can fall again
        ("shared-context:bleed<=0", 12, True),
    ],
)
def test_only_growing_counts_fail_for_good(expression, measured, for_good):
    threshold = parse(expression)
    metric, scope = threshold.metric, threshold.scope
    rows = {scope: (scope, {metric: measured})} if scope else {}
    failed = failed_for_good([threshold], rows, {metric: measured})
    assert bool(failed) == for_good
    assert threshold.can_fail_for_good == (
        metric in ("bleed", "failures", "crashes") and threshold.operator in ("<", "<=", "==")
    )


def test_the_docs_have_the_metric_table_from_metrics():
    assert markdown_table() in METRICS_DOC.read_text(), "paste markdown_table() into the doc"
    assert all(f"| `{name}` |" in markdown_table() for name in METRICS)
