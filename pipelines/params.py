"""The training flow's parameters: `params.yaml` at the repository root, validated up front.

DVC tracks the same file (`dvc.yaml` names the keys each stage depends on), so a changed threshold or
hyperparameter re-runs exactly the stages that use it. Unknown or missing keys are errors that name the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PARAMS_FILE = REPO_ROOT / "params.yaml"

MODEL_METRICS = ("accuracy", "f1", "roc_auc")


class ParamsError(ValueError):
    """params.yaml is missing a key, has an unknown one, or a value out of its range."""


@dataclass(frozen=True)
class DataParams:
    path: str
    """The DVC-tracked training dataset, relative to the repository root."""
    evaluation_path: str
    """The DVC-tracked held-out evaluation set candidate and champion are scored on (repository-relative)."""
    min_rows: int
    """Fewer rows than this and Validate stops the run."""
    max_null_fraction: float
    """Largest share of empty cells a feature column may have (the target may have none)."""
    min_class_share: float
    """Smallest share the rarer class may have."""


@dataclass(frozen=True)
class GuardParams:
    """Leakage guards Validate applies to the training data (each refusal names the column)."""

    max_feature_auc: float
    """Largest ROC AUC one feature alone may reach on the label (either direction) before it is a leak."""
    max_duplicate_share: float
    """Largest share of rows that repeat an earlier row exactly."""
    near_copy_tolerance: float
    """A training row within this relative difference of an evaluation row in every feature is dropped."""


@dataclass(frozen=True)
class TrainParams:
    # scikit-learn's name, so params.yaml reads like the estimator's documentation.
    C: float
    max_iter: int


@dataclass(frozen=True)
class EvaluateParams:
    primary_metric: str
    min_improvement: float
    thresholds: Mapping[str, float]


@dataclass(frozen=True)
class RegistryParams:
    model_name: str
    experiment: str
    champion_alias: str


@dataclass(frozen=True)
class MlflowParams:
    retry_attempts: int
    retry_backoff_seconds: float
    request_timeout_seconds: int


@dataclass(frozen=True)
class DriftParams:
    share_threshold: float
    max_rows: int
    seed: int
    batch_rows: int


@dataclass(frozen=True)
class CaptureParams:
    window_days: int
    """A retraining run adds labelled captured requests of this many most recent days."""


@dataclass(frozen=True)
class FlowParams:
    data: DataParams
    guards: GuardParams
    train: TrainParams
    evaluate: EvaluateParams
    registry: RegistryParams
    mlflow: MlflowParams
    drift: DriftParams
    capture: CaptureParams


_Section = TypeVar("_Section")


def _section(cls: type[_Section], name: str, raw: Any) -> _Section:
    if not isinstance(raw, Mapping):
        raise ParamsError(f"params key '{name}' must be a mapping, got {type(raw).__name__}")
    expected = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(raw) - set(expected))
    if unknown:
        raise ParamsError(f"unknown params key '{name}.{unknown[0]}'; expected one of {sorted(expected)}")
    missing = sorted(set(expected) - set(raw))
    if missing:
        raise ParamsError(f"missing params key '{name}.{missing[0]}'")
    values: dict[str, Any] = {}
    for key, field in expected.items():
        value = raw[key]
        kind = field.type if isinstance(field.type, str) else field.type.__name__
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ParamsError(f"params key '{name}.{key}' must be an integer, got {value!r}")
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParamsError(f"params key '{name}.{key}' must be a number, got {value!r}")
            value = float(value)
        if kind == "str" and not (isinstance(value, str) and value):
            raise ParamsError(f"params key '{name}.{key}' must be a non-empty string, got {value!r}")
        values[key] = value
    return cls(**values)


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ParamsError(f"params key '{key}' is {value}, expected a value in [{low}, {high}]")


def _evaluate_section(raw: Any) -> EvaluateParams:
    # Thresholds are a free-form mapping, checked below; the generic check sees an empty one.
    params = _section(
        EvaluateParams, "evaluate", {**raw, "thresholds": {}} if isinstance(raw, Mapping) else raw
    )
    thresholds = raw["thresholds"]
    if not isinstance(thresholds, Mapping):
        raise ParamsError("params key 'evaluate.thresholds' must be a mapping of metric -> minimum")
    for metric, minimum in thresholds.items():
        if metric not in MODEL_METRICS:
            raise ParamsError(
                f"unknown metric 'evaluate.thresholds.{metric}'; expected one of {list(MODEL_METRICS)}"
            )
        if isinstance(minimum, bool) or not isinstance(minimum, int | float):
            raise ParamsError(f"params key 'evaluate.thresholds.{metric}' must be a number, got {minimum!r}")
        _check_range(f"evaluate.thresholds.{metric}", float(minimum), 0.0, 1.0)
    if params.primary_metric not in MODEL_METRICS:
        raise ParamsError(
            f"params key 'evaluate.primary_metric' is {params.primary_metric!r}; "
            f"expected one of {list(MODEL_METRICS)}"
        )
    return EvaluateParams(
        primary_metric=params.primary_metric,
        min_improvement=params.min_improvement,
        thresholds={str(k): float(v) for k, v in thresholds.items()},
    )


def parse_params(raw: Any) -> FlowParams:
    """Validate the parsed YAML: every section and key present, nothing unknown, values in range."""
    if not isinstance(raw, Mapping):
        raise ParamsError("params.yaml must be a mapping of sections")
    sections = {f.name for f in fields(FlowParams)}
    unknown = sorted(set(raw) - sections)
    if unknown:
        raise ParamsError(f"unknown params section '{unknown[0]}'; expected {sorted(sections)}")
    missing = sorted(sections - set(raw))
    if missing:
        raise ParamsError(f"missing params section '{missing[0]}'")
    params = FlowParams(
        data=_section(DataParams, "data", raw["data"]),
        guards=_section(GuardParams, "guards", raw["guards"]),
        train=_section(TrainParams, "train", raw["train"]),
        evaluate=_evaluate_section(raw["evaluate"]),
        registry=_section(RegistryParams, "registry", raw["registry"]),
        mlflow=_section(MlflowParams, "mlflow", raw["mlflow"]),
        drift=_section(DriftParams, "drift", raw["drift"]),
        capture=_section(CaptureParams, "capture", raw["capture"]),
    )
    _check_range("data.max_null_fraction", params.data.max_null_fraction, 0.0, 1.0)
    _check_range("data.min_class_share", params.data.min_class_share, 0.0, 0.5)
    _check_range("data.min_rows", params.data.min_rows, 2, 10**9)
    _check_range("guards.max_feature_auc", params.guards.max_feature_auc, 0.5, 1.0)
    _check_range("guards.max_duplicate_share", params.guards.max_duplicate_share, 0.0, 1.0)
    _check_range("guards.near_copy_tolerance", params.guards.near_copy_tolerance, 0.0, 0.2)
    if params.data.evaluation_path == params.data.path:
        raise ParamsError(
            f"params key 'data.evaluation_path' is {params.data.evaluation_path!r}, the same file as "
            "'data.path'; expected a separate held-out evaluation set"
        )
    _check_range("train.C", params.train.C, 1e-9, 1e9)
    _check_range("train.max_iter", params.train.max_iter, 1, 10**7)
    _check_range("evaluate.min_improvement", params.evaluate.min_improvement, 0.0, 1.0)
    _check_range("mlflow.retry_attempts", params.mlflow.retry_attempts, 1, 20)
    _check_range("mlflow.retry_backoff_seconds", params.mlflow.retry_backoff_seconds, 0.0, 60.0)
    _check_range("mlflow.request_timeout_seconds", params.mlflow.request_timeout_seconds, 1, 600)
    _check_range("drift.share_threshold", params.drift.share_threshold, 0.0, 1.0)
    _check_range("drift.max_rows", params.drift.max_rows, 100, 10**9)
    _check_range("drift.batch_rows", params.drift.batch_rows, 10, 10**7)
    _check_range("capture.window_days", params.capture.window_days, 1, 3650)
    return params


def load_params(path: Path = DEFAULT_PARAMS_FILE) -> FlowParams:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParamsError(f"cannot read params file {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamsError(f"params file {path} is not valid YAML: {exc}") from exc
    return parse_params(raw)
