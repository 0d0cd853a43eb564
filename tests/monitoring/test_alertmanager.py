"""Alertmanager configuration: `amtool check-config`, routing checked with `amtool config routes test`,
the drift inhibit rule, and input validation."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring import alertmanager as am
from monitoring import rules
from tests.support.tools import require_tool

SLACK = am.SlackReceiver("https://hooks.slack.com/services/T000/B000/XXXX", channel="#mlops-alerts")
EMAIL = am.EmailReceiver(
    to=("oncall@example.com", "ml-team@example.com"),
    sender="alertmanager@example.com",
    smarthost="smtp.example.com:587",
    auth_password="s3cret",
)
WEBHOOK = am.WebhookReceiver("https://hooks.example.com/alertmanager")
RELAY = am.RelayReceiver(
    "http://retrain-relay.retrain-relay.svc:8080/alertmanager",
    credentials_file="/etc/alertmanager/secrets/retrain-relay-token/token",
)

VARIANTS = {
    "all": am.NotificationSettings(slack=SLACK, email=EMAIL, webhook=WEBHOOK),
    "none": am.NotificationSettings(),
    "slack-only": am.NotificationSettings(slack=SLACK),
    "email-only": am.NotificationSettings(email=EMAIL),
    "webhook-only": am.NotificationSettings(webhook=WEBHOOK),
    "relay": am.NotificationSettings(slack=SLACK, relay=RELAY),
}


def _write(config: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in config["receivers"] if r["name"] == name)


@pytest.mark.parametrize("variant", VARIANTS)
def test_amtool_check_config_accepts_rendered_config(variant: str, tmp_path: Path) -> None:
    amtool = require_tool("amtool")
    path = _write(am.render_alertmanager_config(VARIANTS[variant]), tmp_path / "alertmanager.yaml")
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        ({"alertname": rules.PIPELINE_STAGE_FAILED, "severity": "critical"}, am.CRITICAL_RECEIVER),
        ({"alertname": rules.DATA_DRIFT_DETECTED, "severity": "warning"}, am.WARNING_RECEIVER),
        ({"alertname": "KubePodCrashLooping", "severity": "warning"}, am.WARNING_RECEIVER),
        ({"alertname": "Watchdog", "severity": "none"}, am.NULL_RECEIVER),
        ({"alertname": "SomethingInformational", "severity": "info"}, am.NULL_RECEIVER),
    ],
)
def test_alerts_route_by_severity(labels: dict[str, str], receiver: str, tmp_path: Path) -> None:
    amtool = require_tool("amtool")
    path = _write(am.render_alertmanager_config(VARIANTS["all"]), tmp_path / "alertmanager.yaml")
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={path}",
            f"--verify.receivers={receiver}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{labels} went to {result.stdout.strip()!r}, expected {receiver}"


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        # The relay and people: `continue` lets the severity route match too.
        (
            {"alertname": rules.LIVE_DRIFT_CONFIRMED, "severity": "warning", "dataset": "d"},
            f"{am.RELAY_RECEIVER},{am.WARNING_RECEIVER}",
        ),
        # Unconfirmed live drift only tells people.
        (
            {"alertname": rules.DATA_DRIFT_DETECTED, "severity": "warning", "source": "live"},
            am.WARNING_RECEIVER,
        ),
    ],
)
def test_confirmed_live_drift_reaches_the_relay_and_people(
    labels: dict[str, str], receivers: str, tmp_path: Path
) -> None:
    amtool = require_tool("amtool")
    path = _write(am.render_alertmanager_config(VARIANTS["relay"]), tmp_path / "alertmanager.yaml")
    args = [f"{k}={v}" for k, v in labels.items()]
    result = subprocess.run(
        [
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={path}",
            f"--verify.receivers={receivers}",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{labels} went to {result.stdout.strip()!r}, expected {receivers}"


def test_relay_is_called_with_the_bearer_token_file_not_the_token() -> None:
    config = am.render_alertmanager_config(VARIANTS["relay"])
    (webhook,) = _receiver(config, am.RELAY_RECEIVER)["webhook_configs"]
    assert webhook["url"] == RELAY.url
    assert webhook["send_resolved"] is True
    assert webhook["http_config"] == {
        "authorization": {"type": "Bearer", "credentials_file": RELAY.credentials_file}
    }
    assert am.RELAY_RECEIVER not in {
        r["name"] for r in am.render_alertmanager_config(VARIANTS["all"])["receivers"]
    }


def test_each_severity_receiver_gets_every_configured_integration() -> None:
    config = am.render_alertmanager_config(VARIANTS["all"])
    for name in (am.CRITICAL_RECEIVER, am.WARNING_RECEIVER):
        receiver = _receiver(config, name)
        assert receiver["slack_configs"][0]["api_url"] == SLACK.webhook_url
        assert receiver["slack_configs"][0]["channel"] == "#mlops-alerts"
        assert receiver["email_configs"][0]["to"] == "oncall@example.com, ml-team@example.com"
        assert receiver["email_configs"][0]["auth_password"] == "s3cret"
        assert receiver["email_configs"][0]["auth_username"] == "alertmanager@example.com"
        assert receiver["webhook_configs"] == [{"url": WEBHOOK.url, "send_resolved": True}]
        assert all(c["send_resolved"] for key in ("slack_configs", "email_configs") for c in receiver[key])


def test_without_receivers_no_integration_is_rendered() -> None:
    config = am.render_alertmanager_config(VARIANTS["none"])
    assert all(set(r) == {"name"} for r in config["receivers"])


def test_critical_repeats_sooner_than_warning() -> None:
    routes = am.render_alertmanager_config(VARIANTS["all"])["route"]["routes"]
    by_receiver = {r["receiver"]: r for r in routes}
    assert by_receiver[am.CRITICAL_RECEIVER]["repeat_interval"] == "1h"
    assert by_receiver[am.WARNING_RECEIVER]["repeat_interval"] == "12h"


def test_drift_share_critical_inhibits_drift_detected_for_the_same_dataset() -> None:
    inhibit = am.render_alertmanager_config(VARIANTS["none"])["inhibit_rules"]
    assert {
        "source_matchers": [f'alertname="{rules.DRIFT_SHARE_CRITICAL}"'],
        "target_matchers": [f'alertname="{rules.DATA_DRIFT_DETECTED}"'],
        "equal": ["pipeline", "dataset", "source"],
    } in inhibit


def test_timing_is_a_parameter() -> None:
    fast = am.RouteTiming(group_wait="0s", group_interval="1s", critical_repeat_interval="1m")
    route = am.render_alertmanager_config(am.NotificationSettings(timing=fast))["route"]
    assert (route["group_wait"], route["group_interval"]) == ("0s", "1s")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: am.SlackReceiver("hooks.slack.com/services/x"), "alertSlackWebhookUrl"),
        (lambda: am.WebhookReceiver("ftp://example.com"), "alertWebhookUrl"),
        (
            lambda: am.EmailReceiver(("not-an-address",), "a@example.com", "smtp:25"),
            "monitoring.alertEmailTo",
        ),
        (lambda: am.EmailReceiver((), "a@example.com", "smtp:25"), "monitoring.alertEmailTo"),
        (lambda: am.EmailReceiver(("a@example.com",), "nobody", "smtp:25"), "monitoring.alertEmailFrom"),
        (
            lambda: am.EmailReceiver(("a@example.com",), "a@example.com", "smtp.example.com"),
            "monitoring.smtpSmarthost",
        ),
        (
            lambda: am.EmailReceiver(("a@example.com",), "a@example.com", "smtp:25", auth_username="u"),
            "alertSmtpPassword",
        ),
        (lambda: am.RouteTiming(group_wait="soon"), "group_wait"),
        (lambda: am.RelayReceiver("relay:8080", "/token"), "relay URL"),
        (lambda: am.RelayReceiver("http://relay:8080", "token"), "credentials_file"),
    ],
)
def test_bad_receiver_settings_name_the_config_key(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_error_message_does_not_echo_a_secret_url() -> None:
    with pytest.raises(ValueError) as error:
        am.SlackReceiver("hooks.slack.com/services/T000/B000/SECRETTOKEN")
    assert "SECRETTOKEN" not in str(error.value)
