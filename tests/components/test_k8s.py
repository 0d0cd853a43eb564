"""Pure building blocks: restricted pods, NetworkPolicies, image pins and the MLflow image's sources."""

from __future__ import annotations

import re

import pytest

import versions
from components import k8s as kb
from components.images import MLFLOW_SERVER, content_tag
from components.kubeflow import overlays
from pipelines.images import PYTHON_BASE
from tests.support.tools import REPO_ROOT

RESOURCES = kb.Resources("10m", "16Mi", "100m", "64Mi")


def test_restricted_pod_defaults() -> None:
    spec = kb.PodSpec(
        service_account="app", containers=[kb.ContainerSpec("c", "img:1", RESOURCES)]
    ).manifest()
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": kb.DEFAULT_UID,
        "runAsGroup": kb.DEFAULT_UID,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["resources"]["limits"]["memory"] == "64Mi"


@pytest.mark.parametrize("account", ["", "default"])
def test_pod_refuses_the_default_service_account(account: str) -> None:
    with pytest.raises(ValueError, match="own service account"):
        kb.PodSpec(service_account=account, containers=[kb.ContainerSpec("c", "img:1", RESOURCES)]).manifest()


@pytest.mark.parametrize("image", ["nginx", "registry.example:5000/nginx"])
def test_container_refuses_an_unpinned_image(image: str) -> None:
    with pytest.raises(ValueError, match="neither a tag nor a digest"):
        kb.ContainerSpec("c", image, RESOURCES).manifest()


def test_pod_security_labels_refuse_unknown_levels() -> None:
    with pytest.raises(ValueError, match="expected one of"):
        kb.pod_security_labels(enforce="strict")


def test_allow_policy_needs_rules_and_lists_its_types() -> None:
    with pytest.raises(ValueError, match="needs ingress or egress"):
        kb.allow_policy("p", "ns", {"a": "b"})
    policy = kb.allow_policy("p", "ns", {"a": "b"}, egress=[kb.dns_egress_rule()])
    assert policy["spec"]["policyTypes"] == ["Egress"]


def test_image_pin_refuses_a_malformed_digest() -> None:
    with pytest.raises(ValueError, match="sha256"):
        versions.ImagePin("r", "1", "sha256:abc", "test")
    with pytest.raises(ValueError, match="expected a registry host first"):
        versions.ImagePin("prom/prometheus", "v3.5.0", "sha256:" + "0" * 64, "test")
    assert (versions.PROMETHEUS_IMAGE.registry, versions.PROMETHEUS_IMAGE.path) == (
        "docker.io",
        "prom/prometheus",
    )
    assert versions.MINIO_SERVER.reference.endswith("@" + str(versions.MINIO_SERVER.digest))


def test_kfp_manifest_url_only_for_checked_versions() -> None:
    with pytest.raises(ValueError, match=r"2\.0\.0 is not a version this program was checked against"):
        versions.kubeflow_pipelines_manifest_url("env/platform-agnostic", "2.0.0")
    assert overlays("2.17.0")["platform"]["resources"][0].endswith("env/platform-agnostic?ref=2.17.0")


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(3)
    return pins


def test_mlflow_image_builds_what_the_repository_tests() -> None:
    dockerfile = (REPO_ROOT / "docker" / "mlflow" / "Dockerfile").read_text()
    assert f"FROM {PYTHON_BASE.reference}\n" in dockerfile
    image = _pins((REPO_ROOT / "docker" / "mlflow" / "requirements.txt").read_text())
    repository = _pins((REPO_ROOT / "requirements.txt").read_text())
    assert image["mlflow"] == versions.MLFLOW_VERSION == repository["mlflow"]
    for package in ("psycopg2-binary", "boto3"):
        assert image[package] == repository[package], package
    assert "prometheus-flask-exporter" in image  # --expose-prometheus needs it
    assert content_tag(MLFLOW_SERVER).startswith(versions.MLFLOW_VERSION + "-")
