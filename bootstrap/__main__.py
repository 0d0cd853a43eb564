"""Wiring only: bootstrap settings -> GithubDeployAccess -> outputs the workflows need."""

import sys
from pathlib import Path

# The bootstrap project lives in a sub-folder but shares the platform's components and settings.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pulumi
import pulumi_aws as aws

from components.github_oidc import GithubDeployAccess, GithubDeployAccessArgs
from settings import BOOTSTRAP_PROJECT, load_bootstrap_settings

settings = load_bootstrap_settings()
provider = aws.Provider(
    "aws",
    default_tags={
        "tags": {"project": BOOTSTRAP_PROJECT, "stack": pulumi.get_stack(), "managed-by": "pulumi"}
    },
)
access = GithubDeployAccess(
    "github",
    GithubDeployAccessArgs(
        repository=settings.github_repository,
        environments=settings.environments,
        deploy_policy_arns=settings.deploy_policy_arns,
        ecr_repositories=settings.ecr_repositories,
        state_bucket_arn=settings.state_bucket_arn,
        protect=settings.protect,
    ),
    opts=pulumi.ResourceOptions(providers=[provider]),
)

# Set these as GitHub environment variables (AWS_ROLE_ARN) and repository variables.
pulumi.export("deploy_role_arns", access.deploy_role_arns)
pulumi.export("preview_role_arn", access.preview_role.arn)
pulumi.export("ecr_repository_urls", access.repository_urls)
