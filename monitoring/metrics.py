"""The one source of metric names and labels.

The training pipeline emits these metrics, the alert rules and Grafana dashboards query them, and the
tests check that every queried metric is emitted. Nothing else in the repository spells a metric name.

All metrics are gauges pushed to a Prometheus Pushgateway (or written to a text file when no gateway is
configured): a batch job has no long-lived process to scrape, so "last value pushed" is the right model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

PREFIX: Final = "mlops"

# Pushgateway grouping key: every push from a training run replaces the previous run's values for the
# same pipeline, so alerts see the latest run, not a pile-up of old ones.
PUSH_JOB: Final = "mlops-training"

# Label names.
LABEL_PIPELINE: Final = "pipeline"
LABEL_STAGE: Final = "stage"
LABEL_MODEL: Final = "model_name"
LABEL_VERSION: Final = "model_version"
LABEL_METRIC: Final = "metric"
LABEL_DATASET: Final = "dataset"
LABEL_FEATURE: Final = "feature"

# The stages of the training flow, in order. Stage labels take exactly these values.
STAGES: Final = ("ingest", "validate", "train", "evaluate", "register", "drift")

# Prometheus scrape job names of the services we watch for "down" alerts. kube-prometheus-stack names the
# job after the Service a ServiceMonitor selects, so the components name those Services the same way.
MLFLOW_SCRAPE_JOB: Final = "mlflow"
PUSHGATEWAY_SCRAPE_JOB: Final = "pushgateway"


@dataclass(frozen=True)
class MetricSpec:
    """A metric the training flow emits: its full name, help text and label names."""

    name: str
    help: str
    labels: tuple[str, ...]


def _metric(suffix: str, help_text: str, *labels: str) -> MetricSpec:
    return MetricSpec(name=f"{PREFIX}_{suffix}", help=help_text, labels=(LABEL_PIPELINE, *labels))


STAGE_DURATION = _metric(
    "pipeline_stage_duration_seconds", "Wall time of one pipeline stage in the latest run.", LABEL_STAGE
)
STAGE_SUCCESS = _metric(
    "pipeline_stage_success",
    "1 if the stage succeeded in the latest run, 0 if it failed (absent if it did not run).",
    LABEL_STAGE,
)
RUN_SUCCESS = _metric("pipeline_run_success", "1 if the latest pipeline run succeeded as a whole, else 0.")
RUN_TIMESTAMP = _metric("pipeline_last_run_timestamp_seconds", "Unix time the latest pipeline run ended.")
LAST_SUCCESS_TIMESTAMP = _metric(
    "pipeline_last_success_timestamp_seconds", "Unix time of the latest pipeline run that succeeded."
)
MODEL_METRIC = _metric(
    "model_metric",
    "Evaluation metric of the model trained in the latest run (metric label: accuracy, f1, roc_auc).",
    LABEL_MODEL,
    LABEL_VERSION,
    LABEL_METRIC,
)
MODEL_METRIC_THRESHOLD = _metric(
    "model_metric_threshold",
    "The minimum value the evaluation step requires of each metric.",
    LABEL_MODEL,
    LABEL_METRIC,
)
MODEL_REGISTERED_VERSION = _metric(
    "model_registered_version", "Version number of the latest model registered in MLflow.", LABEL_MODEL
)
MODEL_CHAMPION_VERSION = _metric(
    "model_champion_version", "Version number the MLflow alias 'champion' points at.", LABEL_MODEL
)
DRIFT_DETECTED = _metric(
    "drift_detected", "1 if Evidently found dataset drift in the newest batch, else 0.", LABEL_DATASET
)
DRIFT_SHARE = _metric(
    "drift_share", "Share of features that drifted in the newest batch (0..1).", LABEL_DATASET
)
DRIFT_SHARE_THRESHOLD = _metric(
    "drift_share_threshold", "Drifted-feature share at which the batch counts as drifted.", LABEL_DATASET
)
DRIFT_DRIFTED_FEATURES = _metric(
    "drift_drifted_features", "Number of features that drifted in the newest batch.", LABEL_DATASET
)
DRIFT_FEATURE_SCORE = _metric(
    "drift_feature_score",
    "Per-feature drift score from Evidently (a p-value or a normed Wasserstein distance, by method).",
    LABEL_DATASET,
    LABEL_FEATURE,
)

ALL_METRICS: Final = (
    STAGE_DURATION,
    STAGE_SUCCESS,
    RUN_SUCCESS,
    RUN_TIMESTAMP,
    LAST_SUCCESS_TIMESTAMP,
    MODEL_METRIC,
    MODEL_METRIC_THRESHOLD,
    MODEL_REGISTERED_VERSION,
    MODEL_CHAMPION_VERSION,
    DRIFT_DETECTED,
    DRIFT_SHARE,
    DRIFT_SHARE_THRESHOLD,
    DRIFT_DRIFTED_FEATURES,
    DRIFT_FEATURE_SCORE,
)
