"""Train: a scikit-learn classifier on the validated data, logged to MLflow with its lineage.

The model fits on every training row that is not in the held-out evaluation set (rows are compared by
content hash, `pipelines.dataset.row_hash`), and its metrics are its scores on that evaluation set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines import dataset, schema
from pipelines.params import TrainParams
from pipelines.tracking import Tracking, connect, ensure_experiment, with_retries

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

# MLflow tag keys recorded on the training run and on every registered model version.
TAG_DATA_MD5 = "mlops.data_md5"
TAG_DATA_SOURCE = "mlops.data_source"
TAG_GIT_REV = "mlops.git_rev"
TAG_RUN_ID = "mlops.run_id"
TAG_PIPELINE_RUN = "mlops.pipeline_run"
# The evaluation set a model was scored on and checked disjoint from (its md5 is its DVC version).
TAG_EVAL_MD5 = "mlops.eval_md5"
TAG_EVAL_SOURCE = "mlops.eval_source"
TAG_EVAL_OVERLAP_REMOVED = "mlops.eval_overlap_removed"

MODEL_ARTIFACT_NAME = "model"
# The frame the model was fitted on (features and target), logged with the run: live drift compares the
# served champion's traffic with it (serving/live_drift.py), whatever batch the flow checked at the time.
TRAINING_REFERENCE_ARTIFACT = "reference/training_reference.parquet"
SKOPS_TRUSTED_TYPES = ["numpy.dtype"]


@dataclass(frozen=True)
class Lineage:
    """Where a model came from: recorded on its run and on its registered version."""

    data_md5: str
    data_source: str
    git_rev: str
    pipeline_run: str

    def tags(self) -> dict[str, str]:
        return {
            TAG_DATA_MD5: self.data_md5,
            TAG_DATA_SOURCE: self.data_source,
            TAG_GIT_REV: self.git_rev,
            TAG_PIPELINE_RUN: self.pipeline_run,
        }


@dataclass(frozen=True)
class TrainingRun:
    run_id: str
    model_uri: str
    metrics: dict[str, float]


@dataclass(frozen=True)
class EvaluationSet:
    """The held-out rows a comparison scores on: where they came from and which version (md5)."""

    source: str
    md5: str
    rows: int

    def tags(self) -> dict[str, str]:
        return {TAG_EVAL_MD5: self.md5, TAG_EVAL_SOURCE: self.source}


def without_evaluation_rows(train: pd.DataFrame, evaluation: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`train` minus every row whose content hash is a row of `evaluation`, and how many were removed."""
    held_out = set(dataset.row_hashes(evaluation))
    keep = [digest not in held_out for digest in dataset.row_hashes(train)]
    kept = train.loc[keep].reset_index(drop=True)
    return kept, len(train) - len(kept)


def near_copy_mask(train: pd.DataFrame, evaluation: pd.DataFrame, tolerance: float) -> list[bool]:
    """For each training row: is some evaluation row within `tolerance` (relative) in every feature?

    Catches evaluation rows with a little noise added, which a content hash cannot. Empty cells are left
    out of the comparison; 0 tolerance switches the check off.
    """
    import numpy as np

    if tolerance <= 0 or not len(train) or not len(evaluation):
        return [False] * len(train)
    features = list(schema.FEATURE_NAMES)
    rows = train.loc[:, features].to_numpy(dtype=float)
    held = evaluation.loc[:, features].to_numpy(dtype=float)
    scale = np.maximum(np.abs(held), np.finfo(float).tiny)[None, :, :]
    closest = np.empty(len(rows))
    chunk = 256  # bounds memory: chunk x evaluation rows x features floats
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk, None, :]
        relative = np.abs(part - held[None, :, :]) / scale
        relative = np.where((part == 0) & (held[None, :, :] == 0), 0.0, relative)
        with np.errstate(all="ignore"):
            worst = np.nanmax(np.where(np.isnan(relative), -np.inf, relative), axis=2)
        closest[start : start + chunk] = worst.min(axis=1)
    return [bool(value < tolerance) for value in closest]


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    return frame.loc[:, list(schema.FEATURE_NAMES)], frame[schema.TARGET]


def fit(train: pd.DataFrame, params: TrainParams) -> Pipeline:
    """Median imputation (Validate allows a few empty cells), scaling, logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    model = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=params.C, max_iter=params.max_iter)),
        ]
    )
    features, target = features_and_target(train)
    model.fit(features, target)
    return model


def score(model: Any, test: pd.DataFrame) -> dict[str, float]:
    """accuracy, f1 and roc_auc of `model` on `test` (class 1 is positive)."""
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

    features, target = features_and_target(test)
    predicted = model.predict(features)
    probability = model.predict_proba(features)[:, 1]
    return {
        "accuracy": float(accuracy_score(target, predicted)),
        "f1": float(f1_score(target, predicted)),
        "roc_auc": float(roc_auc_score(target, probability)),
    }


def log_training_reference(train: pd.DataFrame) -> None:
    """Log the training frame (schema columns, in order) as Parquet to the active run."""
    import tempfile
    from pathlib import Path

    import mlflow

    folder, name = TRAINING_REFERENCE_ARTIFACT.rsplit("/", 1)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / name
        train.loc[:, list(schema.COLUMNS)].to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder)


def log_training_run(
    *,
    model: Pipeline,
    train: pd.DataFrame,
    metrics: dict[str, float],
    params: TrainParams,
    lineage: Lineage,
    evaluation: EvaluationSet,
    overlap_removed: int,
    tracking: Tracking,
) -> TrainingRun:
    """One MLflow run with params, metrics (on `evaluation`), lineage and evaluation-set tags and the model
    (signature and input example)."""
    import mlflow
    import sklearn
    from mlflow.models import infer_signature

    client = connect(tracking)
    experiment_id = ensure_experiment(client, tracking)
    features, _ = features_and_target(train)
    example = features.head(5)
    signature = infer_signature(example, model.predict_proba(example)[:, 1])

    def log_run() -> TrainingRun:
        tags = {
            **lineage.tags(),
            **evaluation.tags(),
            TAG_EVAL_OVERLAP_REMOVED: str(overlap_removed),
        }
        with mlflow.start_run(experiment_id=experiment_id, tags=tags) as run:
            mlflow.log_params({"model": "logistic_regression", "C": params.C, "max_iter": params.max_iter})
            mlflow.log_params({"train_rows": len(train), "evaluation_rows": evaluation.rows})
            mlflow.log_metrics(metrics)
            info = mlflow.sklearn.log_model(
                model,
                name=MODEL_ARTIFACT_NAME,
                signature=signature,
                input_example=example,
                # Explicit requirements: inferring them re-imports the model in a subprocess (seconds).
                pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"],
                # skops (MLflow's safe default format) must be told the one non-sklearn type the model holds.
                skops_trusted_types=SKOPS_TRUSTED_TYPES,
            )
            log_training_reference(train)
            mlflow.set_tag(TAG_RUN_ID, run.info.run_id)
            return TrainingRun(run_id=run.info.run_id, model_uri=info.model_uri, metrics=metrics)

    return with_retries(log_run, "logging the training run", tracking)
