"""Wiring only: stack settings -> components -> stack outputs."""

import pulumi
import pulumi_aws as aws

from components.cluster import PlatformCluster, PlatformClusterArgs
from components.dvc_remote import DvcRemote, DvcRemoteArgs
from settings import load_secrets, load_settings

settings = load_settings()
secrets = load_secrets()

# One AWS provider for the whole program, so every taggable resource carries the default tags.
aws_provider = (
    aws.Provider("aws", region=settings.aws_region, default_tags={"tags": settings.default_tags})
    if settings.is_aws
    else None
)

aws_opts = pulumi.ResourceOptions(providers=[aws_provider]) if aws_provider is not None else None

cluster = PlatformCluster(
    "platform",
    PlatformClusterArgs(
        target=settings.target,
        cluster=settings.cluster,
        cluster_name=f"{settings.project}-{settings.stack}",
        network=settings.network,
        node_groups=settings.node_groups,
        protect=settings.protect,
        instance_tags=settings.default_tags,
    ),
    opts=aws_opts,
)
dvc_remote = (
    DvcRemote(
        "dvc",
        DvcRemoteArgs(
            bucket_prefix=settings.dvc_remote.bucket_prefix,
            region=settings.aws_region or "",
            force_destroy=settings.dvc_remote.force_destroy,
            kms_key=bool(settings.dvc_remote.kms_key),
            noncurrent_version_days=settings.dvc_remote.noncurrent_version_days,
            abort_multipart_days=settings.dvc_remote.abort_multipart_days,
            protect=settings.protect,
        ),
        opts=aws_opts,
    )
    if settings.is_aws
    else None
)

pulumi.export("target", settings.target)
pulumi.export("production", settings.production)

if settings.is_aws:
    pulumi.export("cluster_name", cluster.cluster_name)
    pulumi.export("cluster_endpoint", cluster.endpoint)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("oidc_issuer", cluster.oidc_issuer)
    pulumi.export("node_role_arn", cluster.node_role_arn)
    pulumi.export("vpc_id", cluster.vpc_id)
    pulumi.export("private_subnet_ids", cluster.private_subnet_ids)
    pulumi.export("public_subnet_ids", cluster.public_subnet_ids)
if dvc_remote is not None:
    pulumi.export("dvc_remote_bucket", dvc_remote.bucket_name)
    pulumi.export("dvc_remote_url", dvc_remote.url)
    pulumi.export("dvc_remote_commands", dvc_remote.commands)
