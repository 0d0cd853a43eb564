"""Where MLflow artifacts and pipeline data live: an S3 bucket (the DVC remote) or the in-cluster MinIO.

Both `DvcRemote` and `Minio` produce one of these as `.artifact_store`; MLflow and Kubeflow Pipelines take
the union and choose their access (Pod Identity or static keys) by its type, never by a mode string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi

if TYPE_CHECKING:
    from components.dvc_remote import DvcRemote
    from components.minio import Minio


@dataclass(frozen=True)
class S3ArtifactStore:
    """An S3 bucket reached through EKS Pod Identity (no static keys)."""

    bucket_name: pulumi.Input[str]
    """Bucket name; MLflow writes under `mlflow/`, DVC under `dvc/`."""
    bucket_arn: pulumi.Input[str]
    """Bucket ARN, for Pod Identity policies."""
    region: str
    """AWS region of the bucket."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Customer KMS key of the bucket, if any (uploads need kms:GenerateDataKey)."""


@dataclass(frozen=True)
class MinioArtifactStore:
    """A bucket of the in-cluster MinIO, reached with its generated keys."""

    bucket_name: str
    """Bucket the Minio component creates."""
    endpoint_url: str
    """In-cluster S3 endpoint, e.g. http://minio.minio.svc.cluster.local:9000."""
    namespace: str
    """MinIO's namespace, for egress NetworkPolicies."""
    pod_labels: Mapping[str, str]
    """MinIO pods' labels, for egress NetworkPolicies."""
    port: int
    """MinIO's S3 port."""
    access_key: pulumi.Input[str]
    """Access key clients use."""
    secret_key: pulumi.Input[str]
    """Secret key clients use."""


ArtifactStore = S3ArtifactStore | MinioArtifactStore


def artifact_store(dvc_remote: DvcRemote | None, minio: Minio | None) -> ArtifactStore:
    """The S3 bucket when the stack has one (MinIO may run beside it), else MinIO."""
    if dvc_remote is not None:
        return dvc_remote.artifact_store
    if minio is not None:
        return minio.artifact_store
    raise ValueError("artifact_store: expected a DvcRemote or a Minio")
