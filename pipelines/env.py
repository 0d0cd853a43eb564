"""Every `MLOPS_*` environment variable the project reads or sets, named once, with its type and default.

Modelled on MLflow's `mlflow.environment_variables`: each variable is one `EnvVar` with its name, the type
its text is parsed into, its default and what it does. Code reads `env.PARAMS_FILE.get()` (or
`.get(mapping)` for an explicit environment) and spells a name as `env.PARAMS_FILE.name`, never as a
string literal. Two files cannot import this module and keep the names as literals, each checked equal to
these by tests/pipelines/test_env.py: `components/mlflow_users_sync.py` (runs in the MLflow image, where
the project is not installed) and `scripts/ensure-system-tools.sh` (shell).

Standard library only: the steps image, the local runner and the Pulumi program all import it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class EnvVar(Generic[T]):
    """One environment variable: an unset or empty value reads as `default`."""

    name: str
    """The variable's name (`MLOPS_...`)."""
    parse: Callable[[str], T]
    """Turns the variable's text into its value; a ValueError names the variable."""
    default: T | None
    """The value when unset or empty (None: no value)."""
    description: str
    """What sets it and what reads it."""

    def __post_init__(self) -> None:
        if not self.name.startswith("MLOPS_"):
            raise ValueError(f"EnvVar {self.name!r}: project variables start with MLOPS_")

    def is_set(self, environ: Mapping[str, str] | None = None) -> bool:
        return bool((os.environ if environ is None else environ).get(self.name))

    def get(self, environ: Mapping[str, str] | None = None) -> T | None:
        text = (os.environ if environ is None else environ).get(self.name)
        if not text:
            return self.default
        try:
            return self.parse(text)
        except ValueError as exc:
            raise ValueError(f"{self.name}={text!r}: {exc}") from None


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return text == "1"


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("expected a positive number of seconds")
    return value


# --- the training flow (pipelines/) ---------------------------------------------------------------------

PARAMS_FILE: EnvVar[Path] = EnvVar(
    "MLOPS_PARAMS_FILE", Path, None, "params.yaml to read instead of the repository's (tests, experiments)."
)
GIT_REV: EnvVar[str] = EnvVar(
    "MLOPS_GIT_REV",
    str,
    None,
    "Source revision recorded in run lineage; the steps image sets it at build time, else Git is asked.",
)
PUSHGATEWAY_URL: EnvVar[str] = EnvVar(
    "MLOPS_PUSHGATEWAY_URL",
    str,
    None,
    "Where pipeline steps push their metrics; the cluster's tracking Secret carries it.",
)
METRICS_DIR: EnvVar[Path] = EnvVar(
    "MLOPS_METRICS_DIR", Path, None, "Folder for node-exporter textfile metrics (local runs, tests)."
)
STAGE_SUMMARY_DIR: EnvVar[Path] = EnvVar(
    "MLOPS_STAGE_SUMMARY_DIR",
    Path,
    None,
    "Folder where each stage of a local run leaves its summary `<stage>.json`, the exit handler `run.json`.",
)
DRIFT_REPORT_DIR: EnvVar[Path] = EnvVar(
    "MLOPS_DRIFT_REPORT_DIR", Path, None, "Set by the local runner: where the drift stage copies its report."
)
STATE_DIR: EnvVar[Path] = EnvVar(
    "MLOPS_STATE_DIR",
    Path,
    None,
    "Root of a local run's state (MLflow store, kfp.local root, metrics); default: `.state` here.",
)
MLFLOW_ARTIFACT_ROOT: EnvVar[str] = EnvVar(
    "MLOPS_MLFLOW_ARTIFACT_ROOT",
    str,
    None,
    "Only for the local SQLite store: the artifact root (a URI) of experiments created there.",
)

# --- the platform (components/) -------------------------------------------------------------------------

PIPELINES_PASSWORD: EnvVar[str] = EnvVar(
    "MLOPS_PIPELINES_PASSWORD",
    str,
    None,
    "The pipeline user's MLflow password inside the MlflowUsers Job (from its Secret).",
)
MODEL_SERVER_PASSWORD: EnvVar[str] = EnvVar(
    "MLOPS_MODEL_SERVER_PASSWORD",
    str,
    None,
    "The model server's read-only MLflow user's password inside the MlflowUsers Job (from its Secret).",
)
MLFLOW_USERS: EnvVar[str] = EnvVar(
    "MLOPS_MLFLOW_USERS",
    str,
    None,
    "JSON list of the platform's MLflow users and grants, read by components/mlflow_users_sync.py.",
)
MLFLOW_READY_TIMEOUT: EnvVar[float] = EnvVar(
    "MLOPS_MLFLOW_READY_TIMEOUT",
    _positive_float,
    300.0,
    "Seconds components/mlflow_users_sync.py waits for the MLflow server before it gives up.",
)

# --- the model server and the live drift check (serving/) ---------------------------------------------
# serving/config.py parses these (with errors that name the variable); defaults live there.

SERVING_MODEL_NAME: EnvVar[str] = EnvVar(
    "MLOPS_SERVING_MODEL_NAME", str, None, "The registered model the server serves and live drift checks."
)
SERVING_MODEL_ALIAS: EnvVar[str] = EnvVar(
    "MLOPS_SERVING_MODEL_ALIAS", str, "champion", "The registry alias the server follows."
)
SERVING_POLL_SECONDS: EnvVar[str] = EnvVar(
    "MLOPS_SERVING_POLL_SECONDS", str, None, "How often the server asks MLflow where the alias points."
)
SERVING_HOST: EnvVar[str] = EnvVar("MLOPS_SERVING_HOST", str, None, "Address the server binds.")
SERVING_HTTP_PORT: EnvVar[str] = EnvVar("MLOPS_SERVING_HTTP_PORT", str, None, "The server's HTTP port.")
SERVING_METRICS_PORT: EnvVar[str] = EnvVar(
    "MLOPS_SERVING_METRICS_PORT", str, None, "The server's Prometheus /metrics port."
)
CAPTURE_URI: EnvVar[str] = EnvVar(
    "MLOPS_CAPTURE_URI",
    str,
    None,
    "Where inference capture is written and read: a folder, file:// or s3://bucket/prefix.",
)
CAPTURE_SAMPLE_RATE: EnvVar[str] = EnvVar(
    "MLOPS_CAPTURE_SAMPLE_RATE", str, None, "Share of requests captured (0..1; 0 switches capture off)."
)
CAPTURE_FLUSH_ROWS: EnvVar[str] = EnvVar(
    "MLOPS_CAPTURE_FLUSH_ROWS", str, None, "Rows waiting before a Parquet part is written."
)
CAPTURE_FLUSH_SECONDS: EnvVar[str] = EnvVar(
    "MLOPS_CAPTURE_FLUSH_SECONDS", str, None, "Age of the oldest waiting row before a part is written."
)
CAPTURE_RETENTION_DAYS: EnvVar[str] = EnvVar(
    "MLOPS_CAPTURE_RETENTION_DAYS",
    str,
    None,
    "Only where no bucket lifecycle rule expires the capture (MinIO, a laptop): the live check prunes it.",
)
LIVE_DRIFT_WINDOW_HOURS: EnvVar[str] = EnvVar(
    "MLOPS_LIVE_DRIFT_WINDOW_HOURS", str, None, "Hours of captured traffic the live drift check reads."
)
LIVE_DRIFT_MIN_ROWS: EnvVar[str] = EnvVar(
    "MLOPS_LIVE_DRIFT_MIN_ROWS", str, None, "Fewest captured rows the live drift check judges."
)

# --- the retraining relay (relay/) -----------------------------------------------------------------------
# relay/config.py parses these; defaults live there.

RELAY_TOKEN_FILE: EnvVar[str] = EnvVar(
    "MLOPS_RELAY_TOKEN_FILE", str, None, "File holding the bearer token Alertmanager must send."
)
RETRAIN_ENABLED: EnvVar[str] = EnvVar(
    "MLOPS_RETRAIN_ENABLED", str, None, "retrain.enabled, the kill switch: false starts nothing."
)
RETRAIN_COOLDOWN_SECONDS: EnvVar[str] = EnvVar(
    "MLOPS_RETRAIN_COOLDOWN_SECONDS", str, None, "retrain.cooldown: the least time between two starts."
)
RETRAIN_MAX_RUNS_PER_DAY: EnvVar[str] = EnvVar(
    "MLOPS_RETRAIN_MAX_RUNS_PER_DAY", str, None, "retrain.maxRunsPerDay: starts in any 24 hours."
)
RELAY_LAUNCHER: EnvVar[str] = EnvVar(
    "MLOPS_RELAY_LAUNCHER", str, None, "kfp (the cluster's KFP API) or local (kfp.local on a laptop)."
)
KFP_HOST: EnvVar[str] = EnvVar("MLOPS_KFP_HOST", str, None, "The KFP API the relay starts runs through.")
KFP_PIPELINE: EnvVar[str] = EnvVar(
    "MLOPS_KFP_PIPELINE", str, None, "The uploaded pipeline whose newest version the relay runs."
)
KFP_EXPERIMENT: EnvVar[str] = EnvVar(
    "MLOPS_KFP_EXPERIMENT", str, None, "The KFP experiment retraining runs are filed under."
)

# --- tooling --------------------------------------------------------------------------------------------

NO_APT: EnvVar[bool] = EnvVar(
    "MLOPS_NO_APT",
    _flag,
    False,
    "1: scripts/ensure-system-tools.sh only checks and prints the apt-get command, never installs.",
)

REGISTRY: tuple[EnvVar[Any], ...] = tuple(
    value for value in list(globals().values()) if isinstance(value, EnvVar)
)
