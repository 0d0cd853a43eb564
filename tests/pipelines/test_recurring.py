"""The recurring-run reconcile against a KFP API that answers with its own model types: idempotent,
replaced when the version or cron changes, removed when disabled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kfp_server_api as api
import pytest

from pipelines.recurring import RECURRING_RUN_NAME, Schedule, reconcile


class FakeKfp:
    def __init__(self) -> None:
        self.pipelines: dict[str, str] = {}
        self.versions: dict[str, list[api.V2beta1PipelineVersion]] = {}
        self.recurring: list[api.V2beta1RecurringRun] = []
        self.experiments: dict[str, str] = {}
        self.uploads = 0
        self.created = 0

    def get_pipeline_id(self, name: str) -> str | None:
        return self.pipelines.get(name)

    def upload_pipeline(self, path: str, pipeline_name: str, description: str) -> api.V2beta1Pipeline:
        assert Path(path).is_file()
        self.uploads += 1
        pipeline_id = f"p-{len(self.pipelines)}"
        self.pipelines[pipeline_name] = pipeline_id
        # As KFP does: the first upload also creates a version, named after the pipeline.
        self.versions[pipeline_id] = [
            api.V2beta1PipelineVersion(
                pipeline_id=pipeline_id, pipeline_version_id="v-first", display_name=pipeline_name
            )
        ]
        return api.V2beta1Pipeline(pipeline_id=pipeline_id, display_name=pipeline_name)

    def upload_pipeline_version(self, path: str, pipeline_version_name: str, pipeline_id: str) -> Any:
        assert Path(path).is_file()
        self.uploads += 1
        version = api.V2beta1PipelineVersion(
            pipeline_id=pipeline_id,
            pipeline_version_id=f"v-{sum(len(v) for v in self.versions.values())}",
            display_name=pipeline_version_name,
        )
        self.versions[pipeline_id].append(version)
        return version

    def list_pipeline_versions(self, pipeline_id: str, page_token: str = "", page_size: int = 10) -> Any:
        return api.V2beta1ListPipelineVersionsResponse(pipeline_versions=self.versions[pipeline_id])

    def create_experiment(self, name: str) -> api.V2beta1Experiment:
        self.experiments.setdefault(name, f"e-{len(self.experiments)}")
        return api.V2beta1Experiment(experiment_id=self.experiments[name], display_name=name)

    def get_experiment(self, experiment_name: str) -> api.V2beta1Experiment:
        if experiment_name not in self.experiments:
            raise ValueError(f"No experiment is found with name {experiment_name}.")
        return api.V2beta1Experiment(experiment_id=self.experiments[experiment_name])

    def list_recurring_runs(self, page_token: str = "", page_size: int = 10, experiment_id: str = "") -> Any:
        return api.V2beta1ListRecurringRunsResponse(recurring_runs=list(self.recurring))

    def delete_recurring_run(self, recurring_run_id: str) -> dict[str, Any]:
        self.recurring = [r for r in self.recurring if r.recurring_run_id != recurring_run_id]
        return {}

    def create_recurring_run(self, **kwargs: Any) -> api.V2beta1RecurringRun:
        self.created += 1
        run = api.V2beta1RecurringRun(
            recurring_run_id=f"rr-{self.created}",
            display_name=kwargs["job_name"],
            pipeline_version_reference=api.V2beta1PipelineVersionReference(
                pipeline_id=kwargs["pipeline_id"], pipeline_version_id=kwargs["version_id"]
            ),
            trigger=api.V2beta1Trigger(cron_schedule=api.V2beta1CronSchedule(cron=kwargs["cron_expression"])),
            max_concurrency=str(kwargs["max_concurrency"]),
            no_catchup=kwargs["no_catchup"],
            status="ENABLED" if kwargs["enabled"] else "DISABLED",
        )
        self.recurring.append(run)
        return run


@pytest.fixture
def package(tmp_path: Path) -> Any:
    def compiled() -> Path:
        path = tmp_path / "pipeline.yaml"
        path.write_text("pipelineSpec: {}\n")
        return path

    return compiled


def _schedule(cron: str | None, version: str = "schedule-aaaa") -> Schedule:
    return Schedule(
        host="http://kfp:8888", pipeline_name="breast-cancer-training", version=version, cron=cron
    )


def test_first_reconcile_uploads_and_creates_a_six_field_cron_run(package: Any) -> None:
    kfp = FakeKfp()
    outcome = reconcile(_schedule("0 3 * * *"), kfp, package)
    assert outcome.uploaded and outcome.created
    (run,) = kfp.recurring
    assert run.display_name == RECURRING_RUN_NAME
    # KFP's scheduler reads seconds first: "0 3 * * *" as is would run at minute 3 of every hour.
    assert run.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert run.no_catchup is True and run.max_concurrency == "1"


def test_reconcile_is_idempotent(package: Any) -> None:
    kfp = FakeKfp()
    reconcile(_schedule("0 3 * * *"), kfp, package)
    uploads = kfp.uploads
    again = reconcile(_schedule("0 3 * * *"), kfp, package)
    assert (again.uploaded, again.created, again.deleted) == (False, False, 0)
    assert kfp.uploads == uploads and len(kfp.recurring) == 1


@pytest.mark.parametrize(
    ("cron", "version"), [("0 4 * * *", "schedule-aaaa"), ("0 3 * * *", "schedule-bbbb")]
)
def test_a_new_cron_or_version_replaces_the_recurring_run(package: Any, cron: str, version: str) -> None:
    kfp = FakeKfp()
    first = reconcile(_schedule("0 3 * * *"), kfp, package)
    changed = reconcile(_schedule(cron, version), kfp, package)
    assert changed.created and changed.deleted == 1
    (run,) = kfp.recurring
    assert run.recurring_run_id != first.recurring_run_id


def test_disabled_removes_the_recurring_run_and_is_a_no_op_on_a_fresh_cluster(package: Any) -> None:
    assert reconcile(_schedule(None), FakeKfp(), package).deleted == 0
    kfp = FakeKfp()
    reconcile(_schedule("0 3 * * *"), kfp, package)
    assert reconcile(_schedule(None), kfp, package).deleted == 1
    assert kfp.recurring == []
