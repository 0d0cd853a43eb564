"""The server's and the live-drift job's settings: defaults, and errors that name the variable."""

from __future__ import annotations

import pytest

from serving import config as c

BASE = {c.MODEL_NAME_ENV: "m", "MLFLOW_TRACKING_URI": "http://mlflow:5000"}


def test_defaults_are_the_contract():
    settings = c.server_config(BASE)
    assert (settings.alias, settings.poll_seconds) == ("champion", 30.0)
    assert (settings.http_port, settings.metrics_port) == (8080, 8082)
    assert settings.capture.sample_rate == 1.0
    assert not settings.capture.enabled  # no URI, no capture


def test_capture_is_on_with_a_uri_and_off_at_rate_zero():
    on = c.server_config({**BASE, c.CAPTURE_URI_ENV: "s3://bucket/inference-capture"})
    off = c.server_config({**BASE, c.CAPTURE_URI_ENV: "/tmp/x", c.CAPTURE_SAMPLE_RATE_ENV: "0"})
    assert on.capture.enabled
    assert not off.capture.enabled


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (c.CAPTURE_SAMPLE_RATE_ENV, "1.5", "is out of range"),
        (c.CAPTURE_SAMPLE_RATE_ENV, "half", "is not a number"),
        (c.POLL_SECONDS_ENV, "0", "is out of range"),
        (c.HTTP_PORT_ENV, "80.5", "is not an integer"),
        (c.CAPTURE_FLUSH_ROWS_ENV, "0", "is out of range"),
    ],
)
def test_a_bad_value_names_the_variable(name, value, expected):
    with pytest.raises(c.ConfigError, match=rf"{name}='{value}' {expected}"):
        c.server_config({**BASE, name: value})


def test_a_missing_model_name_is_named():
    with pytest.raises(c.ConfigError, match=f"{c.MODEL_NAME_ENV} is not set"):
        c.server_config({"MLFLOW_TRACKING_URI": "x"})


def test_the_two_ports_must_differ():
    with pytest.raises(c.ConfigError, match="both 9000"):
        c.server_config({**BASE, c.HTTP_PORT_ENV: "9000", c.METRICS_PORT_ENV: "9000"})


def test_live_drift_needs_a_capture_uri_and_prunes_only_when_told():
    with pytest.raises(c.ConfigError, match=c.CAPTURE_URI_ENV):
        c.live_drift_config(BASE)
    settings = c.live_drift_config({**BASE, c.CAPTURE_URI_ENV: "/tmp/capture"})
    assert (settings.window_hours, settings.min_rows, settings.retention_days) == (24, 200, None)
    pruning = c.live_drift_config({**BASE, c.CAPTURE_URI_ENV: "/x", c.CAPTURE_RETENTION_DAYS_ENV: "30"})
    assert pruning.retention_days == 30
    with pytest.raises(c.ConfigError, match=c.LIVE_DRIFT_MIN_ROWS_ENV):
        c.live_drift_config({**BASE, c.CAPTURE_URI_ENV: "/x", c.LIVE_DRIFT_MIN_ROWS_ENV: "5"})
