"""MLflow's schema migration as an explicit step of `pulumi up`: the manifests (pure functions).

`components/mlflow_migration.py` does the work; this module places it where nothing can race it:

- PostgreSQL (several replicas, RollingUpdate): a Job `mlflow-db-upgrade-<mlflow version>` in the MLflow
  image runs `upgrade` once; the server Deployment depends on it, so Pulumi starts no new server pod before
  it has succeeded. A version bump renames the Job, so Pulumi replaces it and it runs again; an unchanged
  version and script leave it alone. `pulumi.com/replaceUnready` makes a failed Job run again on the next
  `pulumi up` instead of only being re-awaited (pulumi/pulumi-kubernetes#856, fixed by #1575).
- SQLite (one replica on a ReadWriteOnce volume): a separate Job cannot be ordered between "old server
  stopped" and "new server started". The Recreate strategy stops the old pod before it creates the new one,
  so the new pod's `db-upgrade` init container migrates the file on the same claim while nothing else holds
  it, and the server container starts only after it succeeded.
- Every server pod on PostgreSQL first runs `check`: it refuses to start on a store that is not at its
  revision, where MLflow 3.17 would otherwise migrate from every worker at once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components import k8s as kb

SCRIPT = Path(__file__).with_name("mlflow_migration.py")
APP = "mlflow-db-upgrade"
CONFIG_MAP = APP
SCRIPT_DIR = "/opt/mlops/migration"
SCRIPT_VOLUME = "migration-script"
UPGRADE_CONTAINER = "db-upgrade"
CHECK_CONTAINER = "schema-check"
VERSION_ANNOTATION = "mlops.platform/mlflow-version"
FINGERPRINT_ANNOTATION = "mlops.platform/migration-fingerprint"
REPLACE_UNREADY_ANNOTATION = "pulumi.com/replaceUnready"
# Alembic holds little in memory; a large store's migration is bound by the database, not the pod.
MIGRATION_RESOURCES = kb.Resources(
    cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi"
)
JOB_BACKOFF_LIMIT = 2


def job_name(mlflow_version: str) -> str:
    """`mlflow-db-upgrade-3-17-2`: the version in the name makes a bump a replacement, hence a new run."""
    suffix = mlflow_version.replace(".", "-").replace("+", "-").lower()
    name = f"{APP}-{suffix}"
    if len(name) > 63 or not all(c.isalnum() or c == "-" for c in name):
        raise ValueError(f"MLflow version {mlflow_version!r}: expected e.g. 3.17.2 (a DNS label suffix)")
    return name


def fingerprint(mlflow_version: str, script: str) -> str:
    """Changes with the MLflow version or the migration script, the two things that change what runs."""
    return hashlib.sha256(json.dumps([mlflow_version, script]).encode("utf-8")).hexdigest()


def pod_annotations(mlflow_version: str, script: str) -> dict[str, str]:
    return {
        VERSION_ANNOTATION: mlflow_version,
        FINGERPRINT_ANNOTATION: fingerprint(mlflow_version, script),
    }


def script_volume() -> dict[str, Any]:
    return {"name": SCRIPT_VOLUME, "configMap": {"name": CONFIG_MAP, "defaultMode": 0o444}}


def migration_container(
    command: str,
    *,
    image: str,
    env: Sequence[dict[str, Any]],
    volume_mounts: Sequence[dict[str, Any]],
) -> kb.ContainerSpec:
    """`upgrade` or `check` in the MLflow image, with the server's store URI and auth config."""
    if command not in ("upgrade", "check"):
        raise ValueError(f"migration command {command!r}: expected 'upgrade' or 'check'")
    return kb.ContainerSpec(
        name=UPGRADE_CONTAINER if command == "upgrade" else CHECK_CONTAINER,
        image=image,
        command=["python", f"{SCRIPT_DIR}/{SCRIPT.name}", command],
        env=[
            *env,
            # Egress is the database and DNS only: nothing to phone home to.
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
        ],
        volume_mounts=[
            *volume_mounts,
            {"name": SCRIPT_VOLUME, "mountPath": SCRIPT_DIR, "readOnly": True},
        ],
        resources=MIGRATION_RESOURCES,
    )


def job_manifest(
    *,
    namespace: str,
    mlflow_version: str,
    script: str,
    container: kb.ContainerSpec,
    volumes: Sequence[dict[str, Any]],
) -> dict[str, Any]:
    """The PostgreSQL migration Job: one pod at a time, failed pods kept for their logs."""
    pod = kb.PodSpec(
        service_account=APP,
        containers=[container],
        volumes=[*volumes, script_volume()],
        # Never, not OnFailure: a failed migration's pod and log stay for `kubectl logs`.
        restart_policy="Never",
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(mlflow_version),
            "namespace": namespace,
            "labels": kb.labels(APP, "migration"),
            "annotations": {REPLACE_UNREADY_ANNOTATION: "true", VERSION_ANNOTATION: mlflow_version},
        },
        "spec": {
            "backoffLimit": JOB_BACKOFF_LIMIT,
            "parallelism": 1,
            "completions": 1,
            "template": {
                "metadata": {
                    "labels": kb.labels(APP, "migration"),
                    "annotations": pod_annotations(mlflow_version, script),
                },
                "spec": pod.manifest(),
            },
        },
    }


def network_policy(namespace: str, database_cidr: str, database_port: int = 5432) -> dict[str, Any]:
    """The Job reaches DNS and the database, nothing else; nothing reaches it."""
    return kb.allow_policy(
        APP,
        namespace,
        kb.selector_labels(APP, "migration"),
        egress=[kb.dns_egress_rule(), kb.to_cidrs_rule([database_cidr], [database_port])],
    )
