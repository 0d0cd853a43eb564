"""KubeflowPipelines: upstream manifests at a pinned tag in one pass, on our credentials and network policy,
pipeline-runner access, UI/API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import k8s as kb
from components import kubeflow as kfp
from components.kubeflow import DEPLOYMENT_RESOURCES, REPO_ROOT, merge_policies, overlays
from components.monitoring import PROMETHEUS_POD, PUSHGATEWAY_POD
from components.reachability import Address, Pod, allowed
from pipelines import cluster_env
from tests.support.rendered_stacks import STACKS, k8s_object, record, rendered
from tests.support.tools import require_tool
from versions import KUBEFLOW_PIPELINES_VERSIONS

KFP = "mlops:kubeflow:KubeflowPipelines"
DIRECTORY = "kubernetes:kustomize/v2:Directory"
SECRET = "kubernetes:core/v1:Secret"
PASSWORD = "random:index/randomPassword:RandomPassword"
VERSION = KUBEFLOW_PIPELINES_VERSIONS[-1]  # the settings default; no committed stack overrides it


def kustomization(stack: str, name: str) -> dict:
    directory = record(stack).one(DIRECTORY, name).inputs["directory"]
    return yaml.safe_load((REPO_ROOT / directory / "kustomization.yaml").read_text())


@pytest.mark.parametrize("stack", STACKS)
def test_upstream_manifests_at_the_pinned_version_cluster_scoped_first(stack: str) -> None:
    rec = record(stack)
    cluster_scoped = rec.one(DIRECTORY, "kubeflow-cluster-scoped")
    platform = rec.one(DIRECTORY, "kubeflow-platform")
    assert cluster_scoped.urn in platform.dependencies
    version = VERSION
    assert version == "2.17.0" and version in KUBEFLOW_PIPELINES_VERSIONS
    assert kustomization(stack, "kubeflow-cluster-scoped")["resources"] == [
        f"https://github.com/kubeflow/pipelines//manifests/kustomize/cluster-scoped-resources?ref={version}"
    ]
    assert kustomization(stack, "kubeflow-platform")["resources"] == [
        f"https://github.com/kubeflow/pipelines//manifests/kustomize/env/platform-agnostic?ref={version}"
    ]


def _json_patches(stack: str) -> dict[str, list[dict[str, Any]]]:
    """Deployment name -> JSON6902 ops of every targeted patch in the platform overlay, concatenated."""
    ops: dict[str, list[dict[str, Any]]] = {}
    for patch in kustomization(stack, "kubeflow-platform")["patches"]:
        if "target" in patch:
            ops.setdefault(patch["target"]["name"], []).extend(json.loads(patch["patch"]))
    return ops


def _strategic_patches(stack: str, folder: str) -> list[dict[str, Any]]:
    return [yaml.safe_load(p["patch"]) for p in kustomization(stack, folder)["patches"] if "target" not in p]


def _deleted(stack: str, folder: str) -> set[tuple[str, str]]:
    return {
        (p["kind"], p["metadata"]["name"])
        for p in _strategic_patches(stack, folder)
        if p.get("$patch") == "delete"
    }


def test_every_remaining_kfp_deployment_gets_requests_and_limits_on_its_named_container() -> None:
    ops = _json_patches("dev")
    expected = {
        "ml-pipeline", "ml-pipeline-ui", "ml-pipeline-persistenceagent", "ml-pipeline-scheduledworkflow",
        "metadata-grpc-deployment", "metadata-envoy-deployment", "workflow-controller", "mysql", "seaweedfs",
    }  # fmt: skip
    assert set(DEPLOYMENT_RESOURCES) == expected
    for name, patched in DEPLOYMENT_RESOURCES.items():
        name_test = {
            "op": "test",
            "path": "/spec/template/spec/containers/0/name",
            "value": patched.container,
        }
        assert name_test in ops[name], name
        (add,) = [op for op in ops[name] if op["path"].endswith("/containers/0/resources")]
        assert add["path"] == "/spec/template/spec/containers/0/resources", name
        assert {"cpu", "memory"} <= set(add["value"]["requests"]) and {"cpu", "memory"} <= set(
            add["value"]["limits"]
        )
    deployments = {name for kind, name in _deleted("dev", "kubeflow-platform") if kind == "Deployment"}
    assert not deployments & expected, "a removed Deployment cannot also be sized"


def test_upstream_default_credentials_are_deleted_from_the_render() -> None:
    assert {("Secret", "mysql-secret"), ("Secret", "mlpipeline-minio-artifact")} <= _deleted(
        "dev", "kubeflow-platform"
    )
    for patch in _strategic_patches("dev", "kubeflow-platform"):
        if patch.get("$patch") == "delete":
            assert patch["metadata"]["namespace"] == "kubeflow"
            assert set(patch) == {"apiVersion", "kind", "metadata", "$patch"}, (
                "a delete patch carries no data"
            )


@pytest.mark.parametrize("stack", STACKS)
def test_kfp_credentials_are_generated_secrets_created_before_the_platform(stack: str) -> None:
    rec = record(stack)
    mysql = rec.one(SECRET, "kubeflow-mysql-secret")
    store = rec.one(SECRET, "kubeflow-object-store-secret")
    assert (mysql.inputs["metadata"]["name"], store.inputs["metadata"]["name"]) == (
        "mysql-secret",
        "mlpipeline-minio-artifact",
    )
    assert mysql.inputs["metadata"]["namespace"] == store.inputs["metadata"]["namespace"] == "kubeflow"
    root = rec.one(PASSWORD, "kubeflow-mysql-root-password")
    access = rec.one(PASSWORD, "kubeflow-object-store-access-key")
    secret = rec.one(PASSWORD, "kubeflow-object-store-secret-key")
    assert mysql.inputs["stringData"] == {"username": "root", "password": root.outputs["result"]}
    assert store.inputs["stringData"] == {
        "accesskey": access.outputs["result"],
        "secretkey": secret.outputs["result"],
    }
    assert len({root.outputs["result"], access.outputs["result"], secret.outputs["result"]}) == 3
    for password in (root, access, secret):
        assert password.inputs["special"] is False, "weed shell gets the keys unquoted"
        assert password.inputs["length"] >= 20
    cluster_scoped = rec.one(DIRECTORY, "kubeflow-cluster-scoped")
    platform = rec.one(DIRECTORY, "kubeflow-platform")
    assert {mysql.urn, store.urn} <= set(platform.dependencies), "upstream pods start after their Secrets"
    assert cluster_scoped.urn in mysql.dependencies and cluster_scoped.urn in store.dependencies


@pytest.mark.parametrize("stack", STACKS)
def test_no_default_credential_anywhere_in_the_overlays(stack: str) -> None:
    for folder in ("kubeflow-cluster-scoped", "kubeflow-platform"):
        text = yaml.safe_dump(kustomization(stack, folder))
        for literal in ("minio123", "minioadmin", "MYSQL_ALLOW_EMPTY_PASSWORD: 'true'", "stringData"):
            assert literal not in text, (folder, literal)
    for patch in _strategic_patches(stack, "kubeflow-platform"):
        assert patch["kind"] != "Secret" or patch.get("$patch") == "delete"


def test_mysql_root_password_comes_from_the_generated_secret() -> None:
    test, replace = _json_patches("dev")["mysql"][:2]
    assert test == {
        "op": "test",
        "path": "/spec/template/spec/containers/0/env/0/name",
        "value": "MYSQL_ALLOW_EMPTY_PASSWORD",
    }, "the build fails, rather than keeping an empty password, if upstream moves the variable"
    assert replace == {
        "op": "replace",
        "path": "/spec/template/spec/containers/0/env/0",
        "value": {
            "name": "MYSQL_ROOT_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "mysql-secret", "key": "password"}},
        },
    }


def test_v1_cache_webhook_and_its_cluster_scoped_rbac_are_never_installed() -> None:
    platform = _deleted("dev", "kubeflow-platform")
    assert {
        ("Deployment", "cache-deployer-deployment"),
        ("Deployment", "cache-server"),
        ("Service", "cache-server"),
        ("ServiceAccount", "kubeflow-pipelines-cache"),
        ("Role", "kubeflow-pipelines-cache-role"),
        ("Role", "kubeflow-pipelines-cache-deployer-role"),
        ("RoleBinding", "kubeflow-pipelines-cache-binding"),
        ("RoleBinding", "kubeflow-pipelines-cache-deployer-rolebinding"),
    } <= platform
    assert _deleted("dev", "kubeflow-cluster-scoped") == {
        ("ServiceAccount", "kubeflow-pipelines-cache-deployer-sa"),
        ("ClusterRole", "kubeflow-pipelines-cache-deployer-clusterrole"),
        ("ClusterRoleBinding", "kubeflow-pipelines-cache-deployer-clusterrolebinding"),
    }
    for patch in _strategic_patches("dev", "kubeflow-cluster-scoped"):
        if patch["kind"].startswith("Cluster"):
            assert "namespace" not in patch["metadata"], "cluster-scoped objects match without a namespace"


def test_v1_only_components_removed_and_the_ui_stops_offering_their_features() -> None:
    assert {
        ("Deployment", "metadata-writer"),
        ("Deployment", "ml-pipeline-visualizationserver"),
        ("Deployment", "ml-pipeline-viewer-crd"),
        ("Service", "ml-pipeline-visualizationserver"),
        ("NetworkPolicy", "seaweedfs"),
    } <= _deleted("dev", "kubeflow-platform")
    test, replace = _json_patches("dev")["ml-pipeline-ui"][:2]
    assert test["value"] == "ALLOW_CUSTOM_VISUALIZATIONS" and test["path"].endswith("/env/4/name")
    assert replace == {
        "op": "replace",
        "path": "/spec/template/spec/containers/0/env/4/value",
        "value": "false",
    }


def test_pipeline_steps_run_as_the_steps_image_user_non_root() -> None:
    (config,) = [p for p in _strategic_patches("dev", "kubeflow-platform") if p["kind"] == "ConfigMap"]
    assert config["metadata"] == {"name": "pipeline-install-config", "namespace": "kubeflow"}
    dockerfile = (REPO_ROOT / "pipelines" / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    assert config["data"] == {
        "defaultSecurityContextRunAsUser": "10001",
        "defaultSecurityContextRunAsGroup": "10001",
        "defaultSecurityContextRunAsNonRoot": "true",
    }


def test_kubeflow_namespace_enforces_restricted_pod_security() -> None:
    (patch,) = [p for p in kustomization("dev", "kubeflow-cluster-scoped")["patches"] if "target" in p]
    labels = yaml.safe_load(patch["patch"])["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


# --- network policy: claims proven with the evaluator over every recorded NetworkPolicy ----------------

STEP = {
    "workflows.argoproj.io/workflow": "training-flow-x7k2p",
    "pipelines.kubeflow.org/v2_component": "true",
}


def kfp_pod(labels: dict[str, str]) -> Pod:
    return Pod("kubeflow", {**labels, "application-crd-id": "kubeflow-pipelines"})


def policies(stack: str) -> list[dict[str, Any]]:
    return [o for o in rendered(stack).objects if o["kind"] == "NetworkPolicy"]


def mlflow_server(stack: str) -> Pod:
    deployment = k8s_object(stack, "Deployment", "mlflow", "mlflow")
    return Pod("mlflow", deployment["spec"]["template"]["metadata"]["labels"])


STEP_POD = kfp_pod(STEP)
API = kfp_pod(dict(kfp.API_SERVER_POD))
MYSQL = kfp_pod(dict(kfp.MYSQL_POD))
MLMD = kfp_pod(dict(kfp.METADATA_GRPC_POD))
ENVOY = kfp_pod(dict(kfp.METADATA_ENVOY_POD))
UI = kfp_pod(dict(kfp.UI_POD))
SEAWEEDFS = kfp_pod(dict(kfp.SEAWEEDFS_POD))
INTRUDER = Pod("kubeflow", {"app": "not-listed"})
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
S3 = Address("52.216.8.1")
IMDS = Address("169.254.169.254")


@pytest.mark.parametrize("stack", STACKS)
def test_ckv2_k8s_6_kubeflow_denies_by_default(stack: str) -> None:
    spec = k8s_object(stack, "NetworkPolicy", "default-deny-all", "kubeflow")["spec"]
    assert spec == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    names = {p["metadata"]["name"] for p in policies(stack) if p["metadata"]["namespace"] == "kubeflow"}
    assert "allow-same-namespace-ingress" not in names


@pytest.mark.parametrize("stack", STACKS)
def test_pipeline_steps_cannot_reach_mysql(stack: str) -> None:
    assert not allowed(policies(stack), STEP_POD, MYSQL, kfp.MYSQL_PORT)
    assert not allowed(policies(stack), STEP_POD, MYSQL, 33060), "nor MySQL's X protocol port"
    assert allowed(policies(stack), API, MYSQL, kfp.MYSQL_PORT)
    assert allowed(policies(stack), MLMD, MYSQL, kfp.MYSQL_PORT)
    assert not allowed(policies(stack), UI, MYSQL, kfp.MYSQL_PORT)


@pytest.mark.parametrize("stack", STACKS)
def test_mysql_admits_only_the_api_server_and_mlmd_even_with_egress_opened(stack: str) -> None:
    """MySQL's own ingress decides, not only the steps' egress: opening egress later changes nothing."""
    opened = [*policies(stack), kb.allow_policy("open-egress", "kubeflow", {}, egress=[{}])]
    assert allowed(opened, STEP_POD, SEAWEEDFS, kfp.SEAWEEDFS_S3_PORT), "egress really is open"
    for pod in (STEP_POD, INTRUDER, UI, ENVOY, SEAWEEDFS, kfp_pod(dict(kfp.WORKFLOW_CONTROLLER_POD))):
        assert not allowed(opened, pod, MYSQL, kfp.MYSQL_PORT), pod
    assert allowed(opened, API, MYSQL, kfp.MYSQL_PORT) and allowed(opened, MLMD, MYSQL, kfp.MYSQL_PORT)


@pytest.mark.parametrize("stack", STACKS)
def test_pipeline_steps_reach_what_the_driver_launcher_and_steps_use(stack: str) -> None:
    netpols = policies(stack)
    assert allowed(netpols, STEP_POD, API, kfp.API_GRPC_PORT)
    assert allowed(netpols, STEP_POD, API, kfp.API_HTTP_PORT)
    assert allowed(netpols, STEP_POD, MLMD, kfp.METADATA_GRPC_PORT)
    assert allowed(netpols, STEP_POD, SEAWEEDFS, kfp.SEAWEEDFS_S3_PORT)
    assert allowed(netpols, STEP_POD, DNS, 53, "UDP")
    # MLflow's and monitoring's own policies admit the kubeflow namespace
    assert allowed(netpols, STEP_POD, mlflow_server(stack), 5000)
    assert allowed(netpols, STEP_POD, Pod("monitoring", dict(PUSHGATEWAY_POD)), 9091)
    assert allowed(netpols, STEP_POD, S3, 443), "S3 and the Kubernetes API over HTTPS"
    assert not allowed(netpols, STEP_POD, IMDS, 80), "never the node's credentials"
    assert not allowed(netpols, STEP_POD, IMDS, 443), "the HTTPS rule excepts the metadata address"
    assert not allowed(netpols, STEP_POD, S3, 22)
    minio = Pod("minio", {"app.kubernetes.io/name": "minio", "app.kubernetes.io/component": "server"})
    assert allowed(netpols, STEP_POD, minio, 9000) == (stack == "local")
    assert allowed(netpols, STEP_POD, Address("169.254.170.23"), 80) == (stack != "local"), "Pod Identity"


@pytest.mark.parametrize("stack", STACKS)
def test_kfp_components_reach_each_other_only_on_their_flows(stack: str) -> None:
    netpols = policies(stack)
    assert allowed(netpols, UI, API, kfp.API_HTTP_PORT)
    assert allowed(netpols, UI, ENVOY, kfp.METADATA_ENVOY_PORT)
    assert allowed(netpols, ENVOY, MLMD, kfp.METADATA_GRPC_PORT)
    assert allowed(netpols, API, MLMD, kfp.METADATA_GRPC_PORT)
    assert allowed(netpols, API, SEAWEEDFS, kfp.SEAWEEDFS_S3_PORT)
    assert allowed(netpols, UI, SEAWEEDFS, kfp.SEAWEEDFS_S3_PORT)
    for controller in (kfp.PERSISTENCE_AGENT_POD, kfp.SCHEDULED_WORKFLOW_POD):
        assert allowed(netpols, kfp_pod(dict(controller)), API, kfp.API_GRPC_PORT)
        assert allowed(netpols, kfp_pod(dict(controller)), Address("10.0.0.5"), 443), "the Kubernetes API"
    assert allowed(netpols, kfp_pod(dict(kfp.WORKFLOW_CONTROLLER_POD)), Address("10.0.0.5"), 443)
    assert not allowed(netpols, kfp_pod(dict(kfp.WORKFLOW_CONTROLLER_POD)), SEAWEEDFS, kfp.SEAWEEDFS_S3_PORT)
    assert not allowed(netpols, STEP_POD, ENVOY, kfp.METADATA_ENVOY_PORT)
    assert not allowed(netpols, STEP_POD, UI, kfp.UI_PORT)
    assert not allowed(netpols, MYSQL, S3, 443), "MySQL has no egress"


@pytest.mark.parametrize("stack", STACKS)
def test_an_unlisted_pod_reaches_nothing_but_dns_and_nothing_reaches_it(stack: str) -> None:
    netpols = policies(stack)
    for target, port in (
        (API, kfp.API_GRPC_PORT),
        (MYSQL, kfp.MYSQL_PORT),
        (MLMD, kfp.METADATA_GRPC_PORT),
        (SEAWEEDFS, kfp.SEAWEEDFS_S3_PORT),
        (mlflow_server(stack), 5000),
        (S3, 443),
    ):
        assert not allowed(netpols, INTRUDER, target, port), target
    assert allowed(netpols, INTRUDER, DNS, 53, "UDP")
    assert not allowed(netpols, Pod("default", {"app": "x"}), API, kfp.API_HTTP_PORT), "nor from outside"
    prometheus = Pod("monitoring", dict(PROMETHEUS_POD))  # its egress is open to every namespace
    assert not allowed(netpols, prometheus, INTRUDER, 8080), "and nothing reaches it"


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_scrapes_the_api_server_and_the_controllers(stack: str) -> None:
    netpols = policies(stack)
    prometheus = Pod("monitoring", dict(PROMETHEUS_POD))
    assert allowed(netpols, prometheus, API, kfp.API_HTTP_PORT)
    for controller in (kfp.WORKFLOW_CONTROLLER_POD, kfp.SCHEDULED_WORKFLOW_POD):
        assert allowed(netpols, prometheus, kfp_pod(dict(controller)), kfp.CONTROLLER_METRICS_PORT)
    assert not allowed(netpols, prometheus, MYSQL, kfp.MYSQL_PORT)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_ckv_aws_286_290_pipeline_runner_reads_dvc_writes_mlflow_prefix(stack: str) -> None:
    rec = record(stack)
    (role,) = [
        r for r in rec.of_type("mlops:pod_identity:PodIdentityRole") if r.name == "kubeflow-pipeline-runner"
    ]
    association = next(
        r
        for r in rec.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
        if r.parent == role.urn
    )
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "kubeflow",
        "pipeline-runner",
    )
    policy = json.loads(
        next(r.inputs["policy"] for r in rec.of_type("aws:iam/rolePolicy:RolePolicy") if r.parent == role.urn)
    )
    bucket = rec.one("aws:s3/bucket:Bucket").outputs["arn"]
    writes = {s["Resource"] for s in policy["Statement"] if "s3:PutObject" in s["Action"]}
    reads = {s["Resource"] for s in policy["Statement"] if "s3:GetObject" in s["Action"]}
    assert writes == {f"{bucket}/mlflow/*"}
    assert reads == {f"{bucket}/dvc/*", f"{bucket}/mlflow/*"}
    sids = [s["Sid"] for s in policy["Statement"] if "Sid" in s]
    assert len(sids) == len(set(sids))


@pytest.mark.parametrize("stack", STACKS)
def test_pipeline_steps_get_mlflow_uri_and_credentials_from_a_secret(stack: str) -> None:
    data = record(stack).one("kubernetes:core/v1:Secret", "kubeflow-mlflow-tracking").inputs["stringData"]
    assert data["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    # The steps' own MLflow user, never the admin (components/mlflow_users.py).
    assert data["MLFLOW_TRACKING_USERNAME"] == "mlops-pipelines"
    pipelines = record(stack).one(
        "random:index/randomPassword:RandomPassword", "mlflow-users-pipelines-password"
    )
    admin = record(stack).one("random:index/randomPassword:RandomPassword", "mlflow-admin-password")
    assert data["MLFLOW_TRACKING_PASSWORD"] == pipelines.outputs["result"] != admin.outputs["result"]
    assert data["MLOPS_PUSHGATEWAY_URL"] == record(stack).exports["pushgateway_url"]
    if stack == "local":
        assert data["AWS_ENDPOINT_URL_S3"] == "http://minio.minio.svc.cluster.local:9000"
        assert set(data) == set(cluster_env.REQUIRED_KEYS) | set(cluster_env.MINIO_KEYS)
    else:
        assert set(data) == set(cluster_env.REQUIRED_KEYS), "no static AWS keys: Pod Identity"


@pytest.mark.parametrize("stack", STACKS)
def test_ui_and_api_port_forward_exported(stack: str) -> None:
    exports = record(stack).exports
    assert exports["kfp_ui_port_forward"] == "kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80"
    assert exports["kfp_api_port_forward"] == "kubectl -n kubeflow port-forward svc/ml-pipeline 8888:8888"


def test_unchecked_kfp_version_refused_with_the_config_key() -> None:
    from tests.support.stacks import run_fixture

    failed = run_fixture(
        "local", set_values={"mlops-infra:kubeflow": {"version": "2.4.0"}}, expect_error=True
    )
    assert "mlops-infra:kubeflow.version" in str(failed.error)
    assert str(list(KUBEFLOW_PIPELINES_VERSIONS)) in str(failed.error)


def test_merge_policies_keeps_every_statement_with_unique_sids() -> None:
    one = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "x"}],
    }
    merged = json.loads(merge_policies(one, json.dumps(one)))
    assert [s["Sid"] for s in merged["Statement"]] == ["A0", "A1"]


def _deployment(name: str, container: str, env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    main: dict[str, Any] = {"name": container, "image": "upstream:tag"}
    if env:
        main["env"] = env
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "kubeflow"},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [main]}},
        },
    }


def _stand_in_objects() -> list[dict[str, Any]]:
    """What our patches target, shaped as in the 2.17.0 manifests (names, container order, env order)."""
    ui_env = [{"name": n, "value": "x"} for n in ("A", "B", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")]
    objects: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "pipeline-install-config", "namespace": "kubeflow"},
            "data": {"defaultSecurityContextRunAsUser": "", "mysqlHost": "mysql"},
        },
    ]
    for name, patched in DEPLOYMENT_RESOURCES.items():
        env = None
        if name == "mysql":
            env = [{"name": "MYSQL_ALLOW_EMPTY_PASSWORD", "value": "true"}]
        if name == "ml-pipeline-ui":
            env = [*ui_env, {"name": "ALLOW_CUSTOM_VISUALIZATIONS", "value": "true"}]
        objects.append(_deployment(name, patched.container, env))
    for removed in (*kfp.REMOVED_PLATFORM_OBJECTS, *kfp.REMOVED_CLUSTER_SCOPED_OBJECTS):
        metadata = {"name": removed.name} | ({"namespace": "kubeflow"} if removed.namespaced else {})
        obj: dict[str, Any] = {"apiVersion": removed.api_version, "kind": removed.kind, "metadata": metadata}
        if removed.kind == "Secret":
            obj["stringData"] = {"accesskey": "minio", "secretkey": "minio123"}
        objects.append(obj)
    return objects


def _build(kubectl: str, overlay: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [kubectl, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(overlay)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_overlay_patches_apply_with_kubectl_kustomize(tmp_path: Path) -> None:
    """Offline stand-in for upstream: a base with the objects our patches target, built by real kustomize."""
    kubectl = require_tool("kubectl")
    base = tmp_path / "base"
    base.mkdir()
    (base / "objects.yaml").write_text(yaml.safe_dump_all(_stand_in_objects()))
    (base / "kustomization.yaml").write_text(yaml.safe_dump({"resources": ["objects.yaml"]}))
    built: dict[tuple[str, str], dict[str, Any]] = {}
    for folder, kustomization in overlays(VERSION).items():
        overlay = tmp_path / folder
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text(
            yaml.safe_dump(kustomization | {"resources": ["../base"]})
        )
        result = _build(kubectl, overlay)
        assert result.returncode == 0, result.stderr
        built |= {
            (folder, f"{o['kind']}/{o['metadata']['name']}"): o
            for o in yaml.safe_load_all(result.stdout)
            if o
        }
    labels = built[("cluster-scoped", "Namespace/kubeflow")]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    for removed in kfp.REMOVED_PLATFORM_OBJECTS:
        assert ("platform", f"{removed.kind}/{removed.name}") not in built, removed
    for removed in kfp.REMOVED_CLUSTER_SCOPED_OBJECTS:
        assert ("cluster-scoped", f"{removed.kind}/{removed.name}") not in built, removed
    for name, patched in DEPLOYMENT_RESOURCES.items():
        (container,) = built[("platform", f"Deployment/{name}")]["spec"]["template"]["spec"]["containers"]
        assert container["resources"] == patched.resources.manifest(), name
    (mysql,) = built[("platform", "Deployment/mysql")]["spec"]["template"]["spec"]["containers"]
    assert mysql["env"] == [
        {
            "name": "MYSQL_ROOT_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "mysql-secret", "key": "password"}},
        }
    ]
    (ui,) = built[("platform", "Deployment/ml-pipeline-ui")]["spec"]["template"]["spec"]["containers"]
    assert ui["env"][4] == {"name": "ALLOW_CUSTOM_VISUALIZATIONS", "value": "false"}
    config = built[("platform", "ConfigMap/pipeline-install-config")]["data"]
    assert config["defaultSecurityContextRunAsNonRoot"] == "true" and config["mysqlHost"] == "mysql"


def test_overlay_build_fails_when_upstream_moves_what_a_patch_tests(tmp_path: Path) -> None:
    """The `test` ops: an upstream change under a patch stops the build, not patches the wrong thing."""
    kubectl = require_tool("kubectl")
    base = tmp_path / "base"
    base.mkdir()
    objects = _stand_in_objects()
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "mysql":
            obj["spec"]["template"]["spec"]["containers"][0]["env"].insert(0, {"name": "TZ", "value": "UTC"})
    (base / "objects.yaml").write_text(yaml.safe_dump_all(objects))
    (base / "kustomization.yaml").write_text(yaml.safe_dump({"resources": ["objects.yaml"]}))
    overlay = tmp_path / "platform"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(overlays(VERSION)["platform"] | {"resources": ["../base"]})
    )
    result = _build(kubectl, overlay)
    assert result.returncode != 0
    assert "test" in result.stderr.lower(), result.stderr


@pytest.mark.upstream_checkout("KFP_MANIFESTS")
def test_overlays_build_against_the_real_upstream_manifests(tmp_path: Path) -> None:
    """With a local checkout (KFP_MANIFESTS=<dir holding manifests/kustomize>), the real upstream base."""
    kubectl = require_tool("kubectl")
    source = Path(os.environ["KFP_MANIFESTS"]) / "manifests" / "kustomize"
    for folder, kustomization in overlays(VERSION).items():
        remote = kustomization["resources"][0]
        local = source / remote.split("//manifests/kustomize/")[1].split("?")[0]
        overlay = tmp_path / folder
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text(
            yaml.safe_dump(kustomization | {"resources": [os.path.relpath(local, overlay)]})
        )
        result = _build(kubectl, overlay)
        assert result.returncode == 0, result.stderr
        objects = [o for o in yaml.safe_load_all(result.stdout) if o]
        text = result.stdout
        assert "minio123" not in text and "MYSQL_ALLOW_EMPTY_PASSWORD" not in text
        kinds = {o["kind"] for o in objects}
        assert not kinds & {"MutatingWebhookConfiguration", "CertificateSigningRequest"}
        names = {(o["kind"], o["metadata"]["name"]) for o in objects}
        removed = kfp.REMOVED_PLATFORM_OBJECTS if folder == "platform" else kfp.REMOVED_CLUSTER_SCOPED_OBJECTS
        assert not names & {(r.kind, r.name) for r in removed}
        for obj in objects:
            if obj["kind"] != "Deployment":
                continue
            spec = obj["spec"]["template"]["spec"]
            for container in [*spec.get("initContainers", []), *spec["containers"]]:
                assert {"requests", "limits"} <= set(container.get("resources", {})), obj["metadata"]["name"]
