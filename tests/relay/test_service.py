"""The relay's HTTP surface: bearer token, payload errors, decisions, metrics, launcher failures."""

from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from monitoring import metrics as m
from relay.guardrails import Guardrails, StartedRun, Trigger
from relay.launchers import LaunchError, run_name
from relay.service import HEALTH_PATH, METRICS_PATH, WEBHOOK_PATH, Relay, create_app
from tests.relay import payloads

TOKEN = "s3cr3t-token-of-32-characters-xx"
NOW = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC).timestamp()


class RecordingLauncher:
    """Keeps started runs in a list, as a launcher's backend would; can be told to fail."""

    def __init__(self, fail: bool = False) -> None:
        self.runs: list[StartedRun] = []
        self.fail = fail

    def start(self, trigger: Trigger) -> StartedRun:
        if self.fail:
            raise LaunchError("Kubeflow Pipelines at http://ml-pipeline:8888 refused the run: 503")
        run = StartedRun(f"run-{len(self.runs)}", run_name(trigger), trigger.decided_at, trigger)
        self.runs.append(run)
        return run

    def history(self, since: float) -> list[StartedRun]:
        return [r for r in self.runs if r.started_at >= since]


def _client(launcher: RecordingLauncher, enabled: bool = True) -> tuple[TestClient, Relay]:
    relay = Relay(launcher, Guardrails(enabled, cooldown_seconds=3600, max_runs_per_day=2), clock=lambda: NOW)
    return TestClient(create_app(relay, TOKEN)), relay


def _post(client: TestClient, payload: dict, token: str | None = TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(WEBHOOK_PATH, content=payloads.body(payload), headers=headers)


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get(METRICS_PATH).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize("token", [None, "wrong-token", ""], ids=["missing", "wrong", "empty"])
def test_without_the_right_bearer_token_nothing_starts(token: str | None) -> None:
    launcher = RecordingLauncher()
    client, _ = _client(launcher)
    response = _post(client, payloads.notification(), token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert launcher.runs == []
    assert _samples(client)[(m.RELAY_UNAUTHORIZED.name, ())] == 1


def test_basic_auth_is_not_a_bearer_token() -> None:
    launcher = RecordingLauncher()
    client, _ = _client(launcher)
    response = client.post(
        WEBHOOK_PATH,
        content=payloads.body(payloads.notification()),
        headers={"Authorization": f"Basic {TOKEN}"},
    )
    assert response.status_code == 401
    assert launcher.runs == []


def test_confirmed_drift_starts_one_run_and_a_repeat_starts_nothing() -> None:
    launcher = RecordingLauncher()
    client, _ = _client(launcher)
    first = _post(client, payloads.notification())
    assert first.status_code == 200
    assert first.json()["outcome"] == m.DECISION_STARTED
    assert first.json()["run"]["name"].startswith("retrain-20261201-230000-4f1c2a9b")
    repeat = _post(client, payloads.notification())
    assert repeat.json()["outcome"] == m.DECISION_DUPLICATE
    inside_cooldown = _post(client, payloads.notification(payloads.alert(starts_at="2026-12-01T22:50:00Z")))
    assert inside_cooldown.json()["outcome"] == m.DECISION_COOLDOWN
    assert len(launcher.runs) == 1
    samples = _samples(client)
    assert samples[(m.RELAY_RUNS_STARTED.name, ())] == 1
    assert samples[(m.RELAY_LAST_START.name, ())] == NOW
    for outcome, count in ((m.DECISION_STARTED, 1), (m.DECISION_DUPLICATE, 1), (m.DECISION_COOLDOWN, 1)):
        assert samples[(m.RELAY_DECISIONS.name, (("outcome", outcome),))] == count


def test_the_kill_switch_answers_and_starts_nothing() -> None:
    launcher = RecordingLauncher()
    client, _ = _client(launcher, enabled=False)
    response = _post(client, payloads.notification())
    assert (response.status_code, response.json()["outcome"]) == (200, m.DECISION_DISABLED)
    assert launcher.runs == []


def test_a_launcher_failure_is_a_503_for_alertmanager_to_retry_and_is_counted() -> None:
    launcher = RecordingLauncher(fail=True)
    client, _ = _client(launcher)
    response = _post(client, payloads.notification())
    assert response.status_code == 503
    assert response.json()["outcome"] == m.DECISION_FAILED
    assert "refused the run" in response.json()["error"]
    samples = _samples(client)
    assert samples[(m.RELAY_START_FAILURES.name, ())] == 1
    assert samples[(m.RELAY_RUNS_STARTED.name, ())] == 0
    # Nothing started, so the retry is not a duplicate.
    launcher.fail = False
    assert _post(client, payloads.notification()).json()["outcome"] == m.DECISION_STARTED


def test_a_body_that_is_not_a_v4_notification_names_the_field() -> None:
    client, _ = _client(RecordingLauncher())
    payload = payloads.notification()
    del payload["groupKey"]
    response = _post(client, payload)
    assert response.status_code == 400
    assert "groupKey" in response.json()["error"]
    assert _post(client, {**payloads.notification(), "version": "3"}).status_code == 400


def test_every_relay_metric_is_exposed_from_the_start() -> None:
    client, _ = _client(RecordingLauncher())
    assert client.get(HEALTH_PATH).text == "ok"
    names = {name for name, _ in _samples(client)}
    assert {spec.name for spec in m.RELAY_METRICS} <= names
    outcomes = {
        dict(labels)["outcome"] for name, labels in _samples(client) if name == m.RELAY_DECISIONS.name
    }
    assert outcomes == set(m.DECISIONS)


def test_an_empty_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(Relay(RecordingLauncher(), Guardrails(True, 0, 1)), "")
