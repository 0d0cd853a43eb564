"""The model server's and the live-drift job's configuration: every `MLOPS_*` variable they read, once.

The cluster sets these on the Deployment and the CronJob; `serving.local.serve_locally` sets them for a
laptop. Each name is spelled here only (the standard `MLFLOW_TRACKING_*` and `AWS_*` variables are read by
MLflow and boto3 themselves). A bad value is an error that names the variable and what was expected,
raised before the server binds a port.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pipelines import env
from pipelines.env import METRICS_DIR, PUSHGATEWAY_URL
from pipelines.tracking import TRACKING_URI_ENV

MODEL_NAME_ENV: Final = env.SERVING_MODEL_NAME.name
MODEL_ALIAS_ENV: Final = env.SERVING_MODEL_ALIAS.name
POLL_SECONDS_ENV: Final = env.SERVING_POLL_SECONDS.name
HOST_ENV: Final = env.SERVING_HOST.name
HTTP_PORT_ENV: Final = env.SERVING_HTTP_PORT.name
METRICS_PORT_ENV: Final = env.SERVING_METRICS_PORT.name
CAPTURE_URI_ENV: Final = env.CAPTURE_URI.name
CAPTURE_SAMPLE_RATE_ENV: Final = env.CAPTURE_SAMPLE_RATE.name
CAPTURE_FLUSH_ROWS_ENV: Final = env.CAPTURE_FLUSH_ROWS.name
CAPTURE_FLUSH_SECONDS_ENV: Final = env.CAPTURE_FLUSH_SECONDS.name
# Set only where no bucket lifecycle rule expires captured parts (the local stack's MinIO, a laptop folder):
# the live-drift job then deletes parts older than this itself.
CAPTURE_RETENTION_DAYS_ENV: Final = env.CAPTURE_RETENTION_DAYS.name
LIVE_DRIFT_WINDOW_HOURS_ENV: Final = env.LIVE_DRIFT_WINDOW_HOURS.name
LIVE_DRIFT_MIN_ROWS_ENV: Final = env.LIVE_DRIFT_MIN_ROWS.name

DEFAULT_ALIAS: Final = "champion"
DEFAULT_POLL_SECONDS: Final = 30.0
DEFAULT_HOST: Final = "0.0.0.0"  # a container listens on its pod IP; the laptop passes 127.0.0.1
DEFAULT_HTTP_PORT: Final = 8080
DEFAULT_METRICS_PORT: Final = 8082
DEFAULT_FLUSH_ROWS: Final = 1000
DEFAULT_FLUSH_SECONDS: Final = 60.0
DEFAULT_WINDOW_HOURS: Final = 24
DEFAULT_MIN_ROWS: Final = 200
# Fewer rows than this say nothing a drift test can trust (the settings' floor for serving.liveDrift.minRows).
MIN_ROWS_FLOOR: Final = 30


class ConfigError(ValueError):
    """An environment variable is missing or has a value the server cannot use."""


@dataclass(frozen=True)
class CaptureConfig:
    """Where and how much of the traffic is written."""

    uri: str
    """A folder, `file://` URL or `s3://bucket/prefix`; empty switches capture off."""
    sample_rate: float
    """Share of requests captured, 0..1 (0 switches capture off)."""
    flush_rows: int
    """A Parquet part is written once this many rows are waiting ..."""
    flush_seconds: float
    """... or once the oldest waiting row is this old, and on shutdown."""

    @property
    def enabled(self) -> bool:
        return bool(self.uri) and self.sample_rate > 0


@dataclass(frozen=True)
class ServerConfig:
    """What `python -m serving serve` serves and where it listens."""

    model_name: str
    """Registered model name in MLflow."""
    alias: str
    """The alias followed (`champion`)."""
    tracking_uri: str
    """MLflow tracking (and registry) URI."""
    poll_seconds: float
    """How often the alias is looked up."""
    host: str
    """Address the HTTP and metrics servers bind."""
    http_port: int
    """Port of the prediction and health endpoints."""
    metrics_port: int
    """Port of `/metrics`."""
    capture: CaptureConfig
    """Inference capture."""


@dataclass(frozen=True)
class LiveDriftConfig:
    """What `python -m serving live-drift` checks and where it reports."""

    model_name: str
    """Registered model name: its champion's training reference is the baseline, its capture the input."""
    alias: str
    """The alias whose training reference is compared with."""
    tracking_uri: str
    """MLflow: the reference artifact, and the run the report is logged to."""
    capture_uri: str
    """Where the server captures traffic."""
    window_hours: int
    """The window: captured rows of the last N hours."""
    min_rows: int
    """Fewer rows in the window and no verdict is published ("not enough traffic")."""
    retention_days: int | None
    """Delete captured parts older than this first (None: a bucket lifecycle rule does it)."""
    pushgateway_url: str
    """Where the metrics go (empty: only the text-file folder, if any)."""
    metrics_dir: str
    """A folder of Prometheus text files (the laptop), empty for none."""


def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, "").strip()
    if value:
        return value
    if default is None:
        raise ConfigError(f"{name} is not set; expected {_EXPECTED[name]}")
    return default


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; expected {_EXPECTED[name]}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is out of range; expected {_EXPECTED[name]}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer; expected {_EXPECTED[name]}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw!r} is out of range; expected {_EXPECTED[name]}")
    return value


_EXPECTED: Final = {
    MODEL_NAME_ENV: "the registered model's name in MLflow",
    MODEL_ALIAS_ENV: "an MLflow alias name",
    TRACKING_URI_ENV: "the MLflow tracking URI (http://..., sqlite:///...)",
    POLL_SECONDS_ENV: "seconds between alias look-ups, 1..3600",
    HOST_ENV: "an address to bind",
    HTTP_PORT_ENV: "a TCP port, 1..65535",
    METRICS_PORT_ENV: "a TCP port, 1..65535",
    CAPTURE_URI_ENV: "a folder, file:// URL or s3://bucket/prefix",
    CAPTURE_SAMPLE_RATE_ENV: "a share of requests, 0..1",
    CAPTURE_FLUSH_ROWS_ENV: "rows per Parquet part, 1..1000000",
    CAPTURE_FLUSH_SECONDS_ENV: "seconds a captured row may wait, 0.1..3600",
    CAPTURE_RETENTION_DAYS_ENV: "days captured parts are kept, 1..3650",
    LIVE_DRIFT_WINDOW_HOURS_ENV: "hours of captured traffic checked, 1..720",
    LIVE_DRIFT_MIN_ROWS_ENV: "rows the window needs for a verdict, 30..100000000",
}


def _ports_differ(http_port: int, metrics_port: int) -> None:
    if http_port == metrics_port:
        raise ConfigError(
            f"{HTTP_PORT_ENV} and {METRICS_PORT_ENV} are both {http_port}; expected two different ports"
        )


def capture_config(env: Mapping[str, str]) -> CaptureConfig:
    return CaptureConfig(
        uri=env.get(CAPTURE_URI_ENV, "").strip(),
        sample_rate=_number(env, CAPTURE_SAMPLE_RATE_ENV, 1.0, 0.0, 1.0),
        flush_rows=_integer(env, CAPTURE_FLUSH_ROWS_ENV, DEFAULT_FLUSH_ROWS, 1, 1_000_000),
        flush_seconds=_number(env, CAPTURE_FLUSH_SECONDS_ENV, DEFAULT_FLUSH_SECONDS, 0.1, 3600.0),
    )


def server_config(env: Mapping[str, str]) -> ServerConfig:
    """The server's settings from the environment; raises ConfigError naming the variable."""
    http_port = _integer(env, HTTP_PORT_ENV, DEFAULT_HTTP_PORT, 1, 65535)
    metrics_port = _integer(env, METRICS_PORT_ENV, DEFAULT_METRICS_PORT, 1, 65535)
    _ports_differ(http_port, metrics_port)
    return ServerConfig(
        model_name=_text(env, MODEL_NAME_ENV),
        alias=_text(env, MODEL_ALIAS_ENV, DEFAULT_ALIAS),
        tracking_uri=_text(env, TRACKING_URI_ENV),
        poll_seconds=_number(env, POLL_SECONDS_ENV, DEFAULT_POLL_SECONDS, 1.0, 3600.0),
        host=_text(env, HOST_ENV, DEFAULT_HOST),
        http_port=http_port,
        metrics_port=metrics_port,
        capture=capture_config(env),
    )


def live_drift_config(env: Mapping[str, str]) -> LiveDriftConfig:
    """The live-drift job's settings from the environment; raises ConfigError naming the variable."""
    retention = env.get(CAPTURE_RETENTION_DAYS_ENV, "").strip()
    return LiveDriftConfig(
        model_name=_text(env, MODEL_NAME_ENV),
        alias=_text(env, MODEL_ALIAS_ENV, DEFAULT_ALIAS),
        tracking_uri=_text(env, TRACKING_URI_ENV),
        capture_uri=_text(env, CAPTURE_URI_ENV),
        window_hours=_integer(env, LIVE_DRIFT_WINDOW_HOURS_ENV, DEFAULT_WINDOW_HOURS, 1, 720),
        min_rows=_integer(env, LIVE_DRIFT_MIN_ROWS_ENV, DEFAULT_MIN_ROWS, MIN_ROWS_FLOOR, 100_000_000),
        retention_days=_integer(env, CAPTURE_RETENTION_DAYS_ENV, 0, 1, 3650) if retention else None,
        pushgateway_url=env.get(PUSHGATEWAY_URL.name, "").strip(),
        metrics_dir=env.get(METRICS_DIR.name, "").strip(),
    )
