"""What the relay does with a notification: a pure decision over the notification, the runs it already
started, the guardrails and the time.

Checked in this order, the first that applies wins:
1. nothing to act on (no firing `MlopsLiveDriftConfirmed` alert: a resolution, another alert) -> ignored;
2. the kill switch (`retrain.enabled` false) -> disabled;
3. every alert episode in it already started a run (Alertmanager repeats a firing group every
   repeat_interval, and a relay restart must not forget) -> duplicate;
4. a run the relay started is younger than the cooldown -> cooldown;
5. the relay started the daily maximum of runs in the last 24 hours (rolling) -> daily_limit;
6. otherwise one run starts, recording every new episode it answers.

"Runs already started" come from where the runs live (the KFP API, or the local runs' files), never from
memory, so the guardrails hold across a restart of the relay.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from monitoring import metrics as m
from relay.alerts import Notification

DAY_SECONDS: Final = 24 * 3600


@dataclass(frozen=True)
class Guardrails:
    """The limits from stack config (`retrain.*`)."""

    enabled: bool
    """`retrain.enabled`: false is the kill switch (decisions are still recorded, nothing starts)."""
    cooldown_seconds: int
    """`retrain.cooldown`: the least time between two runs the relay starts."""
    max_runs_per_day: int
    """`retrain.maxRunsPerDay`: runs the relay may start in any 24 hours."""

    def __post_init__(self) -> None:
        if self.cooldown_seconds < 0:
            raise ValueError(f"cooldown_seconds must be >= 0, got {self.cooldown_seconds}")
        if not 1 <= self.max_runs_per_day <= 24:
            raise ValueError(f"max_runs_per_day must be in 1..24, got {self.max_runs_per_day}")


@dataclass(frozen=True)
class FiringAlert:
    """One firing alert a run answers: what identifies its episode and what it said."""

    fingerprint: str
    starts_at: str
    labels: dict[str, str]

    @property
    def episode(self) -> str:
        return f"{self.fingerprint}@{self.starts_at}"


@dataclass(frozen=True)
class Trigger:
    """Why a run started: recorded on the run itself (a KFP run parameter, the local run's file)."""

    alertname: str
    group_key: str
    decided_at: float
    alerts: tuple[FiringAlert, ...]

    @property
    def episodes(self) -> frozenset[str]:
        return frozenset(a.episode for a in self.alerts)

    def to_json(self) -> str:
        return json.dumps(
            {
                "alertname": self.alertname,
                "group_key": self.group_key,
                "decided_at": dt.datetime.fromtimestamp(self.decided_at, dt.UTC).isoformat(),
                "alerts": [
                    {"fingerprint": a.fingerprint, "starts_at": a.starts_at, "labels": a.labels}
                    for a in self.alerts
                ],
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Trigger:
        raw: dict[str, Any] = json.loads(text)
        return cls(
            alertname=raw["alertname"],
            group_key=raw["group_key"],
            decided_at=dt.datetime.fromisoformat(raw["decided_at"]).timestamp(),
            alerts=tuple(
                FiringAlert(a["fingerprint"], a["starts_at"], dict(a["labels"])) for a in raw["alerts"]
            ),
        )


@dataclass(frozen=True)
class StartedRun:
    """A run the relay started, as its launcher reports it."""

    run_id: str
    name: str
    started_at: float
    trigger: Trigger


@dataclass(frozen=True)
class Decision:
    outcome: str
    """One of `monitoring.metrics.DECISIONS` (the label of `mlops_relay_decisions_total`)."""
    detail: str
    """One line a person reads in the relay's log and in its HTTP answer."""
    trigger: Trigger | None = None
    """Set when the outcome is `started`: what the new run records."""


def _confirmed_drift(notification: Notification) -> tuple[FiringAlert, ...]:
    return tuple(
        FiringAlert(a.fingerprint, a.startsAt.astimezone(dt.UTC).isoformat(), dict(a.labels))
        for a in notification.confirmed_drift()
    )


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def decide(
    notification: Notification, history: Sequence[StartedRun], guardrails: Guardrails, now: float
) -> Decision:
    firing = _confirmed_drift(notification)
    if not firing:
        return Decision(
            m.DECISION_IGNORED,
            f"nothing to act on: {notification.status} notification without a firing "
            "MlopsLiveDriftConfirmed alert",
        )
    if not guardrails.enabled:
        return Decision(m.DECISION_DISABLED, "retraining is switched off (retrain.enabled is false)")
    answered = frozenset().union(*(run.trigger.episodes for run in history))
    new = tuple(a for a in firing if a.episode not in answered)
    if not new:
        run = next(r for r in history if r.trigger.episodes & {a.episode for a in firing})
        return Decision(m.DECISION_DUPLICATE, f"this alert episode already started run {run.name}")
    latest = max(history, key=lambda r: r.started_at, default=None)
    if latest is not None and now - latest.started_at < guardrails.cooldown_seconds:
        return Decision(
            m.DECISION_COOLDOWN,
            f"run {latest.name} started at {_when(latest.started_at)}; the cooldown of "
            f"{guardrails.cooldown_seconds} s allows the next one from "
            f"{_when(latest.started_at + guardrails.cooldown_seconds)}",
        )
    today = [r for r in history if now - r.started_at < DAY_SECONDS]
    if len(today) >= guardrails.max_runs_per_day:
        oldest = min(r.started_at for r in today)
        return Decision(
            m.DECISION_DAILY_LIMIT,
            f"{len(today)} run(s) started in the last 24 h (maximum {guardrails.max_runs_per_day}); "
            f"the next one is allowed from {_when(oldest + DAY_SECONDS)}",
        )
    trigger = Trigger(
        alertname=new[0].labels.get("alertname", ""),
        group_key=notification.groupKey,
        decided_at=now,
        alerts=new,
    )
    datasets = sorted({r.labels.get(m.LABEL_DATASET, "?") for r in new})
    return Decision(
        m.DECISION_STARTED,
        f"confirmed live drift in {', '.join(datasets)} ({len(new)} new alert episode(s))",
        trigger,
    )
