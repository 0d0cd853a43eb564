"""ModelServer: the registry's champion, served in the cluster by MLServer, hardened, autoscaled, watched.

The runtime is MLServer 1.7.1 with mlserver-mlflow (what KServe's `kserve-mlserver` ServingRuntime runs for
`modelFormat: mlflow`), started as `python -m serving serve` in our serving image and run as a plain
Deployment. Not a KServe InferenceService: KServe needs its controller, cert-manager for its webhooks and,
for its own autoscaling, Knative: three more control planes to pin, harden, render and pay for on a two-node
dev cluster, to serve one model. The server follows the `champion` alias itself (polls MLflow, loads, smoke
checks, swaps atomically, keeps the old model when the new one fails), so a moved alias needs no rollout;
an image or config change rolls out with `maxUnavailable: 0` behind the readiness probe (ready only once a
champion is loaded and passed its smoke check), so a pod that never gets ready leaves the old ones serving.

Who may call it: the NetworkPolicy is the authentication boundary (the server has no auth of its own).
Port 8080 admits pods of namespaces labelled `mlops.platform/model-client=true`, pods carrying that label
in any namespace, and the pipeline steps; 8082 (`/metrics`) admits Prometheus only. The server reaches DNS,
MLflow and its object store, nothing else: not MySQL, not the KFP object store, not the instance metadata.

Object store: on AWS the DVC remote bucket through an EKS Pod Identity role that reads `mlflow/` and reads
and writes `inference-capture/` (nothing else); on the local stack MinIO, with keys from a Secret.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kb
from components import mlflow as mlflow_server
from components.artifact_store import ArtifactStore, MinioArtifactStore, S3ArtifactStore
from components.dvc_remote import (
    ARTIFACT_PREFIX,
    CAPTURE_PREFIX,
    read_only_policy_document,
    read_write_policy_document,
)
from components.kubeflow import STEP_POD_SELECTOR, merge_policies
from components.monitoring import MONITORING_API_VERSION, PROMETHEUS_POD
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from monitoring import metrics as m
from serving.config import (
    CAPTURE_SAMPLE_RATE_ENV,
    CAPTURE_URI_ENV,
    MODEL_ALIAS_ENV,
    MODEL_NAME_ENV,
    POLL_SECONDS_ENV,
)
from serving.config import DEFAULT_HTTP_PORT as HTTP_PORT
from serving.config import DEFAULT_METRICS_PORT as METRICS_PORT

if TYPE_CHECKING:
    from components.mlflow import MlflowServer

APP: Final = m.SERVING_SCRAPE_JOB
"""The Deployment, Service and ServiceAccount name; Prometheus names the scrape job after the Service."""
COMPONENT: Final = "inference"
MODEL_CLIENT_LABEL: Final = "mlops.platform/model-client"
"""A namespace or pod labelled `mlops.platform/model-client=true` may call the model server."""
NAMESPACE: Final = "serving"
"""The model server's namespace (the live drift check runs in it too)."""
MLFLOW_SECRET: Final = "model-server-mlflow"
STORE_SECRET: Final = "model-server-object-store"
SCRAPE_INTERVAL: Final = "30s"
S3_HTTPS_PORT: Final = 443
POD_IDENTITY_AGENT_PORT: Final = 80


# Measured: see docs/serving-cluster.md ("What it costs"). The limit leaves room for a second model during
# the swap (old and new both loaded for a moment).
SERVER_RESOURCES: Final = kb.Resources(
    cpu_request="100m", memory_request="384Mi", cpu_limit="1", memory_limit="1Gi"
)
TMP_SIZE: Final = "512Mi"


# --- where the server reads and writes -----------------------------------------------------------------


# The platform's one artifact store (components/artifact_store.py): the DVC remote bucket or MinIO.
ObjectStore = ArtifactStore


@dataclass(frozen=True)
class MlflowAccess:
    """The MLflow server a workload talks to, and the machine user it logs in as."""

    tracking_uri: pulumi.Input[str]
    """The in-cluster MLflow URL."""
    namespace: str
    """MLflow's namespace, for the egress NetworkPolicy."""
    pod_labels: Mapping[str, str]
    """MLflow server pods' labels, for the egress NetworkPolicy."""
    port: int
    """MLflow's port."""
    username: str
    """The MLflow user (never the admin)."""
    password: pulumi.Input[str]
    """Its password (secret); reaches the pod through a Secret."""


def mlflow_access(
    server: MlflowServer, username: str | None, password: pulumi.Output[str] | None
) -> MlflowAccess:
    """How a client in another namespace reaches the MLflow server, as the MLflow user it is given."""
    if username is None or password is None:
        raise TypeError("mlflow_access: expected an MLflow user and its password (MlflowUsers creates them)")
    return MlflowAccess(
        tracking_uri=server.tracking_uri,
        namespace=server.namespace,
        pod_labels=kb.selector_labels(mlflow_server.APP, "tracking-server"),
        port=mlflow_server.PORT,
        username=username,
        password=password,
    )


def access_secrets(
    name: str,
    *,
    namespace: str,
    app: str,
    mlflow: MlflowAccess,
    store: ObjectStore,
    secret_names: tuple[str, str],
    opts: pulumi.ResourceOptions,
) -> list[pulumi.Resource]:
    """The MLflow user's credentials and, on MinIO, the store's keys, as Secrets the pod reads (never env
    literals); `secret_names` is (MLflow Secret, store Secret). On S3, Pod Identity needs no Secret."""
    mlflow_secret, store_secret = secret_names
    secrets: list[pulumi.Resource] = [
        credentials_secret(
            f"{name}-mlflow-credentials",
            name=mlflow_secret,
            namespace=namespace,
            app=app,
            data={"username": mlflow.username, "password": mlflow.password},
            opts=opts,
        )
    ]
    if isinstance(store, MinioArtifactStore):
        secrets.append(
            credentials_secret(
                f"{name}-object-store",
                name=store_secret,
                namespace=namespace,
                app=app,
                data={"access-key": store.access_key, "secret-key": store.secret_key},
                opts=opts,
            )
        )
    return secrets


def store_pod_identity(
    name: str,
    *,
    store: S3ArtifactStore,
    cluster_name: pulumi.Input[str] | None,
    namespace: str,
    service_account: str,
    policy_document: Callable[[str, str | None], str],
    parent: pulumi.Resource,
) -> PodIdentityRole:
    """The pod's AWS role on S3 (no keys anywhere): `policy_document(bucket_arn, kms_key_arn)` scopes it.
    Pod Identity is made in an EKS cluster, so `cluster_name` (the Args' `eks_cluster_name`) is required."""
    if cluster_name is None:
        raise TypeError(
            f"{type(parent).__name__}: an S3 artifact store is reached through Pod Identity: give "
            "eks_cluster_name"
        )
    policy = pulumi.Output.all(store.bucket_arn, store.kms_key_arn).apply(
        lambda v: policy_document(v[0], v[1])
    )
    return PodIdentityRole(
        f"{name}-pod-identity",
        PodIdentityRoleArgs(
            cluster_name=cluster_name,
            namespace=namespace,
            service_account=service_account,
            policy_document=policy,
        ),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def store_capture_uri(store: ObjectStore) -> pulumi.Output[str]:
    """`capture_uri` of the store's bucket, once the bucket's name is known."""
    return pulumi.Output.from_input(store.bucket_name).apply(capture_uri)


def capture_uri(bucket: str) -> str:
    """`MLOPS_CAPTURE_URI`: the capture prefix in the bucket, on AWS and on MinIO alike."""
    return f"s3://{bucket}/{CAPTURE_PREFIX}"


def store_bucket(store: ObjectStore) -> pulumi.Input[str]:
    return store.bucket_name


def store_env(store: ObjectStore, secret: str) -> list[dict[str, Any]]:
    """How the S3 client finds the store: the region (Pod Identity supplies credentials) or MinIO's
    endpoint and keys from `secret`. Never a key in plain text."""
    if isinstance(store, S3ArtifactStore):
        return [{"name": "AWS_DEFAULT_REGION", "value": store.region}]
    return [
        {"name": "AWS_ENDPOINT_URL_S3", "value": store.endpoint_url},
        # MLflow's own S3 client reads this one when an artifact URI is a direct s3:// URI.
        {"name": "MLFLOW_S3_ENDPOINT_URL", "value": store.endpoint_url},
        kb.secret_env("AWS_ACCESS_KEY_ID", secret, "access-key"),
        kb.secret_env("AWS_SECRET_ACCESS_KEY", secret, "secret-key"),
    ]


def mlflow_env(tracking_uri: str, secret: str) -> list[dict[str, Any]]:
    return [
        {"name": "MLFLOW_TRACKING_URI", "value": tracking_uri},
        kb.secret_env("MLFLOW_TRACKING_USERNAME", secret, "username"),
        kb.secret_env("MLFLOW_TRACKING_PASSWORD", secret, "password"),
        # Egress is DNS, MLflow and the store only: nothing to phone home to.
        {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
    ]


def store_egress(store: ObjectStore) -> list[dict[str, Any]]:
    if isinstance(store, MinioArtifactStore):
        return [kb.to_namespace_rule(store.namespace, store.pod_labels, [store.port])]
    # S3 has no fixed addresses: HTTPS anywhere but the node's instance metadata (node credentials).
    return [
        kb.to_cidrs_rule(["0.0.0.0/0"], [S3_HTTPS_PORT], except_cidrs=[kb.INSTANCE_METADATA_CIDR]),
        kb.to_cidrs_rule([kb.POD_IDENTITY_AGENT_CIDR], [POD_IDENTITY_AGENT_PORT]),
    ]


def mlflow_egress(mlflow: MlflowAccess) -> dict[str, Any]:
    return kb.to_namespace_rule(mlflow.namespace, mlflow.pod_labels, [mlflow.port])


def credentials_secret(
    resource_name: str,
    *,
    name: str,
    namespace: str,
    app: str,
    data: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Secret:
    return k8s.core.v1.Secret(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": kb.labels(app)},
        type="Opaque",
        string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
        opts=opts,
    )


# --- the component's Args --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelServerArgs:
    image: pulumi.Input[str]
    """The serving image (docker/serving/Dockerfile), pinned by digest (PlatformImages builds it)."""
    model_name: str
    """The registered model whose alias is served (params.yaml registry.model_name)."""
    store: ObjectStore
    """Where captures go and artifacts may be read: S3 through Pod Identity, or MinIO."""
    mlflow: MlflowAccess
    """The MLflow server and the read-only user the server logs in as."""
    min_replicas: int = 1
    """Fewest replicas (`serving.minReplicas`); a PodDisruptionBudget keeps one up from 2 on."""
    max_replicas: int = 3
    """Most replicas the HPA may run (`serving.maxReplicas`)."""
    target_cpu_utilization: int = 70
    """Average CPU, in percent of the request, the HPA steers to (`serving.targetCpuUtilization`)."""
    poll_seconds: int = 30
    """How often the server asks MLflow where the alias points (`serving.pollSeconds`)."""
    capture_sample_rate: float = 1.0
    """Share of request rows captured, 0..1 (`serving.capture.sampleRate`)."""
    model_alias: str = "champion"
    """The registry alias the server follows."""
    namespace: str = NAMESPACE
    """Namespace created for the server (and the live drift check)."""
    pipeline_namespace: str = "kubeflow"
    """Where the pipeline steps run; they may call the server."""
    monitoring_namespace: str = "monitoring"
    """Where Prometheus runs; it may scrape the metrics port."""
    resources: kb.Resources = SERVER_RESOURCES
    """Requests and limits of the server container."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the ServiceMonitor needs first (the monitoring stack, whose chart brings its CRD)."""
    eks_cluster_name: pulumi.Input[str] | None = None
    """The EKS cluster the Pod Identity association is made in; required with an S3 store."""


def validate_model_server_args(args: ModelServerArgs) -> None:
    """The component's own invariants; the config rules behind them live in settings.py."""
    if not args.model_name:
        raise ValueError("ModelServerArgs.model_name: expected the registered model's name")
    if not 1 <= args.min_replicas <= args.max_replicas:
        raise ValueError(
            f"ModelServerArgs: min_replicas = {args.min_replicas}, max_replicas = {args.max_replicas}: "
            "expected 1 <= min_replicas <= max_replicas"
        )
    if not 1 <= args.target_cpu_utilization <= 100:
        raise ValueError(
            f"ModelServerArgs.target_cpu_utilization = {args.target_cpu_utilization}: expected 1..100 percent"
        )
    if args.poll_seconds < 1:
        raise ValueError(f"ModelServerArgs.poll_seconds = {args.poll_seconds}: expected at least 1")
    if not 0 <= args.capture_sample_rate <= 1:
        raise ValueError(f"ModelServerArgs.capture_sample_rate = {args.capture_sample_rate}: expected 0..1")


# --- pure manifests ------------------------------------------------------------------------------------


def selector() -> dict[str, str]:
    return kb.selector_labels(APP, COMPONENT)


def server_env(args: ModelServerArgs, tracking_uri: str, bucket: str) -> list[dict[str, Any]]:
    return [
        {"name": "HOME", "value": "/tmp"},
        {"name": MODEL_NAME_ENV, "value": args.model_name},
        {"name": MODEL_ALIAS_ENV, "value": args.model_alias},
        {"name": POLL_SECONDS_ENV, "value": str(args.poll_seconds)},
        {"name": CAPTURE_URI_ENV, "value": capture_uri(bucket)},
        {"name": CAPTURE_SAMPLE_RATE_ENV, "value": f"{args.capture_sample_rate:g}"},
        *mlflow_env(tracking_uri, MLFLOW_SECRET),
        *store_env(args.store, STORE_SECRET),
    ]


def deployment_manifest(
    args: ModelServerArgs, *, image: str, tracking_uri: str, bucket: str
) -> dict[str, Any]:
    """The server Deployment: restricted pod, probes on MLServer's health routes, a rollout that never
    takes a serving pod away before its replacement is ready, spread over zones and nodes."""
    container = kb.ContainerSpec(
        name=APP,
        image=image,
        command=["python", "-m", "serving", "serve"],
        env=server_env(args, tracking_uri, bucket),
        ports=[
            {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        volume_mounts=[{"name": "tmp", "mountPath": "/tmp"}],
        resources=args.resources,
        # Ready only once a champion is loaded and passed its smoke check (CONTRACT B).
        readiness=kb.Probe(
            "/v2/health/ready", "http", initial_delay_seconds=5, period_seconds=5, timeout_seconds=3
        ),
        liveness=kb.Probe("/v2/health/live", "http", initial_delay_seconds=0, period_seconds=10),
    )
    pod = kb.PodSpec(
        service_account=APP,
        containers=[container],
        volumes=[kb.temp_volume("tmp", TMP_SIZE)],
        # Zones need two pods to spread over; a zone constraint also keeps pods off nodes without a zone
        # label (kind, k3d), so a single-replica stack does without.
        topology_spread=kb.zone_spread(selector()) if args.min_replicas > 1 else (),
        extra={"terminationGracePeriodSeconds": 30},
    ).manifest()
    (server,) = pod["containers"]
    # Loading the first champion (MLflow download, imports) may take minutes on a cold node: liveness
    # starts counting only once the server answers.
    server["startupProbe"] = {
        **kb.Probe("/v2/health/live", "http", initial_delay_seconds=5, period_seconds=5).manifest(),
        "failureThreshold": 60,
    }
    # Endpoints controllers and kube-proxy take a moment to drop a terminating pod: keep answering meanwhile.
    server["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": args.namespace, "labels": kb.labels(APP, COMPONENT)},
        "spec": {
            # The HPA owns the count after creation (the resource ignores changes to it).
            "replicas": args.min_replicas,
            "revisionHistoryLimit": 5,
            "minReadySeconds": 10,
            "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "selector": {"matchLabels": selector()},
            "template": {"metadata": {"labels": kb.labels(APP, COMPONENT)}, "spec": pod},
        },
    }


def service_manifest(namespace: str) -> dict[str, Any]:
    return kb.service_manifest(
        APP, namespace, selector(), {"http": HTTP_PORT, "metrics": METRICS_PORT}, COMPONENT
    )


def autoscaler_manifest(args: ModelServerArgs) -> dict[str, Any]:
    """CPU-driven HPA within [min, max]; scale-down waits 5 minutes so a bursty minute does not flap."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": APP, "namespace": args.namespace, "labels": kb.labels(APP, COMPONENT)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "minReplicas": args.min_replicas,
            "maxReplicas": args.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": args.target_cpu_utilization},
                    },
                }
            ],
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                },
            },
        },
    }


def disruption_budget_manifest(namespace: str) -> dict[str, Any]:
    return kb.disruption_budget_manifest(APP, namespace, selector(), min_available=1)


def service_monitor_manifest(namespace: str) -> dict[str, Any]:
    """Scrape `/metrics` on the metrics port as job `model-server` (the "model server down" alert's job)."""
    return {
        "apiVersion": MONITORING_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": {"name": APP, "namespace": namespace, "labels": kb.labels(APP, "scrape")},
        "spec": {
            "selector": {"matchLabels": selector()},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [
                {
                    "port": "metrics",
                    "path": "/metrics",
                    "interval": SCRAPE_INTERVAL,
                    # Pin the job name the alerts use rather than rely on the Service's name.
                    "relabelings": [
                        {"action": "replace", "targetLabel": "job", "replacement": m.SERVING_SCRAPE_JOB}
                    ],
                }
            ],
        },
    }


def client_peers(pipeline_namespace: str) -> list[dict[str, Any]]:
    """Who may send prediction requests: labelled namespaces, labelled pods anywhere, the pipeline steps."""
    client = {MODEL_CLIENT_LABEL: "true"}
    return [
        {"namespaceSelector": {"matchLabels": dict(client)}},
        {"namespaceSelector": {}, "podSelector": {"matchLabels": dict(client)}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": pipeline_namespace}},
            "podSelector": dict(STEP_POD_SELECTOR),
        },
    ]


def network_policies(args: ModelServerArgs) -> list[dict[str, Any]]:
    """Default deny in the namespace, then: clients -> 8080, Prometheus -> 8082; the server -> DNS,
    MLflow and its object store."""
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.monitoring_namespace}},
        "podSelector": {"matchLabels": dict(PROMETHEUS_POD)},
    }
    return [
        kb.default_deny_policy(args.namespace),
        kb.allow_policy(
            APP,
            args.namespace,
            selector(),
            ingress=[
                {
                    "from": client_peers(args.pipeline_namespace),
                    "ports": [{"protocol": "TCP", "port": HTTP_PORT}],
                },
                {"from": [prometheus], "ports": [{"protocol": "TCP", "port": METRICS_PORT}]},
            ],
            egress=[kb.dns_egress_rule(), mlflow_egress(args.mlflow), *store_egress(args.store)],
        ),
    ]


def server_policy_document(bucket_arn: str, kms_key_arn: str | None) -> str:
    """Read MLflow's artifacts (a run logged with a direct s3:// artifact URI is read from the bucket), read
    and write the capture; nothing else in the bucket."""
    return merge_policies(
        read_only_policy_document(bucket_arn, ARTIFACT_PREFIX, kms_key_arn),
        read_write_policy_document(bucket_arn, CAPTURE_PREFIX, kms_key_arn),
    )


def in_cluster_url(namespace: str) -> str:
    return f"http://{APP}.{namespace}.svc.cluster.local:{HTTP_PORT}"


# --- the component -------------------------------------------------------------------------------------


class ModelServer(pulumi.ComponentResource):
    namespace: str
    service_name: str
    url: str
    """In-cluster base URL: POST `{url}/invocations` or `{url}/v2/models/<model>/infer`."""
    port_forward: str
    pod_labels: dict[str, str]

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        validate_model_server_args(args)
        super().__init__("mlops:model_server:ModelServer", name, None, opts)
        self._name = name
        self._args = args
        self.namespace = args.namespace
        self.service_name = APP
        self.pod_labels = selector()
        child = pulumi.ResourceOptions(parent=self)

        self.namespace_resource = kb.declare_namespace(f"{name}-namespace", args.namespace, child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace_resource])
        policies = [
            kb.declare_network_policy(f"{name}-netpol-{p['metadata']['name']}", p, in_ns)
            for p in network_policies(args)
        ]
        account = kb.declare_service_account(f"{name}-service-account", APP, args.namespace, in_ns)
        if isinstance(args.store, S3ArtifactStore):
            store_pod_identity(
                name,
                store=args.store,
                cluster_name=args.eks_cluster_name,
                namespace=args.namespace,
                service_account=APP,
                policy_document=server_policy_document,
                parent=self,
            )
        secrets = self._secrets(in_ns)
        deployment = self._deployment(
            pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.namespace_resource, account, *secrets, *policies],
                ignore_changes=["spec.replicas"],
            )
        )
        service = service_manifest(args.namespace)
        k8s.core.v1.Service(f"{name}-service", metadata=service["metadata"], spec=service["spec"], opts=in_ns)
        autoscaler = autoscaler_manifest(args)
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=autoscaler["metadata"],
            spec=autoscaler["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[deployment]),
        )
        if args.min_replicas >= 2:
            budget = disruption_budget_manifest(args.namespace)
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=budget["metadata"], spec=budget["spec"], opts=in_ns
            )
        monitor = service_monitor_manifest(args.namespace)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version=monitor["apiVersion"],
            kind=monitor["kind"],
            metadata=monitor["metadata"],
            spec=monitor["spec"],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.namespace_resource, *args.depends_on]),
        )

        self.url = in_cluster_url(args.namespace)
        self.port_forward = f"kubectl -n {args.namespace} port-forward svc/{APP} {HTTP_PORT}:{HTTP_PORT}"
        self.register_outputs(
            {"namespace": self.namespace, "url": self.url, "port_forward": self.port_forward}
        )

    # --- children ---

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

    def _deployment(self, opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        a = self._args
        manifest = pulumi.Output.all(a.image, a.mlflow.tracking_uri, store_bucket(a.store)).apply(
            lambda v: deployment_manifest(a, image=v[0], tracking_uri=v[1], bucket=v[2])
        )
        return k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            metadata=manifest.apply(lambda d: d["metadata"]),
            spec=manifest.apply(lambda d: d["spec"]),
            opts=opts,
        )
