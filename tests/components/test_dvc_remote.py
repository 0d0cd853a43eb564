"""DvcRemote: the hardened S3 bucket and the IAM documents scoped to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.dvc_remote import (
    CAPTURE_PREFIX,
    DvcRemote,
    DvcRemoteArgs,
    bucket_policy_document,
    capture_lifecycle_rules,
    dvc_remote_commands,
    read_only_policy_document,
    read_write_policy_document,
)
from harness.mocks import Record, Recorded, run_program
from tests.support.stack_records import committed, policy

AWS_STACKS = ("dev", "prod")
BUCKET_ARN = "arn:aws:s3:::mlops-dvc-dev-1234"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/abcd"
WRITE_ACTIONS = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}


def _bucket_child(record: Record, type_token: str) -> Recorded:
    bucket = record.one("aws:s3/bucket:Bucket")
    [child] = [r for r in record.of_type(type_token) if r.inputs["bucket"] == bucket.id]
    return child


def _actions(statement: dict[str, Any]) -> set[str]:
    actions = statement["Action"]
    return {actions} if isinstance(actions, str) else set(actions)


# --- pure documents ------------------------------------------------------------------------------------


def test_bucket_policy_denies_every_request_without_tls() -> None:
    [statement] = bucket_policy_document(BUCKET_ARN)["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Resource"] == [BUCKET_ARN, f"{BUCKET_ARN}/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_read_write_document_is_scoped_to_the_prefix() -> None:
    document = read_write_policy_document(BUCKET_ARN, "/mlflow/")
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["ReadWriteObjects"]["Resource"] == f"{BUCKET_ARN}/mlflow/*"
    assert _actions(statements["ReadWriteObjects"]) >= WRITE_ACTIONS
    assert statements["ListPrefix"]["Resource"] == BUCKET_ARN
    assert statements["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["mlflow", "mlflow/*"]}}
    assert all(s["Effect"] == "Allow" for s in document["Statement"])
    assert "UseBucketKey" not in statements
    assert all("*" not in _actions(s) and "s3:*" not in _actions(s) for s in document["Statement"])


def test_read_only_document_cannot_write_and_only_decrypts() -> None:
    document = read_only_policy_document(BUCKET_ARN, "dvc", KEY_ARN)
    actions = set().union(*(_actions(s) for s in document["Statement"]))
    assert not actions & WRITE_ACTIONS
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert statements["ReadObjects"]["Resource"] == f"{BUCKET_ARN}/dvc/*"
    assert statements["DecryptWithBucketKey"] == {
        "Sid": "DecryptWithBucketKey",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": KEY_ARN,
    }


def test_read_write_document_may_use_the_bucket_key() -> None:
    statements = {s["Sid"]: s for s in read_write_policy_document(BUCKET_ARN, "dvc", KEY_ARN)["Statement"]}
    assert _actions(statements["UseBucketKey"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert statements["UseBucketKey"]["Resource"] == KEY_ARN


def test_empty_prefix_means_the_whole_bucket_and_wildcards_are_refused() -> None:
    statements = {s["Sid"]: s for s in read_only_policy_document(BUCKET_ARN, "")["Statement"]}
    assert statements["ReadObjects"]["Resource"] == f"{BUCKET_ARN}/*"
    assert "Condition" not in statements["ListPrefix"]
    with pytest.raises(ValueError, match="no wildcards"):
        read_write_policy_document(BUCKET_ARN, "data/*")


def test_dvc_commands_make_the_bucket_the_default_remote() -> None:
    assert dvc_remote_commands("storage", "s3://b/dvc", "us-east-1") == [
        "dvc remote add --default storage s3://b/dvc",
        "dvc remote modify storage region us-east-1",
    ]


def test_protect_with_force_destroy_is_refused_before_registering() -> None:
    with pytest.raises(ValueError, match="force_destroy=True with protect=True"):
        DvcRemote("x", DvcRemoteArgs(bucket_prefix="x", region="us-east-1", force_destroy=True, protect=True))


# --- SECURITY.md rows, on the recorded stacks ----------------------------------------------------------


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ckv_aws_53_56_ckv2_aws_6_65_public_access_blocked_and_acls_disabled(stack: str) -> None:
    record = committed(stack)
    block = _bucket_child(record, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert [
        block[k]
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    ] == [True] * 4
    ownership = _bucket_child(record, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_ckv_aws_19_145_bucket_encrypted_with_a_customer_key_in_prod(stack: str) -> None:
    record = committed(stack)
    encryption = _bucket_child(
        record, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    [rule] = encryption.inputs["rules"]
    default = rule["applyServerSideEncryptionByDefault"]
    if stack == "prod":
        key = record.one("aws:kms/key:Key", "dvc-key")
        assert default == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}
        assert rule["bucketKeyEnabled"] is True
        assert key.inputs["enableKeyRotation"] is True
    else:
        assert default == {"sseAlgorithm": "AES256"}
        assert [k.name for k in record.of_type("aws:kms/key:Key")] == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_s3_5_bucket_policy_denies_requests_without_tls(stack: str) -> None:
    record = committed(stack)
    bucket = record.one("aws:s3/bucket:Bucket")
    bucket_policy = _bucket_child(record, "aws:s3/bucketPolicy:BucketPolicy")
    denies = [
        s
        for s in policy(bucket_policy.inputs["policy"])["Statement"]
        if s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denies) == 1
    assert set(denies[0]["Resource"]) == {bucket.outputs["arn"], f"{bucket.outputs['arn']}/*"}
    public_access = _bucket_child(record, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert public_access.urn in bucket_policy.dependencies


@pytest.mark.parametrize(("stack", "noncurrent_days"), [("dev", 7), ("prod", 90)])
def test_ckv_aws_21_ckv2_aws_61_ckv_aws_300_versioning_and_lifecycle(
    stack: str, noncurrent_days: int
) -> None:
    record = committed(stack)
    versioning = _bucket_child(record, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    lifecycle = _bucket_child(record, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    rules = [r for r in lifecycle.inputs["rules"] if r["status"] == "Enabled"]
    # The whole-bucket rule; the capture prefix's own rules are checked below.
    expiring = [
        r["noncurrentVersionExpiration"]["noncurrentDays"]
        for r in rules
        if "noncurrentVersionExpiration" in r and r.get("filter", {}).get("prefix") != f"{CAPTURE_PREFIX}/"
    ]
    aborting = [
        r["abortIncompleteMultipartUpload"]["daysAfterInitiation"]
        for r in rules
        if "abortIncompleteMultipartUpload" in r
    ]
    assert expiring == [noncurrent_days]
    assert len(aborting) == 1 and 1 <= aborting[0] <= 7
    assert versioning.urn in lifecycle.dependencies


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_pulumi_15956_stateful_resources_protected_and_retained_in_prod_only(stack: str) -> None:
    record = committed(stack)
    bucket = record.one("aws:s3/bucket:Bucket")
    stateful = [bucket, *[k for k in record.of_type("aws:kms/key:Key")]]
    expected = stack == "prod"
    assert [(r.name, r.protect, r.retain_on_delete) for r in stateful] == [
        (r.name, expected, expected) for r in stateful
    ]
    assert bucket.inputs["forceDestroy"] is {"dev": True, "prod": False}[stack]
    if stack == "prod":
        assert {k.name for k in record.of_type("aws:kms/key:Key")} == {"dvc-key", "platform-secrets-key"}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_dvc_remote_outputs_are_exported(stack: str) -> None:
    record = committed(stack)
    bucket = record.one("aws:s3/bucket:Bucket")
    assert bucket.inputs["bucketPrefix"] == f"mlops-dvc-{stack}-"
    exports = record.exports
    assert exports["dvc_remote_bucket"] == bucket.outputs["bucket"]
    assert exports["dvc_remote_url"] == f"s3://{bucket.outputs['bucket']}/dvc"
    assert exports["dvc_remote_commands"] == [
        f"dvc remote add --default storage s3://{bucket.outputs['bucket']}/dvc",
        "dvc remote modify storage region us-east-1",
    ]


def test_local_has_no_dvc_bucket() -> None:
    record = committed("local")
    assert record.of_type("aws:s3/bucket:Bucket") == []
    assert "dvc_remote_url" not in record.exports


# --- inference capture retention (issue 14) ------------------------------------------------------------

CAPTURE_PROGRAM = """
from components.dvc_remote import DvcRemote, DvcRemoteArgs

DvcRemote("dvc", DvcRemoteArgs(bucket_prefix="mlops-dvc", region="us-east-1", capture_retention_days={days}))
"""


def _lifecycle_rules(tmp_path: Path, days: int | None) -> dict[str, dict[str, Any]]:
    program = tmp_path / "__main__.py"
    program.write_text(CAPTURE_PROGRAM.format(days=days))
    record = run_program("dev", {}, program_file=program)
    lifecycle = record.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    return {rule["id"]: rule for rule in lifecycle.inputs["rules"]}


def test_captured_requests_expire_after_the_retention_old_versions_and_markers_included(
    tmp_path: Path,
) -> None:
    rules = _lifecycle_rules(tmp_path, 45)
    expire = rules["expire-inference-capture"]
    assert expire["filter"] == {"prefix": f"{CAPTURE_PREFIX}/"} and expire["status"] == "Enabled"
    assert expire["expiration"] == {"days": 45}
    assert expire["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    markers = rules["remove-inference-capture-delete-markers"]
    assert markers["filter"] == {"prefix": f"{CAPTURE_PREFIX}/"}
    assert markers["expiration"] == {"expiredObjectDeleteMarker": True}
    assert {"expire-noncurrent-versions", "abort-incomplete-multipart-uploads"} <= set(rules)


def test_no_capture_rule_when_nothing_is_served(tmp_path: Path) -> None:
    rules = _lifecycle_rules(tmp_path, None)
    assert set(rules) == {"expire-noncurrent-versions", "abort-incomplete-multipart-uploads"}


def test_capture_retention_below_a_day_is_refused() -> None:
    with pytest.raises(ValueError, match="capture_retention_days = 0: expected at least 1"):
        capture_lifecycle_rules(0)
