"""Drift: Evidently's DataDriftPreset on the newest batch against the training reference.

Evidently 0.7 reports a drifted-columns count and share and one score per feature; the dataset verdict
is `share >= share_threshold`. The per-feature score is a p-value (small = drift) for small inputs and a
normed Wasserstein distance (large = drift) above 1000 rows, so whether a feature drifted is read from
Evidently's own per-column test, not from the score. Inputs above `max_rows` are sampled with a fixed
seed: the verdict of a large sample matches the full run at a fraction of the time and memory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.steps.train import TAG_PIPELINE_RUN
from pipelines.tracking import Tracking, connect, ensure_experiment, with_retries

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class DriftResult:
    drifted: bool
    share: float
    drifted_count: int
    share_threshold: float
    feature_scores: dict[str, float]
    feature_drifted: dict[str, bool]
    methods: dict[str, str]
    reference_rows: int
    current_rows: int
    sampled: bool
    report_path: str = field(default="")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def _parse(snapshot_dict: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
    """share, count and per-column (score, method, metric id) from a Snapshot.dict()."""
    share = count = None
    columns: dict[str, Any] = {}
    for metric in snapshot_dict["metrics"]:
        kind = metric["config"]["type"]
        if kind.endswith(":DriftedColumnsCount"):
            share, count = float(metric["value"]["share"]), int(metric["value"]["count"])
        elif kind.endswith(":ValueDrift"):
            config = metric["config"]
            columns[config["column"]] = (float(metric["value"]), str(config["method"]), metric["id"])
    if share is None or count is None:
        raise RuntimeError("the Evidently report has no DriftedColumnsCount metric")
    return share, count, columns


def _failed_metric_ids(snapshot_dict: dict[str, Any]) -> set[str]:
    failed = set()
    for test in snapshot_dict.get("tests", []):
        metric_id = test.get("metric_config", {}).get("metric_id")
        if metric_id and test.get("status") == "FAIL":
            failed.add(metric_id)
    return failed


def detect_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    features: list[str],
    *,
    share_threshold: float,
    max_rows: int,
    seed: int,
    report_path: Path | None = None,
) -> DriftResult:
    """Run the report (sampling inputs above `max_rows`), optionally save its HTML, return the verdict."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference_used = sample(reference.loc[:, features], max_rows, seed)
    current_used = sample(current.loc[:, features], max_rows, seed + 1)
    definition = DataDefinition(numerical_columns=features)
    report = Report([DataDriftPreset(drift_share=share_threshold)], include_tests=True)
    snapshot = report.run(
        reference_data=Dataset.from_pandas(reference_used, data_definition=definition),
        current_data=Dataset.from_pandas(current_used, data_definition=definition),
    )
    raw = snapshot.dict()
    share, count, columns = _parse(raw)
    failed = _failed_metric_ids(raw)
    if report_path is not None:
        report_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(report_path))
    return DriftResult(
        drifted=share >= share_threshold,
        share=share,
        drifted_count=count,
        share_threshold=share_threshold,
        feature_scores={name: columns[name][0] for name in features},
        feature_drifted={name: columns[name][2] in failed for name in features},
        methods={name: columns[name][1] for name in features},
        reference_rows=len(reference),
        current_rows=len(current),
        sampled=len(reference_used) < len(reference) or len(current_used) < len(current),
        report_path=str(report_path) if report_path else "",
    )


def log_drift_run(result: DriftResult, report_path: Path, pipeline_run: str, tracking: Tracking) -> str:
    """An MLflow run in the training experiment with the verdict, the scores and the HTML report."""
    import mlflow

    client = connect(tracking)
    experiment_id = ensure_experiment(client, tracking)
    metrics = {
        "drift_detected": 1.0 if result.drifted else 0.0,
        "drift_share": result.share,
        "drifted_features": float(result.drifted_count),
        **{f"drift_score.{name}": score for name, score in result.feature_scores.items()},
    }

    def log_run() -> str:
        tags = {TAG_PIPELINE_RUN: pipeline_run, "mlops.kind": "drift-check"}
        with mlflow.start_run(experiment_id=experiment_id, run_name="drift-check", tags=tags) as run:
            mlflow.log_params(
                {
                    "share_threshold": result.share_threshold,
                    "reference_rows": result.reference_rows,
                    "current_rows": result.current_rows,
                    "sampled": result.sampled,
                }
            )
            mlflow.log_metrics(metrics)
            mlflow.log_artifact(str(report_path), artifact_path="drift")
            return str(run.info.run_id)

    return with_retries(log_run, "logging the drift check", tracking)
