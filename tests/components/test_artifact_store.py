"""The artifact store both DvcRemote and Minio produce, and the components that choose access by its type.

Built from their own Args under the recording mocks: no settings.py, no whole stack.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.artifact_store import MinioArtifactStore, S3ArtifactStore, artifact_store
from components.cluster_handle import ClusterVpc, EksClusterHandle, ExistingClusterHandle
from components.dvc_remote import DvcRemote, DvcRemoteArgs
from components.kubeflow import KubeflowPipelines, KubeflowPipelinesArgs
from components.minio import Minio, MinioArgs
from components.mlflow import (
    MlflowServer,
    MlflowServerArgs,
    MlflowServerOptions,
    PostgresBackend,
    SqliteBackend,
)
from harness.mocks import Record, run_components

IMAGE = "registry.example/mlops-mlflow:3.17.2@sha256:" + "0" * 64
S3 = S3ArtifactStore("bucket", "arn:aws:s3:::bucket", "us-east-1")
SQLITE = MlflowServerOptions(SqliteBackend(storage_size_gib=5), replicas=1)
POSTGRES = MlflowServerOptions(
    PostgresBackend("db.t4g.small", allocated_storage_gib=20, backup_retention_days=14, multi_az=True),
    replicas=2,
)


def _existing() -> ExistingClusterHandle:
    return ExistingClusterHandle(k8s.Provider("k8s", context="kind-test"))


def _eks() -> EksClusterHandle:
    vpc = ClusterVpc("vpc-1", "10.0.0.0/16", ["subnet-1", "subnet-2"], "sg-1")
    return EksClusterHandle(k8s.Provider("k8s", context="eks-test"), "cluster", vpc)


def test_both_storage_components_produce_an_artifact_store_and_s3_wins() -> None:
    stores: dict[str, object] = {}

    def build() -> None:
        remote = DvcRemote("dvc", DvcRemoteArgs(bucket_prefix="mlops-dvc", region="eu-west-1"))
        minio = Minio("minio", MinioArgs(storage_size_gib=5, artifact_bucket="dvc"))
        stores.update(s3=artifact_store(remote, None), both=artifact_store(remote, minio))
        stores["minio"] = artifact_store(None, minio)

    run_components(build)
    assert isinstance(stores["s3"], S3ArtifactStore) and stores["both"] is stores["s3"]
    minio = stores["minio"]
    assert isinstance(minio, MinioArtifactStore)
    assert (minio.bucket_name, minio.endpoint_url) == ("dvc", "http://minio.minio.svc.cluster.local:9000")
    with pytest.raises(ValueError, match="expected a DvcRemote or a Minio"):
        artifact_store(None, None)


def test_minio_refuses_an_artifact_bucket_it_does_not_create() -> None:
    record = run_components(
        lambda: Minio("minio", MinioArgs(storage_size_gib=5, artifact_bucket="x")), expect_error=True
    )
    assert "artifact bucket 'x' is not among ['dvc', 'mlflow']" in str(record.error)
    assert record.resources == []


def _mlflow(options: MlflowServerOptions, store: object, cluster: str) -> Record:
    def build() -> None:
        handle = _eks() if cluster == "eks" else _existing()
        MlflowServer("mlflow", MlflowServerArgs(options, IMAGE, store, handle))  # type: ignore[arg-type]

    return run_components(build, expect_error=True)


@pytest.mark.parametrize(
    ("options", "store", "needs"),
    [
        (SQLITE, S3, "S3 artifacts (Pod Identity)"),
        (POSTGRES, None, "the PostgreSQL backend (RDS in the VPC)"),
    ],
    ids=["s3", "postgres"],
)
def test_mlflow_needs_an_eks_handle_for_pod_identity_and_rds(
    options: MlflowServerOptions, store: object, needs: str
) -> None:
    minio = MinioArtifactStore("mlflow", "http://minio:9000", "minio", {"app": "minio"}, 9000, "a", "s")
    record = _mlflow(options, store or minio, "existing")
    assert isinstance(record.error, TypeError)
    assert f"MlflowServer: {needs} need an EksClusterHandle" in str(record.error)
    assert [r.type for r in record.resources] == ["pulumi:providers:kubernetes"]


def test_mlflow_on_eks_with_postgres_declares_rds_under_the_server() -> None:
    def build() -> None:
        MlflowServer("mlflow", MlflowServerArgs(POSTGRES, IMAGE, S3, _eks()))

    record = run_components(build)
    (server,) = record.of_type("mlops:mlflow:MlflowServer")
    db = record.one("aws:rds/instance:Instance", "mlflow-db")
    assert db.parent == server.urn
    assert (db.inputs["instanceClass"], db.inputs["multiAz"], db.inputs["backupRetentionPeriod"]) == (
        "db.t4g.small",
        True,
        14,
    )
    assert record.of_type("kubernetes:core/v1:PersistentVolumeClaim") == []
    (role,) = record.of_type("mlops:pod_identity:PodIdentityRole")
    assert role.parent == server.urn


def test_kubeflow_takes_minio_keys_or_s3_through_pod_identity() -> None:
    minio = MinioArtifactStore("mlflow", "http://minio:9000", "minio", {"app": "minio"}, 9000, "a", "s")

    def args(store: object, handle: object) -> KubeflowPipelinesArgs:
        return KubeflowPipelinesArgs(
            version="2.17.0",
            mlflow_tracking_uri="http://mlflow:5000",
            mlflow_username="u",
            mlflow_password="p",
            pushgateway_url="http://pg:9091",
            artifacts=store,  # type: ignore[arg-type]
            cluster=handle,  # type: ignore[arg-type]
        )

    refused = run_components(lambda: KubeflowPipelines("kfp", args(S3, _existing())), expect_error=True)
    assert "S3 artifacts (Pod Identity) need an EksClusterHandle" in str(refused.error)
    local = run_components(lambda: KubeflowPipelines("kfp", args(minio, _existing())))
    assert local.of_type("mlops:pod_identity:PodIdentityRole") == []
    secret = local.one("kubernetes:core/v1:Secret", "kfp-mlflow-tracking")
    assert "AWS_ENDPOINT_URL_S3" in secret.inputs["stringData"]
    aws = run_components(lambda: KubeflowPipelines("kfp", args(S3, _eks())))
    assert len(aws.of_type("mlops:pod_identity:PodIdentityRole")) == 1
    assert (
        "AWS_ENDPOINT_URL_S3"
        not in aws.one("kubernetes:core/v1:Secret", "kfp-mlflow-tracking").inputs["stringData"]
    )


_ = pulumi  # the mocks need the SDK imported before components register
