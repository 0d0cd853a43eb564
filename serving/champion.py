"""Following the registry alias: resolve, load, smoke-check, swap; keep the old model when the new one fails.

`ChampionFollower.poll_once` runs in a worker thread (never on the event loop): it looks up the alias, and
when it points at a version other than the one served, loads that exact version (`models:/<name>/<n>`, so
an alias that moves again mid-load cannot mix versions), checks its signature against `pipelines/schema.py`
and scores its input example (outputs: one class label per row, from `TARGET_CLASSES`). Only then does the
served model change, by one reference assignment: every request reads `follower.current` once, so a
request is answered by exactly one version, and none waits for a load. A version that fails is counted
(`mlops_serving_model_load_failures_total`) and retried after a growing pause (so a registry blip heals,
and a broken model costs one load per pause, not one per poll); the previous version keeps serving and
`mlops_serving_model_version` stays on it, which is what the "served version is not the champion" alert sees.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pipelines import schema

if TYPE_CHECKING:
    import pandas as pd

    from serving.telemetry import ServingTelemetry

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS: Final = 3600.0


class SmokeCheckError(RuntimeError):
    """A model version loaded but is not fit to serve (signature, input example or outputs)."""


@dataclass(frozen=True)
class ServedModel:
    """A model version that passed its smoke check."""

    version: int
    model: Any
    """An `mlflow.pyfunc.PyFuncModel`."""
    run_id: str
    """The training run that logged it."""

    @property
    def version_label(self) -> str:
        return str(self.version)


def check_signature(input_names: list[str]) -> None:
    """The model takes exactly the schema's features (capture and validation are built on them)."""
    expected = list(schema.FEATURE_NAMES)
    missing = [name for name in expected if name not in input_names]
    extra = [name for name in input_names if name not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"lacks {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if extra:
            parts.append(f"has unknown input(s) {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}")
        raise SmokeCheckError(
            f"the model's signature does not match pipelines/schema.py: it {'; '.join(parts)}"
        )


def check_predictions(predictions: Any, rows: int) -> Any:
    """One integer class label of `TARGET_CLASSES` per row; returns them as int64."""
    import numpy as np

    labels = np.asarray(predictions)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape != (rows,):
        raise SmokeCheckError(f"the model returned shape {labels.shape} for {rows} rows; expected ({rows},)")
    if labels.dtype.kind not in "iub":
        raise SmokeCheckError(f"the model returned {labels.dtype} values; expected integer class labels")
    unknown = sorted(set(labels.astype(np.int64).tolist()) - set(schema.TARGET_CLASSES))
    if unknown:
        raise SmokeCheckError(
            f"the model returned class(es) {unknown}; expected only {schema.TARGET_CLASSES}"
        )
    return labels.astype(np.int64)


def smoke_check(model: Any, example: pd.DataFrame | None) -> None:
    """Signature and a scored input example; raises SmokeCheckError saying what is wrong."""
    import pandas as pd

    input_schema = model.metadata.get_input_schema()
    if input_schema is None:
        raise SmokeCheckError("the model has no signature; log it with one (pipelines/steps/train.py does)")
    check_signature([str(name) for name in input_schema.input_names()])
    if not isinstance(example, pd.DataFrame) or example.empty:
        raise SmokeCheckError("the model has no input example to smoke-check with")
    try:
        predictions = model.predict(example.loc[:, list(schema.FEATURE_NAMES)])
    except Exception as exc:
        raise SmokeCheckError(f"scoring the input example failed: {type(exc).__name__}: {exc}") from exc
    check_predictions(predictions, len(example))


def load_served_model(model_name: str, version: int, tracking_uri: str) -> ServedModel:
    """Load one registered version and smoke-check it (a worker thread's job: seconds of I/O)."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    details = client.get_model_version(model_name, str(version))
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    # suppress_warnings skips MLflow's comparison of the model's pip requirements with the installed
    # packages (about 2 s per load): the training step pins them to this very lock's scikit-learn and MLflow,
    # which the serving image installs, and the smoke check below is what decides fitness to serve.
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}", suppress_warnings=True)
    smoke_check(model, model.input_example)
    return ServedModel(version=version, model=model, run_id=str(details.run_id or ""))


def alias_version(model_name: str, alias: str, tracking_uri: str) -> int | None:
    """The version `alias` points at, None while the model or alias does not exist."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    try:
        return int(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException as exc:
        if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
            return None
        raise


def retry_delay(failures: int, poll_seconds: float) -> float:
    """Seconds before a failed version is tried again: one poll, then doubling, at most an hour."""
    return float(min(MAX_RETRY_SECONDS, poll_seconds * 2 ** max(0, failures - 1)))


@dataclass
class _Failure:
    count: int
    retry_at: float
    reason: str


class ChampionFollower:
    """Holds the served model and moves it when the alias moves (see the module docstring)."""

    def __init__(
        self,
        *,
        model_name: str,
        alias: str,
        poll_seconds: float,
        resolve: Callable[[], int | None],
        load: Callable[[int], ServedModel],
        telemetry: ServingTelemetry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model_name = model_name
        self.alias = alias
        self.poll_seconds = poll_seconds
        self._resolve = resolve
        self._load = load
        self._telemetry = telemetry
        self._clock = clock
        self._failures: dict[int, _Failure] = {}
        self._lock = threading.Lock()  # one poll at a time; readers never take it
        self.current: ServedModel | None = None
        self.champion_version: int | None = None
        self._last_message = ""

    def poll_once(self) -> str:
        """Look up the alias and follow it; returns (and logs, if new) a line saying what happened."""
        with self._lock:
            level, message = self._follow()
        if message != self._last_message:
            log.log(level, message)
            self._last_message = message
        return message

    def _follow(self) -> tuple[int, str]:
        try:
            wanted = self._resolve()
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            return logging.WARNING, f"could not look up {self.model_name}@{self.alias}: {reason}"
        self.champion_version = wanted
        served = self.current.version if self.current else None
        kept = f"still serving v{served}" if served is not None else "nothing to serve yet"
        if wanted is None:
            return logging.INFO, f"{self.model_name}@{self.alias} does not exist yet; {kept}"
        if wanted == served:
            return logging.INFO, f"serving {self.model_name} v{wanted} ({self.alias})"
        failure = self._failures.get(wanted)
        if failure is not None and self._clock() < failure.retry_at:
            return logging.ERROR, f"v{wanted} failed to load ({failure.reason}); {kept}"
        try:
            loaded = self._load(wanted)
        except Exception as exc:
            count = failure.count + 1 if failure else 1
            reason = f"{type(exc).__name__}: {exc}"
            self._failures[wanted] = _Failure(
                count, self._clock() + retry_delay(count, self.poll_seconds), reason
            )
            self._telemetry.load_failed()
            return (
                logging.ERROR,
                f"{self.model_name} v{wanted} ({self.alias}) failed to load: {reason}; {kept}",
            )
        self.current = loaded
        self._telemetry.serving(loaded.version)
        self._failures.pop(wanted, None)
        was = f", was v{served}" if served is not None else ""
        return logging.INFO, f"now serving {self.model_name} v{wanted} ({self.alias}){was}"
