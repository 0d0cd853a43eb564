"""Metric names a PromQL expression reads, found without a full parser.

What is removed first cannot contain a metric name: string literals (label values, regexes), label-matcher
bodies `{...}`, range/subquery selectors `[...]`, and the label lists after `by`, `without`, `on`,
`ignoring`, `group_left`, `group_right`. What remains is identifiers: a name followed by `(` is a function
or aggregation, a keyword is a keyword, and every other identifier is a metric.
"""

from __future__ import annotations

import re

_KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"inf", "nan", "atan2"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_NUMBER = re.compile(r"\b\d+(\.\d+)?([eE][+-]?\d+)?(ms|[smhdwy])?\b")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _LABEL_LIST.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        names.add(name)
    return names


def variable_query_metric(query: str) -> str | None:
    """The metric of a Grafana `label_values(metric, label)` variable query."""
    match = _LABEL_VALUES.match(query)
    return match.group(1) if match else None
