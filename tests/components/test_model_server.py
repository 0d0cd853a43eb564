"""ModelServer built from its own Args on the recording mocks: hardening, rollout, autoscaling, who
may reach it and what it may reach, its AWS permissions, no plain secrets, the same checks as the stacks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from components import k8s as kb
from components.artifact_store import MinioArtifactStore, S3ArtifactStore
from components.kubeflow import API_SERVER_POD, MYSQL_POD, SEAWEEDFS_POD
from components.model_server import (
    APP,
    HTTP_PORT,
    METRICS_PORT,
    MODEL_CLIENT_LABEL,
    MlflowAccess,
    ModelServerArgs,
    network_policies,
    validate_model_server_args,
)
from components.reachability import Address, Pod, allowed
from harness.mocks import Record
from monitoring import metrics as m
from tests.components.isolated import (
    checkov_findings,
    env_of,
    objects_of,
    one_object,
    rendered_objects,
    run_component,
    validate_strictly,
)

BUCKET = "mlops-dvc-dev-00001234"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-0001-4b5a-9c8d-7e6f5a4b3c2d"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-serving:1.7.1-abc@sha256:" + "a" * 64
MLFLOW_PASSWORD = "mlflow-reader-password-0123456789"
MINIO_SECRET_KEY = "minio-secret-key-0123456789abcdef"

COMMON = f"""
import pulumi
import pulumi_kubernetes as k8s
from components.artifact_store import MinioArtifactStore, S3ArtifactStore
from components.model_server import MlflowAccess, ModelServer, ModelServerArgs

mlflow = MlflowAccess(
    tracking_uri="http://mlflow.mlflow.svc.cluster.local:5000",
    namespace="mlflow",
    pod_labels={{"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}},
    port=5000,
    username="mlops-model-server",
    password=pulumi.Output.secret("{MLFLOW_PASSWORD}"),
)
monitoring = k8s.core.v1.Namespace("monitoring-stack", metadata={{"name": "monitoring"}})
"""
AWS_PROGRAM = (
    COMMON
    + f"""
ModelServer(
    "serving",
    ModelServerArgs(
        image="{IMAGE}",
        model_name="breast-cancer-classifier",
        store=S3ArtifactStore("{BUCKET}", "{BUCKET_ARN}", "us-east-1", "{KEY_ARN}"),
        eks_cluster_name="mlops-infra-prod",
        mlflow=mlflow,
        min_replicas=2,
        max_replicas=5,
        target_cpu_utilization=65,
        poll_seconds=20,
        capture_sample_rate=0.25,
        depends_on=[monitoring],
    ),
)
"""
)
MINIO_PROGRAM = (
    COMMON
    + f"""
ModelServer(
    "serving",
    ModelServerArgs(
        image="localhost:5001/mlops-serving:1.7.1-abc@sha256:{"b" * 64}",
        model_name="breast-cancer-classifier",
        store=MinioArtifactStore(
            bucket_name="dvc",
            endpoint_url="http://minio.minio.svc.cluster.local:9000",
            namespace="minio",
            pod_labels={{"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "server"}},
            port=9000,
            access_key=pulumi.Output.secret("minio-access-key"),
            secret_key=pulumi.Output.secret("{MINIO_SECRET_KEY}"),
        ),
        mlflow=mlflow,
    ),
)
"""
)


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return run_component(AWS_PROGRAM, tmp_path_factory.mktemp("model_server_aws"), stack="prod")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return run_component(MINIO_PROGRAM, tmp_path_factory.mktemp("model_server_minio"), stack="local")


def _pod(record: Record) -> dict[str, Any]:
    spec: dict[str, Any] = one_object(record, "Deployment", APP)["spec"]["template"]["spec"]
    return spec


def _server(record: Record) -> dict[str, Any]:
    (container,) = _pod(record)["containers"]
    return dict(container)


# --- the pod ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws", "local"])
def test_pss_restricted_non_root_read_only_root_with_a_tmp_volume(stack: str, request: Any) -> None:
    record: Record = request.getfixturevalue(stack)
    pod = _pod(record)
    assert pod["serviceAccountName"] == APP and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    server = _server(record)
    assert server["securityContext"] == kb.container_security_context()
    assert {"name": "tmp", "mountPath": "/tmp"} in server["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}} in pod["volumes"]
    assert server["resources"]["requests"] == {"cpu": "100m", "memory": "384Mi"}
    assert set(server["resources"]["limits"]) == {"cpu", "memory", "ephemeral-storage"}
    account = one_object(record, "ServiceAccount", APP)
    assert account["automountServiceAccountToken"] is False
    namespace = one_object(record, "Namespace", "serving")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_runs_the_built_image_by_digest_with_the_contracts_command_and_ports(aws: Record) -> None:
    server = _server(aws)
    assert server["image"] == IMAGE and server["imagePullPolicy"] == "IfNotPresent"
    assert server["command"] == ["python", "-m", "serving", "serve"]
    assert {p["name"]: p["containerPort"] for p in server["ports"]} == {"http": 8080, "metrics": 8082}


def test_probes_gate_traffic_on_a_loaded_champion_and_liveness_waits_for_start(aws: Record) -> None:
    server = _server(aws)
    assert server["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert server["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    startup = server["startupProbe"]
    assert startup["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300, "a cold first load may take minutes"


def test_rollout_never_removes_a_serving_pod_before_its_replacement_is_ready(aws: Record) -> None:
    deployment = one_object(aws, "Deployment", APP)["spec"]
    assert deployment["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert deployment["minReadySeconds"] > 0
    assert _server(aws)["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    recorded = aws.one("kubernetes:apps/v1:Deployment", "serving-deployment")
    assert recorded.ignore_changes == ["spec.replicas"], "the HPA owns the replica count after creation"
    assert deployment["replicas"] == 2


def test_environment_follows_the_contract_and_holds_no_secret(aws: Record, local: Record) -> None:
    env = env_of(_server(aws))
    assert env["MLOPS_SERVING_MODEL_NAME"] == "breast-cancer-classifier"
    assert env["MLOPS_SERVING_MODEL_ALIAS"] == "champion"
    assert env["MLOPS_SERVING_POLL_SECONDS"] == "20"
    assert env["MLOPS_CAPTURE_SAMPLE_RATE"] == "0.25"
    assert env["MLOPS_CAPTURE_URI"] == f"s3://{BUCKET}/inference-capture"
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert env["MLFLOW_TRACKING_PASSWORD"] == {
        "secretKeyRef": {"name": "model-server-mlflow", "key": "password"}
    }
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_ACCESS_KEY_ID" not in env, "AWS: Pod Identity, no keys"
    minio = env_of(_server(local))
    assert minio["MLOPS_CAPTURE_URI"] == "s3://dvc/inference-capture"
    assert minio["AWS_ENDPOINT_URL_S3"] == "http://minio.minio.svc.cluster.local:9000"
    assert minio["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "model-server-object-store", "key": "secret-key"}
    }
    for record in (aws, local):
        text = json.dumps(rendered_objects(record))
        assert MLFLOW_PASSWORD not in text and MINIO_SECRET_KEY not in text
    secret = local.one("kubernetes:core/v1:Secret", "serving-object-store").inputs["stringData"]
    assert secret["secret-key"] == MINIO_SECRET_KEY


# --- scaling and availability ----------------------------------------------------------------------------


def test_hpa_scales_the_deployment_on_cpu_within_the_bounds(aws: Record, local: Record) -> None:
    hpa = one_object(aws, "HorizontalPodAutoscaler", APP)
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (2, 5)
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}},
        }
    ]
    local_spec = one_object(local, "HorizontalPodAutoscaler", APP)["spec"]
    assert (local_spec["minReplicas"], local_spec["maxReplicas"]) == (1, 3)


def test_pdb_and_zone_spread_from_two_replicas_on(aws: Record, local: Record) -> None:
    budget = one_object(aws, "PodDisruptionBudget", APP)["spec"]
    assert budget == {"minAvailable": 1, "selector": {"matchLabels": kb.selector_labels(APP, "inference")}}
    spread = _pod(aws)["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert not objects_of(local, "PodDisruptionBudget")
    assert "topologySpreadConstraints" not in _pod(local), "kind nodes carry no zone label"


def test_service_and_service_monitor_scrape_job_model_server(aws: Record) -> None:
    service = one_object(aws, "Service", m.SERVING_SCRAPE_JOB)["spec"]
    assert {(p["name"], p["port"]) for p in service["ports"]} == {("http", 8080), ("metrics", 8082)}
    assert service["selector"] == kb.selector_labels(APP, "inference")
    monitor = one_object(aws, "ServiceMonitor", APP)["spec"]
    (endpoint,) = monitor["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("metrics", "/metrics")
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": m.SERVING_SCRAPE_JOB}
    ]
    assert set(monitor["selector"]["matchLabels"].items()) <= set(
        one_object(aws, "Service", APP)["metadata"]["labels"].items()
    )
    recorded = aws.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "serving-service-monitor")
    crd_owner = aws.one("kubernetes:core/v1:Namespace", "monitoring-stack")
    assert crd_owner.urn in recorded.dependencies, "waits for whatever brings the CRD"


# --- network ---------------------------------------------------------------------------------------------

SERVER = Pod("serving", kb.selector_labels(APP, "inference"), ip="10.0.70.10")
CLIENT_NS = Pod("team-a", {"app": "scorer"}, namespace_labels={MODEL_CLIENT_LABEL: "true"})
CLIENT_POD = Pod("team-b", {"app": "scorer", MODEL_CLIENT_LABEL: "true"})
STRANGER = Pod("team-b", {"app": "scorer"})
STEP = Pod("kubeflow", {"workflows.argoproj.io/workflow": "training-abc12"})
KFP_API = Pod("kubeflow", dict(API_SERVER_POD))
PROMETHEUS = Pod("monitoring", {"app.kubernetes.io/name": "prometheus"})
MLFLOW = Pod("mlflow", {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"})
MYSQL = Pod("kubeflow", dict(MYSQL_POD))
SEAWEEDFS = Pod("kubeflow", dict(SEAWEEDFS_POD))
MINIO = Pod("minio", {"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "server"})
S3 = Address("52.216.8.100")
METADATA = Address("169.254.169.254")
POD_IDENTITY_AGENT = Address("169.254.170.23")


def _policies(record: Record) -> list[dict[str, Any]]:
    return objects_of(record, "NetworkPolicy")


def test_ckv2_k8s_6_namespace_default_deny_then_only_the_server_rules(aws: Record) -> None:
    names = {p["metadata"]["name"] for p in _policies(aws)}
    assert names == {"default-deny-all", APP}


@pytest.mark.parametrize(
    ("source", "expected"),
    [(CLIENT_NS, True), (CLIENT_POD, True), (STEP, True), (STRANGER, False), (KFP_API, False)],
    ids=["labelled-namespace", "labelled-pod", "pipeline-step", "unlabelled-pod", "kfp-api-server"],
)
def test_who_may_call_the_model(aws: Record, source: Pod, expected: bool) -> None:
    assert allowed(_policies(aws), source, SERVER, HTTP_PORT) is expected


def test_only_prometheus_scrapes_metrics(aws: Record) -> None:
    policies = _policies(aws)
    assert allowed(policies, PROMETHEUS, SERVER, METRICS_PORT)
    assert not allowed(policies, CLIENT_NS, SERVER, METRICS_PORT)
    assert not allowed(policies, PROMETHEUS, SERVER, HTTP_PORT), "Prometheus has no business predicting"


def test_server_reaches_dns_mlflow_and_s3_and_never_the_platform_databases(aws: Record) -> None:
    policies = _policies(aws)
    assert allowed(policies, SERVER, MLFLOW, 5000)
    assert allowed(policies, SERVER, Pod("kube-system", {"k8s-app": "kube-dns"}), 53, "UDP")
    assert allowed(policies, SERVER, S3, 443) and allowed(policies, SERVER, POD_IDENTITY_AGENT, 80)
    assert not allowed(policies, SERVER, MYSQL, 3306)
    assert not allowed(policies, SERVER, SEAWEEDFS, 8333)
    assert not allowed(policies, SERVER, KFP_API, 8888)
    assert not allowed(policies, SERVER, METADATA, 80) and not allowed(policies, SERVER, METADATA, 443)
    assert not allowed(policies, SERVER, MINIO, 9000), "AWS: no MinIO"


def test_on_minio_the_server_reaches_minio_and_not_the_internet(local: Record) -> None:
    policies = _policies(local)
    assert allowed(policies, SERVER, MINIO, 9000)
    assert not allowed(policies, SERVER, S3, 443)
    assert not allowed(policies, SERVER, POD_IDENTITY_AGENT, 80)


# --- AWS permissions -------------------------------------------------------------------------------------


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


def test_cis_eks_5_2_1_pod_identity_reads_artifacts_and_writes_only_the_capture(aws: Record) -> None:
    association = aws.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("serving", APP)
    (inline,) = aws.of_type("aws:iam/rolePolicy:RolePolicy")
    statements = json.loads(inline.inputs["policy"])["Statement"]
    by_resource: dict[str, set[str]] = {}
    for statement in statements:
        resources = statement["Resource"]
        for resource in [resources] if isinstance(resources, str) else resources:
            by_resource.setdefault(resource, set()).update(_actions(statement))
    assert by_resource[f"{BUCKET_ARN}/mlflow/*"] == {"s3:GetObject", "s3:GetObjectVersion"}
    assert "s3:PutObject" in by_resource[f"{BUCKET_ARN}/inference-capture/*"]
    assert "s3:DeleteObject" in by_resource[f"{BUCKET_ARN}/inference-capture/*"]
    object_resources = {r for r in by_resource if r.startswith(f"{BUCKET_ARN}/")}
    assert object_resources == {f"{BUCKET_ARN}/mlflow/*", f"{BUCKET_ARN}/inference-capture/*"}
    assert by_resource[KEY_ARN] == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert not any("*" in a for s in statements for a in _actions(s))


def test_local_stack_has_no_aws_resources(local: Record) -> None:
    assert not [r for r in local.resources if r.type.startswith("aws:")]


# --- the same checks as the stacks' objects --------------------------------------------------------------


@pytest.mark.parametrize("stack", ["aws", "local"])
def test_every_object_validates_strictly(stack: str, request: Any) -> None:
    record: Record = request.getfixturevalue(stack)
    assert validate_strictly(rendered_objects(record)) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("stack", ["aws", "local"])
def test_checkov_finds_nothing(stack: str, request: Any, tmp_path: Path) -> None:
    record: Record = request.getfixturevalue(stack)
    assert checkov_findings(rendered_objects(record), tmp_path) == []


# --- the component's own invariants ----------------------------------------------------------------------

BASE = ModelServerArgs(
    image=IMAGE,
    model_name="m",
    store=S3ArtifactStore(BUCKET, BUCKET_ARN, "us-east-1"),
    eks_cluster_name="c",
    mlflow=MlflowAccess("http://mlflow:5000", "mlflow", {"a": "b"}, 5000, "u", "p"),
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas = 3, max_replicas = 2"),
        ({"min_replicas": 0}, "1 <= min_replicas"),
        ({"target_cpu_utilization": 0}, "target_cpu_utilization = 0"),
        ({"capture_sample_rate": 1.5}, "capture_sample_rate = 1.5"),
        ({"poll_seconds": 0}, "poll_seconds = 0"),
        ({"model_name": ""}, "model_name"),
    ],
)
def test_invalid_args_are_refused_before_anything_is_registered(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_model_server_args(dataclasses.replace(BASE, **change))


def test_minio_store_policies_name_the_minio_pods() -> None:
    store = MinioArtifactStore("dvc", "http://minio:9000", "minio", {"app": "minio"}, 9000, "a", "s")
    policies = network_policies(dataclasses.replace(BASE, store=store))
    assert allowed(policies, SERVER, Pod("minio", {"app": "minio"}), 9000)
    assert not allowed(policies, SERVER, Pod("minio", {"app": "console"}), 9000)


# --- together with the other components' policies (the wiring __main__ must do) ----------------------------


def _platform_policies(args: ModelServerArgs, *, wired: bool) -> list[dict[str, Any]]:
    """Every namespace's policies as the components declare them; `wired` adds `serving` where the
    model server and the live drift check must be let in (MLflow, MinIO, the Pushgateway, the steps)."""
    from components import kubeflow, minio, mlflow, monitoring
    from components.live_drift import LiveDriftCheckArgs
    from components.live_drift import network_policy as live_drift_policy

    extra = ("serving",) if wired else ()
    store = MinioArtifactStore("mlflow", "http://minio:9000", "minio", dict(MINIO.labels), 9000, "a", "s")
    return [
        *network_policies(args),
        live_drift_policy(
            LiveDriftCheckArgs(
                args.image, "m", args.store, args.mlflow, "http://pushgateway.monitoring.svc:9091"
            )
        ),
        *mlflow.network_policies("mlflow", ("kubeflow", "monitoring", *extra), store, None),
        *minio.network_policies(minio.MinioArgs(10, client_namespaces=("mlflow", "kubeflow", *extra))),
        *monitoring.network_policies("monitoring", ("kubeflow", *extra)),
        *kubeflow.network_policies(
            mlflow_namespace="mlflow",
            monitoring_namespace="monitoring",
            minio_namespace="minio",
            pod_identity=False,
            model_server_namespace="serving" if wired else None,
        ),
    ]


LOCAL_ARGS = dataclasses.replace(
    BASE,
    store=MinioArtifactStore("dvc", "http://minio:9000", "minio", dict(MINIO.labels), 9000, "a", "s"),
    mlflow=MlflowAccess("http://mlflow:5000", "mlflow", dict(MLFLOW.labels), 5000, "u", "p"),
)
CHECK = Pod("serving", kb.selector_labels("live-drift", "check"), ip="10.0.70.30")
PUSHGATEWAY = Pod("monitoring", {"app.kubernetes.io/name": "prometheus-pushgateway"})


def test_wired_into_the_platform_every_flow_serving_needs_is_open_on_both_sides() -> None:
    policies = _platform_policies(LOCAL_ARGS, wired=True)
    assert allowed(policies, SERVER, MLFLOW, 5000), "MLflow's ingress must admit `serving`"
    assert allowed(policies, SERVER, MINIO, 9000), "MinIO's ingress must admit `serving`"
    assert allowed(policies, CHECK, MLFLOW, 5000) and allowed(policies, CHECK, MINIO, 9000)
    assert allowed(policies, CHECK, PUSHGATEWAY, 9091), "the Pushgateway must admit `serving`"
    assert allowed(policies, STEP, SERVER, HTTP_PORT), "the steps' egress must include `serving`"
    assert allowed(policies, PROMETHEUS, SERVER, METRICS_PORT)
    assert not allowed(policies, SERVER, MYSQL, 3306) and not allowed(policies, SERVER, SEAWEEDFS, 8333)
    assert not allowed(policies, KFP_API, SERVER, HTTP_PORT)


def test_unwired_the_other_namespaces_keep_serving_out() -> None:
    """Why the wiring matters: each side's default deny holds until its component lists `serving`."""
    policies = _platform_policies(LOCAL_ARGS, wired=False)
    assert not allowed(policies, SERVER, MLFLOW, 5000)
    assert not allowed(policies, SERVER, MINIO, 9000)
    assert not allowed(policies, CHECK, PUSHGATEWAY, 9091)
    assert not allowed(policies, STEP, SERVER, HTTP_PORT)
