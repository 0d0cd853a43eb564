"""Kubeflow Pipelines standalone, from the upstream kustomize manifests at a pinned release tag.

Upstream installs in two steps (`kubectl apply -k cluster-scoped-resources?ref=V`, wait for the CRDs,
then `kubectl apply -k env/platform-agnostic?ref=V`). We do the same in one `pulumi up`: two
`kustomize.v2.Directory` resources over small overlays generated here (upstream manifests as a remote base,
plus our patches), the second one's input waiting on the first one's created resources.

The pipeline steps' service account (`pipeline-runner`) gets, on AWS, Pod Identity read access to the DVC
remote and write access to MLflow's artifact prefix; a Secret carries the MLflow tracking URI and
credentials. No static AWS keys anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kb
from components.dvc_remote import (
    ARTIFACT_PREFIX,
    DVC_PREFIX,
    read_only_policy_document,
    read_write_policy_document,
)
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from components.versions import kubeflow_pipelines_manifest_url
from pipelines import cluster_env

NAMESPACE = "kubeflow"  # upstream's manifests hard-wire it (cluster-scoped bindings reference it)
PIPELINE_RUNNER = "pipeline-runner"
TRACKING_SECRET = cluster_env.SECRET_NAME
REPO_ROOT = Path(__file__).resolve().parents[1]
OVERLAY_ROOT = Path("build") / "kustomize" / "kubeflow-pipelines"
UI_SERVICE = "ml-pipeline-ui"
API_SERVICE = "ml-pipeline"

# Requests and limits for the upstream Deployments we can reach with a patch; upstream sets few or none.
# A patch whose target does not exist in a release matches nothing and changes nothing.
DEPLOYMENT_RESOURCES: Mapping[str, kb.Resources] = {
    "ml-pipeline": kb.Resources("250m", "512Mi", "1", "1Gi"),
    "ml-pipeline-ui": kb.Resources("100m", "256Mi", "500m", "512Mi"),
    "ml-pipeline-persistenceagent": kb.Resources("50m", "128Mi", "250m", "256Mi"),
    "ml-pipeline-scheduledworkflow": kb.Resources("50m", "128Mi", "250m", "256Mi"),
    "ml-pipeline-viewer-crd": kb.Resources("50m", "128Mi", "250m", "256Mi"),
    "ml-pipeline-visualizationserver": kb.Resources("50m", "256Mi", "500m", "1Gi"),
    "metadata-grpc-deployment": kb.Resources("50m", "128Mi", "500m", "512Mi"),
    "metadata-envoy-deployment": kb.Resources("50m", "64Mi", "250m", "256Mi"),
    "metadata-writer": kb.Resources("50m", "128Mi", "250m", "256Mi"),
    "cache-server": kb.Resources("50m", "128Mi", "250m", "256Mi"),
    "workflow-controller": kb.Resources("100m", "256Mi", "500m", "512Mi"),
    "mysql": kb.Resources("100m", "512Mi", "1", "1Gi"),
}


@dataclass(frozen=True)
class PipelineAws:
    """AWS access for pipeline steps through EKS Pod Identity."""

    cluster_name: pulumi.Input[str]
    """EKS cluster the association is made in."""
    bucket_arn: pulumi.Input[str]
    """The DVC remote bucket (read), whose `mlflow/` prefix steps may write."""
    kms_key_arn: pulumi.Input[str] | None = None
    """The bucket's customer KMS key, if any."""


@dataclass(frozen=True)
class PipelineMinio:
    """S3 access for pipeline steps on the local stack (MinIO has no Pod Identity)."""

    endpoint_url: str
    """In-cluster MinIO S3 endpoint."""
    access_key: pulumi.Input[str]
    """MinIO access key."""
    secret_key: pulumi.Input[str]
    """MinIO secret key."""


@dataclass(frozen=True)
class KubeflowPipelinesArgs:
    version: str
    """Kubeflow Pipelines release (upstream git tag), from settings.kubeflow.version."""
    mlflow_tracking_uri: pulumi.Input[str]
    """In-cluster MLflow URL for pipeline steps."""
    mlflow_username: pulumi.Input[str]
    """MLflow basic-auth user the steps log as."""
    mlflow_password: pulumi.Input[str]
    """Its password (kept secret)."""
    pushgateway_url: pulumi.Input[str]
    """Where pipeline steps push their metrics (MonitoringStack.pushgateway_url)."""
    aws: PipelineAws | None = None
    """Pod Identity access on AWS."""
    minio: PipelineMinio | None = None
    """Static MinIO credentials on the local stack."""
    overlay_root: Path = OVERLAY_ROOT
    """Where the generated overlays are written, relative to the project directory (Pulumi runs the
    provider there)."""


# --- pure planning -------------------------------------------------------------------------------------


def resource_patches(resources: Mapping[str, kb.Resources] = DEPLOYMENT_RESOURCES) -> list[dict[str, Any]]:
    """JSON patches (by target, name-agnostic about the container) setting requests and limits."""
    return [
        {
            "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": deployment},
            "patch": json.dumps(
                [{"op": "add", "path": "/spec/template/spec/containers/0/resources", "value": r.manifest()}]
            ),
        }
        for deployment, r in sorted(resources.items())
    ]


def namespace_patch() -> dict[str, Any]:
    """Upstream's pods do not all meet `restricted` yet: enforce `baseline`, warn and audit `restricted`."""
    return {
        "target": {"version": "v1", "kind": "Namespace", "name": NAMESPACE},
        "patch": yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": NAMESPACE,
                    "labels": {
                        **kb.MANAGED_BY,
                        **kb.pod_security_labels(enforce="baseline", warn="restricted"),
                    },
                },
            },
            sort_keys=False,
        ),
    }


def cluster_scoped_kustomization(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [kubeflow_pipelines_manifest_url("cluster-scoped-resources", version)],
        "patches": [namespace_patch()],
    }


def platform_kustomization(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [kubeflow_pipelines_manifest_url("env/platform-agnostic", version)],
        "patches": resource_patches(),
    }


def overlays(version: str) -> dict[str, dict[str, Any]]:
    """Overlay folder name -> kustomization, in install order."""
    return {
        "cluster-scoped": cluster_scoped_kustomization(version),
        "platform": platform_kustomization(version),
    }


def write_overlays(version: str, root: Path, base: Path = REPO_ROOT) -> dict[str, Path]:
    """Write the overlays under `base/root/<version>/`; returns folder name -> path relative to `base`."""
    written: dict[str, Path] = {}
    for folder, kustomization in overlays(version).items():
        relative = root / version / folder
        target = base / relative
        target.mkdir(parents=True, exist_ok=True)
        text = "# Generated by components/kubeflow.py; do not edit.\n" + yaml.safe_dump(
            kustomization, sort_keys=False
        )
        path = target / "kustomization.yaml"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        written[folder] = relative
    return written


def merge_policies(*documents: Any) -> str:
    """One IAM policy JSON with the statements of several documents (dicts or JSON strings)."""
    statements: list[Any] = []
    for document in documents:
        parsed = json.loads(document) if isinstance(document, str) else document
        statements.extend(parsed["Statement"])
    for index, statement in enumerate(statements):
        if "Sid" in statement:
            statement["Sid"] = f"{statement['Sid']}{index}"
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def pipeline_runner_policy(bucket_arn: str, kms_key_arn: str | None) -> str:
    return merge_policies(
        read_only_policy_document(bucket_arn, DVC_PREFIX, kms_key_arn),
        read_write_policy_document(bucket_arn, ARTIFACT_PREFIX, kms_key_arn),
    )


def port_forward_commands() -> dict[str, str]:
    return {
        "ui": f"kubectl -n {NAMESPACE} port-forward svc/{UI_SERVICE} 8080:80",
        "api": f"kubectl -n {NAMESPACE} port-forward svc/{API_SERVICE} 8888:8888",
    }


def same_namespace_policy() -> dict[str, Any]:
    """Upstream components talk to each other freely; nothing outside the namespace may call in.

    Egress stays open: pipeline steps reach S3, MLflow and package indexes.
    """
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "allow-same-namespace-ingress",
            "namespace": NAMESPACE,
            "labels": dict(kb.MANAGED_BY),
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
    }


# --- the component -------------------------------------------------------------------------------------


class KubeflowPipelines(pulumi.ComponentResource):
    namespace: str
    pipeline_runner_service_account: str
    tracking_secret_name: str
    ui_port_forward: str
    api_port_forward: str

    def __init__(
        self, name: str, args: KubeflowPipelinesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:kubeflow:KubeflowPipelines", name, None, opts)
        if (args.aws is None) == (args.minio is None):
            raise ValueError("KubeflowPipelines: expected exactly one of aws (Pod Identity) or minio access")
        self._name = name
        self.namespace = NAMESPACE
        self.pipeline_runner_service_account = PIPELINE_RUNNER
        self.tracking_secret_name = TRACKING_SECRET
        commands = port_forward_commands()
        self.ui_port_forward = commands["ui"]
        self.api_port_forward = commands["api"]

        paths = write_overlays(args.version, args.overlay_root)
        cluster_scoped = k8s.kustomize.v2.Directory(
            f"{name}-cluster-scoped",
            directory=str(paths["cluster-scoped"]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # Waiting on the created resources (CRDs established, namespace present), not just registration.
        after_cluster_scoped = cluster_scoped.resources.apply(lambda _: str(paths["platform"]))
        platform = k8s.kustomize.v2.Directory(
            f"{name}-platform",
            directory=after_cluster_scoped,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_scoped]),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[cluster_scoped])
        policy = same_namespace_policy()
        kb.declare_network_policy(f"{name}-netpol-{policy['metadata']['name']}", policy, in_ns)
        self._tracking_secret(args, in_ns)
        if args.aws is not None:
            self._pod_identity(name, args.aws)
        self.platform = platform
        self.register_outputs(
            {
                "namespace": self.namespace,
                "ui_port_forward": self.ui_port_forward,
                "api_port_forward": self.api_port_forward,
            }
        )

    def _tracking_secret(self, args: KubeflowPipelinesArgs, opts: pulumi.ResourceOptions) -> None:
        data: dict[str, pulumi.Input[str]] = {
            "MLFLOW_TRACKING_URI": args.mlflow_tracking_uri,
            "MLFLOW_TRACKING_USERNAME": args.mlflow_username,
            "MLFLOW_TRACKING_PASSWORD": pulumi.Output.secret(args.mlflow_password),
            "MLOPS_PUSHGATEWAY_URL": args.pushgateway_url,
        }
        if args.minio is not None:
            data |= {
                "AWS_ACCESS_KEY_ID": pulumi.Output.secret(args.minio.access_key),
                "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(args.minio.secret_key),
                "AWS_ENDPOINT_URL_S3": args.minio.endpoint_url,
                "MLFLOW_S3_ENDPOINT_URL": args.minio.endpoint_url,
            }
        k8s.core.v1.Secret(
            f"{self._name}-mlflow-tracking",
            metadata={
                "name": TRACKING_SECRET,
                "namespace": NAMESPACE,
                "labels": kb.labels("kubeflow-pipelines"),
            },
            type="Opaque",
            string_data=data,
            opts=opts,
        )

    def _pod_identity(self, name: str, aws_access: PipelineAws) -> None:
        policy = pulumi.Output.all(aws_access.bucket_arn, aws_access.kms_key_arn).apply(
            lambda v: pipeline_runner_policy(v[0], v[1])
        )
        PodIdentityRole(
            f"{name}-pipeline-runner",
            PodIdentityRoleArgs(
                cluster_name=aws_access.cluster_name,
                namespace=NAMESPACE,
                service_account=PIPELINE_RUNNER,
                policy_document=policy,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
