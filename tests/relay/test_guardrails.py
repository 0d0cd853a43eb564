"""`decide`: the guardrails alone, on plain data."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring import metrics as m
from relay.alerts import parse_notification
from relay.guardrails import DAY_SECONDS, Decision, Guardrails, StartedRun, Trigger, decide
from tests.relay import payloads

NOW = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC).timestamp()
HOUR = 3600.0
ON = Guardrails(enabled=True, cooldown_seconds=6 * 3600, max_runs_per_day=2)


def _decide(payload: dict, history: list[StartedRun], guardrails: Guardrails = ON) -> Decision:
    return decide(parse_notification(payloads.body(payload)), history, guardrails, NOW)


def _started(decision: Decision, at: float, name: str = "retrain-a") -> StartedRun:
    assert decision.trigger is not None
    return StartedRun(run_id=name, name=name, started_at=at, trigger=decision.trigger)


def test_a_confirmed_drift_alert_starts_one_run_recording_why() -> None:
    decision = _decide(payloads.notification(), [])
    assert decision.outcome == m.DECISION_STARTED
    assert decision.trigger is not None
    (alert,) = decision.trigger.alerts
    assert alert.fingerprint == "4f1c2a9be0d37a11"
    assert alert.labels["dataset"] == "breast_cancer"
    assert alert.starts_at == "2026-12-01T22:00:00+00:00"
    assert decision.trigger.group_key == payloads.GROUP_KEY
    assert decision.trigger.decided_at == NOW
    assert "breast_cancer" in decision.detail


def test_the_trigger_survives_its_json_form() -> None:
    trigger = _decide(payloads.notification(), []).trigger
    assert trigger is not None
    assert Trigger.from_json(trigger.to_json()) == trigger


@pytest.mark.parametrize(
    "payload",
    [
        payloads.notification(payloads.alert(status="resolved"), status="resolved"),
        payloads.notification(payloads.alert(name="MlopsDataDriftDetected")),
    ],
    ids=["resolved", "another-alert"],
)
def test_only_firing_confirmed_drift_is_acted_on(payload: dict) -> None:
    assert _decide(payload, []).outcome == m.DECISION_IGNORED


def test_kill_switch_starts_nothing() -> None:
    off = Guardrails(enabled=False, cooldown_seconds=0, max_runs_per_day=24)
    decision = _decide(payloads.notification(), [], off)
    assert (decision.outcome, decision.trigger) == (m.DECISION_DISABLED, None)
    assert "retrain.enabled" in decision.detail


def test_a_repeated_notification_of_the_same_episode_is_a_duplicate_even_after_the_cooldown() -> None:
    first = _decide(payloads.notification(), [])
    history = [_started(first, NOW - 10 * HOUR)]
    decision = _decide(payloads.notification(), history)
    assert decision.outcome == m.DECISION_DUPLICATE
    assert "retrain-a" in decision.detail


def test_a_new_episode_inside_the_cooldown_waits() -> None:
    first = _decide(payloads.notification(), [])
    history = [_started(first, NOW - 2 * HOUR)]
    again = payloads.notification(payloads.alert(starts_at="2026-12-01T22:45:00Z"))
    decision = _decide(again, history)
    assert decision.outcome == m.DECISION_COOLDOWN
    assert "2026-12-02 03:00:00 UTC" in decision.detail


def test_a_new_episode_after_the_cooldown_starts_a_run() -> None:
    first = _decide(payloads.notification(), [])
    history = [_started(first, NOW - 7 * HOUR)]
    again = payloads.notification(payloads.alert(starts_at="2026-12-01T22:45:00Z"))
    assert _decide(again, history).outcome == m.DECISION_STARTED


def test_the_daily_maximum_counts_the_last_24_hours() -> None:
    no_cooldown = Guardrails(enabled=True, cooldown_seconds=0, max_runs_per_day=2)
    first = _decide(payloads.notification(), [])
    history = [_started(first, NOW - 23 * HOUR, "r1"), _started(first, NOW - 1 * HOUR, "r2")]
    other = payloads.notification(payloads.alert(fingerprint="aaaa0000bbbb1111"))
    decision = _decide(other, history, no_cooldown)
    assert decision.outcome == m.DECISION_DAILY_LIMIT
    # The older run leaves the window an hour from now.
    assert "2026-12-02 00:00:00 UTC" in decision.detail
    aged = [_started(first, NOW - DAY_SECONDS - 1, "r1"), _started(first, NOW - 1 * HOUR, "r2")]
    assert _decide(other, aged, no_cooldown).outcome == m.DECISION_STARTED


def test_one_group_with_an_answered_and_a_new_alert_starts_one_run_for_the_new_one() -> None:
    first = _decide(payloads.notification(), [])
    history = [_started(first, NOW - 7 * HOUR)]
    both = payloads.notification(
        payloads.alert(), payloads.alert(fingerprint="ccccdddd00001111", dataset="other")
    )
    decision = _decide(both, history)
    assert decision.outcome == m.DECISION_STARTED
    assert decision.trigger is not None
    assert [a.fingerprint for a in decision.trigger.alerts] == ["ccccdddd00001111"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"cooldown_seconds": -1}, "cooldown_seconds"), ({"max_runs_per_day": 0}, "max_runs_per_day")],
)
def test_bad_guardrails_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Guardrails(**{"enabled": True, "cooldown_seconds": 0, "max_runs_per_day": 2, **kwargs})
