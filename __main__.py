"""Wiring only: stack settings -> components -> stack outputs."""

import pulumi
import pulumi_aws as aws

from settings import load_secrets, load_settings

settings = load_settings()
secrets = load_secrets()

# One AWS provider for the whole program, so every taggable resource carries the default tags.
aws_provider = (
    aws.Provider("aws", region=settings.aws_region, default_tags={"tags": settings.default_tags})
    if settings.is_aws
    else None
)

pulumi.export("target", settings.target)
pulumi.export("production", settings.production)
