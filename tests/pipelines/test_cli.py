"""`python -m pipelines`: submit (against a recording client and a closed port) and whole local runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines import cli
from pipelines.params import REPO_ROOT
from pipelines.pipeline import COMPILED_PIPELINE
from tests.support.processes import free_port, stop_group


class RecordingClient:
    calls: list[dict[str, Any]] = []

    def __init__(self, host: str) -> None:
        self.host = host

    def create_run_from_pipeline_package(self, package: str, **kwargs: Any) -> Any:
        RecordingClient.calls.append({"host": self.host, "package": package, **kwargs})
        return type("Run", (), {"run_id": "run-42"})()


PINNED_STEPS = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-pipeline-steps:py3.11-abc@sha256:" + "b" * 64
)


def test_submit_compiles_for_the_pinned_steps_image_and_sends_parameters(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import kfp

    RecordingClient.calls = []
    monkeypatch.setattr(kfp, "Client", RecordingClient)
    code = cli.main(
        [
            "submit",
            "--host",
            "http://kfp.example:8080",
            "--experiment",
            "nightly",
            "--mlflow-uri",
            "http://mlflow:5000",
            "--pushgateway-url",
            "http://pgw:9091",
            "--dvc-rev",
            "v1.2",
            "--steps-image",
            PINNED_STEPS,
        ]
    )
    assert code == 0
    assert "submitted run run-42" in capsys.readouterr().out
    (call,) = RecordingClient.calls
    assert call["host"] == "http://kfp.example:8080"
    assert PINNED_STEPS in Path(call["package"]).read_text()
    assert call["experiment_name"] == "nightly"
    assert call["arguments"] == {
        "mlflow_tracking_uri": "http://mlflow:5000",
        "pushgateway_url": "http://pgw:9091",
        "dvc_repo": "",
        "dvc_rev": "v1.2",
        "dvc_remote": "",
        "drifted": False,
    }


def test_submit_to_an_unreachable_endpoint_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    host = f"http://127.0.0.1:{free_port()}"
    submit = [
        "submit",
        "--host",
        host,
        "--mlflow-uri",
        "http://mlflow:5000",
        "--package",
        str(COMPILED_PIPELINE),
    ]
    assert cli.main(submit) == 1
    assert f"could not submit to Kubeflow Pipelines at {host}" in capsys.readouterr().err


def test_submit_without_mlflow_uri_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(SystemExit, match="no MLflow URI"):
        cli.main(
            ["submit", "--host", "http://kfp:8080", "--mlflow-uri", "", "--package", str(COMPILED_PIPELINE)]
        )


def test_data_and_drifted_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["run", "--local", "--data", "x.csv", "--drifted"])
    assert "not allowed with argument" in capsys.readouterr().err


def _run_cli(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    command = [sys.executable, "-m", "pipelines", "run", "--local", "--state", str(state), *args]
    # Its own session: kfp.local starts a process per task, and a timeout must stop those too.
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env={**env, "MLOPS_GIT_REV": "cli-test"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=600)
    finally:
        stop_group(process)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.mark.slow
def test_local_kfp_run_twice_then_champion_stays(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _run_cli(state)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "champion moved to v1" in first.stdout
    assert "Warning" not in first.stderr, "kfp.local's per-task warnings must not reach a newcomer's terminal"
    assert "no drift" in first.stdout
    for stage in ("ingest", "validate", "train", "evaluate", "register", "drift"):
        assert f"stage {stage}: succeeded" in first.stdout
    # The demo's end: the champion served, sent the batch, live drift checked on the captured traffic.
    assert "300 sent with the newest batch, 300 answered" in first.stdout
    assert "Live drift:      no drift" in first.stdout
    second = _run_cli(state, "--drifted")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "version 2" in second.stdout
    assert "champion stays at v1" in second.stdout
    assert "DRIFT DETECTED" in second.stdout
    assert "Live drift:      DRIFT DETECTED" in second.stdout
    reports = sorted((state / "drift-reports").glob("*.html"))
    assert len(reports) == 2
    run_metrics = (state / "metrics" / "breast-cancer-training.prom").read_text(encoding="utf-8")
    assert 'mlops_pipeline_run_success{pipeline="breast-cancer-training"} 1.0' in run_metrics


@pytest.mark.slow
def test_local_kfp_run_on_bad_data_exits_non_zero_with_the_validation_message(
    tmp_path: Path, sample_frame: pd.DataFrame
) -> None:
    bad = tmp_path / "bad.csv"
    sample_frame.assign(target=1).to_csv(bad, index=False)
    state = tmp_path / "state"
    result = _run_cli(state, "--data", str(bad))
    assert result.returncode == 1
    assert "stage validate failed" in result.stderr
    assert "column 'target' has only one class (1)" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr  # an expected fault: clear lines only
    validate = (state / "metrics" / "breast-cancer-training-validate.prom").read_text(encoding="utf-8")
    assert 'stage="validate"} 0.0' in validate
    assert not (state / "metrics" / "breast-cancer-training-train.prom").exists()


def test_compile_takes_a_pinned_steps_image_and_refuses_an_unpinned_one(tmp_path: Path) -> None:
    from pipelines.cli import main

    pinned = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-pipeline-steps:py3.11-abc@sha256:" + "a" * 64
    output = tmp_path / "pipeline.yaml"
    assert main(["compile", "--output", str(output), "--steps-image", pinned]) == 0
    assert output.read_text().count(pinned) >= 6, "every component runs in the pinned image"
    with pytest.raises(SystemExit, match="expected a reference pinned by digest"):
        main(["compile", "--output", str(output), "--steps-image", "ghcr.io/x/steps:latest"])


def test_task_output_filter_keeps_progress_and_errors_and_drops_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    from pipelines.local_run import _TaskOutputFilter

    stream = _TaskOutputFilter(sys.stdout)
    stream.write("12:00:00.000 - INFO - Executing task 'train'\n")
    stream.write('    {\n        "inputs": {}\n    }\n')
    stream.write("    [breast-cancer-training] stage train: succeeded in 1.0 s\n")
    stream.write("    ValueError: column 'mean radius' has 3 nulls\n")
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "12:00:00.000 - INFO - Executing task 'train'",
        "[breast-cancer-training] stage train: succeeded in 1.0 s",
        "ValueError: column 'mean radius' has 3 nulls",
    ]


def test_task_output_filter_drops_the_traceback_of_a_failure_the_stage_reported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    from pipelines.local_run import _TaskOutputFilter

    stream = _TaskOutputFilter(sys.stdout)
    stream.write("12:00:00.000 - INFO - Executing task 'validate'\n")
    stream.write("    [breast-cancer-training] stage validate: FAILED after 0.5 s: the input data failed\n")
    stream.write("    Traceback (most recent call last):\n")
    stream.write('        raise DataValidationError("the input data", problems)\n')
    stream.write("    pipelines.steps.validate.DataValidationError: the input data failed\n")
    stream.write("12:00:01.000 - ERROR - Task 'validate' finished with status FAILURE\n")
    stream.write("    Traceback (most recent call last):\n")  # a later error no stage reported
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "12:00:00.000 - INFO - Executing task 'validate'",
        "[breast-cancer-training] stage validate: FAILED after 0.5 s: the input data failed",
        "12:00:01.000 - ERROR - Task 'validate' finished with status FAILURE",
        "Traceback (most recent call last):",
    ]


class RecordingUploadClient:
    existing: str | None = None
    calls: list[tuple[str, dict[str, Any]]] = []

    def __init__(self, host: str) -> None:
        self.host = host

    def get_pipeline_id(self, name: str) -> str | None:
        return self.existing

    def upload_pipeline(self, package: str, **kwargs: Any) -> None:
        self.calls.append(("pipeline", {"image_pinned": PINNED_STEPS in Path(package).read_text(), **kwargs}))

    def upload_pipeline_version(self, package: str, **kwargs: Any) -> None:
        self.calls.append(("version", {"image_pinned": PINNED_STEPS in Path(package).read_text(), **kwargs}))


@pytest.mark.parametrize(("existing", "kind"), [(None, "pipeline"), ("p-1", "version")])
def test_upload_creates_the_pipeline_once_then_adds_versions(
    monkeypatch: pytest.MonkeyPatch, existing: str | None, kind: str
) -> None:
    import kfp

    RecordingUploadClient.existing, RecordingUploadClient.calls = existing, []
    monkeypatch.setattr(kfp, "Client", RecordingUploadClient)
    argv = ["upload", "--host", "http://kfp:8888", "--steps-image", PINNED_STEPS, "--version", "abc123"]
    assert cli.main(argv) == 0
    ((called, details),) = RecordingUploadClient.calls
    assert called == kind
    assert details["image_pinned"]
    if kind == "version":
        assert (details["pipeline_version_name"], details["pipeline_id"]) == ("abc123", "p-1")
    else:
        assert details["pipeline_name"] == "breast-cancer-training"
