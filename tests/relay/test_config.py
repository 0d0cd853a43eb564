"""`python -m relay serve` configuration: every problem named with its flag and variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay import config


def _token(tmp_path: Path, text: str = "t" * 32) -> str:
    path = tmp_path / "token"
    path.write_text(text + "\n")
    return str(path)


def test_environment_configures_the_kfp_relay(tmp_path: Path) -> None:
    env = {
        config.TOKEN_FILE_ENV: _token(tmp_path),
        config.RETRAIN_ENABLED_ENV: "false",
        config.COOLDOWN_ENV: "21600",
        config.MAX_RUNS_ENV: "3",
        config.KFP_HOST_ENV: "http://ml-pipeline.kubeflow.svc:8888",
        config.KFP_PIPELINE_ENV: "breast-cancer-training",
        config.CAPTURE_URI_ENV: "s3://bucket/inference-capture",
    }
    loaded = config.load(["serve"], env)
    assert loaded.token == "t" * 32
    assert (
        loaded.guardrails.enabled,
        loaded.guardrails.cooldown_seconds,
        loaded.guardrails.max_runs_per_day,
    ) == (
        False,
        21600,
        3,
    )
    assert (loaded.launcher, loaded.kfp_pipeline, loaded.capture_uri) == (
        "kfp",
        "breast-cancer-training",
        "s3://bucket/inference-capture",
    )


def test_every_problem_is_reported_at_once_naming_flag_and_variable(tmp_path: Path) -> None:
    env = {
        config.TOKEN_FILE_ENV: _token(tmp_path, "short"),
        config.RETRAIN_ENABLED_ENV: "yes",
        config.MAX_RUNS_ENV: "99",
    }
    with pytest.raises(config.ConfigError) as error:
        config.load(["serve"], env)
    text = str(error.value)
    for expected in (
        "MLOPS_RELAY_TOKEN_FILE: ",
        "fewer than 16 characters",
        "--retrain-enabled / MLOPS_RETRAIN_ENABLED: expected true or false, got 'yes'",
        "--max-runs-per-day / MLOPS_RETRAIN_MAX_RUNS_PER_DAY: expected 1..24, got 99",
        "--kfp-host / MLOPS_KFP_HOST: required",
    ):
        assert expected in text


def test_a_missing_token_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match=f"cannot read {tmp_path / 'absent'}"):
        config.load(
            [
                "serve",
                "--token-file",
                str(tmp_path / "absent"),
                "--launcher",
                "local",
                "--state",
                str(tmp_path),
            ],
            {},
        )
