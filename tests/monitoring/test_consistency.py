"""Every metric a rule or dashboard queries is emitted by the pipeline (or is a listed external metric),
and every metric the pipeline emits is queried somewhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from monitoring import dashboards, rules
from monitoring import metrics as m
from tests.monitoring.promql_names import metric_names, variable_query_metric

EMITTED = {spec.name for spec in m.ALL_METRICS}
# Scraped from the retraining relay: its alerts read some of them, `/metrics` shows all of them.
RELAY_EMITTED = {spec.name for spec in m.RELAY_METRICS}
# Prometheus's own per-target series, which the "service down" alerts read.
PROMETHEUS_BUILTIN = {"up"}


def _dashboard_queries(model: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in model.get("panels", []):
        for target in panel.get("targets", []):
            yield f"{model['uid']} / {panel.get('title')}", target["expr"]
    for variable in model.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, str) and (metric := variable_query_metric(query)):
            yield f"{model['uid']} / variable {variable['name']}", metric


def _all_queries() -> list[tuple[str, str]]:
    queries = [(f"rule {r.name}", r.expr) for r in rules.alert_rules()]
    for spec in dashboards.all_dashboards():
        queries.extend(_dashboard_queries(json.loads(spec.to_json())))
    return queries


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            'max by (pipeline, dataset) (mlops_drift_share{pipeline=~"$pipeline"}) >= 0.75',
            {"mlops_drift_share"},
        ),
        ('up{job="mlflow"} == 0 or absent(up{job="mlflow"})', {"up"}),
        (
            "a < on (pipeline, metric) group_left max by (pipeline) (b_total[5m] offset 1h) unless c",
            {"a", "b_total", "c"},
        ),
        ("time() - max by (p) (x) > 93600", {"x"}),
        ('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))', {"node_cpu_seconds_total"}),
        ("sum without (le) (rate(h_bucket[1m])) * 1e3", {"h_bucket"}),
    ],
)
def test_metric_name_extraction(expr: str, expected: set[str]) -> None:
    assert metric_names(expr) == expected


def test_every_queried_metric_is_emitted_or_listed_external() -> None:
    allowed = EMITTED | RELAY_EMITTED | dashboards.EXTERNAL_METRICS | PROMETHEUS_BUILTIN
    unknown = {
        (where, name) for where, expr in _all_queries() for name in metric_names(expr) if name not in allowed
    }
    assert not unknown, (
        f"queried but never emitted (typo, or missing from monitoring.metrics): {sorted(unknown)}"
    )


def test_external_metrics_only_in_the_platform_dashboard() -> None:
    """Training and drift views must read only what our pipeline emits."""
    for where, expr in _all_queries():
        if where.startswith("mlops-platform"):
            continue
        assert not metric_names(expr) & dashboards.EXTERNAL_METRICS, where


def test_every_emitted_metric_is_used_by_a_rule_or_dashboard() -> None:
    used = {name for _, expr in _all_queries() for name in metric_names(expr)}
    assert EMITTED - used == set(), f"emitted but queried nowhere: {sorted(EMITTED - used)}"


def test_every_listed_external_metric_is_actually_queried() -> None:
    used = {name for _, expr in _all_queries() for name in metric_names(expr)}
    assert dashboards.EXTERNAL_METRICS - used == set()
