"""TrainingSchedule built from its own Args under the recording mocks: the reconcile Job, its name, its
policies, and what it runs when enabled and disabled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from components import training_schedule as ts
from harness.mocks import Record, run_program
from harness.render import render_record
from monitoring.cadence import CronError

IMAGE = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-pipeline-steps:2.17.3-0123456789ab@sha256:" + "b" * 64
)


def _program(cron: str | None) -> str:
    return f'''
import pulumi
from components.training_schedule import TrainingSchedule, TrainingScheduleArgs

args = TrainingScheduleArgs(image="{IMAGE}", cron={cron!r}, time_zone="Europe/Berlin")
TrainingSchedule("training-schedule", args)
'''


def _run(tmp_path: Path, cron: str | None) -> Record:
    program = tmp_path / "__main__.py"
    program.write_text(_program(cron))
    return run_program("dev", {}, program_file=program)


@pytest.fixture(scope="module")
def enabled(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return _run(tmp_path_factory.mktemp("schedule_on"), "0 3 * * *")


def _job(record: Record) -> dict[str, Any]:
    (job,) = [o for o in render_record(record).objects if o["kind"] == "Job"]
    return job


def test_objects_are_schema_valid_and_the_job_is_hardened(enabled: Record) -> None:
    for obj in render_record(enabled).objects:
        kubernetes_validate.validate(obj, "1.31", strict=True)
    pod = _job(enabled)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == IMAGE


def test_the_job_reconciles_the_recurring_run_of_this_image_and_cron(enabled: Record) -> None:
    job = _job(enabled)
    digest = ts.reconcile_hash(IMAGE, "0 3 * * *", "breast-cancer-training")
    assert job["metadata"]["name"] == f"training-schedule-{digest}"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "pipelines"]
    args = container["args"]
    assert args[0] == "schedule"
    assert args[args.index("--cron") + 1] == "0 3 * * *"
    assert args[args.index("--version") + 1] == f"schedule-{digest}"
    assert args[args.index("--steps-image") + 1] == IMAGE
    assert args[args.index("--host") + 1] == "http://ml-pipeline.kubeflow.svc:8888"


def test_disabled_the_job_removes_the_recurring_run(tmp_path: Path) -> None:
    (container,) = _job(_run(tmp_path, None))["spec"]["template"]["spec"]["containers"]
    assert "--disable" in container["args"] and "--cron" not in container["args"]


def test_the_name_changes_with_image_schedule_and_pipeline_and_only_then() -> None:
    base = ts.reconcile_hash(IMAGE, "0 3 * * *", "p")
    assert base == ts.reconcile_hash(IMAGE, "0 3 * * *", "p")
    assert (
        len(
            {
                base,
                ts.reconcile_hash(IMAGE + "x", "0 3 * * *", "p"),
                ts.reconcile_hash(IMAGE, "0 4 * * *", "p"),
            }
        )
        == 3
    )
    assert ts.reconcile_hash(IMAGE, None, "p") != base


def test_the_job_may_reach_only_the_kfp_api_server_and_it_accepts_the_job(enabled: Record) -> None:
    policies = {
        o["metadata"]["name"]: o["spec"]
        for o in render_record(enabled).objects
        if o["kind"] == "NetworkPolicy"
    }
    (egress,) = policies["training-schedule"]["egress"]
    assert egress["to"] == [{"podSelector": {"matchLabels": {"app": "ml-pipeline"}}}]
    assert egress["ports"] == [{"protocol": "TCP", "port": 8888}]
    api = policies["kfp-api-server-from-training-schedule"]
    assert api["podSelector"]["matchLabels"] == {"app": "ml-pipeline"}
    assert (
        api["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
        == "training-schedule"
    )


def test_time_zone_patch_sets_kfps_cron_time_zone() -> None:
    patch = ts.time_zone_patch("Europe/Berlin")
    assert patch["target"]["name"] == "pipeline-install-config"
    assert yaml.safe_load(patch["patch"])["data"] == {"cronScheduleTimezone": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("cron", "zone", "message"),
    [
        ("0 3 * *", "UTC", "expected five fields"),
        ("0 3 * * 9", "UTC", "day of week 9"),
        ("0 3 * * *", "Mars/Olympus", "IANA"),
    ],
)
def test_bad_schedule_is_refused_before_any_resource(cron: str, zone: str, message: str) -> None:
    with pytest.raises(CronError, match=message):
        ts.validate(ts.TrainingScheduleArgs(image=IMAGE, cron=cron, time_zone=zone))
