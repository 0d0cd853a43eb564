"""Reaching MLflow: where it is, and bounded retries with backoff when it does not answer.

MLflow's own HTTP client retries for minutes by default (7 retries, backoff factor 2); we switch that
off and retry at our level instead, so "MLflow unreachable" fails a stage within a known time with a
message that names the server, and idempotent lookups decide whether a retried write already happened.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pipelines.env import MLFLOW_ARTIFACT_ROOT
from pipelines.params import MlflowParams

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"

# Registry answers that retrying cannot change.
_PERMANENT_ERROR_CODES = frozenset(
    {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "PERMISSION_DENIED"}
)
# Server answers that say "try again later".
_TRANSIENT_ERROR_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})

_Result = TypeVar("_Result")


class TrackingUnavailableError(RuntimeError):
    """MLflow did not answer within the configured retries."""


@dataclass(frozen=True)
class Tracking:
    """How a step reaches MLflow."""

    uri: str
    experiment: str
    retry: MlflowParams
    artifact_location: str | None = None


def resolve_tracking(
    explicit_uri: str, experiment: str, retry: MlflowParams, env: Mapping[str, str]
) -> Tracking:
    """The pipeline parameter wins; else `MLFLOW_TRACKING_URI`; else a clear error."""
    uri = explicit_uri or env.get(TRACKING_URI_ENV, "")
    if not uri:
        raise TrackingUnavailableError(
            "no MLflow tracking URI: pass the pipeline parameter mlflow_tracking_uri "
            f"or set {TRACKING_URI_ENV}"
        )
    artifact_root = MLFLOW_ARTIFACT_ROOT.get(env)
    return Tracking(uri=uri, experiment=experiment, retry=retry, artifact_location=artifact_root)


def local_tracking_env(state_dir: Path) -> dict[str, str]:
    """MLflow on SQLite with file artifacts, all under the local state folder."""
    mlflow_dir = state_dir / "mlflow"
    mlflow_dir.mkdir(parents=True, exist_ok=True)
    return {
        TRACKING_URI_ENV: f"sqlite:///{(mlflow_dir / 'mlflow.db').resolve()}",
        MLFLOW_ARTIFACT_ROOT.name: (mlflow_dir / "artifacts").resolve().as_uri(),
    }


def is_permanent(error: BaseException) -> bool:
    code = getattr(error, "error_code", None)
    return isinstance(code, str) and code in _PERMANENT_ERROR_CODES


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def is_transient(error: BaseException) -> bool:
    """Worth retrying: the server (or the SQL store) could not be reached or asked us to come back.

    A bug or a rejected request is not: retrying it only delays the real error message.
    """
    import requests
    from sqlalchemy.exc import OperationalError

    for cause in _causes(error):
        if isinstance(cause, ConnectionError | TimeoutError | requests.ConnectionError | requests.Timeout):
            return True
        if isinstance(cause, OperationalError):
            return True
        if getattr(cause, "error_code", None) in _TRANSIENT_ERROR_CODES:
            return True
    return False


def with_retries(
    action: Callable[[], _Result],
    what: str,
    tracking: Tracking,
    sleep: Callable[[float], None] = time.sleep,
) -> _Result:
    """Run `action`; on a transient failure wait backoff, 2*backoff, ... for at most `retry_attempts` tries.

    Other errors propagate at once."""
    attempts = tracking.retry.retry_attempts
    pause = tracking.retry.retry_backoff_seconds
    started = time.monotonic()
    last: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            last = exc
            log.warning(
                "MLflow at %s: %s failed (attempt %d/%d): %s", tracking.uri, what, attempt, attempts, exc
            )
            if attempt < attempts:
                sleep(pause)
                pause *= 2
    elapsed = time.monotonic() - started
    raise TrackingUnavailableError(
        f"MLflow at {tracking.uri} did not answer: {what} failed {attempts} time(s) over {elapsed:.1f} s; "
        f"last error: {_short(last)}"
    ) from last


def _short(error: BaseException | None, limit: int = 300) -> str:
    text = f"{type(error).__name__}: {error}" if error else "none"
    return text if len(text) <= limit else text[:limit] + "..."


def connect(tracking: Tracking) -> MlflowClient:
    """A client for `tracking`, after checking (with retries) that the server answers."""
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(tracking.retry.request_timeout_seconds)
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking.uri)
    mlflow.set_registry_uri(tracking.uri)
    client = MlflowClient(tracking_uri=tracking.uri, registry_uri=tracking.uri)
    with_retries(lambda: client.search_experiments(max_results=1), "a health check", tracking)
    return client


def ensure_experiment(client: MlflowClient, tracking: Tracking) -> str:
    """The experiment's id, creating it (with the local artifact root, if any) on first use."""

    def find_or_create() -> str:
        existing = client.get_experiment_by_name(tracking.experiment)
        if existing is not None:
            return str(existing.experiment_id)
        return str(
            client.create_experiment(tracking.experiment, artifact_location=tracking.artifact_location)
        )

    return with_retries(find_or_create, f"finding experiment {tracking.experiment!r}", tracking)


def version_number(version: str | int) -> int:
    """Model version numbers are int from the SQL store and str over REST."""
    return int(version)


def alias_version(client: MlflowClient, model_name: str, alias: str, tracking: Tracking) -> int | None:
    """The version `alias` points at, or None while the model or the alias does not exist."""

    def lookup() -> int | None:
        try:
            return version_number(client.get_model_version_by_alias(model_name, alias).version)
        except Exception as exc:
            if is_permanent(exc):
                return None
            raise

    return with_retries(lookup, f"looking up {model_name}@{alias}", tracking)
