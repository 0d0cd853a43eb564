"""The one source of metric names and labels.

The training pipeline and the model server emit these metrics, the alert rules and Grafana dashboards query
them, and the tests check that every queried metric is emitted. Nothing else in the repository spells a
metric name.

Two kinds:
- `ALL_METRICS`: gauges a batch job (the training flow, the drift checks) pushes to a Prometheus Pushgateway
  (or writes to a text file when no gateway is configured): a batch job has no long-lived process to scrape,
  so "last value pushed" is the right model.
- `SERVING_METRICS`: counters, a histogram and gauges the long-lived model server exposes on its own
  `/metrics` endpoint, scraped by Prometheus (rates and quantiles need raw counters, not pushed snapshots).
- `RELAY_METRICS`: what the retraining relay (`relay/`) exposes on its `/metrics`, scraped the same way:
  every webhook decision by outcome, the runs it started, and its failures to start one.
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
# Where a drift check's "current" data came from: a batch file or the traffic the model server captured.
LABEL_SOURCE: Final = "source"
LABEL_OUTCOME: Final = "outcome"

# Values of LABEL_SOURCE.
SOURCE_BATCH: Final = "batch"
SOURCE_LIVE: Final = "live"

# Values of LABEL_OUTCOME on the serving request counter: a 2xx answer, a 4xx for a request that does not
# match the model's signature (never captured as traffic), a 5xx.
OUTCOME_OK: Final = "ok"
OUTCOME_INVALID: Final = "invalid"
OUTCOME_ERROR: Final = "error"
OUTCOMES: Final = (OUTCOME_OK, OUTCOME_INVALID, OUTCOME_ERROR)

# The stages of the training flow, in order. Stage labels take exactly these values.
STAGES: Final = ("ingest", "validate", "train", "evaluate", "register", "drift")
# The drift check on captured live traffic (`python -m serving live-drift`, a CronJob) is not a stage of the
# training flow, but reports its outcome the same way under this stage label, so an error in it fires
# MlopsPipelineStageFailed like a failed training stage does (a stage value of its own: `max by (pipeline,
# stage)` must not let a successful batch drift stage hide a failed live check).
LIVE_DRIFT_STAGE: Final = "live_drift"

# Prometheus scrape job names of the services we watch for "down" alerts. kube-prometheus-stack names the
# job after the Service a ServiceMonitor selects, so the components name those Services the same way.
MLFLOW_SCRAPE_JOB: Final = "mlflow"
SERVING_SCRAPE_JOB: Final = "model-server"
PUSHGATEWAY_SCRAPE_JOB: Final = "pushgateway"
RELAY_SCRAPE_JOB: Final = "retrain-relay"


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
    "drift_detected",
    "1 if Evidently found dataset drift in the checked data (a batch or captured live traffic), else 0.",
    LABEL_DATASET,
    LABEL_SOURCE,
)
DRIFT_SHARE = _metric(
    "drift_share", "Share of features that drifted in the checked data (0..1).", LABEL_DATASET, LABEL_SOURCE
)
DRIFT_SHARE_THRESHOLD = _metric(
    "drift_share_threshold",
    "Drifted-feature share at which the checked data counts as drifted.",
    LABEL_DATASET,
    LABEL_SOURCE,
)
DRIFT_DRIFTED_FEATURES = _metric(
    "drift_drifted_features",
    "Number of features that drifted in the checked data.",
    LABEL_DATASET,
    LABEL_SOURCE,
)
DRIFT_FEATURE_SCORE = _metric(
    "drift_feature_score",
    "Per-feature drift score from Evidently (a p-value or a normed Wasserstein distance, by method).",
    LABEL_DATASET,
    LABEL_SOURCE,
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


def _served(suffix: str, help_text: str, *labels: str) -> MetricSpec:
    # Scraped from the server: no pipeline label (the scrape adds job/instance/pod).
    return MetricSpec(name=f"{PREFIX}_{suffix}", help=help_text, labels=(LABEL_MODEL, *labels))


# prometheus_client appends `_total` to counters and `_bucket`/`_sum`/`_count` to histograms on exposition;
# `name` is the name as exposed and queried, so counters carry their `_total` here.
SERVING_REQUESTS = _served(
    "serving_requests_total",
    "Prediction requests answered, by served model version and outcome (ok, invalid, error).",
    LABEL_VERSION,
    LABEL_OUTCOME,
)
SERVING_LATENCY = _served(
    "serving_request_duration_seconds",
    "Wall time of one prediction request inside the server (histogram).",
)
SERVING_MODEL_VERSION = _served(
    "serving_model_version", "Registry version number of the model this server answers with right now."
)
SERVING_MODEL_LOAD_FAILURES = _served(
    "serving_model_load_failures_total",
    "Times a newly aliased champion failed to load or its smoke check (the previous one kept serving).",
)
SERVING_CAPTURED_ROWS = _served(
    "serving_captured_rows_total", "Request rows written to the inference capture (after sampling)."
)
SERVING_CAPTURE_DROPPED = _served(
    "serving_capture_dropped_rows_total",
    "Sampled request rows the capture could not write (queue full or a failed upload).",
)

SERVING_METRICS: Final = (
    SERVING_REQUESTS,
    SERVING_LATENCY,
    SERVING_MODEL_VERSION,
    SERVING_MODEL_LOAD_FAILURES,
    SERVING_CAPTURED_ROWS,
    SERVING_CAPTURE_DROPPED,
)


# Values of LABEL_OUTCOME on the relay's decision counter (relay/guardrails.py decides them).
DECISION_STARTED: Final = "started"
DECISION_DUPLICATE: Final = "duplicate"
DECISION_COOLDOWN: Final = "cooldown"
DECISION_DAILY_LIMIT: Final = "daily_limit"
DECISION_DISABLED: Final = "disabled"
DECISION_IGNORED: Final = "ignored"
DECISION_FAILED: Final = "failed"
DECISIONS: Final = (
    DECISION_STARTED,
    DECISION_DUPLICATE,
    DECISION_COOLDOWN,
    DECISION_DAILY_LIMIT,
    DECISION_DISABLED,
    DECISION_IGNORED,
    DECISION_FAILED,
)


def _relayed(suffix: str, help_text: str, *labels: str) -> MetricSpec:
    # Scraped from the relay: one process per cluster, so no model or pipeline label of its own.
    return MetricSpec(name=f"{PREFIX}_{suffix}", help=help_text, labels=labels)


RELAY_DECISIONS = _relayed(
    "relay_decisions_total",
    "Alertmanager notifications the relay judged, by outcome (started, duplicate, cooldown, daily_limit, "
    "disabled, ignored, failed).",
    LABEL_OUTCOME,
)
RELAY_RUNS_STARTED = _relayed(
    "relay_runs_started_total", "Training runs the relay started because live drift was confirmed."
)
RELAY_LAST_START = _relayed(
    "relay_last_run_start_timestamp_seconds",
    "Unix time the relay last started a training run (0 before the first one since it started).",
)
RELAY_START_FAILURES = _relayed(
    "relay_run_start_failures_total",
    "Times the relay decided to start a run and the launcher (KFP API or the local flow) refused or failed.",
)
RELAY_UNAUTHORIZED = _relayed(
    "relay_unauthorized_requests_total",
    "Webhook requests refused for a missing or wrong bearer token (nothing was started).",
)

RELAY_METRICS: Final = (
    RELAY_DECISIONS,
    RELAY_RUNS_STARTED,
    RELAY_LAST_START,
    RELAY_START_FAILURES,
    RELAY_UNAUTHORIZED,
)
