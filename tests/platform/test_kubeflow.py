"""KubeflowPipelines: upstream manifests at a pinned tag in one pass, pipeline-runner access, UI/API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from components.kubeflow import DEPLOYMENT_RESOURCES, REPO_ROOT, merge_policies, overlays
from components.versions import KUBEFLOW_PIPELINES_VERSIONS
from pipelines import cluster_env
from tests.platform.stacks import STACKS, k8s_object, record
from tests.support.tools import require_tool

KFP = "mlops:kubeflow:KubeflowPipelines"
DIRECTORY = "kubernetes:kustomize/v2:Directory"


def kustomization(stack: str, name: str) -> dict:
    directory = record(stack).one(DIRECTORY, name).inputs["directory"]
    return yaml.safe_load((REPO_ROOT / directory / "kustomization.yaml").read_text())


@pytest.mark.parametrize("stack", STACKS)
def test_upstream_manifests_at_the_pinned_version_cluster_scoped_first(stack: str) -> None:
    rec = record(stack)
    cluster_scoped = rec.one(DIRECTORY, "kubeflow-cluster-scoped")
    platform = rec.one(DIRECTORY, "kubeflow-platform")
    assert cluster_scoped.urn in platform.dependencies
    version = "2.5.0"  # settings default, not overridden by any committed stack
    assert kustomization(stack, "kubeflow-cluster-scoped")["resources"] == [
        f"https://github.com/kubeflow/pipelines//manifests/kustomize/cluster-scoped-resources?ref={version}"
    ]
    assert kustomization(stack, "kubeflow-platform")["resources"] == [
        f"https://github.com/kubeflow/pipelines//manifests/kustomize/env/platform-agnostic?ref={version}"
    ]


def test_kfp_pods_get_requests_and_limits_through_patches() -> None:
    patches = kustomization("dev", "kubeflow-platform")["patches"]
    targets = {p["target"]["name"]: json.loads(p["patch"]) for p in patches}
    assert {"ml-pipeline", "ml-pipeline-ui", "workflow-controller", "mysql"} <= set(targets)
    assert set(targets) == set(DEPLOYMENT_RESOURCES)
    for name, ops in targets.items():
        (op,) = ops
        assert op["path"] == "/spec/template/spec/containers/0/resources", name
        assert {"cpu", "memory"} <= set(op["value"]["requests"]) and {"cpu", "memory"} <= set(
            op["value"]["limits"]
        )


def test_kubeflow_namespace_labelled_for_pod_security() -> None:
    (patch,) = kustomization("dev", "kubeflow-cluster-scoped")["patches"]
    labels = yaml.safe_load(patch["patch"])["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"


@pytest.mark.parametrize("stack", STACKS)
def test_ckv2_k8s_6_kubeflow_ingress_only_from_its_own_namespace(stack: str) -> None:
    spec = k8s_object(stack, "NetworkPolicy", "allow-same-namespace-ingress", "kubeflow")["spec"]
    assert spec == {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    }


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
    from harness.mocks import run_stack

    failed = run_stack("local", set_values={"mlops-infra:kubeflow": {"version": "2.4.0"}}, expect_error=True)
    assert "mlops-infra:kubeflow.version" in str(failed.error)
    assert str(list(KUBEFLOW_PIPELINES_VERSIONS)) in str(failed.error)


def test_merge_policies_keeps_every_statement_with_unique_sids() -> None:
    one = {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "x"}],
    }
    merged = json.loads(merge_policies(one, json.dumps(one)))
    assert [s["Sid"] for s in merged["Statement"]] == ["A0", "A1"]


def test_overlay_patches_apply_with_kubectl_kustomize(tmp_path: Path) -> None:
    """Offline stand-in for upstream: a base with the objects our patches target, built by real kustomize."""
    kubectl = require_tool("kubectl")
    base = tmp_path / "base"
    base.mkdir()
    deployments = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "kubeflow"},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": name, "image": "upstream:tag"}]},
                },
            },
        }
        for name in DEPLOYMENT_RESOURCES
    ]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}}
    (base / "objects.yaml").write_text(yaml.safe_dump_all([namespace, *deployments]))
    (base / "kustomization.yaml").write_text(yaml.safe_dump({"resources": ["objects.yaml"]}))
    for folder, kustomization in overlays("2.5.0").items():
        overlay = tmp_path / folder
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text(
            yaml.safe_dump(kustomization | {"resources": ["../base"]})
        )
        built = subprocess.run(
            [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
        )
        assert built.returncode == 0, built.stderr
        objects = {o["metadata"]["name"]: o for o in yaml.safe_load_all(built.stdout)}
        if folder == "cluster-scoped":
            labels = objects["kubeflow"]["metadata"]["labels"]
            assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
        else:
            for name, resources in DEPLOYMENT_RESOURCES.items():
                (container,) = objects[name]["spec"]["template"]["spec"]["containers"]
                assert container["resources"] == resources.manifest(), name
