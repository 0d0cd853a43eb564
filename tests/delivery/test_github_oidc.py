"""GitHub -> AWS trust (SECURITY.md: GitHub OIDC row, CKV_AWS_358) and the ECR repositories."""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest

from components.github_oidc import (
    BUILD_CACHE_TAG,
    STS_AUDIENCE,
    ecr_push_policy,
    environment_subject,
    github_trust_policy,
)
from harness.mocks import REPO_ROOT, Record, load_stack_config, run_program
from settings import SettingsError
from tests.support.stacks import record as platform_record

BOOTSTRAP = REPO_ROOT / "bootstrap"
REPO = "example-org/mlops-infra"


def _run(changes: dict[str, Any] | None = None, *, expect_error: bool = False) -> Record:
    config, secret_keys = load_stack_config("main", BOOTSTRAP / "Pulumi.main.yaml")
    for key, value in (changes or {}).items():
        config[f"mlops-infra-bootstrap:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return run_program(
        "main",
        config,
        secret_keys,
        program_file=BOOTSTRAP / "__main__.py",
        project="mlops-infra-bootstrap",
        expect_error=expect_error,
    )


@pytest.fixture(scope="module")
def record() -> Record:
    return _run()


def _trust(record: Record, role_name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.named(role_name).inputs["assumeRolePolicy"])
    return document


def test_ckv_aws_358_each_deploy_role_trusts_only_its_environment_of_this_repo(record: Record) -> None:
    provider_arn = record.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider").outputs["arn"]
    for environment in ("dev", "prod"):
        statement = _trust(record, f"github-deploy-{environment}")["Statement"]
        assert len(statement) == 1
        assert statement[0]["Principal"] == {"Federated": provider_arn}
        assert statement[0]["Action"] == "sts:AssumeRoleWithWebIdentity"
        condition = statement[0]["Condition"]
        assert set(condition) == {"StringEquals"}, "StringLike would allow wildcards"
        assert condition["StringEquals"] == {
            "token.actions.githubusercontent.com:aud": STS_AUDIENCE,
            "token.actions.githubusercontent.com:sub": [f"repo:{REPO}:environment:{environment}"],
        }


# Calls that return stored data rather than configuration: the DVC data and MLflow artifacts (S3 objects),
# log events, secret values, decryption.
DATA_READS = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "kms:Decrypt",
    "ec2:GetPasswordData",
    "rds-data:ExecuteStatement",
    "dynamodb:GetItem",
)
# Pulumi type-token module -> IAM service prefix, for every AWS module the platform program uses.
IAM_PREFIX = {"cloudwatch": "logs"}


def _preview_policy(record: Record) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(record.named("github-preview-read").inputs["policy"])
    return document


def _allowed_actions(document: dict[str, Any]) -> list[str]:
    return [
        action
        for statement in document["Statement"]
        if statement["Effect"] == "Allow"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]


def test_preview_role_trusts_pull_requests_and_has_no_managed_policy(record: Record) -> None:
    condition = _trust(record, "github-preview")["Statement"][0]["Condition"]["StringEquals"]
    assert condition["token.actions.githubusercontent.com:sub"] == [f"repo:{REPO}:pull_request"]
    preview = record.named("github-preview")
    attached = [
        r.inputs["policyArn"]
        for r in record.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r.parent == preview.urn
    ]
    assert attached == [], "ReadOnlyAccess reads every S3 object in the account, the DVC data included"


def test_preview_role_reads_no_stored_data(record: Record) -> None:
    document = _preview_policy(record)
    for action in DATA_READS:
        granted = [p for p in _allowed_actions(document) if fnmatch.fnmatchcase(action.lower(), p.lower())]
        assert granted == [], f"the preview role may call {action} through {granted}"
    (deny,) = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    assert "s3:GetObject*" in deny["Action"]
    assert deny["Resource"] == "*", "without an S3 state backend no object is readable"


def test_preview_role_reads_the_s3_state_backend_and_no_other_object() -> None:
    state_bucket = "arn:aws:s3:::example-pulumi-state"
    document = _preview_policy(_run({"stateBucketArn": state_bucket}))
    (deny,) = [s for s in document["Statement"] if s["Effect"] == "Deny"]
    # Deny wins over any allow: every object but the Pulumi state, whatever else is attached later.
    assert "s3:GetObject*" in deny["Action"]
    assert deny["NotResource"] == [f"{state_bucket}/*"]
    assert "Resource" not in deny


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_preview_role_can_refresh_every_aws_service_the_platform_uses(record: Record, stack: str) -> None:
    """`pulumi preview --refresh` re-reads every resource in the state: each service needs its reads."""
    modules = {
        r.type.split(":")[1].split("/")[0]
        for r in platform_record(stack).resources
        if r.type.startswith("aws:")
    }
    modules.discard("index")  # the provider itself
    allowed = _allowed_actions(_preview_policy(record))
    missing = [
        m for m in sorted(modules) if not any(a.startswith(f"{IAM_PREFIX.get(m, m)}:") for a in allowed)
    ]
    assert missing == [], f"no read access for {missing}: preview --refresh of {stack} would fail"


def test_preview_role_pulls_only_our_build_cache(record: Record) -> None:
    (pull,) = [s for s in _preview_policy(record)["Statement"] if s.get("Sid") == "PullOurBuildCache"]
    repositories = sorted(r.outputs["arn"] for r in record.of_type("aws:ecr/repository:Repository"))
    assert pull["Resource"] == repositories


def test_oidc_provider_is_githubs_with_sts_audience(record: Record) -> None:
    provider = record.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == [STS_AUDIENCE]
    assert (provider.protect, provider.retain_on_delete) == (True, True)


def test_no_long_lived_keys_anywhere(record: Record) -> None:
    assert not record.of_type("aws:iam/accessKey:AccessKey")
    assert not record.of_type("aws:iam/user:User")


def test_ecr_release_tags_are_immutable_scanned_encrypted_and_expire_old_images(record: Record) -> None:
    repos = record.of_type("aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repos) == ["mlops-mlflow", "mlops-pipeline-steps"]
    for repo in repos:
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        assert repo.inputs["imageTagMutabilityExclusionFilters"] == [
            {"filter": BUILD_CACHE_TAG, "filterType": "WILDCARD"}
        ]
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo.inputs["encryptionConfigurations"] == [{"encryptionType": "KMS"}]
        assert repo.inputs["forceDelete"] is False
        assert repo.protect
    for policy in record.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy"):
        rules = json.loads(policy.inputs["policy"])["rules"]
        assert {r["selection"]["tagStatus"] for r in rules} == {"untagged", "any"}


def test_deploy_roles_push_only_to_our_repositories(record: Record) -> None:
    repo_arns = sorted(r.outputs["arn"] for r in record.of_type("aws:ecr/repository:Repository"))
    for environment in ("dev", "prod"):
        policy = json.loads(record.named(f"github-deploy-{environment}-ecr").inputs["policy"])
        push = [s for s in policy["Statement"] if "ecr:PutImage" in s["Action"]]
        assert push == [ecr_push_policy(repo_arns)["Statement"][1]]
        assert all(s["Resource"] != "*" for s in push)


def test_every_aws_resource_goes_through_the_tagged_provider(record: Record) -> None:
    provider = record.one("pulumi:providers:aws")
    # Provider inputs reach the engine as JSON text.
    assert json.loads(provider.inputs["defaultTags"])["tags"]["managed-by"] == "pulumi"
    for resource in record.resources:
        if resource.type.startswith("aws:") and resource.custom:
            assert resource.provider.startswith(provider.urn), resource.name


def test_exports_the_role_arns_the_workflows_need(record: Record) -> None:
    assert set(record.exports["deploy_role_arns"]) == {"dev", "prod"}
    assert record.exports["preview_role_arn"].startswith("arn:aws:iam::")


def test_trust_policy_refuses_wildcard_subjects() -> None:
    with pytest.raises(ValueError, match="without wildcards"):
        github_trust_policy("arn:aws:iam::1:oidc-provider/x", ["repo:example-org/*"])
    assert environment_subject("o/r", "prod") == "repo:o/r:environment:prod"


def test_bad_repository_is_refused_before_any_resource() -> None:
    record = _run({"githubRepository": "not a repo"}, expect_error=True)
    assert isinstance(record.error, SettingsError)
    assert 'mlops-infra-bootstrap:githubRepository = "not a repo"' in str(record.error)
    assert record.resources == []
