"""Live drift without a registry: too little traffic, the metrics group it publishes, the CLI's exit codes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitoring import metrics as m
from pipelines.steps.drift import DriftResult
from pipelines.telemetry import MetricsTarget, publish
from serving import config
from serving.live_drift import (
    VERDICT_NOT_ENOUGH_TRAFFIC,
    LiveDriftError,
    check_live_drift,
    main,
    metrics_batch,
)

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def result(drifted: bool) -> DriftResult:
    return DriftResult(
        drifted=drifted,
        share=0.6 if drifted else 0.1,
        drifted_count=18 if drifted else 3,
        share_threshold=0.5,
        feature_scores={"mean_radius": 0.01},
        feature_drifted={"mean_radius": True},
        methods={"mean_radius": "K-S p_value"},
        reference_rows=427,
        current_rows=300,
        sampled=False,
    )


def test_too_little_traffic_publishes_no_verdict_and_withdraws_the_last_one(tmp_path: Path) -> None:
    target = MetricsTarget(textfile_dir=tmp_path)
    publish(metrics_batch("breast_cancer", True, 1.0, result(True)), target, replace=True)
    outcome = check_live_drift(
        model_name="clf",
        tracking_uri="http://unused",
        capture_uri=str(tmp_path / "capture"),
        min_rows=200,
        metrics_target=target,
        now=NOW,
    )
    assert outcome.verdict == VERDICT_NOT_ENOUGH_TRAFFIC
    assert outcome.rows == 0
    assert "0 row(s) captured in the last 24 h, 200 needed" in outcome.describe()
    [group] = tmp_path.glob("*.prom")
    text = group.read_text()
    assert m.DRIFT_DETECTED.name not in text
    assert (
        f'{m.STAGE_SUCCESS.name}{{pipeline="breast-cancer-training",stage="{m.LIVE_DRIFT_STAGE}"}} 1.0'
        in text
    )


def test_the_live_group_is_its_own_and_labels_the_verdict_live() -> None:
    batch = metrics_batch("breast_cancer", True, 2.0, result(True))
    assert batch.grouping_key == {"pipeline": "breast-cancer-training", "stage": m.LIVE_DRIFT_STAGE}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in batch.registry.collect()
        for sample in family.samples
    }
    live = (("dataset", "breast_cancer"), ("pipeline", "breast-cancer-training"), ("source", "live"))
    assert samples[(m.DRIFT_DETECTED.name, live)] == 1.0
    assert samples[(m.DRIFT_SHARE.name, live)] == 0.6
    assert m.LIVE_DRIFT_STAGE not in m.STAGES


def test_an_error_publishes_a_failed_stage_and_raises(tmp_path: Path) -> None:
    target = MetricsTarget(textfile_dir=tmp_path / "metrics")
    with pytest.raises(LiveDriftError, match="unsupported scheme"):
        check_live_drift(
            model_name="clf",
            tracking_uri="http://unused",
            capture_uri="gs://bucket/capture",
            metrics_target=target,
        )
    [group] = (tmp_path / "metrics").glob("*.prom")
    assert f'stage="{m.LIVE_DRIFT_STAGE}"}} 0.0' in group.read_text()


def test_the_cli_exits_2_on_bad_config_1_on_errors_0_without_traffic(tmp_path: Path, capsys) -> None:
    base = {config.MODEL_NAME_ENV: "clf", "MLFLOW_TRACKING_URI": "http://unused"}
    assert main(base) == 2
    assert config.CAPTURE_URI_ENV in capsys.readouterr().err
    assert main({**base, config.CAPTURE_URI_ENV: "gs://x/y"}) == 1
    assert "FAILED" in capsys.readouterr().err
    env = {**base, config.CAPTURE_URI_ENV: str(tmp_path), config.LIVE_DRIFT_MIN_ROWS_ENV: "30"}
    assert main(env) == 0
    assert "not enough traffic" in capsys.readouterr().out
