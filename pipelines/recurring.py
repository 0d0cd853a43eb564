"""The training schedule on Kubeflow Pipelines: one recurring run of the pipeline, reconciled to the config.

`python -m pipelines schedule` runs this from the reconcile Job `pulumi up` creates
(components/training_schedule.py) whenever the steps image or the schedule changes. It is idempotent:
- enabled: upload the pipeline compiled for the steps image as version `--version` (skipped if that
  version exists), then make sure exactly one recurring run named `training-schedule` exists in the
  scheduled experiment, on that version and cron; KFP has no update call for recurring runs, so a changed one
  is deleted and created again;
- disabled: delete every recurring run of that name (the pipeline and its versions stay).

KFP's scheduler reads six cron fields (seconds first, robfig/cron v1.2.0): the 5-field cron from stack
config gets a leading `0`. The time zone is KFP's, cluster-wide (`pipeline-install-config`
`cronScheduleTimezone`), not per run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from monitoring import cadence
from monitoring.cadence import parse_cron

log = logging.getLogger(__name__)

RECURRING_RUN_NAME: Final = "training-schedule"
SCHEDULED_EXPERIMENT: Final = "mlops-scheduled-training"


@dataclass(frozen=True)
class Schedule:
    host: str
    """KFP API endpoint."""
    pipeline_name: str
    """The pipeline the versions are uploaded under."""
    version: str
    """Version name: the reconcile Job's hash of image and schedule, so re-runs find their own upload."""
    cron: str | None
    """5-field cron; None means disabled (the recurring run is removed)."""
    experiment: str = SCHEDULED_EXPERIMENT
    parameters: Mapping[str, Any] = field(default_factory=dict)
    """Run parameters; empty strings mean "from the platform Secret"."""


@dataclass(frozen=True)
class Reconciled:
    uploaded: bool
    created: bool
    deleted: int
    recurring_run_id: str | None

    def describe(self, schedule: Schedule) -> str:
        if schedule.cron is None:
            return f"training schedule disabled: {self.deleted} recurring run(s) removed"
        parts = [f"version {schedule.version} {'uploaded' if self.uploaded else 'already there'}"]
        if self.created:
            parts.append(f"recurring run {self.recurring_run_id} created ({schedule.cron})")
        else:
            parts.append(f"recurring run {self.recurring_run_id} unchanged ({schedule.cron})")
        if self.deleted:
            parts.append(f"{self.deleted} outdated recurring run(s) removed")
        return "; ".join(parts)


def _our_recurring_runs(client: Any, experiment_id: str) -> list[Any]:
    found = []
    token = ""
    while True:
        page = client.list_recurring_runs(page_token=token, page_size=50, experiment_id=experiment_id)
        found += [r for r in page.recurring_runs or [] if r.display_name == RECURRING_RUN_NAME]
        token = page.next_page_token or ""
        if not token:
            return found


def _version_id(client: Any, pipeline_id: str, name: str) -> str | None:
    token = ""
    while True:
        page = client.list_pipeline_versions(pipeline_id, page_token=token, page_size=50)
        for version in page.pipeline_versions or []:
            if version.display_name == name:
                return str(version.pipeline_version_id)
        token = page.next_page_token or ""
        if not token:
            return None


def _matches(run: Any, pipeline_id: str, version_id: str, cron: str) -> bool:
    reference = run.pipeline_version_reference
    trigger = run.trigger.cron_schedule if run.trigger else None
    return (
        reference is not None
        and reference.pipeline_id == pipeline_id
        and reference.pipeline_version_id == version_id
        and trigger is not None
        and trigger.cron == cron
        and run.status == "ENABLED"
    )


def reconcile(schedule: Schedule, client: Any, package: Callable[[], Path]) -> Reconciled:
    """Bring KFP to `schedule`; `package()` compiles the pipeline (only called when a version is uploaded)."""
    if schedule.cron is None:
        try:
            experiment = client.get_experiment(experiment_name=schedule.experiment)
        except ValueError:
            return Reconciled(uploaded=False, created=False, deleted=0, recurring_run_id=None)
        runs = _our_recurring_runs(client, experiment.experiment_id)
        for run in runs:
            client.delete_recurring_run(run.recurring_run_id)
        return Reconciled(uploaded=False, created=False, deleted=len(runs), recurring_run_id=None)

    kfp_cron = cadence.kfp_cron(parse_cron(schedule.cron).expression)
    uploaded = False
    pipeline_id = client.get_pipeline_id(schedule.pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(
            str(package()), pipeline_name=schedule.pipeline_name, description=schedule.version
        )
        pipeline_id = pipeline.pipeline_id
        uploaded = True
    version_id = _version_id(client, pipeline_id, schedule.version)
    if version_id is None:
        version = client.upload_pipeline_version(
            str(package()), pipeline_version_name=schedule.version, pipeline_id=pipeline_id
        )
        version_id = version.pipeline_version_id
        uploaded = True
    experiment = client.create_experiment(schedule.experiment)
    runs = _our_recurring_runs(client, experiment.experiment_id)
    keep = next((r for r in runs if _matches(r, pipeline_id, version_id, kfp_cron)), None)
    outdated = [r for r in runs if r is not keep]
    for run in outdated:
        client.delete_recurring_run(run.recurring_run_id)
    if keep is not None:
        return Reconciled(
            uploaded, created=False, deleted=len(outdated), recurring_run_id=keep.recurring_run_id
        )
    created = client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=RECURRING_RUN_NAME,
        description=f"scheduled training ({schedule.cron}), pipeline version {schedule.version}",
        cron_expression=kfp_cron,
        max_concurrency=1,
        # A cluster that was down for a day runs once when it is back, not once per missed slot.
        no_catchup=True,
        params=dict(schedule.parameters),
        pipeline_id=pipeline_id,
        version_id=version_id,
        enabled=True,
        enable_caching=False,
    )
    return Reconciled(
        uploaded, created=True, deleted=len(outdated), recurring_run_id=created.recurring_run_id
    )
