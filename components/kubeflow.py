"""Kubeflow Pipelines standalone, from the upstream kustomize manifests at a pinned release tag.

Upstream installs in two steps (`kubectl apply -k cluster-scoped-resources?ref=V`, wait for the CRDs,
then `kubectl apply -k env/platform-agnostic?ref=V`). We do the same in one `pulumi up`: two
`kustomize.v2.Directory` resources over small overlays generated here (upstream manifests as a remote base,
plus our patches), the second one's input waiting on the first one's created resources.

The patches remove what we will not run (upstream's Secrets with fixed credentials, the v1 cache webhook
that never starts on EKS, v1-only components), put MySQL on a root password, size every remaining
Deployment and let the namespace enforce Pod Security `restricted`. Pulumi creates the two credential
Secrets from generated passwords and a default-deny NetworkPolicy set with the flows KFP uses.

The pipeline steps' service account (`pipeline-runner`) gets, on AWS, Pod Identity read access to the DVC
remote and write access to MLflow's artifact prefix; a Secret carries the MLflow tracking URI and
credentials. No static AWS keys anywhere. docs/platform-services.md explains each choice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import k8s as kb
from components.artifact_store import ArtifactStore, MinioArtifactStore, S3ArtifactStore
from components.cluster_handle import ClusterHandle, EksClusterHandle
from components.dvc_remote import (
    ARTIFACT_PREFIX,
    DVC_PREFIX,
    read_only_policy_document,
    read_write_policy_document,
)
from components.minio import S3_PORT as MINIO_S3_PORT
from components.mlflow import PORT as MLFLOW_PORT
from components.monitoring import KUBE_API_PORTS, PUSHGATEWAY_PORT
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from components.training_schedule import time_zone_patch
from pipelines import cluster_env
from pipelines.env import PUSHGATEWAY_URL
from serving.config import DEFAULT_HTTP_PORT as MODEL_SERVER_HTTP_PORT
from versions import kubeflow_pipelines_manifest_url

NAMESPACE = "kubeflow"  # upstream's manifests hard-wire it (cluster-scoped bindings reference it)
PIPELINE_RUNNER = "pipeline-runner"
TRACKING_SECRET = cluster_env.SECRET_NAME
REPO_ROOT = Path(__file__).resolve().parents[1]
OVERLAY_ROOT = Path("build") / "kustomize" / "kubeflow-pipelines"
UI_SERVICE = "ml-pipeline-ui"
API_SERVICE = "ml-pipeline"

# The Secrets upstream ships with fixed credentials (minio/minio123; root with an empty password). The
# overlay deletes them and Pulumi creates them with the same names and keys from generated passwords.
# Consumers in 2.17.0: mysql-secret (username, password) -> ml-pipeline, metadata-grpc (and the removed
# cache-server); mlpipeline-minio-artifact (accesskey, secretkey) -> seaweedfs (envFrom, its S3 identity
# is configured from them in a postStart hook), ml-pipeline, ml-pipeline-ui, the workflow controller's
# artifact repository and the v2 launcher (backend/src/v2/config/env.go).
MYSQL_SECRET = "mysql-secret"
MYSQL_USER = "root"  # the API server creates its databases on first start
OBJECT_STORE_SECRET = "mlpipeline-minio-artifact"

# Pipeline steps run as this UID (pipelines/Dockerfile `USER 10001:10001`); KFP 2.17's API server puts it on
# every step's main container (pipeline-install-config defaultSecurityContext*), which lets the namespace
# enforce Pod Security `restricted`.
PIPELINE_STEP_UID = 10001


@dataclass(frozen=True)
class PatchedContainer:
    """Requests and limits for the main container of one upstream Deployment."""

    container: str
    """Container name in the 2.17.0 manifests; the patch fails the build if it is not containers[0]."""
    resources: kb.Resources
    """What we set (requests and limits)."""
    upstream: str
    """What 2.17.0 requests (no limits anywhere), for the record."""


# Every Deployment that remains after the removals below. Sized from what these processes use idle plus a
# margin; the capacity plan counts the requests. Upstream asks for ~3.1 GiB over these nine (persistence
# agent 500Mi, MySQL 800Mi), more than `dev` can spare.
DEPLOYMENT_RESOURCES: Mapping[str, PatchedContainer] = {
    "ml-pipeline": PatchedContainer(
        "ml-pipeline-api-server", kb.Resources("100m", "256Mi", "1", "1Gi"), "250m/500Mi"
    ),
    "ml-pipeline-ui": PatchedContainer(
        "ml-pipeline-ui", kb.Resources("10m", "128Mi", "500m", "512Mi"), "10m/70Mi"
    ),
    "ml-pipeline-persistenceagent": PatchedContainer(
        "ml-pipeline-persistenceagent", kb.Resources("20m", "64Mi", "250m", "256Mi"), "120m/500Mi"
    ),
    "ml-pipeline-scheduledworkflow": PatchedContainer(
        "ml-pipeline-scheduledworkflow", kb.Resources("20m", "64Mi", "250m", "256Mi"), "none"
    ),
    "metadata-grpc-deployment": PatchedContainer(
        "container", kb.Resources("20m", "64Mi", "500m", "256Mi"), "none"
    ),
    "metadata-envoy-deployment": PatchedContainer(
        "container", kb.Resources("20m", "64Mi", "250m", "256Mi"), "none"
    ),
    "workflow-controller": PatchedContainer(
        "workflow-controller", kb.Resources("50m", "128Mi", "500m", "512Mi"), "100m/500Mi"
    ),
    "mysql": PatchedContainer("mysql", kb.Resources("100m", "512Mi", "1", "1Gi"), "100m/800Mi"),
    "seaweedfs": PatchedContainer("seaweedfs", kb.Resources("50m", "256Mi", "500m", "1Gi"), "64m/256Mi"),
}


@dataclass(frozen=True)
class RemovedObject:
    """An upstream object the overlay deletes (`$patch: delete`)."""

    api_version: str
    kind: str
    name: str
    namespaced: bool = True


def _removed(api_version: str, kind: str, *names: str, namespaced: bool = True) -> list[RemovedObject]:
    return [RemovedObject(api_version, kind, n, namespaced) for n in names]


# Why each group goes (docs/platform-services.md, "What is not installed"):
# - the Secrets with default credentials: Pulumi creates them (see above);
# - the v1 cache webhook: KFP v2 caches in the driver through the API server (backend/src/v2/cacheutils);
#   cache-server's mutation skips v2 pods (backend/src/cache/server/mutation.go, isV2Pod). Its deployer
#   asks for a `kubernetes.io/kubelet-serving` certificate EKS never signs (kubeflow/pipelines#4505) and
#   would create a CSR and a MutatingWebhookConfiguration outside Pulumi's state;
# - metadata-writer: skips v2 pods, whose launcher writes MLMD itself (backend/metadata_writer/src);
# - visualization server and viewer controller: v1 run pages only (custom visualizations, TensorBoard
#   viewers); the v2 UI renders HTML/Markdown/metrics artifacts from the object store;
# - upstream's seaweedfs NetworkPolicy: admits any pod of the namespace and all of `istio-system`; ours
#   replace it (network_policies()).
REMOVED_PLATFORM_OBJECTS: tuple[RemovedObject, ...] = (
    *_removed("v1", "Secret", OBJECT_STORE_SECRET, MYSQL_SECRET),
    *_removed("apps/v1", "Deployment", "cache-deployer-deployment", "cache-server"),
    *_removed("v1", "Service", "cache-server"),
    *_removed("v1", "ServiceAccount", "kubeflow-pipelines-cache"),
    *_removed(
        "rbac.authorization.k8s.io/v1",
        "Role",
        "kubeflow-pipelines-cache-role",
        "kubeflow-pipelines-cache-deployer-role",
    ),
    *_removed(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "kubeflow-pipelines-cache-binding",
        "kubeflow-pipelines-cache-deployer-rolebinding",
    ),
    *_removed("apps/v1", "Deployment", "metadata-writer"),
    *_removed("v1", "ServiceAccount", "kubeflow-pipelines-metadata-writer"),
    *_removed("rbac.authorization.k8s.io/v1", "Role", "kubeflow-pipelines-metadata-writer-role"),
    *_removed("rbac.authorization.k8s.io/v1", "RoleBinding", "kubeflow-pipelines-metadata-writer-binding"),
    *_removed("apps/v1", "Deployment", "ml-pipeline-visualizationserver", "ml-pipeline-viewer-crd"),
    *_removed("v1", "Service", "ml-pipeline-visualizationserver"),
    *_removed(
        "v1",
        "ServiceAccount",
        "ml-pipeline-visualizationserver",
        "ml-pipeline-viewer-crd-service-account",
        "kubeflow-pipelines-viewer",
    ),
    *_removed("rbac.authorization.k8s.io/v1", "Role", "ml-pipeline-viewer-controller-role"),
    *_removed("rbac.authorization.k8s.io/v1", "RoleBinding", "ml-pipeline-viewer-crd-binding"),
    *_removed("networking.k8s.io/v1", "NetworkPolicy", "seaweedfs"),
)
REMOVED_CLUSTER_SCOPED_OBJECTS: tuple[RemovedObject, ...] = (
    *_removed("v1", "ServiceAccount", "kubeflow-pipelines-cache-deployer-sa"),
    *_removed(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        "kubeflow-pipelines-cache-deployer-clusterrole",
        namespaced=False,
    ),
    *_removed(
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        "kubeflow-pipelines-cache-deployer-clusterrolebinding",
        namespaced=False,
    ),
)

# Pod labels of the remaining upstream workloads (2.17.0 manifests), for NetworkPolicy selectors.
API_SERVER_POD: Mapping[str, str] = {"app": "ml-pipeline"}
UI_POD: Mapping[str, str] = {"app": "ml-pipeline-ui"}
PERSISTENCE_AGENT_POD: Mapping[str, str] = {"app": "ml-pipeline-persistenceagent"}
SCHEDULED_WORKFLOW_POD: Mapping[str, str] = {"app": "ml-pipeline-scheduledworkflow"}
WORKFLOW_CONTROLLER_POD: Mapping[str, str] = {"app": "workflow-controller"}
METADATA_GRPC_POD: Mapping[str, str] = {"component": "metadata-grpc-server"}
METADATA_ENVOY_POD: Mapping[str, str] = {"component": "metadata-envoy"}
MYSQL_POD: Mapping[str, str] = {"app": "mysql"}
SEAWEEDFS_POD: Mapping[str, str] = {"app": "seaweedfs"}
# Argo labels every pod of a Workflow with its name: the drivers, launchers and executors of our steps.
STEP_POD_SELECTOR: Mapping[str, Any] = {
    "matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]
}

API_HTTP_PORT = 8888
API_GRPC_PORT = 8887
UI_PORT = 3000
METADATA_GRPC_PORT = 8080
METADATA_ENVOY_PORT = 9090
MYSQL_PORT = 3306
SEAWEEDFS_S3_PORT = 8333  # the Service's 9000 targets it; NetworkPolicy sees the pod port
CONTROLLER_METRICS_PORT = 9090  # workflow-controller and scheduled workflow controller


@dataclass(frozen=True)
class KubeflowPipelinesArgs:
    version: str
    """Kubeflow Pipelines release (upstream git tag), one of versions.KUBEFLOW_PIPELINES_VERSIONS."""
    mlflow_tracking_uri: pulumi.Input[str]
    """In-cluster MLflow URL for pipeline steps."""
    mlflow_username: pulumi.Input[str]
    """MLflow basic-auth user the steps log as."""
    mlflow_password: pulumi.Input[str]
    """Its password (kept secret)."""
    pushgateway_url: pulumi.Input[str]
    """Where pipeline steps push their metrics (MonitoringStack.pushgateway_url)."""
    artifacts: ArtifactStore
    """Where steps read DVC data and write MLflow artifacts: S3 through Pod Identity, or MinIO's keys."""
    cluster: ClusterHandle
    """The cluster; S3 artifacts need an EksClusterHandle (Pod Identity is made in it)."""
    mlflow_namespace: str = "mlflow"
    """Where the MLflow server runs (steps may reach its port there)."""
    monitoring_namespace: str = "monitoring"
    """Where the Pushgateway runs (steps push to it) and Prometheus scrapes from."""
    model_server_namespace: str | None = None
    """Where the model server runs (steps may call its HTTP port there); None when nothing is served."""
    cron_time_zone: str = "UTC"
    """`training.schedule.timeZone`: the zone KFP reads every recurring run's cron in (cluster-wide)."""
    overlay_root: Path = OVERLAY_ROOT
    """Where the generated overlays are written, relative to the project directory (Pulumi runs the
    provider there)."""


# --- pure planning -------------------------------------------------------------------------------------


def resource_patches(
    resources: Mapping[str, PatchedContainer] = DEPLOYMENT_RESOURCES,
) -> list[dict[str, Any]]:
    """JSON patches setting requests and limits; the `test` op fails the build if containers[0] moved."""
    return [
        {
            "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": deployment},
            "patch": json.dumps(
                [
                    {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": c.container},
                    {
                        "op": "add",
                        "path": "/spec/template/spec/containers/0/resources",
                        "value": c.resources.manifest(),
                    },
                ]
            ),
        }
        for deployment, c in sorted(resources.items())
    ]


def delete_patches(removed: Sequence[RemovedObject]) -> list[dict[str, Any]]:
    """Strategic-merge `$patch: delete` patches: the objects never reach the cluster."""
    patches = []
    for obj in removed:
        metadata: dict[str, str] = {"name": obj.name}
        if obj.namespaced:
            metadata["namespace"] = NAMESPACE
        body = {"apiVersion": obj.api_version, "kind": obj.kind, "metadata": metadata, "$patch": "delete"}
        patches.append({"patch": yaml.safe_dump(body, sort_keys=False)})
    return patches


def mysql_root_password_patch() -> dict[str, Any]:
    """MySQL's only env var, MYSQL_ALLOW_EMPTY_PASSWORD, becomes MYSQL_ROOT_PASSWORD from our Secret.

    The `test` op makes the build fail, rather than keep an empty root password, if upstream changes it.
    """
    return {
        "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "mysql"},
        "patch": json.dumps(
            [
                {
                    "op": "test",
                    "path": "/spec/template/spec/containers/0/env/0/name",
                    "value": "MYSQL_ALLOW_EMPTY_PASSWORD",
                },
                {
                    "op": "replace",
                    "path": "/spec/template/spec/containers/0/env/0",
                    "value": kb.secret_env("MYSQL_ROOT_PASSWORD", MYSQL_SECRET, "password"),
                },
            ]
        ),
    }


def ui_without_custom_visualizations_patch() -> dict[str, Any]:
    """The UI stops offering v1 custom visualizations: their server is not installed."""
    return {
        "target": {"group": "apps", "version": "v1", "kind": "Deployment", "name": "ml-pipeline-ui"},
        "patch": json.dumps(
            [
                {
                    "op": "test",
                    "path": "/spec/template/spec/containers/0/env/4/name",
                    "value": "ALLOW_CUSTOM_VISUALIZATIONS",
                },
                {"op": "replace", "path": "/spec/template/spec/containers/0/env/4/value", "value": "false"},
            ]
        ),
    }


def step_security_context_patch(uid: int = PIPELINE_STEP_UID) -> dict[str, Any]:
    """KFP 2.17's API server puts these on every step's main container (read by ml-pipeline at start).

    Without them the executor container sets no `runAsNonRoot` and Pod Security `restricted` rejects it
    (backend/src/v2/compiler/argocompiler/security_context.go, applySecurityContextToExecutorTemplate).
    """
    return {
        "patch": yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "pipeline-install-config", "namespace": NAMESPACE},
                "data": {
                    "defaultSecurityContextRunAsUser": str(uid),
                    "defaultSecurityContextRunAsGroup": str(uid),
                    "defaultSecurityContextRunAsNonRoot": "true",
                },
            },
            sort_keys=False,
        )
    }


def namespace_patch() -> dict[str, Any]:
    """Every remaining upstream pod and every pod the backend creates for our steps meets `restricted`."""
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
                        **kb.pod_security_labels(enforce="restricted", warn="restricted"),
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
        "patches": [namespace_patch(), *delete_patches(REMOVED_CLUSTER_SCOPED_OBJECTS)],
    }


def platform_kustomization(version: str, cron_time_zone: str = "UTC") -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [kubeflow_pipelines_manifest_url("env/platform-agnostic", version)],
        "patches": [
            *delete_patches(REMOVED_PLATFORM_OBJECTS),
            mysql_root_password_patch(),
            ui_without_custom_visualizations_patch(),
            step_security_context_patch(),
            *resource_patches(),
            # Recurring runs read their cron in this zone, cluster-wide (upstream's default is UTC).
            *([time_zone_patch(cron_time_zone)] if cron_time_zone != "UTC" else []),
        ],
    }


def overlays(version: str, cron_time_zone: str = "UTC") -> dict[str, dict[str, Any]]:
    """Overlay folder name -> kustomization, in install order."""
    return {
        "cluster-scoped": cluster_scoped_kustomization(version),
        "platform": platform_kustomization(version, cron_time_zone),
    }


def write_overlays(
    version: str, root: Path, base: Path = REPO_ROOT, cron_time_zone: str = "UTC"
) -> dict[str, Path]:
    """Write the overlays under `base/root/<version>/`; returns folder name -> path relative to `base`."""
    written: dict[str, Path] = {}
    for folder, kustomization in overlays(version, cron_time_zone).items():
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


def _pods(selector: Mapping[str, str]) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": dict(selector)}}


_STEPS: Mapping[str, Any] = {"podSelector": dict(STEP_POD_SELECTOR)}


def _rule(direction: str, peers: Sequence[Mapping[str, Any]], ports: Sequence[int] = ()) -> dict[str, Any]:
    rule: dict[str, Any] = {direction: [dict(p) for p in peers]}
    if ports:
        rule["ports"] = [{"protocol": "TCP", "port": p} for p in ports]
    return rule


def _namespace(name: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def _kube_api() -> dict[str, Any]:
    return kb.to_cidrs_rule(["0.0.0.0/0"], KUBE_API_PORTS, except_cidrs=[kb.INSTANCE_METADATA_CIDR])


def network_policies(
    *,
    mlflow_namespace: str,
    monitoring_namespace: str,
    minio_namespace: str | None,
    pod_identity: bool,
    model_server_namespace: str | None = None,
) -> list[dict[str, Any]]:
    """Default deny in `kubeflow`, then each flow the 2.17.0 components and our steps use, and nothing else.

    Pipeline steps (every pod of an Argo Workflow: driver, launcher, executor) reach the API server, MLMD,
    the object store, MLflow, the Pushgateway, the model server (when one runs), MinIO on `local` and HTTPS
    (S3, the Kubernetes API), never MySQL: only the API server and MLMD may connect to it. The UI is
    reached by port-forward, which NetworkPolicy does not see. Prometheus (in `monitoring_namespace`)
    scrapes the API server and the two controllers.
    """
    ns = NAMESPACE
    api_ports = [API_HTTP_PORT, API_GRPC_PORT]
    scrape = _namespace(monitoring_namespace)
    step_egress = [
        _rule("to", [_pods(API_SERVER_POD)], api_ports),
        _rule("to", [_pods(METADATA_GRPC_POD)], [METADATA_GRPC_PORT]),
        _rule("to", [_pods(SEAWEEDFS_POD)], [SEAWEEDFS_S3_PORT]),
        _rule("to", [_namespace(mlflow_namespace)], [MLFLOW_PORT]),
        _rule("to", [_namespace(monitoring_namespace)], [PUSHGATEWAY_PORT]),
        # The Kubernetes API (launcher and Argo's wait container) and, on AWS, S3 over HTTPS.
        _kube_api(),
    ]
    if minio_namespace is not None:
        step_egress.append(_rule("to", [_namespace(minio_namespace)], [MINIO_S3_PORT]))
    if model_server_namespace is not None:
        step_egress.append(_rule("to", [_namespace(model_server_namespace)], [MODEL_SERVER_HTTP_PORT]))
    if pod_identity:
        step_egress.append(kb.to_cidrs_rule([kb.POD_IDENTITY_AGENT_CIDR], [80]))
    policies = [
        kb.default_deny_policy(ns),
        kb.allow_policy("kfp-dns", ns, {}, egress=[kb.dns_egress_rule()]),
        kb.allow_policy(
            "kfp-api-server",
            ns,
            API_SERVER_POD,
            ingress=[
                _rule("from", [_pods(UI_POD)], [API_HTTP_PORT]),
                _rule(
                    "from", [_pods(PERSISTENCE_AGENT_POD), _pods(SCHEDULED_WORKFLOW_POD), _STEPS], api_ports
                ),
                _rule("from", [scrape], [API_HTTP_PORT]),
            ],
            egress=[
                _rule("to", [_pods(MYSQL_POD)], [MYSQL_PORT]),
                _rule("to", [_pods(METADATA_GRPC_POD)], [METADATA_GRPC_PORT]),
                _rule("to", [_pods(SEAWEEDFS_POD)], [SEAWEEDFS_S3_PORT]),
                _kube_api(),
            ],
        ),
        kb.allow_policy(
            "kfp-ui",
            ns,
            UI_POD,
            egress=[
                _rule("to", [_pods(API_SERVER_POD)], [API_HTTP_PORT]),
                _rule("to", [_pods(METADATA_ENVOY_POD)], [METADATA_ENVOY_PORT]),
                _rule("to", [_pods(SEAWEEDFS_POD)], [SEAWEEDFS_S3_PORT]),
                _kube_api(),
            ],
        ),
        kb.allow_policy(
            "kfp-metadata-envoy",
            ns,
            METADATA_ENVOY_POD,
            ingress=[_rule("from", [_pods(UI_POD)], [METADATA_ENVOY_PORT])],
            egress=[_rule("to", [_pods(METADATA_GRPC_POD)], [METADATA_GRPC_PORT])],
        ),
        kb.allow_policy(
            "kfp-metadata-grpc",
            ns,
            METADATA_GRPC_POD,
            ingress=[
                _rule(
                    "from", [_pods(API_SERVER_POD), _pods(METADATA_ENVOY_POD), _STEPS], [METADATA_GRPC_PORT]
                )
            ],
            egress=[_rule("to", [_pods(MYSQL_POD)], [MYSQL_PORT])],
        ),
        kb.allow_policy(
            "kfp-mysql",
            ns,
            MYSQL_POD,
            ingress=[_rule("from", [_pods(API_SERVER_POD), _pods(METADATA_GRPC_POD)], [MYSQL_PORT])],
        ),
        kb.allow_policy(
            "kfp-seaweedfs",
            ns,
            SEAWEEDFS_POD,
            ingress=[
                _rule("from", [_pods(API_SERVER_POD), _pods(UI_POD), _STEPS], [SEAWEEDFS_S3_PORT]),
                # master, volume, filer and S3 gateway run in one pod and dial each other by pod IP
                _rule("from", [_pods(SEAWEEDFS_POD)]),
            ],
            egress=[_rule("to", [_pods(SEAWEEDFS_POD)])],
        ),
        kb.allow_policy(
            "kfp-persistence-agent",
            ns,
            PERSISTENCE_AGENT_POD,
            egress=[_rule("to", [_pods(API_SERVER_POD)], api_ports), _kube_api()],
        ),
        kb.allow_policy(
            "kfp-scheduled-workflow",
            ns,
            SCHEDULED_WORKFLOW_POD,
            ingress=[_rule("from", [scrape], [CONTROLLER_METRICS_PORT])],
            egress=[_rule("to", [_pods(API_SERVER_POD)], api_ports), _kube_api()],
        ),
        kb.allow_policy(
            "kfp-workflow-controller",
            ns,
            WORKFLOW_CONTROLLER_POD,
            ingress=[_rule("from", [scrape], [CONTROLLER_METRICS_PORT])],
            egress=[_kube_api()],
        ),
        kb.allow_policy("kfp-pipeline-steps", ns, {}, egress=step_egress),
    ]
    policies[-1]["spec"]["podSelector"] = dict(STEP_POD_SELECTOR)
    return policies


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
        s3 = args.artifacts if isinstance(args.artifacts, S3ArtifactStore) else None
        if s3 is not None and not isinstance(args.cluster, EksClusterHandle):
            raise TypeError("KubeflowPipelines: S3 artifacts (Pod Identity) need an EksClusterHandle")
        self._name = name
        self.namespace = NAMESPACE
        self.pipeline_runner_service_account = PIPELINE_RUNNER
        self.tracking_secret_name = TRACKING_SECRET
        commands = port_forward_commands()
        self.ui_port_forward = commands["ui"]
        self.api_port_forward = commands["api"]

        paths = write_overlays(args.version, args.overlay_root, cron_time_zone=args.cron_time_zone)
        cluster_scoped = k8s.kustomize.v2.Directory(
            f"{name}-cluster-scoped",
            directory=str(paths["cluster-scoped"]),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[cluster_scoped])
        credentials = self._platform_credentials(in_ns)
        # Waiting on the created resources (CRDs established, namespace present), not just registration;
        # and on our credential Secrets, so no upstream pod starts without them.
        after_cluster_scoped = cluster_scoped.resources.apply(lambda _: str(paths["platform"]))
        platform = k8s.kustomize.v2.Directory(
            f"{name}-platform",
            directory=after_cluster_scoped,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster_scoped, *credentials]),
        )
        for policy in network_policies(
            mlflow_namespace=args.mlflow_namespace,
            monitoring_namespace=args.monitoring_namespace,
            minio_namespace=args.artifacts.namespace
            if isinstance(args.artifacts, MinioArtifactStore)
            else None,
            pod_identity=s3 is not None,
            model_server_namespace=args.model_server_namespace,
        ):
            kb.declare_network_policy(f"{name}-netpol-{policy['metadata']['name']}", policy, in_ns)
        self._tracking_secret(args, in_ns)
        if s3 is not None and isinstance(args.cluster, EksClusterHandle):
            self._pod_identity(name, s3, args.cluster)
        self.platform = platform
        self.register_outputs(
            {
                "namespace": self.namespace,
                "ui_port_forward": self.ui_port_forward,
                "api_port_forward": self.api_port_forward,
            }
        )

    def _platform_credentials(self, opts: pulumi.ResourceOptions) -> list[k8s.core.v1.Secret]:
        """The two upstream Secrets, with generated values instead of upstream's fixed ones.

        Alphanumeric only: SeaweedFS's postStart hook passes the keys to `weed shell` unquoted.
        """
        child = pulumi.ResourceOptions(parent=self)
        mysql_password = random.RandomPassword(
            f"{self._name}-mysql-root-password", length=32, special=False, opts=child
        )
        access_key = random.RandomPassword(
            f"{self._name}-object-store-access-key", length=20, special=False, upper=False, opts=child
        )
        secret_key = random.RandomPassword(
            f"{self._name}-object-store-secret-key", length=40, special=False, opts=child
        )
        labels = kb.labels("kubeflow-pipelines")
        mysql = k8s.core.v1.Secret(
            f"{self._name}-mysql-secret",
            metadata={"name": MYSQL_SECRET, "namespace": NAMESPACE, "labels": labels},
            type="Opaque",
            string_data={"username": MYSQL_USER, "password": mysql_password.result},
            opts=opts,
        )
        object_store = k8s.core.v1.Secret(
            f"{self._name}-object-store-secret",
            metadata={"name": OBJECT_STORE_SECRET, "namespace": NAMESPACE, "labels": labels},
            type="Opaque",
            string_data={"accesskey": access_key.result, "secretkey": secret_key.result},
            opts=opts,
        )
        return [mysql, object_store]

    def _tracking_secret(self, args: KubeflowPipelinesArgs, opts: pulumi.ResourceOptions) -> None:
        data: dict[str, pulumi.Input[str]] = {
            "MLFLOW_TRACKING_URI": args.mlflow_tracking_uri,
            "MLFLOW_TRACKING_USERNAME": args.mlflow_username,
            "MLFLOW_TRACKING_PASSWORD": pulumi.Output.secret(args.mlflow_password),
            PUSHGATEWAY_URL.name: args.pushgateway_url,
        }
        minio = args.artifacts
        if isinstance(minio, MinioArtifactStore):
            data |= {
                "AWS_ACCESS_KEY_ID": pulumi.Output.secret(minio.access_key),
                "AWS_SECRET_ACCESS_KEY": pulumi.Output.secret(minio.secret_key),
                "AWS_ENDPOINT_URL_S3": minio.endpoint_url,
                "MLFLOW_S3_ENDPOINT_URL": minio.endpoint_url,
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

    def _pod_identity(self, name: str, aws_access: S3ArtifactStore, cluster: EksClusterHandle) -> None:
        policy = pulumi.Output.all(aws_access.bucket_arn, aws_access.kms_key_arn).apply(
            lambda v: pipeline_runner_policy(v[0], v[1])
        )
        PodIdentityRole(
            f"{name}-pipeline-runner",
            PodIdentityRoleArgs(
                cluster_name=cluster.cluster_name,
                namespace=NAMESPACE,
                service_account=PIPELINE_RUNNER,
                policy_document=policy,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
