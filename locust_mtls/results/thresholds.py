"""Thresholds (`--mtls-threshold`): `[scope:]metric OP value[unit]`, parsed once and judged
over plain measured values, one verdict per row they apply to.

METRICS is the one table of what a threshold can measure: the parser, the option's help
and README's "Thresholds" table all read it. Measured values come in already reduced to
numbers ({metric: value or None}); locust/thresholds.py builds them from a run.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from locust_mtls.errors import ConfigError

COUNT, RATE, TIME, THROUGHPUT = "count", "rate", "time", "throughput"
# What a limit may be written in, and the factor to the kind's own unit.
UNIT_FACTORS = {COUNT: {"": 1}, RATE: {"": 1, "%": 0.01}, TIME: {"": 1, "ms": 1, "s": 1000}}
UNIT_FACTORS[THROUGHPUT] = UNIT_FACTORS[COUNT]
UNIT_TEXT = {  # in error messages and README's table
    COUNT: "no unit",
    RATE: "a fraction (0.01) or % (1%)",
    TIME: "ms (the default) or s",
    THROUGHPUT: "no unit (per second)",
}


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # COUNT, RATE, TIME or THROUGHPUT
    description: str
    per_row: bool = True  # False: only the run's total has it (Locust's own figures)
    safety: bool = False  # a count that only grows: a failed `<`, `<=`, `==` stays failed


def _metrics(*rows: tuple) -> dict[str, Metric]:
    return {row[0]: Metric(*row) for row in rows}


# The counts are StrategyStats counters (engine/stats.py); a rate divides one by the
# requests it can happen to (settings.RATE_BASES): bleed by those sent without a
# certificate, wrong_identity by those sent with one (issue 26; before, both by every
# request). A limit of 0 (`bleed_rate<=0`) means the same either way.
METRICS = _metrics(
    ("bleed", COUNT, "responses where the server saw a certificate we did not send", True, True),
    ("wrong_identity", COUNT, "responses where the server saw another identity", True, True),
    (
        "missing_certificate",
        COUNT,
        "responses where the server saw no certificate though one was sent",
        True,
        True,
    ),
    ("unreported", COUNT, "responses that did not say which certificate was seen", True, True),
    ("crashes", COUNT, "client crashes (native threads)", True, True),
    ("failures", COUNT, "failed requests (any reason, identity checks included)", True, True),
    ("requests", COUNT, "requests sent"),
    ("bleed_rate", RATE, "bleed / requests sent without a certificate"),
    ("wrong_identity_rate", RATE, "wrong_identity / requests sent with a certificate"),
    ("missing_certificate_rate", RATE, "missing_certificate / requests sent with a certificate"),
    ("unreported_rate", RATE, "unreported / requests"),
    ("crash_rate", RATE, "crashes / requests"),
    ("fail_ratio", RATE, "failures / requests (unscoped: Locust's, over all its requests)"),
    ("rps", THROUGHPUT, "requests per second, first to last request (unscoped: Locust's)"),
    ("handshake_p50", TIME, "median full TLS handshake time"),
    ("handshake_p95", TIME, "95th percentile full TLS handshake time"),
    ("handshake_p99", TIME, "99th percentile full TLS handshake time"),
    ("response_p50", TIME, "Locust's median response time, all requests", False),
    ("response_p95", TIME, "Locust's 95th percentile response time, all requests", False),
    ("response_p99", TIME, "Locust's 99th percentile response time, all requests", False),
    ("response_avg", TIME, "Locust's average response time, all requests", False),
)
OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
ALL_ROWS = "all"  # the row name of an unscoped threshold's verdict
EXAMPLES = "bleed<=0, identity-cache:rps>=400, handshake_p95<50ms, fail_ratio<1%"
# scope: anything up to the last ':' before the metric (a row name may hold ':' in ciphers).
EXPRESSION = re.compile(
    r"^\s*(?:(?P<scope>.*\S)\s*:)?\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)\s*"
    r"(?P<operator>[<>=!]+)\s*(?P<value>[^\s]*?)\s*(?P<unit>ms|s|%|[A-Za-z/]+)?\s*$"
)
NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class Threshold:
    """One parsed expression; `limit` is in the metric's own unit (ms, a fraction, ...)."""

    expression: str
    scope: str  # a strategy or row name; "" for the run's total
    metric: str
    operator: str
    limit: float

    @property
    def unit(self) -> str:
        return "ms" if METRICS[self.metric].kind == TIME else ""

    def holds(self, measured: float | None) -> bool:
        """Whether `measured` meets the threshold; no data (None) never does."""
        return measured is not None and OPERATORS[self.operator](measured, self.limit)

    @property
    def can_fail_for_good(self) -> bool:
        """A safety count under `<`, `<=` or `==`: once failed, it stays failed."""
        return METRICS[self.metric].safety and self.operator in ("<", "<=", "==")

    def failed_for_good(self, measured: float | None) -> bool:
        """Failed now, and no later value of a count that only grows can pass it again."""
        if measured is None or not self.can_fail_for_good:
            return False
        return measured > self.limit if self.operator == "==" else not self.holds(measured)

    def applies_to(self, row: str, strategy: str) -> bool:
        return self.scope in (row, strategy)


def metric_list() -> str:
    return ", ".join(METRICS)


def _bad(expression: str, why: str) -> ConfigError:
    return ConfigError(f"--mtls-threshold {expression!r}: {why}")


def parse_threshold(expression: str, strategies) -> Threshold:
    """Parse one expression; `strategies` are the names a scope may use (or start with,
    for a row name like 'identity-cache [keep-alive off]'). ConfigError on bad input."""
    match = EXPRESSION.match(expression)
    if match is None:
        raise _bad(
            expression,
            f"write [STRATEGY:]METRIC OP VALUE, e.g. {EXAMPLES} (operators: {' '.join(OPERATORS)})",
        )
    scope, name, op = match["scope"] or "", match["metric"], match["operator"]
    value, unit = match["value"], match["unit"] or ""
    metric = METRICS.get(name)
    if metric is None:
        raise _bad(expression, f"unknown metric {name!r}; use one of: {metric_list()}")
    if op not in OPERATORS:
        raise _bad(expression, f"unknown operator {op!r}; use one of: {' '.join(OPERATORS)}")
    if scope and scope.split(" [")[0] not in strategies:
        raise _bad(
            expression,
            f"unknown scope {scope!r}; write a strategy ({', '.join(strategies)}) "
            f"or a row name, or no scope for the run's total",
        )
    if scope and not metric.per_row:
        raise _bad(
            expression,
            f"{name} is Locust's figure over all requests and has none per strategy; "
            f"write it without a scope: {name}{op}{value}{unit}",
        )
    if not NUMBER.match(value) or not math.isfinite(float(value)):
        raise _bad(expression, f"{value + unit!r} is not a number; e.g. {_example(metric)}")
    factors = UNIT_FACTORS[metric.kind]
    if unit not in factors:
        takes = UNIT_TEXT[metric.kind]
        raise _bad(expression, f"{name} takes {takes}, not {unit!r}; e.g. {_example(metric)}")
    return Threshold(expression.strip(), scope, name, op, float(value) * factors[unit])


def _example(metric: Metric) -> str:
    limit = {COUNT: "0", RATE: "0.01", TIME: "50ms", THROUGHPUT: "400"}[metric.kind]
    return f"{metric.name}{'>=' if metric.kind == THROUGHPUT else '<='}{limit}"


def parse_thresholds(expressions, strategies) -> list[Threshold]:
    """Every `--mtls-threshold` value parsed (None or [] -> [])."""
    return [parse_threshold(expression, list(strategies)) for expression in expressions or ()]


def rounded(metric: str, value: float | None) -> float | None:
    """A measured value as shown and judged: counts whole, rates to 1e-6, the rest to 0.1."""
    if value is None:
        return None
    kind = METRICS[metric].kind
    return round(value) if kind == COUNT else round(value, 6 if kind == RATE else 1)


def verdict(threshold: Threshold, row: str, measured: float | None, aborted=False) -> dict:
    """One verdict in the summary's shape (docs/ci.md, "thresholds" in the summary file)."""
    value = rounded(threshold.metric, measured)
    return {
        "expression": threshold.expression,
        "scope": threshold.scope,
        "row": row,
        "metric": threshold.metric,
        "operator": threshold.operator,
        "limit": threshold.limit,
        "unit": threshold.unit,
        "measured": value,
        "passed": threshold.holds(value),
        "aborted": aborted,
    }


def _targets(threshold: Threshold, rows: dict[str, tuple[str, dict]], total: dict):
    """(row, measured) pairs a threshold is judged on: a scoped one on each row of its
    scope (one without data when none ran), an unscoped one on the run's total."""
    if not threshold.scope:
        return [(ALL_ROWS, total.get(threshold.metric))]
    return [
        (name, values.get(threshold.metric))
        for name, (strategy, values) in rows.items()
        if threshold.applies_to(name, strategy)
    ] or [(threshold.scope, None)]


def evaluate(
    thresholds: list[Threshold],
    rows: dict[str, tuple[str, dict]],
    total: dict,
    aborted: frozenset = frozenset(),
) -> list[dict]:
    """Every threshold's verdicts (summary shape), in the order they were given.

    `rows` maps a row name to (its strategy, {metric: value or None}); `total` is the
    run's {metric: value or None}. `aborted` holds the (expression, row) pairs that
    stopped the run.
    """
    return [
        verdict(threshold, row, measured, (threshold.expression, row) in aborted)
        for threshold in thresholds
        for row, measured in _targets(threshold, rows, total)
    ]


def failed_for_good(
    thresholds: list[Threshold], rows: dict[str, tuple[str, dict]], total: dict
) -> list[tuple[Threshold, str, float]]:
    """(threshold, row, measured) of every safety threshold that can no longer pass."""
    return [
        (threshold, row, measured)
        for threshold in thresholds
        for row, measured in _targets(threshold, rows, total)
        if threshold.failed_for_good(rounded(threshold.metric, measured))
    ]


def value_text(value: float, unit: str = "") -> str:
    """'388.2', '12', '7.8 ms': a measured value or a limit as every output shows it."""
    text = f"{value:.0f}" if float(value).is_integer() else str(value)
    return f"{text} {unit}" if unit else text


def measured_text(entry: dict) -> str:
    """A verdict's measured value, or 'no data' (a failure) when there was none to judge.

    The console line, the mTLS tab, the Markdown summary and the JUnit message all show
    this text, so a pipeline's files say what the console said.
    """
    if entry["measured"] is None:
        return "no data"
    return value_text(entry["measured"], entry.get("unit") or "")


def verdict_line(entry: dict) -> str:
    """`threshold identity-cache:rps>=400 on identity-cache: 388.2 FAILED`"""
    outcome = "passed" if entry["passed"] else "FAILED"
    if entry["aborted"]:
        outcome += " (aborted the run)"
    return f"threshold {entry['expression']} on {entry['row']}: {measured_text(entry)} {outcome}"


def markdown_table() -> str:
    """docs/ci.md's table of metrics, from METRICS (tests/test_thresholds.py compares)."""
    lines = ["| metric | kind | limit written in | per strategy | what it measures |"]
    lines.append("|---|---|---|---|---|")
    for metric in METRICS.values():
        units = UNIT_TEXT[metric.kind]
        per_row = "yes" if metric.per_row else "no"
        lines.append(
            f"| `{metric.name}` | {metric.kind} | {units} | {per_row} | {metric.description} |"
        )
    return "\n".join(lines)
