"""Alertmanager configuration from the receivers a stack configures.

A pure function of plain values: the Pulumi component feeds secret values (webhook URLs, SMTP password)
through `Output.apply` and stores the result in a Secret, so no URL sits in Helm values or in code.

Routing: one route per severity, each to a receiver holding every configured integration (Slack, e-mail,
webhook). Critical alerts repeat sooner than warnings. An inhibit rule keeps "drift share critical" from
arriving together with the "drift detected" warning for the same dataset.

With a retraining relay configured, `MlopsLiveDriftConfirmed` is first routed to it (`continue: true`, so
the severity routes below still notify people). Alertmanager authenticates with a bearer token it reads
from a mounted file (`http_config.authorization.credentials_file`), so the token never sits in this config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from monitoring import metrics as m
from monitoring import rules

NULL_RECEIVER: Final = "null"
CRITICAL_RECEIVER: Final = "mlops-critical"
WARNING_RECEIVER: Final = "mlops-warning"
RELAY_RECEIVER: Final = "retrain-relay"

# kube-prometheus-stack's always-firing heartbeat and its info-level inhibitor must not notify anyone.
_SILENT_ALERTNAMES: Final = ("Watchdog", "InfoInhibitor")

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")

_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }}"
)
_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n"
    "{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n"
    "{{ end }}"
)


def _require_url(value: str, what: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"{what} must be an http(s) URL, got a value starting with {value[:8]!r}")
    return value


@dataclass(frozen=True)
class SlackReceiver:
    """A Slack incoming webhook (config key `alertSlackWebhookUrl`, secret)."""

    webhook_url: str
    channel: str | None = None

    def __post_init__(self) -> None:
        _require_url(self.webhook_url, "Slack webhook URL (alertSlackWebhookUrl)")


@dataclass(frozen=True)
class EmailReceiver:
    """E-mail through an SMTP relay (`monitoring.alertEmailTo`, `monitoring.alertEmailFrom`,
    `monitoring.smtpSmarthost`, secret `alertSmtpPassword`)."""

    to: tuple[str, ...]
    sender: str
    smarthost: str
    auth_password: str | None = None
    auth_username: str | None = None
    """Defaults to the sender address when a password is given (what most relays expect)."""
    require_tls: bool = True

    def __post_init__(self) -> None:
        if not self.to or not all(_EMAIL.match(address) for address in self.to):
            raise ValueError(
                f"monitoring.alertEmailTo must be a non-empty list of e-mail addresses, got {self.to!r}"
            )
        if not _EMAIL.match(self.sender):
            raise ValueError(f"monitoring.alertEmailFrom must be an e-mail address, got {self.sender!r}")
        host, _, port = self.smarthost.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"monitoring.smtpSmarthost must be host:port, got {self.smarthost!r}")
        if self.auth_username is not None and self.auth_password is None:
            raise ValueError("an SMTP username without a password: set the secret alertSmtpPassword")


@dataclass(frozen=True)
class WebhookReceiver:
    """A generic webhook receiving Alertmanager's JSON (`alertWebhookUrl`, secret)."""

    url: str

    def __post_init__(self) -> None:
        _require_url(self.url, "webhook URL (alertWebhookUrl)")


@dataclass(frozen=True)
class RelayReceiver:
    """The retraining relay's webhook: confirmed live drift goes there, with a bearer token from a file."""

    url: str
    credentials_file: str
    """Path inside the Alertmanager pod of the token file (a mounted Secret)."""
    repeat_interval: str = "1h"
    """How often a still-firing confirmed alert is re-sent: the relay dedups, and a failed start is
    retried on the next repeat."""

    def __post_init__(self) -> None:
        _require_url(self.url, "retraining relay URL")
        if not self.credentials_file.startswith("/"):
            raise ValueError(
                f"relay credentials_file must be an absolute path in the Alertmanager pod, got "
                f"{self.credentials_file!r}"
            )
        if not rules.DURATION_PATTERN.match(self.repeat_interval):
            raise ValueError(
                f"relay repeat_interval must be a duration like '1h', got {self.repeat_interval!r}"
            )


@dataclass(frozen=True)
class RouteTiming:
    """How Alertmanager batches notifications. Production defaults; tests shorten them."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    critical_repeat_interval: str = "1h"
    warning_repeat_interval: str = "12h"
    resolve_timeout: str = "5m"

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not rules.DURATION_PATTERN.match(value):
                raise ValueError(f"{name} must be a duration like '30s' or '5m', got {value!r}")


@dataclass(frozen=True)
class NotificationSettings:
    """The receivers a stack configured. Any may be absent; with none, alerts show only in the UIs."""

    slack: SlackReceiver | None = None
    email: EmailReceiver | None = None
    webhook: WebhookReceiver | None = None
    relay: RelayReceiver | None = None
    timing: RouteTiming = field(default_factory=RouteTiming)


def _integrations(settings: NotificationSettings, severity: str) -> dict[str, Any]:
    integrations: dict[str, Any] = {}
    if settings.slack is not None:
        slack: dict[str, Any] = {
            "api_url": settings.slack.webhook_url,
            "send_resolved": True,
            "title": _TITLE,
            "text": _TEXT,
            "color": '{{ if eq .Status "firing" }}%s{{ else }}good{{ end }}'
            % ("danger" if severity == "critical" else "warning"),
        }
        if settings.slack.channel:
            slack["channel"] = settings.slack.channel
        integrations["slack_configs"] = [slack]
    if settings.email is not None:
        email: dict[str, Any] = {
            "to": ", ".join(settings.email.to),
            "from": settings.email.sender,
            "smarthost": settings.email.smarthost,
            "require_tls": settings.email.require_tls,
            "send_resolved": True,
            "headers": {"Subject": _TITLE},
        }
        if settings.email.auth_password is not None:
            email["auth_username"] = settings.email.auth_username or settings.email.sender
            email["auth_password"] = settings.email.auth_password
        integrations["email_configs"] = [email]
    if settings.webhook is not None:
        integrations["webhook_configs"] = [{"url": settings.webhook.url, "send_resolved": True}]
    return integrations


def _relay_route(relay: RelayReceiver) -> dict[str, Any]:
    return {
        "receiver": RELAY_RECEIVER,
        "matchers": [f'alertname="{rules.LIVE_DRIFT_CONFIRMED}"'],
        # One notification per drifting dataset: the relay dedups per group, so a group is one decision.
        "group_by": ["alertname", m.LABEL_PIPELINE, m.LABEL_DATASET],
        "repeat_interval": relay.repeat_interval,
        "continue": True,
    }


def _relay_receiver(relay: RelayReceiver) -> dict[str, Any]:
    return {
        "name": RELAY_RECEIVER,
        "webhook_configs": [
            {
                "url": relay.url,
                "send_resolved": True,
                "http_config": {
                    "authorization": {"type": "Bearer", "credentials_file": relay.credentials_file}
                },
            }
        ],
    }


def render_alertmanager_config(settings: NotificationSettings) -> dict[str, Any]:
    """The complete `alertmanager.yaml` as a dict."""
    t = settings.timing
    group_by = ["alertname", rules.SEVERITY_LABEL, m.LABEL_PIPELINE]
    relay_routes = [_relay_route(settings.relay)] if settings.relay is not None else []
    relay_receivers = [_relay_receiver(settings.relay)] if settings.relay is not None else []
    return {
        "global": {"resolve_timeout": t.resolve_timeout},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": group_by,
            "group_wait": t.group_wait,
            "group_interval": t.group_interval,
            "repeat_interval": t.warning_repeat_interval,
            "routes": [
                *relay_routes,
                {
                    "receiver": NULL_RECEIVER,
                    "matchers": [f'alertname=~"{"|".join(_SILENT_ALERTNAMES)}"'],
                },
                {
                    "receiver": CRITICAL_RECEIVER,
                    "matchers": [f'{rules.SEVERITY_LABEL}="critical"'],
                    "repeat_interval": t.critical_repeat_interval,
                },
                {
                    "receiver": WARNING_RECEIVER,
                    "matchers": [f'{rules.SEVERITY_LABEL}="warning"'],
                    "repeat_interval": t.warning_repeat_interval,
                },
            ],
        },
        "inhibit_rules": [
            {
                "source_matchers": [f'alertname="{rules.DRIFT_SHARE_CRITICAL}"'],
                "target_matchers": [f'alertname="{rules.DATA_DRIFT_DETECTED}"'],
                "equal": [m.LABEL_PIPELINE, m.LABEL_DATASET, m.LABEL_SOURCE],
            },
            # The chart's default: a critical alert hides the warning of the same name and namespace.
            {
                "source_matchers": [f'{rules.SEVERITY_LABEL}="critical"'],
                "target_matchers": [f'{rules.SEVERITY_LABEL}="warning"'],
                "equal": ["namespace", "alertname"],
            },
        ],
        "receivers": [
            {"name": NULL_RECEIVER},
            {"name": CRITICAL_RECEIVER, **_integrations(settings, "critical")},
            {"name": WARNING_RECEIVER, **_integrations(settings, "warning")},
            *relay_receivers,
        ],
    }
