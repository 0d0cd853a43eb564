"""The S3 bucket that is the DVC remote (and holds MLflow artifacts under their own prefix).

Hardened the way auditors check S3: versioned, encrypted (a customer KMS key when asked for), all four
public-access-block flags, ACLs disabled (BucketOwnerEnforced), a policy that refuses requests without TLS,
and a lifecycle that expires old object versions and aborts stale multipart uploads. The IAM documents
workloads get (read-write or read-only, scoped to a prefix) come from the pure functions below.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.artifact_store import S3ArtifactStore

DVC_PREFIX = "dvc"
"""Where DVC keeps its content-addressed cache inside the bucket; MLflow artifacts go under `mlflow/`."""
ARTIFACT_PREFIX = "mlflow"
"""Where MLflow keeps its artifacts in the same bucket (MLflow writes there, pipeline steps too)."""
CAPTURE_PREFIX = "inference-capture"
"""Where the model server writes the rows it captured (Parquet parts), expired after the retention."""


# --- pure policy documents -------------------------------------------------------------------------------


def _clean_prefix(prefix: str) -> str:
    cleaned = prefix.strip("/")
    if any(c in cleaned for c in "*?"):
        raise ValueError(f"prefix {prefix!r}: expected a plain key prefix such as 'dvc' (no wildcards)")
    return cleaned


def _object_arn(bucket_arn: str, prefix: str) -> str:
    return f"{bucket_arn}/{prefix}/*" if prefix else f"{bucket_arn}/*"


def _list_statement(bucket_arn: str, prefix: str) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": "ListPrefix",
        "Effect": "Allow",
        "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
        "Resource": bucket_arn,
    }
    if prefix:
        statement["Condition"] = {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}
    return statement


def bucket_policy_document(bucket_arn: str) -> dict[str, Any]:
    """Bucket policy refusing every request made without TLS (Security Hub S3.5)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def read_write_policy_document(
    bucket_arn: str, prefix: str, kms_key_arn: str | None = None
) -> dict[str, Any]:
    """Read, write and delete objects under `prefix/` of one bucket (and use its KMS key), nothing else."""
    prefix = _clean_prefix(prefix)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BucketLocation",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": bucket_arn,
        },
        _list_statement(bucket_arn, prefix),
        {
            "Sid": "ReadWriteObjects",
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:GetObjectVersion",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
            ],
            "Resource": _object_arn(bucket_arn, prefix),
        },
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": kms_key_arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def read_only_policy_document(bucket_arn: str, prefix: str, kms_key_arn: str | None = None) -> dict[str, Any]:
    """Read objects under `prefix/` of one bucket (and decrypt with its KMS key), nothing else."""
    prefix = _clean_prefix(prefix)
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BucketLocation",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": bucket_arn,
        },
        _list_statement(bucket_arn, prefix),
        {
            "Sid": "ReadObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": _object_arn(bucket_arn, prefix),
        },
    ]
    if kms_key_arn:
        statements.append(
            {
                "Sid": "DecryptWithBucketKey",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def dvc_remote_commands(remote_name: str, url: str, region: str) -> list[str]:
    """What a user pastes in their repository to use the bucket as the default DVC remote."""
    return [
        f"dvc remote add --default {remote_name} {url}",
        f"dvc remote modify {remote_name} region {region}",
    ]


# --- the component -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DvcRemoteArgs:
    bucket_prefix: str
    """Start of the bucket name; AWS-unique suffix appended by Pulumi."""
    region: str
    """The bucket's region, written into the `dvc remote modify ... region` command."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a bucket that still holds objects."""
    kms_key: bool = False
    """Encrypt with a customer-managed KMS key (created here) instead of S3-managed keys."""
    noncurrent_version_days: int = 30
    """Days an overwritten or deleted object version is kept before it expires."""
    abort_multipart_days: int = 7
    """Days after which unfinished multipart uploads are aborted."""
    protect: bool = False
    """Protect the bucket and key from deletion and keep them in AWS if removed from the program."""
    remote_name: str = "storage"
    """The DVC remote's name in the printed commands."""
    capture_retention_days: int | None = None
    """Days captured inference rows (`inference-capture/`) are kept; None when nothing is served."""


def capture_lifecycle_rules(retention_days: int) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    """Captured requests are gone `retention_days` after they were written, old versions included.

    On a versioned bucket an expiration only adds a delete marker; the row data would stay for the
    bucket-wide noncurrent window on top. S3 honours the shorter of overlapping expirations, so the
    capture prefix's noncurrent versions go one day later, and the markers left behind are removed.
    """
    if retention_days < 1:
        raise ValueError(f"DvcRemoteArgs.capture_retention_days = {retention_days}: expected at least 1")
    capture = aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=f"{CAPTURE_PREFIX}/")
    return [
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-inference-capture",
            status="Enabled",
            filter=capture,
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=1
            ),
        ),
        # S3 refuses Days and ExpiredObjectDeleteMarker in one rule's expiration.
        aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="remove-inference-capture-delete-markers",
            status="Enabled",
            filter=capture,
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                expired_object_delete_marker=True
            ),
        ),
    ]


class DvcRemote(pulumi.ComponentResource):
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    url: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str] | None
    commands: pulumi.Output[list[str]]
    artifact_store: S3ArtifactStore

    def __init__(self, name: str, args: DvcRemoteArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if args.protect and args.force_destroy:
            raise ValueError(
                "DvcRemoteArgs: force_destroy=True with protect=True; a protected bucket keeps its data"
            )
        capture_rules = (
            capture_lifecycle_rules(args.capture_retention_days)
            if args.capture_retention_days is not None
            else []
        )
        super().__init__("mlops:dvc_remote:DvcRemote", name, None, opts)
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)
        child = pulumi.ResourceOptions(parent=self)

        key = (
            aws.kms.Key(
                f"{name}-key",
                description=f"Encrypts the DVC remote bucket {args.bucket_prefix}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                opts=stateful,
            )
            if args.kms_key
            else None
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=f"{args.bucket_prefix}-",
            force_destroy=args.force_destroy,
            opts=stateful,
        )
        self._harden(name, bucket, key, child)
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-noncurrent-versions",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=args.noncurrent_version_days
                    ),
                ),
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="abort-incomplete-multipart-uploads",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=args.abort_multipart_days
                    ),
                ),
                *capture_rules,
            ],
            # S3 rejects noncurrent-version rules until versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.url = bucket.bucket.apply(lambda b: f"s3://{b}/{DVC_PREFIX}")
        self.kms_key_arn = key.arn if key is not None else None
        self.commands = self.url.apply(lambda url: dvc_remote_commands(args.remote_name, url, args.region))
        self.artifact_store = S3ArtifactStore(
            self.bucket_name, self.bucket_arn, args.region, self.kms_key_arn
        )
        self.register_outputs(
            {
                "bucket_name": self.bucket_name,
                "bucket_arn": self.bucket_arn,
                "url": self.url,
                "kms_key_arn": self.kms_key_arn,
                "commands": self.commands,
            }
        )

    @staticmethod
    def _harden(
        name: str, bucket: aws.s3.Bucket, key: aws.kms.Key | None, child: pulumi.ResourceOptions
    ) -> None:
        """Encryption, no public access, no ACLs, TLS only."""
        default_encryption = (
            aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="aws:kms", kms_master_key_id=key.arn
            )
            if key is not None
            else aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                sse_algorithm="AES256"
            )
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default_encryption,
                    # Bucket keys cut KMS request charges by ~99% for SSE-KMS.
                    bucket_key_enabled=key is not None,
                )
            ],
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child,
        )
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(bucket_policy_document(arn))),
            # With block_public_policy on, S3 judges the policy on arrival: create the block first.
            opts=pulumi.ResourceOptions(parent=child.parent, depends_on=[public_access]),
        )
