"""Wiring only: stack settings -> components -> stack outputs."""

import pulumi
import pulumi_aws as aws

from components.artifact_store import artifact_store
from components.cluster import PlatformCluster
from components.dvc_remote import DvcRemote
from components.images import MLFLOW_SERVER, TRAINING_STEPS, PlatformImages
from components.kubeflow import KubeflowPipelines, KubeflowPipelinesArgs
from components.minio import Minio
from components.mlflow import MlflowServer, MlflowServerArgs
from components.mlflow_users import MlflowUsers, MlflowUsersArgs
from components.monitoring import AlertReceivers, MlflowScrapeTarget, MonitoringStack, MonitoringStackArgs
from pipelines.params import load_params
from settings import load_secrets, load_settings

settings = load_settings()
secrets = load_secrets()

# One AWS provider for the whole program, so every taggable resource carries the default tags.
aws_provider = (
    aws.Provider("aws", region=settings.aws_region, default_tags={"tags": settings.default_tags})
    if settings.aws_region is not None
    else None
)
aws_opts = pulumi.ResourceOptions(providers=[aws_provider] if aws_provider is not None else [])

cluster = PlatformCluster("platform", settings.cluster, opts=aws_opts)
dvc_remote = DvcRemote("dvc", settings.dvc_remote, opts=aws_opts) if settings.dvc_remote else None
# Our images, built and pushed by `pulumi up`, deployed by digest.
images = PlatformImages("images", settings.images, aws_opts)

# Platform services on the cluster; AWS children (RDS, Pod Identity roles) use the tagged AWS provider.
k8s_opts = pulumi.ResourceOptions(providers=[p for p in (aws_provider, cluster.provider) if p is not None])
minio = Minio("minio", settings.minio, k8s_opts) if settings.minio else None
artifacts = artifact_store(dvc_remote, minio)
mlflow = MlflowServer(
    "mlflow",
    MlflowServerArgs(settings.mlflow, images.refs[MLFLOW_SERVER.name], artifacts, cluster.handle),
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
        settings.monitoring,
        AlertReceivers(
            secrets.slack_webhook_url, secrets.webhook_url, secrets.smtp_password, settings.alert_email
        ),
        MlflowScrapeTarget.from_server(mlflow),
    ),
    k8s_opts,
)
kubeflow = KubeflowPipelines(
    "kubeflow",
    KubeflowPipelinesArgs(
        version=settings.kubeflow_version,
        mlflow_tracking_uri=mlflow.tracking_uri,
        mlflow_username=mlflow_users.pipeline_username,
        mlflow_password=mlflow_users.pipeline_password,
        pushgateway_url=monitoring.pushgateway_url,
        artifacts=artifacts,
        cluster=cluster.handle,
    ),
    k8s_opts,
)

pulumi.export("target", settings.target)
pulumi.export("production", settings.production)
for key, value in cluster.stack_outputs.items():
    pulumi.export(key, value)
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
