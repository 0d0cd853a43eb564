"""Fixtures for the training-flow tests: an isolated MLflow (SQLite in tmp_path), metrics folder, stage
summaries, and params with short MLflow retries, all through the environment the tasks read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines.params import DEFAULT_PARAMS_FILE, REPO_ROOT

SAMPLE_CSV = REPO_ROOT / "data" / "breast_cancer.csv"


@dataclass(frozen=True)
class FlowEnv:
    root: Path
    metrics_dir: Path
    summaries_dir: Path
    params_file: Path
    tracking_uri: str

    def metric_file(self, stage: str | None = None) -> str:
        name = "breast-cancer-training" + (f"-{stage}" if stage else "")
        return (self.metrics_dir / f"{name}.prom").read_text(encoding="utf-8")


def write_params(path: Path, **overrides: dict[str, object]) -> Path:
    raw = yaml.safe_load(DEFAULT_PARAMS_FILE.read_text(encoding="utf-8"))
    for section, values in overrides.items():
        raw[section].update(values)
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def make_flow_env(root: Path, patch: pytest.MonkeyPatch) -> FlowEnv:
    """A flow on a fresh local MLflow under `root`, short retries, metrics and stage summaries in files."""
    from pipelines.tracking import local_tracking_env

    tracking = local_tracking_env(root / "state")
    for key, value in tracking.items():
        patch.setenv(key, value)
    env = FlowEnv(
        root=root,
        metrics_dir=root / "metrics",
        summaries_dir=root / "summaries",
        params_file=write_params(
            root / "params.yaml", mlflow={"retry_attempts": 2, "retry_backoff_seconds": 0.05}
        ),
        tracking_uri=tracking["MLFLOW_TRACKING_URI"],
    )
    patch.setenv("MLOPS_METRICS_DIR", str(env.metrics_dir))
    patch.setenv("MLOPS_STAGE_SUMMARY_DIR", str(env.summaries_dir))
    patch.setenv("MLOPS_PARAMS_FILE", str(env.params_file))
    patch.delenv("MLOPS_PUSHGATEWAY_URL", raising=False)
    patch.setenv("MLOPS_GIT_REV", "0123abcd")
    return env


@pytest.fixture
def flow_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlowEnv]:
    yield make_flow_env(tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def sample_frame() -> pd.DataFrame:
    from pipelines import dataset

    if not SAMPLE_CSV.exists():
        dataset.materialize_sample_dataset(SAMPLE_CSV, SAMPLE_CSV.with_name(SAMPLE_CSV.name + ".dvc"))
    return pd.read_csv(SAMPLE_CSV)
