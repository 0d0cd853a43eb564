"""Alert rules for the training flow, as typed data, rendered to a PrometheusRule object.

Every metric name and label comes from `monitoring.metrics`. Each alert carries a severity (which picks its
Alertmanager route), a summary, a description and a `runbook_url` pointing at `docs/runbooks/<slug>.md`.

`for:` durations have production defaults chosen per alert. `AlertSettings.for_override` replaces all of
them at once; the end-to-end test renders with `"0s"` because it cannot wait five minutes for "MLflow down".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from monitoring import metrics as m

Severity = Literal["critical", "warning"]

SEVERITY_LABEL: Final = "severity"
DEFAULT_RUNBOOK_BASE_URL: Final = "docs/runbooks"
PROMETHEUS_RULE_API_VERSION: Final = "monitoring.coreos.com/v1"

# Alert names: Alertmanager routes and inhibit rules refer to them, so they are constants.
DATA_DRIFT_DETECTED: Final = "MlopsDataDriftDetected"
DRIFT_SHARE_CRITICAL: Final = "MlopsDriftShareCritical"
PIPELINE_STAGE_FAILED: Final = "MlopsPipelineStageFailed"
NO_RECENT_SUCCESSFUL_RUN: Final = "MlopsNoRecentSuccessfulRun"
MODEL_METRIC_BELOW_THRESHOLD: Final = "MlopsModelMetricBelowThreshold"
MLFLOW_DOWN: Final = "MlopsMlflowDown"
PUSHGATEWAY_DOWN: Final = "MlopsPushgatewayDown"
LIVE_DRIFT_CONFIRMED: Final = "MlopsLiveDriftConfirmed"
RETRAIN_RELAY_DOWN: Final = "MlopsRetrainRelayDown"
RETRAIN_RELAY_FAILING: Final = "MlopsRetrainRelayFailing"

# A daily training schedule plus two hours of slack for a slow run.
DEFAULT_NO_SUCCESS_HOURS: Final = 26.0

DURATION_PATTERN = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule and the text a person on call reads."""

    name: str
    group: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str

    @property
    def runbook_slug(self) -> str:
        """`MlopsDataDriftDetected` -> `data-drift-detected` (the runbook's file name without `.md`)."""
        bare = self.name.removeprefix("Mlops")
        return re.sub(r"(?<!^)(?=[A-Z])", "-", bare).lower()


@dataclass(frozen=True)
class AlertSettings:
    """What a stack may tune about the alerts. Defaults are the production values."""

    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    # None: nothing schedules the flow, so nothing promises a run and the rule is left out
    # (`monitoring.cadence.no_success_window_hours` derives the value from the training schedule).
    no_success_hours: float | None = DEFAULT_NO_SUCCESS_HOURS
    # How long live-traffic drift must keep firing before it counts as confirmed (`retrain.confirmFor`):
    # the confirmed alert is what Alertmanager hands to the retraining relay.
    live_drift_confirm_for: str = "30m"
    # The retraining relay runs: watch it (down, failing to start runs).
    retrain_relay: bool = True
    # Share of drifted features that pages someone (the pipeline's own threshold only warns).
    drift_share_critical: float = 0.75
    service_down_for: str = "5m"
    # Replaces every rule's `for:`; the end-to-end test uses "0s".
    for_override: str | None = None

    def __post_init__(self) -> None:
        if not self.runbook_base_url:
            raise ValueError("runbook_base_url must not be empty (e.g. 'docs/runbooks')")
        if self.no_success_hours is not None and self.no_success_hours <= 0:
            raise ValueError(f"no_success_hours must be > 0, got {self.no_success_hours}")
        if not 0 < self.drift_share_critical <= 1:
            raise ValueError(f"drift_share_critical must be in (0, 1], got {self.drift_share_critical}")
        for field_name in ("service_down_for", "for_override", "live_drift_confirm_for"):
            value = getattr(self, field_name)
            if value is not None and not DURATION_PATTERN.match(value):
                raise ValueError(
                    f"{field_name} must be a Prometheus duration like '5m' or '0s', got {value!r}"
                )


def _up(job: str) -> str:
    # `absent` catches a scrape job that vanished (Service renamed, ServiceMonitor not selected), which
    # `up == 0` alone never reports.
    return f'up{{job="{job}"}} == 0 or absent(up{{job="{job}"}})'


def _label(name: str) -> str:
    """A Go-template reference to an alert label, for summaries and descriptions."""
    return "{{ $labels." + name + " }}"


VALUE_PERCENT: Final = "{{ $value | humanizePercentage }}"
VALUE_DURATION: Final = "{{ $value | humanizeDuration }}"
VALUE: Final = "{{ $value }}"


def alert_rules(settings: AlertSettings | None = None) -> tuple[AlertRule, ...]:
    """The alerts, in the order they are rendered."""
    s = settings or AlertSettings()
    pipeline, dataset, stage, source = m.LABEL_PIPELINE, m.LABEL_DATASET, m.LABEL_STAGE, m.LABEL_SOURCE
    model, version, metric = m.LABEL_MODEL, m.LABEL_VERSION, m.LABEL_METRIC
    rules: tuple[AlertRule, ...] = (
        # Before the warning it inhibits: Prometheus sends each rule's alerts right after evaluating it,
        # so the inhibiting alert reaches Alertmanager first even with a zero group_wait.
        AlertRule(
            name=DRIFT_SHARE_CRITICAL,
            group="mlops-drift",
            expr=(
                f"max by ({pipeline}, {dataset}, {source}) ({m.DRIFT_SHARE.name})"
                f" >= {s.drift_share_critical:g}"
            ),
            for_="0s",
            severity="critical",
            summary=f"{VALUE_PERCENT} of the features of {_label(dataset)} ({_label(source)}) drifted",
            description=(
                f"The share of drifted features in the {_label(source)} data of {_label(dataset)} (pipeline "
                f"{_label(pipeline)}) is {VALUE_PERCENT}, at or above the critical share of "
                f"{s.drift_share_critical:.0%}. The model is probably scoring data unlike anything it was "
                "trained on."
            ),
        ),
        AlertRule(
            name=DATA_DRIFT_DETECTED,
            group="mlops-drift",
            expr=f"max by ({pipeline}, {dataset}, {source}) ({m.DRIFT_DETECTED.name}) == 1",
            # A drift verdict is a fact about one batch and stays in the Pushgateway until the next batch:
            # there is nothing to debounce.
            for_="0s",
            severity="warning",
            summary=f"Data drift detected in dataset {_label(dataset)} ({_label(source)})",
            description=(
                f"Evidently found dataset drift in the {_label(source)} data of {_label(dataset)} (pipeline "
                f"{_label(pipeline)}). Compare the drift report with the training data before the next "
                "retraining."
            ),
        ),
        AlertRule(
            name=PIPELINE_STAGE_FAILED,
            group="mlops-pipeline",
            expr=f"max by ({pipeline}, {stage}) ({m.STAGE_SUCCESS.name}) == 0",
            for_="0s",
            severity="critical",
            summary=f"Stage {_label(stage)} of pipeline {_label(pipeline)} failed",
            description=(
                f"The latest run of pipeline {_label(pipeline)} failed in stage {_label(stage)}. Later "
                "stages did not run, so this run registered no new model."
            ),
        ),
        AlertRule(
            name=MODEL_METRIC_BELOW_THRESHOLD,
            group="mlops-model",
            # The thresholds come from the pipeline itself (the evaluate step's gate), so the rule and the
            # gate cannot disagree.
            expr=(
                f"max by ({pipeline}, {model}, {version}, {metric}) ({m.MODEL_METRIC.name})"
                f" < on ({pipeline}, {model}, {metric}) group_left"
                f" max by ({pipeline}, {model}, {metric}) ({m.MODEL_METRIC_THRESHOLD.name})"
            ),
            for_="0s",
            severity="warning",
            summary=(f"{_label(metric)} of model {_label(model)} v{_label(version)} is below its threshold"),
            description=(
                f"Model {_label(model)} version {_label(version)} (pipeline {_label(pipeline)}) scored "
                f"{VALUE} on {_label(metric)}, below the threshold the evaluation step requires."
            ),
        ),
        AlertRule(
            name=MLFLOW_DOWN,
            group="mlops-services",
            expr=_up(m.MLFLOW_SCRAPE_JOB),
            for_=s.service_down_for,
            severity="critical",
            summary="MLflow tracking server is down",
            description=(
                f"Prometheus has not scraped the MLflow server (job {m.MLFLOW_SCRAPE_JOB}) for "
                f"{s.service_down_for}. Training runs cannot log metrics or register models."
            ),
        ),
        AlertRule(
            name=PUSHGATEWAY_DOWN,
            group="mlops-services",
            expr=_up(m.PUSHGATEWAY_SCRAPE_JOB),
            for_=s.service_down_for,
            severity="critical",
            summary="Pushgateway is down",
            description=(
                f"Prometheus has not scraped the Pushgateway (job {m.PUSHGATEWAY_SCRAPE_JOB}) for "
                f"{s.service_down_for}. Pipeline metrics are not reaching Prometheus, so drift and "
                "failed-stage alerts cannot fire."
            ),
        ),
    )
    rules = (*rules[:3], *_no_recent_success(s), *rules[3:], *_loop_rules(s))
    if s.for_override is None:
        return rules
    return tuple(replace(r, for_=s.for_override) for r in rules)


def _no_recent_success(s: AlertSettings) -> tuple[AlertRule, ...]:
    if s.no_success_hours is None:
        return ()
    pipeline = m.LABEL_PIPELINE
    no_success_seconds = int(s.no_success_hours * 3600)
    return (
        AlertRule(
            name=NO_RECENT_SUCCESSFUL_RUN,
            group="mlops-pipeline",
            # Second branch: a pipeline that has run but never succeeded has no last-success sample at all.
            expr=(
                f"(time() - max by ({pipeline}) ({m.LAST_SUCCESS_TIMESTAMP.name}) > {no_success_seconds})"
                f" or (time() - max by ({pipeline}) ({m.RUN_TIMESTAMP.name}) > {no_success_seconds}"
                f" unless on ({pipeline}) {m.LAST_SUCCESS_TIMESTAMP.name})"
            ),
            for_="0s",
            severity="warning",
            summary=f"No successful run of pipeline {_label(pipeline)} for {VALUE_DURATION}",
            description=(
                f"Pipeline {_label(pipeline)} has not finished a successful run for {VALUE_DURATION} "
                f"(limit: {s.no_success_hours:g} h). The models in production are getting stale."
            ),
        ),
    )


def _loop_rules(s: AlertSettings) -> tuple[AlertRule, ...]:
    """Live drift confirmed (what starts a retraining run) and, where the relay runs, the relay itself."""
    pipeline, dataset, source = m.LABEL_PIPELINE, m.LABEL_DATASET, m.LABEL_SOURCE
    confirmed = AlertRule(
        name=LIVE_DRIFT_CONFIRMED,
        group="mlops-drift",
        expr=(
            f"max by ({pipeline}, {dataset}, {source}) "
            f'({m.DRIFT_DETECTED.name}{{{source}="{m.SOURCE_LIVE}"}}) == 1'
        ),
        # Each live check replaces the last verdict: drift that survives `for:` worth of checks is not a
        # blip, and only then is retraining worth its cost.
        for_=s.live_drift_confirm_for,
        severity="warning",
        summary=f"Live drift in {_label(dataset)} confirmed for {s.live_drift_confirm_for}: retraining",
        description=(
            f"The model server's captured traffic of {_label(dataset)} (pipeline {_label(pipeline)}) has "
            f"drifted in every live check for {s.live_drift_confirm_for}. Alertmanager hands this alert to "
            "the retraining relay, which starts one training run on the newest labelled traffic unless a "
            "guardrail (cooldown, daily maximum, kill switch) holds it back; the new model still has to "
            "beat the champion on the held-out evaluation set."
        ),
    )
    if not s.retrain_relay:
        return (confirmed,)
    return (
        confirmed,
        AlertRule(
            name=RETRAIN_RELAY_DOWN,
            group="mlops-services",
            expr=_up(m.RELAY_SCRAPE_JOB),
            for_=s.service_down_for,
            severity="warning",
            summary="The retraining relay is down",
            description=(
                f"Prometheus has not scraped the retraining relay (job {m.RELAY_SCRAPE_JOB}) for "
                f"{s.service_down_for}. Confirmed live drift will reach people but start no retraining run."
            ),
        ),
        AlertRule(
            name=RETRAIN_RELAY_FAILING,
            group="mlops-services",
            # Counters start at 0 when the relay starts, so the first failure is an increase too.
            expr=f"increase({m.RELAY_START_FAILURES.name}[15m]) > 0",
            for_="0s",
            severity="warning",
            summary="The retraining relay could not start a training run",
            description=(
                f"The relay decided to retrain {VALUE} time(s) in the last 15 minutes and the launcher "
                "(the Kubeflow Pipelines API) refused or failed each time. Drift is confirmed and nothing "
                "is retraining: see the relay's log."
            ),
        ),
    )


def _render_rule(rule: AlertRule, runbook_base_url: str) -> dict[str, Any]:
    return {
        "alert": rule.name,
        "expr": rule.expr,
        "for": rule.for_,
        "labels": {SEVERITY_LABEL: rule.severity},
        "annotations": {
            "summary": rule.summary,
            "description": rule.description,
            "runbook_url": f"{runbook_base_url.rstrip('/')}/{rule.runbook_slug}.md",
        },
    }


def render_rule_groups(settings: AlertSettings | None = None) -> dict[str, Any]:
    """The rules in Prometheus rule-file form (`groups:` at the top), as promtool reads them."""
    s = settings or AlertSettings()
    groups: dict[str, list[dict[str, Any]]] = {}
    for rule in alert_rules(s):
        groups.setdefault(rule.group, []).append(_render_rule(rule, s.runbook_base_url))
    return {"groups": [{"name": name, "rules": rules} for name, rules in groups.items()]}


def render_prometheus_rule(
    name: str,
    namespace: str,
    settings: AlertSettings | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A `monitoring.coreos.com/v1` PrometheusRule object holding every rule group."""
    if not name or not namespace:
        raise ValueError(
            f"PrometheusRule needs a name and a namespace, got name={name!r} namespace={namespace!r}"
        )
    return {
        "apiVersion": PROMETHEUS_RULE_API_VERSION,
        "kind": "PrometheusRule",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {})},
        "spec": render_rule_groups(settings),
    }
