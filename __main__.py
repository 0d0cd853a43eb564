"""Wiring only: stack settings -> components -> stack outputs."""

import dataclasses

import pulumi
import pulumi_aws as aws

from components.cluster import PlatformCluster, PlatformClusterArgs
from components.dvc_remote import DvcRemote, DvcRemoteArgs
from components.images import MLFLOW_SERVER, TRAINING_STEPS, PlatformImages, PlatformImagesArgs
from components.kubeflow import KubeflowPipelines, KubeflowPipelinesArgs, PipelineAws, PipelineMinio
from components.minio import Minio, MinioArgs
from components.mlflow import MinioArtifacts, MlflowServer, MlflowServerArgs, PostgresNetwork, S3Artifacts
from components.mlflow_users import MlflowUsers, MlflowUsersArgs
from components.monitoring import AlertReceivers, MlflowScrapeTarget, MonitoringStack, MonitoringStackArgs
from pipelines.params import load_params
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
        region=settings.aws_region,
        autoscaler=settings.autoscaler,
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

# Our two images, built and pushed by `pulumi up`, deployed by digest.
images = PlatformImages(
    "images",
    PlatformImagesArgs(
        builds=[
            dataclasses.replace(MLFLOW_SERVER, repository=settings.images.mlflow_repository),
            dataclasses.replace(TRAINING_STEPS, repository=settings.images.steps_repository),
        ],
        registry=settings.images.registry,
        ecr_region=settings.aws_region if settings.images.registry is None else None,
        platforms=settings.images.platforms,
    ),
    aws_opts,
)

# Platform services on the cluster; AWS children (RDS, Pod Identity roles) use the tagged AWS provider.
k8s_opts = pulumi.ResourceOptions(providers=[p for p in (aws_provider, cluster.provider) if p is not None])
minio = (
    Minio(
        "minio",
        MinioArgs(storage_size_gib=settings.minio.storage_size_gib, protect=settings.protect),
        k8s_opts,
    )
    if settings.minio.enabled
    else None
)
if dvc_remote is not None:
    artifacts: S3Artifacts | MinioArtifacts = S3Artifacts.from_dvc_remote(
        dvc_remote, cluster, settings.aws_region
    )
else:
    assert minio is not None  # settings: target 'local' keeps artifacts in MinIO
    artifacts = MinioArtifacts.from_minio(minio, bucket="mlflow")
mlflow = MlflowServer(
    "mlflow",
    MlflowServerArgs(
        settings=settings.mlflow,
        image=images.refs[MLFLOW_SERVER.name],
        artifacts=artifacts,
        protect=settings.protect,
        postgres=PostgresNetwork.from_cluster(cluster, settings.network.vpc_cidr, dvc_remote)
        if settings.mlflow.backend == "postgres"
        else None,
    ),
    k8s_opts,
)
# The pipeline steps log as their own MLflow user, with MANAGE on the training flow's experiment and model.
training = load_params().registry
mlflow_users = MlflowUsers(
    "mlflow-users",
    MlflowUsersArgs.for_server(
        mlflow,
        image=images.refs[MLFLOW_SERVER.name],
        experiments=[training.experiment],
        registered_models=[training.model_name],
    ),
    k8s_opts,
)
monitoring = MonitoringStack(
    "monitoring",
    MonitoringStackArgs(
        settings=settings.monitoring,
        receivers=AlertReceivers.from_settings(settings.monitoring, secrets),
        mlflow=MlflowScrapeTarget.from_server(mlflow),
    ),
    k8s_opts,
)
kubeflow = KubeflowPipelines(
    "kubeflow",
    KubeflowPipelinesArgs(
        version=settings.kubeflow.version,
        mlflow_tracking_uri=mlflow.tracking_uri,
        mlflow_username=mlflow_users.pipeline_username,
        mlflow_password=mlflow_users.pipeline_password,
        pushgateway_url=monitoring.pushgateway_url,
        aws=PipelineAws(cluster.cluster_name, dvc_remote.bucket_arn, dvc_remote.kms_key_arn)
        if dvc_remote is not None and cluster.cluster_name is not None
        else None,
        minio=PipelineMinio(minio.endpoint_url, minio.access_key, minio.secret_key)
        if dvc_remote is None and minio is not None
        else None,
    ),
    k8s_opts,
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
pulumi.export("mlflow_image", images.refs[MLFLOW_SERVER.name])
pulumi.export("training_steps_image", images.refs[TRAINING_STEPS.name])
pulumi.export("kubeflow_namespace", kubeflow.namespace)
pulumi.export("mlflow_tracking_uri", mlflow.tracking_uri)
pulumi.export("mlflow_port_forward", mlflow.port_forward)
pulumi.export("mlflow_admin_username", mlflow.admin_username)
pulumi.export("mlflow_admin_password", mlflow.admin_password)
pulumi.export("mlflow_pipeline_username", mlflow_users.pipeline_username)
pulumi.export("kfp_ui_port_forward", kubeflow.ui_port_forward)
pulumi.export("kfp_api_port_forward", kubeflow.api_port_forward)
pulumi.export("pushgateway_url", monitoring.pushgateway_url)
pulumi.export("grafana_port_forward", monitoring.grafana_port_forward)
pulumi.export("grafana_admin_password", monitoring.grafana_admin_password)
pulumi.export("alertmanager_port_forward", monitoring.alertmanager_port_forward)
if minio is not None:
    pulumi.export("minio_endpoint", minio.endpoint_url)
