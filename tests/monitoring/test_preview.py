"""The dashboards drawn from a Prometheus's answers: a broken query is an empty, labelled, reported panel;
a real query draws its series."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitoring import metrics as m
from monitoring import preview, rules
from monitoring.preview import PromQueryError, Series, Window
from pipelines import telemetry
from tests.monitoring.alerting_stack import TOOLS, AlertingStack
from tests.support.tools import require_tool

NOW = 1_800_000_000.0
WINDOW = Window(start=NOW - 600, end=NOW, step=10, scrape_interval=15)


class FakePrometheus:
    """Answers by expression; an exception answer is raised like Prometheus's error would be."""

    def __init__(
        self,
        answers: Mapping[str, list[Series] | Exception],
        labels: Mapping[tuple[str, str], list[str]] | None = None,
    ) -> None:
        self.answers = answers
        self.labels = labels or {}
        self.queries: list[str] = []

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        self.queries.append(expr)
        answer = self.answers.get(expr, [])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def label_values(self, label: str, metric: str) -> list[str]:
        return self.labels.get((label, metric), [])


def _series(value: float, **labels: str) -> Series:
    return Series(labels=labels, points=tuple((NOW - 600 + 10 * i, value + i / 100) for i in range(61)))


def _dashboard(*panels: dict[str, Any], variables: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "title": "Test board",
        "uid": "test",
        "panels": list(panels),
        "templating": {"list": variables or []},
    }


def _panel(title: str, kind: str, *exprs: str, x: int = 0, y: int = 0, **defaults: Any) -> dict[str, Any]:
    return {
        "title": title,
        "type": kind,
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {"expr": expr, "refId": chr(ord("A") + i), "legendFormat": "{{stage}}"}
            for i, expr in enumerate(exprs)
        ],
    }


def _cell(page: str, title: str) -> str:
    """The HTML of the one panel with this title."""
    heading = f'<div class="title">{title}</div>'
    (cell,) = [chunk for chunk in page.split('<div class="panel ')[1:] if heading in chunk]
    return cell


def test_a_broken_query_renders_as_an_empty_panel_and_is_reported() -> None:
    source = FakePrometheus(
        {
            "sum(up": PromQueryError(
                'bad_data: invalid parameter "query": 1:7: parse error: unclosed left parenthesis'
            ),
            "up": [_series(1.0, stage="train")],
        }
    )
    result = preview.evaluate_dashboard(
        _dashboard(_panel("Broken", "timeseries", "sum(up"), _panel("Fine", "timeseries", "up", x=12)),
        source,
        WINDOW,
    )
    broken, fine = result.panels
    assert (broken.status, fine.status) == ("error", "ok")
    assert result.problems == [
        "Test board: panel 'Broken' is error: query A failed: "
        'bad_data: invalid parameter "query": 1:7: parse error: unclosed left parenthesis'
    ]
    page = preview.render_html(result)
    broken_cell, fine_cell = _cell(page, "Broken"), _cell(page, "Fine")
    assert 'data-status="error"' in broken_cell and "QUERY ERROR" in broken_cell and "<svg" not in broken_cell
    assert "unclosed left parenthesis" in broken_cell
    assert 'data-status="ok"' in fine_cell and "<svg" in fine_cell
    assert "1 problem(s)" in page


def test_a_query_without_series_is_an_empty_panel_and_is_reported() -> None:
    result = preview.evaluate_dashboard(
        _dashboard(_panel("Nothing", "stat", 'up{job="nobody"}')), FakePrometheus({}), WINDOW
    )
    (panel,) = result.panels
    assert panel.status == "empty"
    assert result.problems == [
        """Test board: panel 'Nothing' is empty: query A returned no series: up{job="nobody"}"""
    ]
    cell = _cell(preview.render_html(result), "Nothing")
    assert 'data-status="empty"' in cell and "NO DATA" in cell


def test_a_real_query_draws_its_series_with_their_legends() -> None:
    source = FakePrometheus({"duration": [_series(2.0, stage="train"), _series(7.5, stage="drift")]})
    result = preview.evaluate_dashboard(
        _dashboard(_panel("Durations", "timeseries", "duration", unit="s")), source, WINDOW
    )
    assert result.problems == []
    cell = _cell(preview.render_html(result), "Durations")
    assert 'data-status="ok"' in cell
    svg = cell[cell.index("<svg") :]
    assert ">train<" in svg and ">drift<" in svg  # the legend, from legendFormat {{stage}}
    # Two drawn lines of 61 points each (matplotlib writes each line as one path with 60 line-to steps).
    lines = [
        d for d in re.findall(r'<path d="([^"]+)"[^>]*clip-path', svg) if len(re.findall(r"\bL\b", d)) == 60
    ]
    assert len(lines) == 2


def test_stat_panels_show_the_last_value_with_unit_and_value_mappings() -> None:
    mapping = [
        {"type": "value", "options": {"1": {"text": "DRIFT", "color": "red"}, "0": {"text": "no drift"}}}
    ]
    source = FakePrometheus({"detected": [_series(1.0, stage="x")], "share": [_series(0.6, stage="x")]})
    result = preview.evaluate_dashboard(
        _dashboard(
            _panel("Detected", "stat", "detected", mappings=mapping),
            _panel("Share", "stat", "share", x=12, unit="percentunit"),
        ),
        source,
        Window(start=NOW - 600, end=NOW, step=10),
    )
    page = preview.render_html(result)
    # 1.0 + 60/100 at the last point: not a mapped value, so the number shows
    assert "DRIFT" not in _cell(page, "Detected") and ">1.6<" in _cell(page, "Detected")
    assert ">120.0%<" in _cell(page, "Share")
    exact = FakePrometheus({"detected": [Series({"stage": "x"}, ((NOW, 1.0),))]})
    page = preview.render_html(
        preview.evaluate_dashboard(
            _dashboard(_panel("Detected", "stat", "detected", mappings=mapping)), exact, WINDOW
        )
    )
    assert "color:red" in _cell(page, "Detected") and ">DRIFT<" in _cell(page, "Detected")


def test_template_variables_are_substituted_as_grafana_does() -> None:
    variables = {"pipeline": ["a", "b.c"], "one": ["x"], "none": []}
    assert preview.substitute('m{p=~"$pipeline"}', variables, WINDOW) == r'm{p=~"(a|b\\.c)"}'
    assert (
        preview.substitute('m{p=~"${one}"} or n{p="[[one]]"}', variables, WINDOW) == 'm{p=~"x"} or n{p="x"}'
    )
    assert preview.substitute('m{p=~"$none"}', variables, WINDOW) == 'm{p=~""}'
    assert preview.substitute("rate(m[$__rate_interval])", variables, WINDOW) == "rate(m[1m])"
    assert preview.substitute("increase(m[$__range])", variables, WINDOW) == "increase(m[10m])"
    with pytest.raises(KeyError, match=r"unknown template variable \$nope"):
        preview.substitute('m{p="$nope"}', variables, WINDOW)


def test_query_variables_come_from_label_values_and_an_empty_one_is_reported() -> None:
    variables = [
        {"name": "datasource", "type": "datasource", "query": "prometheus"},
        {"name": "pipeline", "type": "query", "query": "label_values(mlops_drift_share, pipeline)"},
        {"name": "model", "type": "query", "query": "label_values(mlops_model_metric, model_name)"},
        {"name": "job", "type": "query", "query": "query_result(up)"},
    ]
    source = FakePrometheus({}, labels={("pipeline", "mlops_drift_share"): ["p1", "p2"]})
    result = preview.evaluate_dashboard(
        _dashboard(
            _panel("Share", "stat", 'share{pipeline=~"$pipeline", model=~"$model"}'), variables=variables
        ),
        source,
        WINDOW,
    )
    assert source.queries == ['share{pipeline=~"(p1|p2)", model=~""}']
    assert result.problems[0] == (
        "Test board: variable $model: label_values(mlops_model_metric, model_name) has no values "
        "(no mlops_model_metric series)"
    )
    assert result.problems[1] == (
        "Test board: variable $job: only label_values(metric, label) is resolved, not 'query_result(up)'"
    )


def test_an_unknown_variable_or_panel_type_is_reported_not_drawn() -> None:
    result = preview.evaluate_dashboard(
        _dashboard(_panel("Typo", "stat", 'up{x="$pipline"}'), _panel("Table", "table", "up", x=12)),
        FakePrometheus({"up": [_series(1.0)]}),
        WINDOW,
    )
    assert [(p.title, p.status) for p in result.panels] == [("Typo", "error"), ("Table", "unsupported")]
    assert "unknown template variable $pipline" in result.problems[0]


def test_every_committed_panel_is_of_a_type_the_preview_draws() -> None:
    for path, dashboard in preview.committed_dashboards():
        kinds = {p["type"] for p in preview._flatten(dashboard["panels"])} - {"row"}
        assert kinds <= set(preview.DRAWN_TYPES), f"{path.name}: {sorted(kinds - set(preview.DRAWN_TYPES))}"


def test_values_read_as_grafana_shows_them() -> None:
    assert preview.format_value(0.6667, "percentunit") == "66.7%"
    assert preview.format_value(7.8, "s") == "7.8 s"
    assert preview.format_value(5400, "s") == "1.5 hours"
    assert preview.format_value((NOW - 90) * 1000, "dateTimeFromNow", now=NOW) == "1.5 min ago"
    assert preview.format_value(3 * 1024**3, "bytes") == "3.0 GiB"
    assert preview.format_value(2, "none") == "2"


# --- against a real Prometheus, fed through a real Pushgateway --------------------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    binaries = {name: require_tool(name) for name in TOOLS}
    running = AlertingStack(binaries, tmp_path_factory.mktemp("preview"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _wait_for_series(stack: AlertingStack, expr: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not stack.query(expr)["data"]["result"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"Prometheus never returned {expr}")
        time.sleep(0.2)


@pytest.mark.integration
def test_committed_dashboards_draw_pushed_metrics_and_a_broken_query_shows_up(
    stack: AlertingStack, tmp_path: Path
) -> None:
    target = telemetry.MetricsTarget(pushgateway_url=stack.pushgateway_url)
    pipeline = "breast-cancer-training"
    for stage, seconds in (("ingest", 1.0), ("train", 5.7), ("drift", 7.8)):
        assert telemetry.publish(
            telemetry.stage_outcome(pipeline, stage, succeeded=True, duration_seconds=seconds), target
        )
    assert telemetry.publish(telemetry.run_outcome(pipeline, succeeded=True, ended_at=time.time()), target)
    _wait_for_series(stack, f'{m.STAGE_DURATION.name}{{stage="drift"}}')
    _wait_for_series(stack, m.RUN_SUCCESS.name)

    api = preview.PrometheusApi(stack.prometheus_url)
    end = time.time()
    window = Window(start=end - 120, end=end, step=1, scrape_interval=1)
    (training,) = [d for p, d in preview.committed_dashboards() if p.name == "mlops-training.json"]
    broken = copy.deepcopy(training)
    panels = {p["title"]: p for p in broken["panels"]}
    panels["Stage outcomes"]["targets"][0]["expr"] = "max by (stage (mlops_pipeline_stage_success)"
    panels["Latest run"]["targets"][0]["expr"] = 'max(mlops_pipeline_stage_success{stage="no-such-stage"})'

    result = preview.evaluate_dashboard(broken, api, window)
    by_title = {p.title: p for p in result.panels}
    duration = by_title["Stage duration"]
    assert duration.status == "ok"
    assert sorted(s.labels["stage"] for t in duration.targets for s in t.series) == [
        "drift",
        "ingest",
        "train",
    ]
    assert by_title["Stage outcomes"].status == "error"
    assert "parse error" in by_title["Stage outcomes"].reason
    assert by_title["Latest run"].status == "empty"
    assert any("'Stage outcomes' is error" in p for p in result.problems)
    assert any("'Latest run' is empty" in p for p in result.problems)
    page = preview.render_html(result)
    assert 'data-status="error"' in _cell(page, "Stage outcomes")
    assert "<svg" in _cell(page, "Stage duration")

    # The command line: one page per committed dashboard, the report names every panel it could not draw.
    out = tmp_path / "pages"
    lines: list[str] = []
    written = preview.preview_all(api, window, out, report=lines.append)
    assert sorted(p.name for p, _ in written) == sorted(
        f"{path.stem}.html" for path, _ in preview.committed_dashboards()
    )
    assert any(line.startswith("[dashboards] mlops-training.json: ") for line in lines)
    assert (
        preview.main(["--prometheus", stack.prometheus_url, "--out", str(out), "--minutes", "2", "--strict"])
        == 1
    )
    assert json.dumps(lines)  # printable report


def test_the_alert_list_shows_each_group_and_alert_with_state_labels_and_summary() -> None:
    groups = [
        {
            "receiver": {"name": "critical"},
            "labels": {"alertname": "DataDriftDetected", "pipeline": "p"},
            "alerts": [
                {
                    "labels": {"alertname": "DataDriftDetected", "severity": "warning", "source": "live"},
                    "annotations": {"summary": "Drift in <live> traffic"},
                    "status": {"state": "active"},
                    "startsAt": "2027-01-15T08:00:00.000Z",
                    "receivers": [{"name": "critical"}, {"name": "retrain-relay"}],
                }
            ],
        }
    ]
    now = datetime(2027, 1, 15, 8, 1, 30, tzinfo=UTC).timestamp()
    page = preview.render_alert_groups_html(groups, "http://127.0.0.1:9093", now=now)
    assert "1 alert(s) at 2027-01-15 08:01:30 UTC, from http://127.0.0.1:9093" in page
    assert '<span class="chip name">alertname="DataDriftDetected"</span>' in page
    assert 'source="live"' in page and "Drift in &lt;live&gt; traffic" in page
    assert "since 1.5 min ago" in page and "receivers: critical, retrain-relay" in page
    assert "no alerts" in preview.render_alert_groups_html([], "x", now=now)


@pytest.mark.integration
def test_the_alert_list_is_drawn_from_a_real_alertmanager(stack: AlertingStack) -> None:
    batch = telemetry.MetricsBatch("preview-drift", "drift")
    batch.set(m.DRIFT_DETECTED, 1.0, dataset="d", source=m.SOURCE_BATCH)
    batch.set(m.DRIFT_SHARE, 0.8, dataset="d", source=m.SOURCE_BATCH)
    batch.set(m.DRIFT_SHARE_THRESHOLD, 0.5, dataset="d", source=m.SOURCE_BATCH)
    assert telemetry.publish(batch, telemetry.MetricsTarget(pushgateway_url=stack.pushgateway_url))
    deadline = time.monotonic() + 30
    while not any(
        a["labels"].get("alertname") == rules.DATA_DRIFT_DETECTED
        and a["labels"].get("pipeline") == "preview-drift"
        for a in stack.alertmanager_alerts()
    ):
        assert time.monotonic() < deadline, f"{rules.DATA_DRIFT_DETECTED} never reached Alertmanager"
        time.sleep(0.3)
    page = preview.render_alert_groups_html(
        preview.alert_groups(stack.alertmanager_url), stack.alertmanager_url
    )
    assert f'<span class="chip name">alertname="{rules.DATA_DRIFT_DETECTED}"</span>' in page
    assert 'pipeline="preview-drift"' in page
