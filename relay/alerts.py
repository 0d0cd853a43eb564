"""Alertmanager's webhook payload (version 4), as the relay reads it.

Alertmanager POSTs one notification per alert group: the group's key, its status and every alert in it,
each with its labels, its start time and a fingerprint (a hash of its labels). The relay keeps only what it
decides on and what it records as the reason of a run.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from monitoring import rules

PAYLOAD_VERSION = "4"


class Alert(BaseModel):
    """One alert of a notification."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: dt.datetime  # noqa: N815 - Alertmanager's field name
    fingerprint: str = Field(min_length=1)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def episode(self) -> str:
        """One firing episode of one alert: the same fingerprint firing again later is a new episode."""
        return f"{self.fingerprint}@{self.startsAt.astimezone(dt.UTC).isoformat()}"


class Notification(BaseModel):
    """An Alertmanager webhook notification (payload version 4)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal["4"]
    groupKey: str = Field(min_length=1)  # noqa: N815 - Alertmanager's field name
    status: Literal["firing", "resolved"]
    receiver: str = ""
    alerts: list[Alert]

    def confirmed_drift(self) -> list[Alert]:
        """The firing `MlopsLiveDriftConfirmed` alerts: the only ones the relay acts on."""
        return [a for a in self.alerts if a.status == "firing" and a.name == rules.LIVE_DRIFT_CONFIRMED]


class PayloadError(ValueError):
    """The request body is not an Alertmanager v4 notification; the message names the fields."""


def parse_notification(body: bytes) -> Notification:
    try:
        return Notification.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'body'}: {error['msg']}" for error in exc.errors()
        )
        raise PayloadError(f"not an Alertmanager v{PAYLOAD_VERSION} notification: {problems}") from exc
