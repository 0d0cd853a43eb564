"""A real MLflow registry (SQLite + file artifacts) with champions to serve, for the serving tests.

Good versions are trained and logged by the training step's own code (`pipelines/steps/train.py`, with
signature, input example and training reference); a broken version is a pyfunc model with the same
signature whose predictions are probabilities, which the smoke check must refuse.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow.pyfunc
from mlflow.pyfunc import PythonModel

from pipelines import dataset, schema
from pipelines.params import MlflowParams, TrainParams
from pipelines.steps.train import EvaluationSet, Lineage, fit, log_training_run
from pipelines.tracking import Tracking

MODEL_NAME = "serving-test-model"
EXPERIMENT = "serving-test"
ALIAS = "champion"


def sample_frame() -> Any:
    import pandas as pd

    return pd.read_csv(io.BytesIO(dataset.sample_dataset_bytes()))


class ProbabilitiesModel(PythonModel):
    """Returns a float per row: loads fine, fails the smoke check (not class labels)."""

    # No type hints: MLflow would try to derive a signature from them.
    def predict(self, context, model_input, params=None):
        return [0.5] * len(model_input)


@dataclass(frozen=True)
class Registry:
    tracking_uri: str
    artifact_root: str

    @property
    def tracking(self) -> Tracking:
        retry = MlflowParams(retry_attempts=2, retry_backoff_seconds=0.1, request_timeout_seconds=10)
        return Tracking(self.tracking_uri, EXPERIMENT, retry, self.artifact_root)

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def register(self, model_uri: str) -> int:
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return int(mlflow.register_model(model_uri, MODEL_NAME).version)

    def train_and_register(self, frame: Any, c: float = 1.0) -> int:
        model = fit(frame, TrainParams(C=c, max_iter=1000))
        run = log_training_run(
            model=model,
            train=frame,
            metrics={"accuracy": 1.0},
            params=TrainParams(C=c, max_iter=1000),
            lineage=Lineage(data_md5="test", data_source="test", git_rev="test", pipeline_run="test"),
            evaluation=EvaluationSet(source="test", md5="test", rows=len(frame)),
            overlap_removed=0,
            tracking=self.tracking,
        )
        return self.register(run.model_uri)

    def register_broken(self, frame: Any) -> int:
        from mlflow.models import infer_signature

        example = frame.loc[:, list(schema.FEATURE_NAMES)].head(5)
        mlflow.set_tracking_uri(self.tracking_uri)
        with mlflow.start_run(experiment_id=self._experiment_id()):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=ProbabilitiesModel(),
                signature=infer_signature(example, [0.5] * 5),
                input_example=example,
                pip_requirements=["mlflow"],
            )
        return self.register(info.model_uri)

    def set_champion(self, version: int) -> None:
        self.client().set_registered_model_alias(MODEL_NAME, ALIAS, str(version))

    def _experiment_id(self) -> str:
        client = self.client()
        found = client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return str(found.experiment_id)
        return str(client.create_experiment(EXPERIMENT, artifact_location=self.artifact_root))


def make_registry(folder: Path) -> Registry:
    folder.mkdir(parents=True, exist_ok=True)
    return Registry(
        tracking_uri=f"sqlite:///{(folder / 'mlflow.db').resolve()}",
        artifact_root=(folder / "artifacts").resolve().as_uri(),
    )
