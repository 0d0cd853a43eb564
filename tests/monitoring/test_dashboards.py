"""Dashboards as code: committed JSON up to date, the panels the issue asks for, sidecar ConfigMaps."""

from __future__ import annotations

import json
import re

import pytest

from monitoring import __main__ as cli
from monitoring import dashboards
from monitoring import metrics as m
from tests.monitoring.promql_names import metric_names


def _queries(slug: str) -> list[str]:
    spec = next(s for s in dashboards.all_dashboards() if s.slug == slug)
    model = json.loads(spec.to_json())
    return [t["expr"] for p in model["panels"] for t in p.get("targets", [])]


@pytest.mark.parametrize("spec", dashboards.all_dashboards(), ids=lambda s: s.slug)
def test_committed_json_is_up_to_date(spec: dashboards.DashboardSpec) -> None:
    path = dashboards.DASHBOARD_DIR / f"{spec.slug}.json"
    assert path.exists(), f"{path} missing: run `python -m monitoring render`"
    assert path.read_text(encoding="utf-8") == spec.to_json(), (
        f"{path} is stale: run `python -m monitoring render`"
    )


def test_no_stray_committed_dashboards() -> None:
    expected = {f"{s.slug}.json" for s in dashboards.all_dashboards()}
    assert {p.name for p in dashboards.DASHBOARD_DIR.glob("*.json")} == expected


def test_check_command_reports_stale_files(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["check"]) == 0
    monkeypatch.setattr(dashboards, "DASHBOARD_DIR", dashboards.DASHBOARD_DIR / "does-not-exist")
    assert cli.main(["check"]) == 1


def test_rendering_is_deterministic() -> None:
    assert [s.to_json() for s in dashboards.all_dashboards()] == [
        s.to_json() for s in dashboards.all_dashboards()
    ]


def test_uids_unique_and_panel_ids_unique_within_each_dashboard() -> None:
    models = [json.loads(s.to_json()) for s in dashboards.all_dashboards()]
    assert len({d["uid"] for d in models}) == len(models)
    for model in models:
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids)) and 0 not in ids, model["uid"]


def test_platform_dashboard_shows_cpu_memory_and_pvc_by_namespace_and_node() -> None:
    queries = _queries("mlops-platform")
    names = set().union(*(metric_names(q) for q in queries))
    assert {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"} <= names
    assert {"kubelet_volume_stats_used_bytes", "kubelet_volume_stats_capacity_bytes"} <= names
    assert any("by (namespace)" in q for q in queries)
    assert any("by (instance)" in q and "node_cpu_seconds_total" in q for q in queries)
    assert any("by (instance)" in q and "node_memory_MemAvailable_bytes" in q for q in queries)


def test_training_dashboard_shows_stages_model_metrics_per_version_and_registry() -> None:
    names = set().union(*(metric_names(q) for q in _queries("mlops-training")))
    assert {
        m.STAGE_SUCCESS.name,
        m.STAGE_DURATION.name,
        m.MODEL_METRIC.name,
        m.MODEL_REGISTERED_VERSION.name,
        m.MODEL_CHAMPION_VERSION.name,
    } <= names
    assert any(m.LABEL_VERSION in q and m.MODEL_METRIC.name in q for q in _queries("mlops-training"))


def test_drift_dashboard_shows_share_drifted_features_and_per_feature_scores() -> None:
    queries = _queries("mlops-drift")
    names = set().union(*(metric_names(q) for q in queries))
    assert {m.DRIFT_SHARE.name, m.DRIFT_DRIFTED_FEATURES.name, m.DRIFT_FEATURE_SCORE.name} <= names
    assert any(m.LABEL_FEATURE in q for q in queries)


def test_drift_dashboard_keeps_batch_and_live_apart() -> None:
    """Every drift query groups by `source` and filters on the source variable, so a live verdict never
    hides behind a batch one."""
    for query in _queries("mlops-drift"):
        (grouping,) = re.findall(r"\bby \(([^)]*)\)", query)
        assert m.LABEL_SOURCE in [label.strip() for label in grouping.split(",")], query
        assert f'{m.LABEL_SOURCE}=~"$source"' in query, query
    model = json.loads(next(s for s in dashboards.all_dashboards() if s.slug == "mlops-drift").to_json())
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert variables["source"]["query"] == f"label_values({m.DRIFT_SHARE.name}, {m.LABEL_SOURCE})"


def test_serving_dashboard_shows_rates_latency_quantiles_versions_and_capture() -> None:
    queries = _queries("mlops-serving")
    names = set().union(*(metric_names(q) for q in queries))
    assert {spec.name for spec in m.SERVING_METRICS if spec is not m.SERVING_LATENCY} <= names
    assert m.MODEL_CHAMPION_VERSION.name in names, "served version against the champion"
    quantiles = {q.split(",")[0] for q in queries if q.startswith("histogram_quantile(")}
    assert quantiles == {"histogram_quantile(0.5", "histogram_quantile(0.9", "histogram_quantile(0.99"}
    assert all(f"{m.SERVING_LATENCY.name}_bucket" in q for q in queries if q.startswith("histogram_quantile"))
    assert any(f'{m.LABEL_OUTCOME}="{m.OUTCOME_ERROR}"' in q for q in queries), "error rate"


def test_every_panel_uses_the_datasource_variable() -> None:
    for spec in dashboards.all_dashboards():
        model = json.loads(spec.to_json())
        for panel in model["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]


def test_configmap_carries_the_sidecar_label_and_the_json() -> None:
    spec = dashboards.drift_dashboard()
    configmap = dashboards.dashboard_configmap(spec, "monitoring", "grafana_dashboard", "1")
    assert configmap["metadata"] == {
        "name": "dashboard-mlops-drift",
        "namespace": "monitoring",
        "labels": {"grafana_dashboard": "1"},
    }
    assert json.loads(configmap["data"]["mlops-drift.json"])["uid"] == "mlops-drift"
