"""LiveDriftCheck built from its own Args on the recording mocks: the schedule, the hardening, no overlap,
a deadline, its own identity that may only read, egress to exactly what it needs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from components import k8s as kb
from components.artifact_store import S3ArtifactStore
from components.kubeflow import MYSQL_POD
from components.live_drift import APP, LiveDriftCheckArgs, validate_live_drift_args
from components.model_server import APP as SERVER_APP
from components.model_server import MlflowAccess
from components.reachability import Address, Pod, allowed
from harness.mocks import Record
from tests.components.isolated import (
    checkov_findings,
    env_of,
    objects_of,
    one_object,
    rendered_objects,
    run_component,
    validate_strictly,
)

BUCKET = "mlops-dvc-prod-00004321"
BUCKET_ARN = f"arn:aws:s3:::{BUCKET}"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-serving:1.7.1-abc@sha256:" + "c" * 64
PASSWORD = "pipelines-password-0123456789abcdef"

COMMON = f"""
import pulumi
import pulumi_kubernetes as k8s
from components.live_drift import LiveDriftCheck, LiveDriftCheckArgs
from components.artifact_store import MinioArtifactStore, S3ArtifactStore
from components.model_server import MlflowAccess

namespace = k8s.core.v1.Namespace("serving-namespace", metadata={{"name": "serving"}})
mlflow = MlflowAccess(
    tracking_uri="http://mlflow.mlflow.svc.cluster.local:5000",
    namespace="mlflow",
    pod_labels={{"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"}},
    port=5000,
    username="mlops-pipelines",
    password=pulumi.Output.secret("{PASSWORD}"),
)
"""
AWS_PROGRAM = (
    COMMON
    + f"""
LiveDriftCheck(
    "live-drift",
    LiveDriftCheckArgs(
        image="{IMAGE}",
        model_name="breast-cancer-classifier",
        store=S3ArtifactStore("{BUCKET}", "{BUCKET_ARN}", "us-east-1"),
        eks_cluster_name="mlops-infra-prod",
        mlflow=mlflow,
        pushgateway_url="http://pushgateway.monitoring.svc:9091",
        schedule="*/30 * * * *",
        window_hours=6,
        min_rows=500,
        depends_on=[namespace],
    ),
)
"""
)
MINIO_PROGRAM = (
    COMMON
    + """
LiveDriftCheck(
    "live-drift",
    LiveDriftCheckArgs(
        image="localhost:5001/mlops-serving:1.7.1-abc@sha256:"""
    + "d" * 64
    + """",
        model_name="breast-cancer-classifier",
        store=MinioArtifactStore(
            bucket_name="dvc",
            endpoint_url="http://minio.minio.svc.cluster.local:9000",
            namespace="minio",
            pod_labels={"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "server"},
            port=9000,
            access_key=pulumi.Output.secret("minio-access-key"),
            secret_key=pulumi.Output.secret("minio-secret-key-0123456789"),
        ),
        mlflow=mlflow,
        pushgateway_url="http://pushgateway.monitoring.svc:9091",
        retention_days=14,
        depends_on=[namespace],
    ),
)
"""
)


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return run_component(AWS_PROGRAM, tmp_path_factory.mktemp("live_drift_aws"), stack="prod")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Record:
    return run_component(MINIO_PROGRAM, tmp_path_factory.mktemp("live_drift_minio"), stack="local")


def _cronjob(record: Record) -> dict[str, Any]:
    return one_object(record, "CronJob", APP)


def _container(record: Record) -> dict[str, Any]:
    (container,) = _cronjob(record)["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_runs_the_serving_image_on_the_schedule_without_overlap_and_with_a_deadline(aws: Record) -> None:
    spec = _cronjob(aws)["spec"]
    assert spec["schedule"] == "*/30 * * * *" and spec["timeZone"] == "UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["successfulJobsHistoryLimit"] <= 3 and spec["failedJobsHistoryLimit"] <= 3
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 1800 and job["backoffLimit"] == 1
    container = _container(aws)
    assert container["image"] == IMAGE
    assert container["command"] == ["python", "-m", "serving", "live-drift"]


@pytest.mark.parametrize("stack", ["aws", "local"])
def test_pod_is_restricted_with_its_own_account_and_no_token(stack: str, request: Any) -> None:
    record: Record = request.getfixturevalue(stack)
    pod = _cronjob(record)["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == APP != SERVER_APP
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert _container(record)["securityContext"] == kb.container_security_context()
    assert one_object(record, "ServiceAccount", APP)["automountServiceAccountToken"] is False


def test_environment_names_the_window_the_capture_and_the_pushgateway(aws: Record, local: Record) -> None:
    env = env_of(_container(aws))
    assert env["MLOPS_CAPTURE_URI"] == f"s3://{BUCKET}/inference-capture"
    assert (env["MLOPS_LIVE_DRIFT_WINDOW_HOURS"], env["MLOPS_LIVE_DRIFT_MIN_ROWS"]) == ("6", "500")
    assert env["MLOPS_PUSHGATEWAY_URL"] == "http://pushgateway.monitoring.svc:9091"
    assert env["MLFLOW_TRACKING_PASSWORD"] == {
        "secretKeyRef": {"name": "live-drift-mlflow", "key": "password"}
    }
    assert "MLOPS_CAPTURE_RETENTION_DAYS" not in env, "AWS: the bucket's lifecycle rule expires the capture"
    minio = env_of(_container(local))
    assert minio["MLOPS_CAPTURE_RETENTION_DAYS"] == "14"
    assert minio["AWS_ACCESS_KEY_ID"] == {
        "secretKeyRef": {"name": "live-drift-object-store", "key": "access-key"}
    }
    for record in (aws, local):
        assert PASSWORD not in json.dumps(rendered_objects(record))


CHECK = Pod("serving", kb.selector_labels(APP, "check"), ip="10.0.70.30")
PUSHGATEWAY = Pod("monitoring", {"app.kubernetes.io/name": "prometheus-pushgateway"})
MLFLOW = Pod("mlflow", {"app.kubernetes.io/name": "mlflow", "app.kubernetes.io/component": "tracking-server"})
SERVER = Pod("serving", kb.selector_labels(SERVER_APP, "inference"))


def test_egress_to_mlflow_pushgateway_and_store_only_and_no_ingress(aws: Record) -> None:
    # The namespace's default deny comes with the ModelServer; this component adds only its allow rule.
    policies = [kb.default_deny_policy("serving"), *objects_of(aws, "NetworkPolicy")]
    assert allowed(policies, CHECK, PUSHGATEWAY, 9091)
    assert allowed(policies, CHECK, MLFLOW, 5000)
    assert allowed(policies, CHECK, Address("52.216.8.100"), 443)
    assert not allowed(policies, CHECK, Pod("kubeflow", dict(MYSQL_POD)), 3306)
    assert not allowed(policies, CHECK, Address("169.254.169.254"), 80)
    assert not allowed(policies, CHECK, SERVER, 8080), "it reads the capture, not the server"
    assert not allowed(policies, SERVER, CHECK, 8080), "nothing may connect to it"


def test_cis_eks_5_2_1_its_role_only_reads_the_capture_and_mlflow_artifacts(aws: Record) -> None:
    association = aws.one("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == ("serving", APP)
    (inline,) = aws.of_type("aws:iam/rolePolicy:RolePolicy")
    statements = json.loads(inline.inputs["policy"])["Statement"]
    actions = {
        a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert not actions & {"s3:PutObject", "s3:DeleteObject"}
    objects = {s["Resource"] for s in statements if "s3:GetObject" in s["Action"]}
    assert objects == {f"{BUCKET_ARN}/inference-capture/*", f"{BUCKET_ARN}/mlflow/*"}


def test_waits_for_the_server_namespace(aws: Record) -> None:
    namespace = aws.one("kubernetes:core/v1:Namespace", "serving-namespace")
    cronjob = aws.one("kubernetes:batch/v1:CronJob", "live-drift-cronjob")
    assert namespace.urn in cronjob.dependencies


@pytest.mark.parametrize("stack", ["aws", "local"])
def test_every_object_validates_strictly(stack: str, request: Any) -> None:
    record: Record = request.getfixturevalue(stack)
    assert validate_strictly(rendered_objects(record)) >= 4


@pytest.mark.slow
def test_checkov_finds_nothing(aws: Record, tmp_path: Path) -> None:
    objects = [kb.default_deny_policy("serving"), *rendered_objects(aws)]
    assert checkov_findings(objects, tmp_path) == []


BASE = LiveDriftCheckArgs(
    image=IMAGE,
    model_name="m",
    store=S3ArtifactStore(BUCKET, BUCKET_ARN, "us-east-1"),
    eks_cluster_name="c",
    mlflow=MlflowAccess("http://mlflow:5000", "mlflow", {"a": "b"}, 5000, "u", "p"),
    pushgateway_url="http://pushgateway:9091",
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": "hourly"}, "schedule = 'hourly'"),
        ({"schedule": "* * * *"}, "five cron fields"),
        ({"window_hours": 0}, "window_hours = 0: expected 1..720"),
        ({"min_rows": 29}, "min_rows = 29: expected at least 30"),
        ({"retention_days": 0}, "retention_days = 0"),
        ({"active_deadline_seconds": 10}, "active_deadline_seconds = 10"),
    ],
)
def test_invalid_args_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_live_drift_args(dataclasses.replace(BASE, **change))
