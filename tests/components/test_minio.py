"""Minio on the local stack: generated root credentials, bucket job, pinned last community image."""

from __future__ import annotations

import pytest

import versions
from components.minio import bucket_script
from tests.support.rendered_stacks import env_of, k8s_object, record, rendered


def test_minio_no_default_credentials_root_from_generated_secret() -> None:
    rec = record("local")
    secret = rec.one("kubernetes:core/v1:Secret", "minio-root").inputs["stringData"]
    user = rec.one("random:index/randomPassword:RandomPassword", "minio-root-user")
    password = rec.one("random:index/randomPassword:RandomPassword", "minio-root-password")
    assert secret == {"root-user": user.outputs["result"], "root-password": password.outputs["result"]}
    assert user.inputs["length"] >= 16 and password.inputs["length"] >= 32
    assert "minioadmin" not in secret.values()
    (container,) = k8s_object("local", "StatefulSet", "minio", "minio")["spec"]["template"]["spec"][
        "containers"
    ]
    env = env_of(container)
    assert env["MINIO_ROOT_USER"] == {"secretKeyRef": {"name": "minio-root", "key": "root-user"}}
    assert env["MINIO_ROOT_PASSWORD"] == {"secretKeyRef": {"name": "minio-root", "key": "root-password"}}


def test_minio_last_community_release_pinned_by_digest() -> None:
    (container,) = k8s_object("local", "StatefulSet", "minio", "minio")["spec"]["template"]["spec"][
        "containers"
    ]
    assert container["image"] == (
        f"quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z@{versions.MINIO_SERVER.digest}"
    )


def test_minio_data_volume_survives_statefulset_deletion() -> None:
    spec = k8s_object("local", "StatefulSet", "minio", "minio")["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    (claim,) = spec["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"  # Pulumi.local.yaml


def test_bucket_job_creates_dvc_and_mlflow_buckets_after_minio_is_up() -> None:
    rec = record("local")
    job = rec.one("kubernetes:batch/v1:Job", "minio-create-buckets")
    statefulset = rec.one("kubernetes:apps/v1:StatefulSet", "minio-statefulset")
    assert statefulset.urn in job.dependencies
    script = job.inputs["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "mb --ignore-existing local/dvc" in script and "mb --ignore-existing local/mlflow" in script
    assert script == bucket_script(["dvc", "mlflow"])


def test_ckv2_k8s_6_minio_namespace_default_deny_and_clients() -> None:
    assert k8s_object("local", "NetworkPolicy", "default-deny-all", "minio")["spec"]["podSelector"] == {}
    allow = k8s_object("local", "NetworkPolicy", "minio-server", "minio")["spec"]
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in allow["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"minio", "mlflow", "kubeflow", "serving"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_minio_on_aws_by_default(stack: str) -> None:
    assert not record(stack).of_type("mlops:minio:Minio")
    assert not [o for o in rendered(stack).objects if o["metadata"].get("namespace") == "minio"]
