"""MinIO: in-cluster S3 storage for the local stack (DVC remote and MLflow artifacts).

Root credentials are generated (never `minioadmin`) and kept in a Secret; a Job creates the buckets.
The image is the last community release MinIO published (images stopped in late 2025), pinned by digest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kb
from components.artifact_store import MinioArtifactStore
from versions import MINIO_CLIENT, MINIO_SERVER, ImagePin

APP = "minio"
S3_PORT = 9000
CONSOLE_PORT = 9001
ROOT_SECRET = "minio-root"


@dataclass(frozen=True)
class MinioArgs:
    storage_size_gib: int
    """Size of the data volume."""
    buckets: Sequence[str] = ("dvc", "mlflow")
    """Buckets the setup job creates (versioning on)."""
    artifact_bucket: str = "mlflow"
    """The bucket MLflow keeps its artifacts in (one of `buckets`): `Minio.artifact_store`."""
    namespace: str = "minio"
    """Namespace created for MinIO."""
    client_namespaces: Sequence[str] = ("mlflow", "kubeflow")
    """Namespaces whose pods may reach the S3 API."""
    protect: bool = False
    """Keep the data volume when the StatefulSet goes (PVC retention) and protect the StatefulSet."""
    server_image: ImagePin = MINIO_SERVER
    """MinIO server image."""
    client_image: ImagePin = MINIO_CLIENT
    """`mc` image for the bucket job."""
    storage_class: str | None = None
    """StorageClass of the data volume (cluster default when None)."""


def endpoint_url(namespace: str) -> str:
    return f"http://{APP}.{namespace}.svc.cluster.local:{S3_PORT}"


def _root_env() -> list[dict[str, Any]]:
    return [
        kb.secret_env("MINIO_ROOT_USER", ROOT_SECRET, "root-user"),
        kb.secret_env("MINIO_ROOT_PASSWORD", ROOT_SECRET, "root-password"),
    ]


def statefulset_manifest(args: MinioArgs) -> dict[str, Any]:
    selector = kb.selector_labels(APP, "server")
    container = kb.ContainerSpec(
        name=APP,
        image=args.server_image.reference,
        args=["server", "/data", "--address", f":{S3_PORT}", "--console-address", f":{CONSOLE_PORT}"],
        env=[
            *_root_env(),
            {"name": "HOME", "value": "/tmp"},
            {"name": "MINIO_BROWSER_LOGIN_ANIMATION", "value": "off"},
        ],
        ports=[
            {"name": "s3", "containerPort": S3_PORT, "protocol": "TCP"},
            {"name": "console", "containerPort": CONSOLE_PORT, "protocol": "TCP"},
        ],
        volume_mounts=[{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
        resources=kb.Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="1Gi"),
        liveness=kb.Probe("/minio/health/live", "s3", initial_delay_seconds=10, period_seconds=20),
        readiness=kb.Probe("/minio/health/ready", "s3", initial_delay_seconds=5, period_seconds=10),
    )
    pod = kb.PodSpec(service_account=APP, containers=[container], volumes=[kb.temp_volume()])
    claim: dict[str, Any] = {
        "metadata": {"name": "data", "labels": kb.labels(APP)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{args.storage_size_gib}Gi"}},
        },
    }
    if args.storage_class:
        claim["spec"]["storageClassName"] = args.storage_class
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": APP, "namespace": args.namespace, "labels": kb.labels(APP, "server")},
        "spec": {
            "replicas": 1,
            "serviceName": APP,
            "selector": {"matchLabels": selector},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": kb.labels(APP, "server")}, "spec": pod.manifest()},
            "volumeClaimTemplates": [claim],
        },
    }


def bucket_script(buckets: Sequence[str]) -> str:
    """Idempotent: re-running the job on every `pulumi up` changes nothing that exists."""
    lines = ["set -eu"]
    for bucket in buckets:
        lines.append(f"mc --config-dir /tmp/.mc mb --ignore-existing local/{bucket}")
        lines.append(f"mc --config-dir /tmp/.mc version enable local/{bucket}")
    return "\n".join(lines) + "\n"


def bucket_job_manifest(args: MinioArgs) -> dict[str, Any]:
    container = kb.ContainerSpec(
        name="create-buckets",
        image=args.client_image.reference,
        command=["/bin/sh", "-c"],
        args=[bucket_script(args.buckets)],
        env=[
            *_root_env(),
            # Kubernetes expands $(VAR) from the variables above; mc reads the alias from MC_HOST_<alias>.
            {
                "name": "MC_HOST_local",
                "value": f"http://$(MINIO_ROOT_USER):$(MINIO_ROOT_PASSWORD)@{APP}.{args.namespace}.svc:{S3_PORT}",
            },
        ],
        volume_mounts=[{"name": "tmp", "mountPath": "/tmp"}],
        resources=kb.Resources(
            cpu_request="50m", memory_request="64Mi", cpu_limit="200m", memory_limit="128Mi"
        ),
    )
    pod = kb.PodSpec(
        service_account=APP,
        containers=[container],
        volumes=[kb.temp_volume()],
        restart_policy="OnFailure",
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "minio-create-buckets",
            "namespace": args.namespace,
            "labels": kb.labels(APP, "setup"),
        },
        "spec": {
            "backoffLimit": 10,
            "template": {"metadata": {"labels": kb.labels(APP, "setup")}, "spec": pod.manifest()},
        },
    }


def network_policies(args: MinioArgs) -> list[dict[str, Any]]:
    return [
        kb.default_deny_policy(args.namespace),
        kb.allow_policy(
            "minio-server",
            args.namespace,
            kb.selector_labels(APP, "server"),
            ingress=[
                kb.from_namespaces_rule([args.namespace, *args.client_namespaces], [S3_PORT, CONSOLE_PORT])
            ],
            egress=[kb.dns_egress_rule()],
        ),
        kb.allow_policy(
            "minio-setup",
            args.namespace,
            kb.selector_labels(APP, "setup"),
            egress=[
                kb.dns_egress_rule(),
                kb.to_namespace_rule(args.namespace, kb.selector_labels(APP, "server"), [S3_PORT]),
            ],
        ),
    ]


class Minio(pulumi.ComponentResource):
    namespace: str
    endpoint_url: str
    port: int
    pod_labels: dict[str, str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    buckets: tuple[str, ...]
    artifact_store: MinioArtifactStore

    def __init__(self, name: str, args: MinioArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.buckets:
            raise ValueError("Minio: expected at least one bucket to create")
        if args.artifact_bucket not in args.buckets:
            raise ValueError(
                f"Minio: artifact bucket {args.artifact_bucket!r} is not among {list(args.buckets)}"
            )
        super().__init__("mlops:minio:Minio", name, None, opts)
        self.namespace = args.namespace
        self.endpoint_url = endpoint_url(args.namespace)
        self.port = S3_PORT
        self.pod_labels = kb.selector_labels(APP, "server")
        self.buckets = tuple(args.buckets)
        child = pulumi.ResourceOptions(parent=self)

        ns = kb.declare_namespace(f"{name}-namespace", args.namespace, child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        kb.declare_service_account(f"{name}-service-account", APP, args.namespace, in_ns)
        user = random.RandomPassword(f"{name}-root-user", length=20, special=False, upper=False, opts=child)
        password = random.RandomPassword(f"{name}-root-password", length=40, special=False, opts=child)
        self.access_key = pulumi.Output.secret(user.result)
        self.secret_key = pulumi.Output.secret(password.result)
        secret = k8s.core.v1.Secret(
            f"{name}-root",
            metadata={"name": ROOT_SECRET, "namespace": args.namespace, "labels": kb.labels(APP)},
            type="Opaque",
            string_data={"root-user": self.access_key, "root-password": self.secret_key},
            opts=in_ns,
        )
        service = kb.service_manifest(
            APP, args.namespace, self.pod_labels, {"s3": S3_PORT, "console": CONSOLE_PORT}, "server"
        )
        k8s.core.v1.Service(f"{name}-service", metadata=service["metadata"], spec=service["spec"], opts=in_ns)
        policies = [
            kb.declare_network_policy(f"{name}-netpol-{p['metadata']['name']}", p, in_ns)
            for p in network_policies(args)
        ]
        server = statefulset_manifest(args)
        statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=server["metadata"],
            spec=server["spec"],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[ns, secret], protect=args.protect, retain_on_delete=args.protect
            ),
        )
        job = bucket_job_manifest(args)
        k8s.batch.v1.Job(
            f"{name}-create-buckets",
            metadata=job["metadata"],
            spec=job["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[statefulset, *policies]),
        )
        self.artifact_store = MinioArtifactStore(
            args.artifact_bucket,
            self.endpoint_url,
            self.namespace,
            self.pod_labels,
            self.port,
            self.access_key,
            self.secret_key,
        )
        self.register_outputs({"endpoint_url": self.endpoint_url, "namespace": self.namespace})
