"""Drift on live traffic: the captured window against the champion's training reference.

`python -m serving live-drift` (a CronJob in the cluster; the demo calls `check_live_drift`):
1. on stores without a lifecycle rule (`MLOPS_CAPTURE_RETENTION_DAYS` set), delete expired parts first;
2. read the captured rows of the last `windowHours` hours; fewer than `minRows` and the verdict is
   "not enough traffic": no drift verdict is published (and the previous one is withdrawn, see below);
3. fetch the champion's training reference (`reference/training_reference.parquet`, logged by the training
   run that produced the champion) and run the same Evidently check as the batch drift stage
   (`pipelines.steps.drift.detect_drift`, `params.yaml` thresholds and sampling);
4. log an MLflow run in the training experiment, tagged `mlops.drift_source=live`, with the HTML report;
5. publish the drift metrics with `source="live"`.

Metrics: the check pushes to its own Pushgateway group, `{job="mlops-training", pipeline, stage="live_drift"}`
(the batch stage's group is `stage="drift"`), so live and batch never overwrite each other. Each push
replaces the whole group (PUT), so the group always holds exactly the latest check: a window without enough
traffic withdraws the previous verdict instead of leaving a stale one firing. The group also carries the
check's own `mlops_pipeline_stage_success` and duration under `stage="live_drift"`: an error in the check
(registry or store unreachable, no reference) publishes success 0, so MlopsPipelineStageFailed reaches
people, and the command exits 1. Drift itself is a verdict, not a failure: exit 0.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from monitoring import metrics as m
from pipelines import schema
from pipelines.stage import PIPELINE_NAME
from pipelines.steps.train import TAG_PIPELINE_RUN, TRAINING_REFERENCE_ARTIFACT
from pipelines.telemetry import MetricsBatch, MetricsTarget, publish
from serving import capture
from serving.config import ConfigError, live_drift_config

if TYPE_CHECKING:
    import pandas as pd

    from pipelines.params import FlowParams
    from pipelines.steps.drift import DriftResult

log = logging.getLogger(__name__)

VERDICT_DRIFT: Final = "drift detected"
VERDICT_NO_DRIFT: Final = "no drift"
VERDICT_NOT_ENOUGH_TRAFFIC: Final = "not enough traffic"
TAG_DRIFT_SOURCE: Final = "mlops.drift_source"
TAG_CHAMPION_VERSION: Final = "mlops.champion_version"
# MLflow draws a progress bar for every artifact download; a job log and the demo's summary do without.
QUIET_DOWNLOADS_ENV: Final = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


class LiveDriftError(RuntimeError):
    """The check could not run (the message says what was missing or unreachable)."""


@dataclass(frozen=True)
class LiveDriftOutcome:
    """What one live check found."""

    verdict: str
    """`drift detected`, `no drift` or `not enough traffic`."""
    rows: int
    """Captured rows in the window."""
    window_hours: int
    min_rows: int
    champion_version: int | None
    window: str = ""
    """The window in words: `in the last 24 h`, or `since 23:28:01 UTC`."""
    share: float | None = None
    """Share of drifted features (None without a verdict)."""
    drifted_count: int | None = None
    share_threshold: float | None = None
    report_path: str = ""
    run_id: str = ""
    """The MLflow run holding the report (empty without a verdict)."""
    pruned_parts: int = 0

    @property
    def drifted(self) -> bool:
        return self.verdict == VERDICT_DRIFT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if self.verdict == VERDICT_NOT_ENOUGH_TRAFFIC:
            return (
                f"not enough traffic: {self.rows} row(s) captured {self.window}, "
                f"{self.min_rows} needed; no verdict published"
            )
        return (
            f"{self.verdict.upper() if self.drifted else self.verdict}: {self.drifted_count}/"
            f"{len(schema.FEATURE_NAMES)} features drifted (share {self.share:.2f}, threshold "
            f"{self.share_threshold:.2f}) in {self.rows} rows captured {self.window} "
            f"against v{self.champion_version}'s training reference"
        )


def champion_reference(model_name: str, alias: str, tracking_uri: str) -> tuple[int, str, pd.DataFrame]:
    """The champion's version, its training run and that run's training reference."""
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        version = client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        raise LiveDriftError(f"{model_name}@{alias} is not in the registry at {tracking_uri}: {exc}") from exc
    run_id = str(version.run_id or "")
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=TRAINING_REFERENCE_ARTIFACT, tracking_uri=tracking_uri
        )
    except (MlflowException, OSError) as exc:
        raise LiveDriftError(
            f"{model_name} v{version.version}'s training run {run_id} has no {TRAINING_REFERENCE_ARTIFACT} "
            f"(trained before the reference was logged?): retrain, so the champion has one ({exc})"
        ) from exc
    return int(version.version), run_id, pd.read_parquet(path)


def log_live_drift_run(
    result: DriftResult, report: Path, outcome: LiveDriftOutcome, params: FlowParams, tracking_uri: str
) -> str:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment = client.get_experiment_by_name(params.registry.experiment)
    experiment_id = (
        str(experiment.experiment_id) if experiment else client.create_experiment(params.registry.experiment)
    )
    mlflow.set_tracking_uri(tracking_uri)
    tags = {
        "mlops.kind": "drift-check",
        TAG_DRIFT_SOURCE: m.SOURCE_LIVE,
        TAG_CHAMPION_VERSION: str(outcome.champion_version),
        TAG_PIPELINE_RUN: "live",
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name="live-drift-check", tags=tags) as run:
        mlflow.log_params(
            {
                "window_hours": outcome.window_hours,
                "min_rows": outcome.min_rows,
                "current_rows": result.current_rows,
                "reference_rows": result.reference_rows,
                "share_threshold": result.share_threshold,
                "sampled": result.sampled,
            }
        )
        mlflow.log_metrics(
            {
                "drift_detected": 1.0 if result.drifted else 0.0,
                "drift_share": result.share,
                "drifted_features": float(result.drifted_count),
                **{f"drift_score.{name}": score for name, score in result.feature_scores.items()},
            }
        )
        mlflow.log_artifact(str(report), artifact_path="drift")
        return str(run.info.run_id)


def metrics_batch(dataset: str, succeeded: bool, seconds: float, result: DriftResult | None) -> MetricsBatch:
    """The live check's whole Pushgateway group: its outcome, and the verdict when there is one."""
    batch = MetricsBatch(PIPELINE_NAME, m.LIVE_DRIFT_STAGE)
    batch.set(m.STAGE_SUCCESS, 1.0 if succeeded else 0.0, stage=m.LIVE_DRIFT_STAGE)
    batch.set(m.STAGE_DURATION, seconds, stage=m.LIVE_DRIFT_STAGE)
    if result is not None:
        live = {"dataset": dataset, "source": m.SOURCE_LIVE}
        batch.set(m.DRIFT_DETECTED, 1.0 if result.drifted else 0.0, **live)
        batch.set(m.DRIFT_SHARE, result.share, **live)
        batch.set(m.DRIFT_SHARE_THRESHOLD, result.share_threshold, **live)
        batch.set(m.DRIFT_DRIFTED_FEATURES, float(result.drifted_count), **live)
        for feature, score in result.feature_scores.items():
            batch.set(m.DRIFT_FEATURE_SCORE, score, feature=feature, **live)
    return batch


def check_live_drift(
    *,
    model_name: str,
    tracking_uri: str,
    capture_uri: str,
    alias: str = "champion",
    window_hours: int = 24,
    min_rows: int = 200,
    retention_days: int | None = None,
    metrics_target: MetricsTarget | None = None,
    report_dir: Path | None = None,
    params: FlowParams | None = None,
    now: datetime | None = None,
    since: datetime | None = None,
) -> LiveDriftOutcome:
    """Run the check (see the module docstring); raises LiveDriftError after publishing the failure.

    `since` narrows the window to rows captured from then on (the demo checks only the traffic it sent)."""
    from pipelines.steps.drift import detect_drift
    from pipelines.tasks import dataset_label, flow_params

    started = time.monotonic()
    params = params or flow_params()
    target = metrics_target or MetricsTarget()
    dataset = dataset_label(params)
    moment = now or datetime.now(UTC)
    window_words = f"since {since:%H:%M:%S} UTC" if since else f"in the last {window_hours} h"
    try:
        store = capture.open_store(capture_uri)
        pruned = capture.prune(store, model_name, retention_days, moment) if retention_days else 0
        window = capture.read_window(store, model_name, moment, window_hours, since)
        if len(window) < min_rows:
            outcome = LiveDriftOutcome(
                verdict=VERDICT_NOT_ENOUGH_TRAFFIC,
                rows=len(window),
                window_hours=window_hours,
                min_rows=min_rows,
                champion_version=None,
                window=window_words,
                pruned_parts=pruned,
            )
            publish(metrics_batch(dataset, True, time.monotonic() - started, None), target, replace=True)
            return outcome
        version, _, reference = champion_reference(model_name, alias, tracking_uri)
        with tempfile.TemporaryDirectory() as scratch:
            report = (report_dir or Path(scratch)) / f"live-drift-{moment:%Y%m%dT%H%M%SZ}.html"
            result = detect_drift(
                reference,
                window,
                list(schema.FEATURE_NAMES),
                share_threshold=params.drift.share_threshold,
                max_rows=params.drift.max_rows,
                seed=params.drift.seed,
                report_path=report,
            )
            outcome = LiveDriftOutcome(
                verdict=VERDICT_DRIFT if result.drifted else VERDICT_NO_DRIFT,
                rows=len(window),
                window_hours=window_hours,
                min_rows=min_rows,
                champion_version=version,
                window=window_words,
                share=result.share,
                drifted_count=result.drifted_count,
                share_threshold=result.share_threshold,
                report_path=str(report) if report_dir else "",
                pruned_parts=pruned,
            )
            run_id = log_live_drift_run(result, report, outcome, params, tracking_uri)
    except Exception as exc:
        publish(metrics_batch(dataset, False, time.monotonic() - started, None), target, replace=True)
        if isinstance(exc, LiveDriftError):
            raise
        raise LiveDriftError(f"the live drift check failed: {type(exc).__name__}: {exc}") from exc
    publish(metrics_batch(dataset, True, time.monotonic() - started, result), target, replace=True)
    return LiveDriftOutcome(**{**outcome.to_dict(), "run_id": run_id})


def main(env: Mapping[str, str]) -> int:
    """The CronJob's entry point: 0 with a verdict (drift or not) or too little traffic, 1 on an error."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault(QUIET_DOWNLOADS_ENV, "false")
    try:
        config = live_drift_config(env)
    except ConfigError as exc:
        print(f"live-drift: {exc}", file=sys.stderr)
        return 2
    target = MetricsTarget(
        pushgateway_url=config.pushgateway_url or None,
        textfile_dir=Path(config.metrics_dir) if config.metrics_dir else None,
    )
    try:
        outcome = check_live_drift(
            model_name=config.model_name,
            alias=config.alias,
            tracking_uri=config.tracking_uri,
            capture_uri=config.capture_uri,
            window_hours=config.window_hours,
            min_rows=config.min_rows,
            retention_days=config.retention_days,
            metrics_target=target,
        )
    except LiveDriftError as exc:
        print(f"live-drift: FAILED: {exc}", file=sys.stderr)
        return 1
    if outcome.pruned_parts:
        days = config.retention_days
        print(f"live-drift: deleted {outcome.pruned_parts} captured part(s) older than {days} d")
    print(f"live-drift: {outcome.describe()}" + (f" (MLflow run {outcome.run_id})" if outcome.run_id else ""))
    return 0
