"""Register: a new model version with its lineage; the champion alias moves only on a promote decision.

Registration is all or nothing. The version is created with its lineage tags and `mlops.state=pending` in
one request. A retried create first looks for a version of the same run, so a lost response never yields
two versions. If the alias cannot be moved, the new version is deleted again and the stage fails. Moving
the alias is the commit point; only then (or at once, for a version that does not become champion) is the
state set to `done`. A run killed in between leaves a `pending` version, which the next local run's
recovery (pipelines/recovery.py) resolves from the alias: champion -> done, otherwise -> abandoned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipelines.steps.evaluate import Decision
from pipelines.steps.train import TAG_RUN_ID, Lineage
from pipelines.tracking import Tracking, alias_version, connect, version_number, with_retries

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

TAG_DECISION = "mlops.decision"
TAG_REASON = "mlops.decision_reason"
TAG_STATE = "mlops.state"
STATE_PENDING = "pending"
STATE_DONE = "done"
STATE_ABANDONED = "abandoned"
DECISION_ABANDONED = "abandoned"


@dataclass(frozen=True)
class Registration:
    model_name: str
    version: int
    champion_version: int | None
    champion_moved: bool
    reason: str


def _version_of_run(client: MlflowClient, model_name: str, run_id: str) -> Any:
    found = client.search_model_versions(f"name='{model_name}' and run_id='{run_id}'")
    return found[0] if found else None


def _create_version(
    *,
    client: MlflowClient,
    model_name: str,
    model_uri: str,
    run_id: str,
    tags: dict[str, str],
    tracking: Tracking,
) -> int:
    import mlflow

    def create() -> int:
        existing = _version_of_run(client, model_name, run_id)
        if existing is not None:
            return version_number(existing.version)
        created = mlflow.register_model(model_uri, model_name, tags=tags)
        return version_number(created.version)

    return with_retries(create, f"registering a version of {model_name}", tracking)


def register(
    *,
    run_id: str,
    model_uri: str,
    model_name: str,
    alias: str,
    decision: Decision,
    lineage: Lineage,
    tracking: Tracking,
) -> Registration:
    client = connect(tracking)
    tags = {
        **lineage.tags(),
        **(decision.evaluation.tags() if decision.evaluation else {}),
        TAG_RUN_ID: run_id,
        TAG_DECISION: "promote" if decision.promote else "keep-champion",
        TAG_REASON: decision.reason,
        TAG_STATE: STATE_PENDING,
    }
    version = _create_version(
        client=client, model_name=model_name, model_uri=model_uri, run_id=run_id, tags=tags, tracking=tracking
    )
    champion_now = alias_version(client, model_name, alias, tracking)
    evaluated_against = decision.champion.version if decision.champion else None

    def mark_done() -> None:
        with_retries(
            lambda: client.set_model_version_tag(model_name, str(version), TAG_STATE, STATE_DONE),
            f"marking version {version} done",
            tracking,
        )

    if not decision.promote:
        mark_done()
        return Registration(model_name, version, champion_now, False, decision.reason)
    if champion_now != evaluated_against:
        # Another run moved the champion after this one was evaluated: the comparison is stale.
        reason = (
            f"champion changed to v{champion_now} after evaluation against v{evaluated_against}; not moved"
        )
        with_retries(
            lambda: client.set_model_version_tag(model_name, str(version), TAG_REASON, reason),
            "tagging",
            tracking,
        )
        mark_done()
        return Registration(model_name, version, champion_now, False, reason)

    try:
        with_retries(
            lambda: client.set_registered_model_alias(model_name, alias, str(version)),
            f"moving {alias} to version {version}",
            tracking,
        )
    except Exception:
        _delete_quietly(client, model_name, version)
        raise
    try:
        mark_done()
    except Exception as exc:
        # The alias moved: the registration is committed. A pending tag on the champion is resolved as
        # done by the next run's recovery, so this must not fail the stage.
        log.warning("version %d is champion but could not be marked done (recovery will): %s", version, exc)
    return Registration(model_name, version, version, True, decision.reason)


def _delete_quietly(client: MlflowClient, model_name: str, version: int) -> None:
    try:
        client.delete_model_version(model_name, str(version))
    except Exception as exc:
        log.error("could not delete %s version %d after a failed promotion: %s", model_name, version, exc)
