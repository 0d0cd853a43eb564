"""MlflowServer on every stack: SECURITY.md rows for MLflow, pods, RDS and the production shape."""

from __future__ import annotations

import json
import re

import pytest

from components.mlflow import mlflow_server_args, service_hosts
from tests.support.rendered_stacks import (
    STACKS,
    arg_value,
    children,
    env_of,
    k8s_object,
    pod_specs,
    record,
    rendered,
)

MLFLOW = "mlops:mlflow:MlflowServer"


def mlflow_container(stack: str) -> dict:
    deployment = k8s_object(stack, "Deployment", "mlflow", "mlflow")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def allowed_hosts(stack: str) -> list[str]:
    return arg_value(mlflow_container(stack)["args"], "--allowed-hosts").split(",")


# --- the one function that builds the command line ------------------------------------------------------


def server_args(**overrides: object) -> list[str]:
    options: dict = {
        "host": "0.0.0.0",
        "port": 5000,
        "artifacts_destination": "s3://bucket/mlflow",
        "allowed_hosts": service_hosts("mlflow"),
        "cors_allowed_origins": ["http://localhost:5000"],
        "backend_store_uri": None,
    }
    return mlflow_server_args(**(options | overrides))


@pytest.mark.parametrize("field", ["allowed_hosts", "cors_allowed_origins"])
@pytest.mark.parametrize("bad", [[], ["*"], ["mlflow", "*"]])
def test_server_args_refuse_wildcard_or_empty(field: str, bad: list[str]) -> None:
    with pytest.raises(ValueError, match="not '\\*'"):
        server_args(**{field: bad})


def test_server_args_leave_backend_uri_to_env_when_not_given() -> None:
    assert "--backend-store-uri" not in server_args(backend_store_uri=None)
    assert (
        arg_value(server_args(backend_store_uri="sqlite:///x.db"), "--backend-store-uri") == "sqlite:///x.db"
    )


# --- every stack ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_pss_restricted_namespaces_labelled(stack: str) -> None:
    for name in ["mlflow", *(["minio"] if stack == "local" else [])]:
        labels = k8s_object(stack, "Namespace", name)["metadata"]["labels"]
        assert labels["pod-security.kubernetes.io/enforce"] == "restricted", name
        assert labels["pod-security.kubernetes.io/warn"] == "restricted", name


@pytest.mark.parametrize("stack", STACKS)
def test_ckv_k8s_20_23_28_37_40_containers_restricted(stack: str) -> None:
    specs = pod_specs(stack)
    assert specs, f"{stack}: no workloads rendered"
    for where, spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), where
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 10000, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert {"cpu", "memory"} <= set(c["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where


@pytest.mark.parametrize("stack", STACKS)
def test_ckv_k8s_38_41_own_service_account_without_token(stack: str) -> None:
    for where, spec in pod_specs(stack):
        assert spec["serviceAccountName"] not in ("", "default"), where
        assert spec["automountServiceAccountToken"] is False, where


@pytest.mark.parametrize("stack", STACKS)
def test_ckv_k8s_14_43_images_pinned_by_tag_and_digest(stack: str) -> None:
    for where, spec in pod_specs(stack):
        for c in spec["containers"]:
            image = c["image"]
            name_and_tag = image.split("@")[0]
            assert ":" in name_and_tag.rsplit("/", 1)[-1] and not name_and_tag.endswith(":latest"), where
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), f"{where}: {image} is not pinned by digest"


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_basic_auth_credentials_from_secret(stack: str) -> None:
    container = mlflow_container(stack)
    assert arg_value(container["args"], "--app-name") == "basic-auth"
    env = env_of(container)
    for variable, key in [
        ("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-password"),
        ("MLFLOW_FLASK_SERVER_SECRET_KEY", "flask-secret-key"),
    ]:
        assert env[variable] == {"secretKeyRef": {"name": "mlflow-auth", "key": key}}, variable
    secret = k8s_object(stack, "Secret", "mlflow-auth", "mlflow")
    assert {"admin-password", "flask-secret-key", "basic_auth.ini"} <= set(secret["stringData"])
    # The values come from generated passwords, not from the program's text.
    generated = {
        r.name for r in children(stack, MLFLOW) if r.type == "random:index/randomPassword:RandomPassword"
    }
    assert {"mlflow-admin-password", "mlflow-flask-secret-key"} <= generated
    sensitive = record(stack).one("kubernetes:core/v1:Secret", "mlflow-auth")
    assert sensitive.inputs["stringData"]["admin-password"] not in ("", "admin", "password", "password1234")


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_allowed_hosts_are_the_service_names_not_wildcard(stack: str) -> None:
    hosts = allowed_hosts(stack)
    assert "*" not in hosts
    assert {"mlflow.mlflow.svc.cluster.local:5000", "mlflow.mlflow:5000"} <= set(hosts)
    origins = arg_value(mlflow_container(stack)["args"], "--cors-allowed-origins").split(",")
    assert origins and "*" not in origins


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_probes_metrics_and_writable_tmp(stack: str) -> None:
    container = mlflow_container(stack)
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert arg_value(container["args"], "--expose-prometheus").startswith("/tmp/")
    assert {"mountPath": "/tmp", "name": "tmp"} in container["volumeMounts"]
    annotations = k8s_object(stack, "Deployment", "mlflow", "mlflow")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("stack", STACKS)
def test_ckv2_k8s_6_mlflow_namespace_default_deny(stack: str) -> None:
    deny = k8s_object(stack, "NetworkPolicy", "default-deny-all", "mlflow")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = k8s_object(stack, "NetworkPolicy", "mlflow-server", "mlflow")["spec"]
    ports = {p["port"] for rule in allow["ingress"] for p in rule["ports"]}
    assert ports == {5000}
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in allow["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"mlflow", "kubeflow", "monitoring", "serving"}


@pytest.mark.parametrize("stack", STACKS)
def test_tracking_uri_and_port_forward_exported(stack: str) -> None:
    exports = record(stack).exports
    assert exports["mlflow_tracking_uri"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    assert exports["mlflow_port_forward"] == "kubectl -n mlflow port-forward svc/mlflow 5000:5000"
    assert "mlflow_admin_password" in record(stack).secret_exports


# --- per stack -----------------------------------------------------------------------------------------


def test_local_artifacts_in_minio_with_credentials_from_secret() -> None:
    container = mlflow_container("local")
    assert arg_value(container["args"], "--artifacts-destination") == "s3://mlflow/mlflow"
    env = env_of(container)
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio.minio.svc.cluster.local:9000"
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": "mlflow-artifact-store", "key": "secret-key"}
    }
    assert not record("local").of_type("mlops:pod_identity:PodIdentityRole")


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_sqlite_backend_on_a_volume_with_one_replica(stack: str) -> None:
    deployment = k8s_object(stack, "Deployment", "mlflow", "mlflow")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert arg_value(args, "--backend-store-uri") == "sqlite:////mlflow/data/mlflow.db"
    claim = k8s_object(stack, "PersistentVolumeClaim", "mlflow-data", "mlflow")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert not record(stack).of_type("aws:rds/instance:Instance")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_ckv_aws_286_290_pod_identity_scoped_to_mlflow_prefix(stack: str) -> None:
    rec = record(stack)
    roles = [r for r in rec.of_type("mlops:pod_identity:PodIdentityRole") if r.name == "mlflow-pod-identity"]
    assert len(roles) == 1
    policy_json = next(
        r.inputs["policy"] for r in rec.of_type("aws:iam/rolePolicy:RolePolicy") if r.parent == roles[0].urn
    )
    policy = json.loads(policy_json)
    bucket_arn = rec.one("aws:s3/bucket:Bucket").outputs["arn"]
    object_resources = {
        s["Resource"]
        for s in policy["Statement"]
        if any(str(a).startswith("s3:PutObject") for a in s["Action"])
    }
    assert object_resources == {f"{bucket_arn}/mlflow/*"}
    assert not any(s.get("Resource") == "*" for s in policy["Statement"])
    env = env_of(mlflow_container(stack))
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert arg_value(mlflow_container(stack)["args"], "--artifacts-destination") == (
        f"s3://{rec.one('aws:s3/bucket:Bucket').outputs['bucket']}/mlflow"
    )


def test_prod_rds_ckv_aws_16_17_133_157_293_encrypted_private_backed_up_multi_az() -> None:
    db = record("prod").one("aws:rds/instance:Instance")
    i = db.inputs
    assert i["storageEncrypted"] is True
    assert i["publiclyAccessible"] is False
    assert i["backupRetentionPeriod"] >= 14
    assert i["multiAz"] is True
    assert i["deletionProtection"] is True
    assert i["skipFinalSnapshot"] is False and i["finalSnapshotIdentifier"]
    assert db.protect is True and db.retain_on_delete is True


def test_prod_rds_ckv2_aws_69_ssl_forced() -> None:
    rec = record("prod")
    params = rec.one("aws:rds/parameterGroup:ParameterGroup")
    assert {"name": "rds.force_ssl", "value": "1"} in [
        {k: p[k] for k in ("name", "value")} for p in params.inputs["parameters"]
    ]
    db = rec.one("aws:rds/instance:Instance")
    assert db.inputs["parameterGroupName"] == params.outputs["name"]
    assert db.inputs["dbSubnetGroupName"] == rec.one("aws:rds/subnetGroup:SubnetGroup").outputs["name"]


def test_prod_rds_reachable_only_from_cluster_nodes_in_private_subnets() -> None:
    rec = record("prod")
    group = rec.one("aws:ec2/securityGroup:SecurityGroup", "mlflow-db")
    (rule,) = group.inputs["ingress"]
    assert rule["fromPort"] == rule["toPort"] == 5432
    assert rule["securityGroups"] == ["sg-0n0d3s"]
    assert not rule.get("cidrBlocks")
    subnets = rec.one("aws:rds/subnetGroup:SubnetGroup").inputs["subnetIds"]
    private = {r.id for r in rec.of_type("aws:ec2/subnet:Subnet") if not r.inputs.get("mapPublicIpOnLaunch")}
    assert subnets and set(subnets) <= private


def test_prod_password_reaches_pod_only_through_secret() -> None:
    container = mlflow_container("prod")
    assert "--backend-store-uri" not in container["args"]
    assert env_of(container)["MLFLOW_BACKEND_STORE_URI"] == {
        "secretKeyRef": {"name": "mlflow-auth", "key": "backend-store-uri"}
    }
    secret = record("prod").one("kubernetes:core/v1:Secret", "mlflow-auth").inputs["stringData"]
    password = (
        record("prod")
        .one("random:index/randomPassword:RandomPassword", "mlflow-db-password")
        .outputs["result"]
    )
    assert secret["backend-store-uri"].startswith(f"postgresql+psycopg2://mlflow:{password}@")
    assert secret["backend-store-uri"].endswith("?sslmode=require")
    assert password not in json.dumps(rendered("prod").objects)


def test_prod_replicas_pdb_and_topology_spread() -> None:
    deployment = k8s_object("prod", "Deployment", "mlflow", "mlflow")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert all(c["labelSelector"]["matchLabels"] == selector for c in spread)
    pdb = k8s_object("prod", "PodDisruptionBudget", "mlflow", "mlflow")
    assert pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"] == selector


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_no_pdb_for_a_single_replica(stack: str) -> None:
    assert not [o for o in rendered(stack).objects if o["kind"] == "PodDisruptionBudget"]
