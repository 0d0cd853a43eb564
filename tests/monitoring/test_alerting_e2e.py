"""End to end on loopback: the pipeline's own telemetry code pushes to a real Pushgateway, a real
Prometheus evaluates our rendered rules, a real Alertmanager routes with our rendered config, and a local
webhook receives (a) the drift alert, (b) the failed-stage alert and (c) their resolution."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitoring import dashboards, rules
from monitoring import metrics as m
from pipelines import telemetry
from tests.monitoring.alerting_stack import TOOLS, AlertingStack
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

PIPELINE = "iris-e2e"
DATASET = "iris"
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
TIMEOUT = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingStack]:
    binaries = {name: require_tool(name) for name in TOOLS}
    running = AlertingStack(binaries, tmp_path_factory.mktemp("alerting"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def _target(stack: AlertingStack) -> telemetry.MetricsTarget:
    return telemetry.MetricsTarget(pushgateway_url=stack.pushgateway_url)


def _drift_batch(share: float, drifted: bool, dataset: str = DATASET) -> telemetry.MetricsBatch:
    batch = telemetry.MetricsBatch(PIPELINE, "drift")
    batch.set(m.DRIFT_DETECTED, 1.0 if drifted else 0.0, dataset=dataset, source=m.SOURCE_BATCH)
    batch.set(m.DRIFT_SHARE, share, dataset=dataset, source=m.SOURCE_BATCH)
    batch.set(m.DRIFT_SHARE_THRESHOLD, 0.5, dataset=dataset, source=m.SOURCE_BATCH)
    batch.set(m.DRIFT_DRIFTED_FEATURES, round(share * len(FEATURES)), dataset=dataset, source=m.SOURCE_BATCH)
    for number, feature in enumerate(FEATURES):
        batch.set(
            m.DRIFT_FEATURE_SCORE, 0.1 * number, dataset=dataset, source=m.SOURCE_BATCH, feature=feature
        )
    return batch


def _is(alertname: str, status: str, **labels: str) -> Any:
    def matches(alert: dict[str, Any]) -> bool:
        return (
            alert["labels"].get("alertname") == alertname
            and alert["status"] == status
            and all(alert["labels"].get(k) == v for k, v in labels.items())
        )

    return matches


def _publish(stack: AlertingStack, *batches: telemetry.MetricsBatch) -> float:
    pushed_at = time.monotonic()
    assert telemetry.publish_all(list(batches), _target(stack)), "push to the Pushgateway failed"
    return pushed_at


def test_drift_and_failed_stage_notify_and_resolve(stack: AlertingStack) -> None:
    assert stack.webhook is not None
    latencies: dict[str, float] = {}

    # (a) a drifted batch: share above the pipeline's threshold, below the critical share.
    pushed = _publish(
        stack,
        telemetry.stage_outcome(PIPELINE, "drift", succeeded=True, duration_seconds=1.5),
        _drift_batch(share=0.6, drifted=True),
    )
    notification, drift = stack.webhook.wait_for(
        _is(rules.DATA_DRIFT_DETECTED, "firing", pipeline=PIPELINE, dataset=DATASET), TIMEOUT, after=pushed
    )
    latencies["drift detected"] = notification.received_at - pushed
    assert drift["labels"]["severity"] == "warning"
    assert drift["annotations"]["summary"] == f"Data drift detected in dataset {DATASET} (batch)"
    assert f"pipeline {PIPELINE}" in drift["annotations"]["description"]
    assert drift["annotations"]["runbook_url"] == "docs/runbooks/data-drift-detected.md"
    assert notification.payload["receiver"] == "mlops-warning"

    # (b) a failed stage, reported by the stage itself and by the exit handler.
    pushed = _publish(
        stack,
        telemetry.stage_outcome(PIPELINE, "ingest", succeeded=True, duration_seconds=0.4),
        telemetry.stage_outcome(PIPELINE, "train", succeeded=False, duration_seconds=2.0),
        telemetry.run_outcome(PIPELINE, succeeded=False, ended_at=time.time()),
    )
    notification, failed = stack.webhook.wait_for(
        _is(rules.PIPELINE_STAGE_FAILED, "firing", pipeline=PIPELINE, stage="train"), TIMEOUT, after=pushed
    )
    latencies["stage failed"] = notification.received_at - pushed
    assert failed["labels"]["severity"] == "critical"
    assert failed["annotations"]["summary"] == f"Stage train of pipeline {PIPELINE} failed"
    assert failed["annotations"]["runbook_url"] == "docs/runbooks/pipeline-stage-failed.md"
    assert notification.payload["receiver"] == "mlops-critical"

    # (c) recovery: the next run's train stage succeeds and the newest batch is clean.
    pushed = _publish(
        stack,
        telemetry.stage_outcome(PIPELINE, "train", succeeded=True, duration_seconds=2.1),
        telemetry.run_outcome(PIPELINE, succeeded=True, ended_at=time.time()),
        _drift_batch(share=0.0, drifted=False),
    )
    notification, _ = stack.webhook.wait_for(
        _is(rules.PIPELINE_STAGE_FAILED, "resolved", pipeline=PIPELINE, stage="train"), TIMEOUT, after=pushed
    )
    latencies["stage failed resolved"] = notification.received_at - pushed
    notification, _ = stack.webhook.wait_for(
        _is(rules.DATA_DRIFT_DETECTED, "resolved", pipeline=PIPELINE, dataset=DATASET), TIMEOUT, after=pushed
    )
    latencies["drift resolved"] = notification.received_at - pushed

    report = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in latencies.items())
    print(f"\npush-to-notification latency (1 s scrape/eval, group_wait 0s): {report}")
    # Nothing critical about drift was sent: 0.6 is below the critical share.
    critical = [
        (a["labels"], a["status"])
        for n in stack.webhook.notifications
        for a in n.payload["alerts"]
        if a["labels"].get("alertname") == rules.DRIFT_SHARE_CRITICAL
    ]
    assert not critical, f"unexpected critical drift notifications: {critical}"


def test_critical_drift_share_inhibits_the_drift_warning(stack: AlertingStack) -> None:
    assert stack.webhook is not None
    pushed = _publish(stack, _drift_batch(share=0.9, drifted=True, dataset="iris-shifted"))
    stack.webhook.wait_for(
        _is(rules.DRIFT_SHARE_CRITICAL, "firing", dataset="iris-shifted"), TIMEOUT, after=pushed
    )
    deadline = time.monotonic() + TIMEOUT
    warning: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        warning = next(
            (
                a
                for a in stack.alertmanager_alerts()
                if a["labels"].get("alertname") == rules.DATA_DRIFT_DETECTED
                and a["labels"].get("dataset") == "iris-shifted"
            ),
            None,
        )
        if warning is not None and warning["status"]["inhibitedBy"]:
            break
        time.sleep(0.2)
    assert warning is not None, "Alertmanager never received the drift warning"
    assert warning["status"]["state"] == "suppressed" and warning["status"]["inhibitedBy"]
    assert not any(
        _is(rules.DATA_DRIFT_DETECTED, "firing", dataset="iris-shifted")(a)
        for n in stack.webhook.notifications
        for a in n.payload["alerts"]
    ), "the inhibited warning was still delivered"


def _dashboard_queries(slugs: set[str]) -> list[tuple[str, str]]:
    found = []
    for spec in dashboards.all_dashboards():
        if spec.slug not in slugs:
            continue
        for panel in spec.model.panels or []:
            for target in getattr(panel, "targets", None) or []:
                expr = re.sub(r"\$(pipeline|source|model)\b", ".*", target.expr)
                found.append((f"{spec.slug} / {panel.title}", expr))
    return found


def test_every_dashboard_query_is_valid_promql(stack: AlertingStack) -> None:
    for where, expr in _dashboard_queries({s.slug for s in dashboards.all_dashboards()}):
        result = stack.query(expr)
        assert result["status"] == "success", f"{where}: {result.get('error')}"


def test_training_and_drift_panels_show_what_the_pipeline_pushed(
    stack: AlertingStack, tmp_path: Path
) -> None:
    evaluate = telemetry.MetricsBatch(PIPELINE, "evaluate")
    for metric, value in (("accuracy", 0.93), ("f1", 0.92)):
        evaluate.set(m.MODEL_METRIC, value, model_name="iris-clf", model_version="7", metric=metric)
        evaluate.set(m.MODEL_METRIC_THRESHOLD, 0.8, model_name="iris-clf", metric=metric)
    register = telemetry.MetricsBatch(PIPELINE, "register")
    register.set(m.MODEL_REGISTERED_VERSION, 7, model_name="iris-clf")
    register.set(m.MODEL_CHAMPION_VERSION, 7, model_name="iris-clf")
    _publish(
        stack,
        *(telemetry.stage_outcome(PIPELINE, s, succeeded=True, duration_seconds=1.0) for s in m.STAGES),
        telemetry.run_outcome(PIPELINE, succeeded=True, ended_at=time.time()),
        evaluate,
        register,
        _drift_batch(share=0.25, drifted=False),
    )
    queries = _dashboard_queries({"mlops-training", "mlops-drift"})
    deadline = time.monotonic() + TIMEOUT
    empty = queries
    while empty and time.monotonic() < deadline:
        empty = [(where, expr) for where, expr in queries if not stack.query(expr)["data"]["result"]]
        time.sleep(0.5)
    assert not empty, f"panels with no data although the pipeline pushed everything: {empty}"
