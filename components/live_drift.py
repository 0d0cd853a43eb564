"""LiveDriftCheck: a CronJob that checks drift on the traffic the model server captured.

It runs `python -m serving live-drift` in the serving image on a schedule: reads the last `window_hours` of
captured rows (at least `min_rows`, else it reports "not enough traffic" and publishes no verdict), compares
them with the champion's training reference, logs the Evidently report to MLflow and pushes the drift
metrics with `source="live"` to the Pushgateway. Drift is a verdict, not a failure: the Job fails only on
errors, and the usual drift alerts fire from the pushed metrics.

Hardened like the server: restricted pod, no API token, its own ServiceAccount and, on AWS, its own Pod
Identity role that may only read the capture and MLflow's artifacts. `concurrencyPolicy: Forbid` keeps a
slow check from overlapping the next one; `activeDeadlineSeconds` ends a hung one. On MinIO (local) there
is no lifecycle rule, so the check also prunes captured parts older than the retention.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components.artifact_store import MinioArtifactStore, S3ArtifactStore
from components.dvc_remote import ARTIFACT_PREFIX, CAPTURE_PREFIX, read_only_policy_document
from components.kubeflow import merge_policies
from components.model_server import NAMESPACE as SERVING_NAMESPACE
from components.model_server import (
    MlflowAccess,
    ObjectStore,
    access_secrets,
    capture_uri,
    mlflow_egress,
    mlflow_env,
    store_bucket,
    store_egress,
    store_env,
    store_pod_identity,
)
from components.monitoring import PUSHGATEWAY_POD, PUSHGATEWAY_PORT
from pipelines.env import PUSHGATEWAY_URL
from serving.config import (
    CAPTURE_RETENTION_DAYS_ENV,
    CAPTURE_URI_ENV,
    LIVE_DRIFT_MIN_ROWS_ENV,
    LIVE_DRIFT_WINDOW_HOURS_ENV,
    MODEL_ALIAS_ENV,
    MODEL_NAME_ENV,
)

APP: Final = "live-drift"
MLFLOW_SECRET: Final = "live-drift-mlflow"
STORE_SECRET: Final = "live-drift-object-store"
# Evidently on a day of captured rows of 30 features takes seconds and a few hundred MiB (FACTS: 100k x 20
# in 10 s); the limit leaves room for the imports and a window far larger than the minimum.
JOB_RESOURCES: Final = kb.Resources(
    cpu_request="100m", memory_request="512Mi", cpu_limit="1", memory_limit="1536Mi"
)
_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")


@dataclass(frozen=True)
class LiveDriftCheckArgs:
    image: pulumi.Input[str]
    """The serving image (the same one the server runs), pinned by digest."""
    model_name: str
    """The registered model whose traffic is checked."""
    store: ObjectStore
    """Where the capture is: S3 through Pod Identity, or MinIO."""
    mlflow: MlflowAccess
    """MLflow and the user that logs the live-drift run (one that may create runs in the experiment)."""
    pushgateway_url: str
    """Where the drift metrics are pushed (MonitoringStack.pushgateway_url)."""
    schedule: str = "15 * * * *"
    """Five-field cron (`serving.liveDrift.schedule`)."""
    window_hours: int = 24
    """Hours of captured traffic checked (`serving.liveDrift.windowHours`)."""
    min_rows: int = 200
    """Fewest rows for a verdict (`serving.liveDrift.minRows`)."""
    retention_days: int = 30
    """Days captured parts are kept (`serving.capture.retentionDays`); enforced here on MinIO only."""
    model_alias: str = "champion"
    """The alias whose training reference the traffic is compared with."""
    time_zone: str = "UTC"
    """Time zone of the schedule."""
    namespace: str = SERVING_NAMESPACE
    """The model server's namespace (the ModelServer component creates it)."""
    monitoring_namespace: str = "monitoring"
    """Where the Pushgateway runs."""
    active_deadline_seconds: int = 1800
    """A check running longer than this is stopped (and counts as failed)."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist first (the ModelServer: its namespace)."""
    eks_cluster_name: pulumi.Input[str] | None = None
    """The EKS cluster the Pod Identity association is made in; required with an S3 store."""


def validate_live_drift_args(args: LiveDriftCheckArgs) -> None:
    """The component's own invariants; the config rules behind them live in settings.py."""
    fields = args.schedule.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(
            f"LiveDriftCheckArgs.schedule = {args.schedule!r}: expected five cron fields like '15 * * * *'"
        )
    # The ranges `python -m serving live-drift` accepts (serving/config.py): anything else fails every run.
    if not 1 <= args.window_hours <= 720:
        raise ValueError(f"LiveDriftCheckArgs.window_hours = {args.window_hours}: expected 1..720")
    if args.min_rows < 30:
        raise ValueError(f"LiveDriftCheckArgs.min_rows = {args.min_rows}: expected at least 30")
    if not 1 <= args.retention_days <= 3650:
        raise ValueError(f"LiveDriftCheckArgs.retention_days = {args.retention_days}: expected 1..3650")
    if args.active_deadline_seconds < 60:
        raise ValueError(
            f"LiveDriftCheckArgs.active_deadline_seconds = {args.active_deadline_seconds}: expected >= 60"
        )


def selector() -> dict[str, str]:
    return kb.selector_labels(APP, "check")


def job_env(args: LiveDriftCheckArgs, tracking_uri: str, bucket: str) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": MODEL_NAME_ENV, "value": args.model_name},
        {"name": MODEL_ALIAS_ENV, "value": args.model_alias},
        {"name": CAPTURE_URI_ENV, "value": capture_uri(bucket)},
        {"name": LIVE_DRIFT_WINDOW_HOURS_ENV, "value": str(args.window_hours)},
        {"name": LIVE_DRIFT_MIN_ROWS_ENV, "value": str(args.min_rows)},
        {"name": PUSHGATEWAY_URL.name, "value": args.pushgateway_url},
        *mlflow_env(tracking_uri, MLFLOW_SECRET),
        *store_env(args.store, STORE_SECRET),
    ]
    # On AWS the bucket's lifecycle rule expires the capture; on MinIO the check prunes it itself.
    if isinstance(args.store, MinioArtifactStore):
        env.append({"name": CAPTURE_RETENTION_DAYS_ENV, "value": str(args.retention_days)})
    return env


def cronjob_manifest(
    args: LiveDriftCheckArgs, *, image: str, tracking_uri: str, bucket: str
) -> dict[str, Any]:
    container = kb.ContainerSpec(
        name=APP,
        image=image,
        command=["python", "-m", "serving", "live-drift"],
        env=job_env(args, tracking_uri, bucket),
        volume_mounts=[{"name": "tmp", "mountPath": "/tmp"}],
        resources=JOB_RESOURCES,
    )
    pod = kb.PodSpec(
        service_account=APP,
        containers=[container],
        volumes=[kb.temp_volume("tmp", "512Mi")],
        restart_policy="Never",
    ).manifest()
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": APP, "namespace": args.namespace, "labels": kb.labels(APP, "check")},
        "spec": {
            "schedule": args.schedule,
            "timeZone": args.time_zone,
            "concurrencyPolicy": "Forbid",
            # A check missed by more than this (controller down, cluster upgrade) waits for the next slot.
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": kb.labels(APP, "check")},
                "spec": {
                    "backoffLimit": 1,
                    "activeDeadlineSeconds": args.active_deadline_seconds,
                    "ttlSecondsAfterFinished": 86400,
                    "template": {"metadata": {"labels": kb.labels(APP, "check")}, "spec": pod},
                },
            },
        },
    }


def network_policy(args: LiveDriftCheckArgs) -> dict[str, Any]:
    """No ingress at all; egress to DNS, MLflow, the object store and the Pushgateway."""
    pushgateway = kb.to_namespace_rule(args.monitoring_namespace, PUSHGATEWAY_POD, [PUSHGATEWAY_PORT])
    return kb.allow_policy(
        APP,
        args.namespace,
        selector(),
        egress=[kb.dns_egress_rule(), mlflow_egress(args.mlflow), *store_egress(args.store), pushgateway],
    )


def check_policy_document(bucket_arn: str, kms_key_arn: str | None) -> str:
    """Read the capture and MLflow's artifacts; write nothing (reports go to MLflow, which stores them)."""
    return merge_policies(
        read_only_policy_document(bucket_arn, CAPTURE_PREFIX, kms_key_arn),
        read_only_policy_document(bucket_arn, ARTIFACT_PREFIX, kms_key_arn),
    )


class LiveDriftCheck(pulumi.ComponentResource):
    schedule: str
    run_now: str
    """The command that starts a check outside the schedule."""

    def __init__(
        self, name: str, args: LiveDriftCheckArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        validate_live_drift_args(args)
        super().__init__("mlops:live_drift:LiveDriftCheck", name, None, opts)
        self._name = name
        self._args = args
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))

        policy = kb.declare_network_policy(f"{name}-netpol", network_policy(args), after)
        account = kb.declare_service_account(f"{name}-service-account", APP, args.namespace, after)
        if isinstance(args.store, S3ArtifactStore):
            store_pod_identity(
                name,
                store=args.store,
                cluster_name=args.eks_cluster_name,
                namespace=args.namespace,
                service_account=APP,
                policy_document=check_policy_document,
                parent=self,
            )
        secrets = self._secrets(after)
        manifest = pulumi.Output.all(args.image, args.mlflow.tracking_uri, store_bucket(args.store)).apply(
            lambda v: cronjob_manifest(args, image=v[0], tracking_uri=v[1], bucket=v[2])
        )
        k8s.batch.v1.CronJob(
            f"{name}-cronjob",
            metadata=manifest.apply(lambda c: c["metadata"]),
            spec=manifest.apply(lambda c: c["spec"]),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[*args.depends_on, policy, account, *secrets]
            ),
        )

        self.schedule = args.schedule
        self.run_now = f"kubectl -n {args.namespace} create job --from=cronjob/{APP} {APP}-manual"
        self.register_outputs({"schedule": self.schedule, "run_now": self.run_now})

    def _secrets(self, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        a = self._args
        return access_secrets(
            self._name,
            namespace=a.namespace,
            app=APP,
            mlflow=a.mlflow,
            store=a.store,
            secret_names=(MLFLOW_SECRET, STORE_SECRET),
            opts=opts,
        )
