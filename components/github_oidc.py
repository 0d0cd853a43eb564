"""GitHub Actions -> AWS without long-lived keys: the OIDC provider, per-environment roles, ECR.

Created once per AWS account by the `bootstrap/` project, before the deploy workflow can run.

- one deploy role per GitHub environment (`dev`, `prod`): only a job running in that environment of this
  repository can assume it, and `prod` jobs wait for the environment's required reviewers;
- one preview role for pull requests: it reads the configuration `pulumi preview --refresh` needs of
  every AWS service the platform uses, and no data: no S3 object outside the Pulumi state bucket, no log
  events, no secret values (AWS's `ReadOnlyAccess` would read every object of the DVC bucket). A pull
  request from a branch can never change infrastructure or read what the platform stores;
- ECR repositories for the images we build (pipeline steps, MLflow server): immutable release tags
  (only the build-cache tag moves), scan on push, encrypted, old untagged images expired.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

GITHUB_OIDC_URL = "https://token.actions.githubusercontent.com"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"
# GitHub's published intermediate thumbprints. AWS validates GitHub tokens against its own CA library and
# ignores these, but older provider versions require the field.
GITHUB_THUMBPRINTS = ("6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd")
# The configuration reads `pulumi preview --refresh` makes of each AWS service the platform declares
# resources in (refresh re-reads every resource in the state), keyed by IAM service prefix. Only services
# whose Describe/Get/List calls return configuration, never stored data, get wildcards; S3 and CloudWatch
# Logs, which also serve data through Get*, are listed call by call.
PREVIEW_READ_ACTIONS: dict[str, tuple[str, ...]] = {
    "autoscaling": ("autoscaling:Describe*",),
    "ec2": ("ec2:Describe*",),  # not ec2:Get*: GetPasswordData returns Windows passwords
    "ecr": (
        "ecr:Describe*",
        "ecr:GetAuthorizationToken",
        "ecr:GetLifecyclePolicy",
        "ecr:GetRepositoryPolicy",
        "ecr:ListTagsForResource",
    ),
    "eks": ("eks:Describe*", "eks:List*"),
    "iam": ("iam:Get*", "iam:List*"),
    "kms": ("kms:Describe*", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:List*"),
    # CloudWatch Logs: log groups only, never their events (GetLogEvents, FilterLogEvents, StartQuery).
    "logs": ("logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup"),
    "rds": ("rds:Describe*", "rds:ListTagsForResource"),
    # HeadBucket needs s3:ListBucket (object keys, not their content); the bucket's settings are GetBucket*
    # and Get*Configuration. s3:GetObject* is denied below.
    "s3": ("s3:ListAllMyBuckets", "s3:ListBucket", "s3:GetBucket*", "s3:Get*Configuration"),
}
# Reads of stored data, denied outright so a policy attached later cannot grant them by accident.
DATA_READ_ACTIONS = ("s3:GetObject*", "logs:GetLogEvents", "logs:FilterLogEvents", "logs:StartQuery")
# The one mutable tag in our repositories: BuildKit's registry cache (components/images.py).
BUILD_CACHE_TAG = "buildcache"


def environment_subject(repository: str, environment: str) -> str:
    """The `sub` claim of a job that runs in a GitHub environment."""
    return f"repo:{repository}:environment:{environment}"


def pull_request_subject(repository: str) -> str:
    """The `sub` claim of a job triggered by a pull request (no environment)."""
    return f"repo:{repository}:pull_request"


def github_trust_policy(provider_arn: str, subjects: list[str]) -> dict[str, Any]:
    """Trust exactly these subjects of GitHub's OIDC provider, with the STS audience (CKV_AWS_358)."""
    for subject in subjects:
        if "*" in subject or not subject.startswith("repo:") or subject.count(":") < 2:
            raise ValueError(
                f"OIDC subject {subject!r}: expected repo:<owner>/<name>:<context> without wildcards"
            )
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": sorted(subjects),
                    }
                },
            }
        ],
    }


def ecr_push_policy(repository_arns: list[str]) -> dict[str, Any]:
    """Push and pull to our repositories only; the auth token call cannot be scoped to a resource."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:CompleteLayerUpload",
                    "ecr:DescribeImages",
                    "ecr:GetDownloadUrlForLayer",
                    "ecr:InitiateLayerUpload",
                    "ecr:PutImage",
                    "ecr:UploadLayerPart",
                ],
                "Resource": sorted(repository_arns),
            },
        ],
    }


def state_bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """What `pulumi preview` needs of an S3 state backend: read state, write its lock file."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{bucket_arn}/*"},
            {
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"{bucket_arn}/.pulumi/locks/*",
            },
        ],
    }


def preview_policy(build_cache_repository_arns: list[str], state_bucket_arn: str | None) -> dict[str, Any]:
    """What `pulumi preview --refresh` of the platform needs, and no stored data.

    `build_cache_repository_arns`: our ECR repositories, whose BuildKit cache the preview's image build
    pulls (pulumi-docker-build builds on preview). `state_bucket_arn`: the Pulumi S3 state bucket, whose
    objects stay readable (the deny below exempts them).
    """
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadPlatformConfiguration",
            "Effect": "Allow",
            "Action": sorted(action for actions in PREVIEW_READ_ACTIONS.values() for action in actions),
            "Resource": "*",
        }
    ]
    if build_cache_repository_arns:
        statements.append(
            {
                "Sid": "PullOurBuildCache",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": sorted(build_cache_repository_arns),
            }
        )
    deny: dict[str, Any] = {"Sid": "ReadNoStoredData", "Effect": "Deny", "Action": list(DATA_READ_ACTIONS)}
    if state_bucket_arn:
        deny["NotResource"] = [f"{state_bucket_arn}/*"]
    else:
        deny["Resource"] = "*"
    statements.append(deny)
    return {"Version": "2012-10-17", "Statement": statements}


def ecr_lifecycle_policy(keep_tagged: int, untagged_days: int) -> dict[str, Any]:
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged images after {untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {keep_tagged} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": keep_tagged,
                },
                "action": {"type": "expire"},
            },
        ]
    }


@dataclass(frozen=True)
class GithubDeployAccessArgs:
    repository: str
    """GitHub repository allowed to deploy, as owner/name."""
    environments: list[str]
    """GitHub environments that get a deploy role each (e.g. dev, prod)."""
    deploy_policy_arns: list[str]
    """Managed policies for the deploy roles: what `pulumi up` needs to create the platform."""
    ecr_repositories: list[str] = field(default_factory=list)
    """ECR repositories the deploy workflow pushes images to."""
    state_bucket_arn: str | None = None
    """The Pulumi S3 state bucket, if that backend is used (preview needs to read it)."""
    keep_images: int = 30
    """Tagged images kept per ECR repository."""
    protect: bool = True
    """Protect the OIDC provider and repositories from accidental deletion."""


class GithubDeployAccess(pulumi.ComponentResource):
    """OIDC provider, deploy and preview roles, and ECR repositories for this repository's workflows."""

    def __init__(
        self, name: str, args: GithubDeployAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:delivery:GithubDeployAccess", name, None, opts)
        self._name = name
        self._args = args
        stateful = pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect)

        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=GITHUB_OIDC_URL,
            client_id_lists=[STS_AUDIENCE],
            thumbprint_lists=list(GITHUB_THUMBPRINTS),
            opts=stateful,
        )
        self.repositories = {repo: self._ecr_repository(repo, stateful) for repo in args.ecr_repositories}
        self.deploy_roles = {env: self._deploy_role(env) for env in args.environments}
        self.preview_role = self._preview_role()

        self.deploy_role_arns = {env: role.arn for env, role in self.deploy_roles.items()}
        self.repository_urls = {repo: r.repository_url for repo, r in self.repositories.items()}
        self.register_outputs(
            {
                "deploy_role_arns": self.deploy_role_arns,
                "preview_role_arn": self.preview_role.arn,
                "repository_urls": self.repository_urls,
            }
        )

    def _ecr_repository(self, repo: str, opts: pulumi.ResourceOptions) -> aws.ecr.Repository:
        repository = aws.ecr.Repository(
            f"{self._name}-ecr-{repo}",
            name=repo,
            # Release tags never move; only the BuildKit layer cache tag is rewritten on each build.
            image_tag_mutability="IMMUTABLE_WITH_EXCLUSION",
            image_tag_mutability_exclusion_filters=[{"filter": BUILD_CACHE_TAG, "filter_type": "WILDCARD"}],
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS"}],
            force_delete=False,
            opts=opts,
        )
        aws.ecr.LifecyclePolicy(
            f"{self._name}-ecr-{repo}-lifecycle",
            repository=repository.name,
            policy=json.dumps(ecr_lifecycle_policy(self._args.keep_images, untagged_days=7)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return repository

    def _role(self, role: str, subjects: list[str], policy_arns: list[str]) -> aws.iam.Role:
        trust = self.oidc_provider.arn.apply(lambda arn: json.dumps(github_trust_policy(arn, subjects)))
        iam_role = aws.iam.Role(
            f"{self._name}-{role}",
            assume_role_policy=trust,
            max_session_duration=3600,
            description=f"GitHub Actions {role} for {self._args.repository}",
            opts=pulumi.ResourceOptions(parent=self),
        )
        for index, arn in enumerate(policy_arns):
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{role}-policy-{index}",
                role=iam_role.name,
                policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=iam_role),
            )
        return iam_role

    def _deploy_role(self, environment: str) -> aws.iam.Role:
        role = self._role(
            f"deploy-{environment}",
            [environment_subject(self._args.repository, environment)],
            self._args.deploy_policy_arns,
        )
        if self.repositories:
            arns = pulumi.Output.all(*[r.arn for r in self.repositories.values()])
            aws.iam.RolePolicy(
                f"{self._name}-deploy-{environment}-ecr",
                role=role.id,
                policy=arns.apply(lambda values: json.dumps(ecr_push_policy(list(values)))),
                opts=pulumi.ResourceOptions(parent=role),
            )
        return role

    def _preview_role(self) -> aws.iam.Role:
        role = self._role("preview", [pull_request_subject(self._args.repository)], [])
        state_bucket_arn = self._args.state_bucket_arn
        arns = pulumi.Output.all(*[r.arn for r in self.repositories.values()])
        aws.iam.RolePolicy(
            f"{self._name}-preview-read",
            role=role.id,
            policy=arns.apply(lambda values: json.dumps(preview_policy(list(values), state_bucket_arn))),
            opts=pulumi.ResourceOptions(parent=role),
        )
        if state_bucket_arn:
            aws.iam.RolePolicy(
                f"{self._name}-preview-state",
                role=role.id,
                policy=json.dumps(state_bucket_policy(state_bucket_arn)),
                opts=pulumi.ResourceOptions(parent=role),
            )
        return role
