"""Register: a new model version with its lineage; the champion alias moves only on a promote decision.

Registration is all or nothing. The version is created with its lineage tags in one request. A retried
create first looks for a version of the same run, so a lost response never yields two versions. If the
alias cannot be moved, the new version is deleted again and the stage fails.
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
        TAG_RUN_ID: run_id,
        TAG_DECISION: "promote" if decision.promote else "keep-champion",
        TAG_REASON: decision.reason,
    }
    version = _create_version(
        client=client, model_name=model_name, model_uri=model_uri, run_id=run_id, tags=tags, tracking=tracking
    )
    champion_now = alias_version(client, model_name, alias, tracking)
    evaluated_against = decision.champion.version if decision.champion else None

    if not decision.promote:
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
    return Registration(model_name, version, version, True, decision.reason)


def _delete_quietly(client: MlflowClient, model_name: str, version: int) -> None:
    try:
        client.delete_model_version(model_name, str(version))
    except Exception as exc:
        log.error("could not delete %s version %d after a failed promotion: %s", model_name, version, exc)
