"""The launchers: what the KFP one asks of the API (answered with the API's own model types) and how it
reads the relay's history back; the local one's process and run files."""

from __future__ import annotations

import datetime as dt
import json
import stat
import sys
from pathlib import Path
from typing import Any

import kfp_server_api as api
import pytest

from relay.alerts import parse_notification
from relay.guardrails import Guardrails, Trigger, decide
from relay.launchers import (
    CAPTURE_PARAMETER,
    TRIGGER_PARAMETER,
    KfpLauncher,
    KfpTarget,
    LaunchError,
    LocalLauncher,
    LocalTarget,
)
from tests.relay import payloads

NOW = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)
TARGET = KfpTarget(
    host="http://ml-pipeline.kubeflow.svc:8888",
    pipeline_name="breast-cancer-training",
    capture_uri="s3://dvc-remote/inference-capture",
)


def _trigger(fingerprint: str = "4f1c2a9be0d37a11") -> Trigger:
    notification = parse_notification(
        payloads.body(payloads.notification(payloads.alert(fingerprint=fingerprint)))
    )
    decision = decide(notification, [], Guardrails(True, 0, 24), NOW.timestamp())
    assert decision.trigger is not None
    return decision.trigger


class FakeKfpApi:
    """Answers the kfp.Client calls the launcher makes, with kfp_server_api models, and keeps the runs."""

    def __init__(self, pipeline: bool = True, versions: int = 2, experiment: bool = True) -> None:
        self.pipeline = pipeline
        self.versions = versions
        self.experiment = experiment
        self.runs: list[api.V2beta1Run] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_pipeline_id(self, name: str) -> str | None:
        self.calls.append(("get_pipeline_id", {"name": name}))
        return "pipeline-123" if self.pipeline else None

    def list_pipeline_versions(
        self, pipeline_id: str, **kwargs: Any
    ) -> api.V2beta1ListPipelineVersionsResponse:
        self.calls.append(("list_pipeline_versions", {"pipeline_id": pipeline_id, **kwargs}))
        newest_first = [
            api.V2beta1PipelineVersion(
                pipeline_id=pipeline_id, pipeline_version_id=f"v{n}", display_name=f"rev-{n}"
            )
            for n in range(self.versions, 0, -1)
        ]
        return api.V2beta1ListPipelineVersionsResponse(
            pipeline_versions=newest_first[: kwargs.get("page_size", 10)]
        )

    def create_experiment(self, name: str) -> api.V2beta1Experiment:
        self.experiment = True
        return api.V2beta1Experiment(experiment_id="exp-1", display_name=name)

    def get_experiment(self, experiment_name: str) -> api.V2beta1Experiment:
        if not self.experiment:
            raise ValueError(f"No experiment is found with name {experiment_name}.")
        return api.V2beta1Experiment(experiment_id="exp-1", display_name=experiment_name)

    def run_pipeline(self, **kwargs: Any) -> api.V2beta1Run:
        self.calls.append(("run_pipeline", kwargs))
        run = api.V2beta1Run(
            experiment_id=kwargs["experiment_id"],
            run_id=f"run-{len(self.runs)}",
            display_name=kwargs["job_name"],
            runtime_config=api.V2beta1RuntimeConfig(parameters=kwargs["params"]),
            created_at=NOW + dt.timedelta(seconds=len(self.runs)),
        )
        self.runs.append(run)
        return run

    def list_runs(
        self, page_token: str = "", page_size: int = 10, **kwargs: Any
    ) -> api.V2beta1ListRunsResponse:
        newest_first = sorted(self.runs, key=lambda r: r.created_at, reverse=True)
        start = int(page_token or 0)
        page = newest_first[start : start + page_size]
        more = start + page_size < len(newest_first)
        return api.V2beta1ListRunsResponse(runs=page, next_page_token=str(start + page_size) if more else "")


def test_kfp_run_uses_the_newest_version_and_records_the_trigger_and_capture() -> None:
    fake = FakeKfpApi()
    run = KfpLauncher(TARGET, lambda host: fake).start(_trigger())
    ((_, call),) = [c for c in fake.calls if c[0] == "run_pipeline"]
    assert call["version_id"] == "v2" and call["pipeline_id"] == "pipeline-123"
    assert call["experiment_id"] == "exp-1"
    assert call["enable_caching"] is False
    assert call["params"][CAPTURE_PARAMETER] == "s3://dvc-remote/inference-capture"
    recorded = json.loads(call["params"][TRIGGER_PARAMETER])
    assert recorded["alerts"][0]["fingerprint"] == "4f1c2a9be0d37a11"
    assert recorded["alerts"][0]["labels"]["dataset"] == "breast_cancer"
    assert run.name == call["job_name"] == "retrain-20261201-230000-4f1c2a9b"
    assert run.started_at == NOW.timestamp()


def test_kfp_history_is_read_back_from_the_api_across_pages_and_skips_runs_started_by_hand() -> None:
    fake = FakeKfpApi()
    launcher = KfpLauncher(TARGET, lambda host: fake)
    for number in range(60):
        launcher.start(_trigger(fingerprint=f"{number:016x}"))
    fake.runs.append(
        api.V2beta1Run(run_id="by-hand", display_name="manual", created_at=NOW + dt.timedelta(hours=1))
    )
    history = KfpLauncher(TARGET, lambda host: fake).history(NOW.timestamp())
    assert len(history) == 60
    assert history[0].trigger.alerts[0].fingerprint == f"{59:016x}"
    assert KfpLauncher(TARGET, lambda host: fake).history(NOW.timestamp() + 30) == history[:30]


def test_kfp_history_without_an_experiment_is_empty() -> None:
    assert KfpLauncher(TARGET, lambda host: FakeKfpApi(experiment=False)).history(0) == []


@pytest.mark.parametrize(
    ("fake", "message"),
    [
        (FakeKfpApi(pipeline=False), "no pipeline named 'breast-cancer-training'"),
        (FakeKfpApi(versions=0), "no version"),
    ],
    ids=["no-pipeline", "no-version"],
)
def test_kfp_start_fails_clearly_without_a_pipeline_version(fake: FakeKfpApi, message: str) -> None:
    with pytest.raises(LaunchError, match=message):
        KfpLauncher(TARGET, lambda host: fake).start(_trigger())


def test_kfp_api_errors_become_launch_errors() -> None:
    def unreachable(host: str) -> Any:
        raise ConnectionError(f"connection refused: {host}")

    with pytest.raises(LaunchError, match=r"ml-pipeline\.kubeflow\.svc:8888 refused the run"):
        KfpLauncher(TARGET, unreachable).start(_trigger())


def _fake_python(tmp_path: Path, exit_code: int, sleep: float = 0.0) -> str:
    """Stands in for the interpreter: records its arguments, prints a line, exits with `exit_code`."""
    script = tmp_path / "python"
    script.write_text(
        f"#!{sys.executable}\nimport sys, pathlib, time\n"
        f"pathlib.Path({str(tmp_path / 'argv.json')!r}).write_text(__import__('json').dumps(sys.argv[1:]))\n"
        f"time.sleep({sleep})\nprint('Training flow finished')\nsys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.parametrize(("exit_code", "status"), [(0, "succeeded"), (3, "failed")])
def test_local_run_is_written_down_when_it_starts_and_when_it_ends(
    tmp_path: Path, exit_code: int, status: str
) -> None:
    target = LocalTarget(
        tmp_path / "state", capture_uri=str(tmp_path / "capture"), python=_fake_python(tmp_path, exit_code)
    )
    launcher = LocalLauncher(target)
    run = launcher.start(_trigger())
    ended = launcher.wait(run.run_id, timeout=30)
    assert (ended.status, ended.exit_code) == (status, exit_code)
    assert ended.output_tail == ["Training flow finished"]
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv == [
        "-m",
        "pipelines",
        "run",
        "--local",
        "--state",
        str(tmp_path / "state"),
        "--capture-uri",
        str(tmp_path / "capture"),
    ]
    # A new launcher on the same folder (a restarted relay) sees the run and why it started.
    (seen,) = LocalLauncher(target).history(0)
    assert (seen.run_id, seen.trigger) == (run.run_id, run.trigger)


def test_a_run_still_going_is_stopped_from_its_file_with_its_whole_group(tmp_path: Path) -> None:
    import os

    from relay.launchers import read_local_run, stop_running

    launcher = LocalLauncher(LocalTarget(tmp_path / "state", python=_fake_python(tmp_path, 0, sleep=120)))
    run = launcher.start(_trigger())
    path = launcher.runs_dir / f"{run.run_id}.json"
    pid = read_local_run(path).pid
    assert stop_running(launcher.runs_dir) == [run.run_id]
    assert read_local_run(path).status == "stopped"
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
