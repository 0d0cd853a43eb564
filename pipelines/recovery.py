"""Recovery at the start of a local run: what an interrupted earlier run left behind in the registry.

A run killed (SIGKILL, power loss, OOM) at any point leaves at most two kinds of debris, both resolved
here, each with a line saying what was done:

- a model version tagged `mlops.state=pending` (Register created it, then died before finishing): if the
  champion alias points at it, the alias move (the commit point) happened, so it is marked `done`;
  otherwise it never became champion and is marked `abandoned` (its decision tag too, so no version is
  left claiming `promote` without the alias);
- an MLflow run still `RUNNING` (Train or Drift died while logging): it is ended as `KILLED`.

It runs only against the state folder's own SQLite store, under the state folder's lock, where no other
run can be in flight; a shared tracking server may have live runs of other users, so nothing is touched
there.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pipelines.steps.register import (
    DECISION_ABANDONED,
    STATE_ABANDONED,
    STATE_DONE,
    STATE_PENDING,
    TAG_DECISION,
    TAG_REASON,
    TAG_STATE,
)
from pipelines.tracking import Tracking, alias_version, connect, version_number, with_retries

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_RECOVERED = "mlops.recovered"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def recover_versions(client: MlflowClient, model_name: str, alias: str, tracking: Tracking) -> list[str]:
    """Resolve every pending version of `model_name`; one line per version."""
    versions = with_retries(
        lambda: client.search_model_versions(f"name='{model_name}'"), f"listing {model_name}", tracking
    )
    pending = sorted(
        (v for v in versions if v.tags.get(TAG_STATE) == STATE_PENDING), key=lambda v: int(v.version)
    )
    if not pending:
        return []
    champion = alias_version(client, model_name, alias, tracking)
    lines = []
    for found in pending:
        number = version_number(found.version)
        if number == champion:
            tags = {TAG_STATE: STATE_DONE, TAG_RECOVERED: f"{_now()}: alias had moved; marked done"}
            line = (
                f"recovered: {model_name} v{number} holds '{alias}' but its run was interrupted after the "
                "alias moved; marked done"
            )
        else:
            reason = f"interrupted before the registry change completed; marked abandoned at {_now()}"
            tags = {
                TAG_STATE: STATE_ABANDONED,
                TAG_DECISION: DECISION_ABANDONED,
                TAG_REASON: reason,
                TAG_RECOVERED: reason,
            }
            line = (
                f"recovered: {model_name} v{number} was left pending by an interrupted run and never became "
                f"'{alias}'; marked abandoned"
            )
        for key, value in tags.items():
            with_retries(
                lambda key=key, value=value, number=number: client.set_model_version_tag(  # type: ignore[misc]
                    model_name, str(number), key, value
                ),
                f"tagging {model_name} v{number}",
                tracking,
            )
        lines.append(line)
    return lines


def recover_runs(client: MlflowClient, tracking: Tracking) -> list[str]:
    """End every RUNNING run of the experiment as KILLED; one line per run."""
    experiment = with_retries(
        lambda: client.get_experiment_by_name(tracking.experiment), "finding the experiment", tracking
    )
    if experiment is None:
        return []
    running = with_retries(
        lambda: client.search_runs(
            [experiment.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        ),
        "listing RUNNING runs",
        tracking,
    )
    lines = []
    for run in running:
        run_id = run.info.run_id
        with_retries(
            lambda run_id=run_id: client.set_tag(  # type: ignore[misc]
                run_id, TAG_RECOVERED, f"{_now()}: left RUNNING by an interrupted run; ended as KILLED"
            ),
            f"tagging run {run_id}",
            tracking,
        )
        with_retries(
            lambda run_id=run_id: client.set_terminated(run_id, "KILLED"),  # type: ignore[misc]
            f"ending run {run_id}",
            tracking,
        )
        lines.append(
            f"recovered: MLflow run {run_id} ({run.info.run_name}) was left RUNNING by an interrupted run; "
            "marked KILLED"
        )
    return lines


def recover(tracking: Tracking, model_name: str, alias: str) -> list[str]:
    """Both recoveries; the lines say what was found and done (none when the registry was consistent)."""
    client = connect(tracking)
    return [*recover_runs(client, tracking), *recover_versions(client, model_name, alias, tracking)]
