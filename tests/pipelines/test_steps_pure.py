"""Pure logic: champion gating, retries, drift parsing, stage outcome publication. No MLflow needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.params import EvaluateParams, MlflowParams
from pipelines.stage import run_stage
from pipelines.steps.evaluate import ChampionScores, decide
from pipelines.tracking import Tracking, TrackingUnavailableError, with_retries

RULES = EvaluateParams(
    primary_metric="roc_auc", min_improvement=0.01, thresholds={"accuracy": 0.9, "f1": 0.9, "roc_auc": 0.95}
)
GOOD = {"accuracy": 0.97, "f1": 0.97, "roc_auc": 0.99}


def test_first_model_passing_thresholds_becomes_champion() -> None:
    decision = decide(GOOD, None, RULES)
    assert decision.promote
    assert decision.reason == "passes thresholds; no champion yet"


def test_candidate_below_a_threshold_never_promotes() -> None:
    decision = decide({**GOOD, "f1": 0.85}, None, RULES)
    assert not decision.promote
    assert decision.failed_thresholds == {"f1": 0.85}
    assert "below threshold: f1 0.8500 < 0.9" in decision.reason


def test_candidate_must_beat_champion_by_the_margin() -> None:
    champion = ChampionScores(version=3, metrics={**GOOD, "roc_auc": 0.985})
    assert not decide(GOOD, champion, RULES).promote  # +0.005 < +0.01
    better = decide({**GOOD, "roc_auc": 0.996}, champion, RULES)
    assert better.promote
    assert better.beats_champion


def test_worse_candidate_keeps_champion() -> None:
    champion = ChampionScores(version=3, metrics={**GOOD, "roc_auc": 0.999})
    decision = decide(GOOD, champion, RULES)
    assert not decision.promote
    assert decision.reason.startswith("not better than the champion: roc_auc 0.9900 vs champion v3")


def test_decision_round_trips_through_json_dict() -> None:
    decision = decide(GOOD, ChampionScores(2, GOOD), RULES)
    from pipelines.steps.evaluate import Decision

    assert Decision.from_dict(decision.to_dict()) == decision


TRACKING = Tracking(
    uri="http://127.0.0.1:1",
    experiment="x",
    retry=MlflowParams(retry_attempts=3, retry_backoff_seconds=0.5, request_timeout_seconds=1),
)


def test_transient_errors_are_retried_with_doubling_backoff() -> None:
    pauses: list[float] = []
    calls = []

    def refuse() -> None:
        calls.append(1)
        raise ConnectionRefusedError("connection refused")

    with pytest.raises(
        TrackingUnavailableError, match=r"http://127\.0\.0\.1:1 did not answer: ping failed 3 time"
    ):
        with_retries(refuse, "ping", TRACKING, sleep=pauses.append)
    assert len(calls) == 3
    assert pauses == [0.5, 1.0]


def test_transient_error_then_success_returns_the_result() -> None:
    outcomes: list[Exception | str] = [ConnectionResetError("reset"), "ok"]

    def flaky() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert with_retries(flaky, "ping", TRACKING, sleep=lambda _: None) == "ok"


def test_a_bug_is_not_retried() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        with_retries(broken, "ping", TRACKING, sleep=lambda _: None)
    assert calls == [1]


def test_failed_stage_publishes_failure_and_reraises(tmp_path: Path) -> None:
    env = {"MLOPS_METRICS_DIR": str(tmp_path / "m"), "MLOPS_STAGE_SUMMARY_DIR": str(tmp_path / "r")}
    with pytest.raises(RuntimeError, match="boom"), run_stage("train", env=env):
        raise RuntimeError("boom")
    text = (tmp_path / "m" / "breast-cancer-training-train.prom").read_text()
    assert 'mlops_pipeline_stage_success{pipeline="breast-cancer-training",stage="train"} 0.0' in text
    assert '"error": "boom"' in (tmp_path / "r" / "train.json").read_text()


def test_successful_stage_publishes_its_samples_with_its_outcome(tmp_path: Path) -> None:
    from monitoring import metrics as m

    env = {"MLOPS_METRICS_DIR": str(tmp_path)}
    with run_stage("drift", env=env) as report:
        report.set_metric(m.DRIFT_SHARE, 0.25, dataset="d", source=m.SOURCE_BATCH)
    text = (tmp_path / "breast-cancer-training-drift.prom").read_text()
    assert 'mlops_pipeline_stage_success{pipeline="breast-cancer-training",stage="drift"} 1.0' in text
    assert 'mlops_drift_share{dataset="d",pipeline="breast-cancer-training",source="batch"} 0.25' in text


def test_unreachable_pushgateway_is_a_warning_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    from tests.support.processes import free_port

    url = f"http://127.0.0.1:{free_port()}"
    with run_stage("ingest", pushgateway_url=url, env={}):
        pass
    assert any("could not push metrics" in r.getMessage() for r in caplog.records)
