"""Wiring only: stack settings -> components -> stack outputs."""

import pulumi
import pulumi_aws as aws

from components.artifact_store import artifact_store
from components.cluster import platform_cluster
from components.dvc_remote import DvcRemote
from components.images import MLFLOW_SERVER, MODEL_SERVER, TRAINING_STEPS, PlatformImages
from components.kubeflow import KubeflowPipelines, KubeflowPipelinesArgs
from components.live_drift import LiveDriftCheck, LiveDriftCheckArgs
from components.minio import Minio
from components.mlflow import MlflowServer, MlflowServerArgs
from components.mlflow_users import MlflowUsers, MlflowUsersArgs
from components.model_server import NAMESPACE as SERVING_NAMESPACE
from components.model_server import ModelServer, ModelServerArgs, mlflow_access, store_capture_uri
from components.monitoring import (
    AlertReceivers,
    LoopAlerts,
    MlflowScrapeTarget,
    MonitoringStack,
    MonitoringStackArgs,
)
from components.retrain_relay import (
    TOKEN_SECRET,
    RetrainRelay,
    RetrainRelayArgs,
    alertmanager_credentials_file,
    webhook_url,
)
from components.training_schedule import TrainingSchedule, TrainingScheduleArgs
from monitoring.durations import format_duration
from pipelines.params import load_params
from pipelines.stage import PIPELINE_NAME
from settings import load_secrets, load_settings

settings = load_settings()
secrets = load_secrets()
serving = settings.serving  # None: nothing served, no capture, no live drift, no retraining relay
live_drift = serving.live_drift if serving is not None else None
schedule = settings.training_schedule  # None: no recurring run (TrainingSchedule then removes any)
relay_namespace = RetrainRelayArgs.namespace

# One AWS provider for the whole program, so every taggable resource carries the default tags.
aws_provider = (
    aws.Provider("aws", region=settings.aws_region, default_tags={"tags": settings.default_tags})
    if settings.aws_region is not None
    else None
)
aws_opts = pulumi.ResourceOptions(providers=[aws_provider] if aws_provider is not None else [])

cluster = platform_cluster("platform", settings.cluster, opts=aws_opts)
dvc_remote = DvcRemote("dvc", settings.dvc_remote, opts=aws_opts) if settings.dvc_remote else None
# Our images, built and pushed by `pulumi up`, deployed by digest.
images = PlatformImages("images", settings.images, aws_opts)

# Platform services on the cluster; AWS children (RDS, Pod Identity roles) use the tagged AWS provider.
k8s_opts = pulumi.ResourceOptions(providers=[p for p in (aws_provider, cluster.provider) if p is not None])
minio = Minio("minio", settings.minio, k8s_opts) if settings.minio else None
artifacts = artifact_store(dvc_remote, minio)
mlflow = MlflowServer(
    "mlflow",
    MlflowServerArgs(
        settings.mlflow,
        images.refs[MLFLOW_SERVER.name],
        artifacts,
        cluster.handle,
        client_namespaces=("kubeflow", "monitoring", *((SERVING_NAMESPACE,) if serving else ())),
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
        model_server_user=serving is not None,
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
        pushgateway_client_namespaces=("kubeflow", *((SERVING_NAMESPACE,) if live_drift else ())),
        serving_alerts=serving is not None,
        # The relay runs where live drift can confirm anything; `retrain.enabled` is its kill switch.
        loop=LoopAlerts(
            no_success_hours=settings.monitoring.no_success_hours,
            live_drift_confirm_for=format_duration(settings.retrain.confirm_for_seconds),
            relay_url=webhook_url(relay_namespace) if live_drift else None,
            relay_token_secret=TOKEN_SECRET if live_drift else None,
            relay_credentials_file=alertmanager_credentials_file() if live_drift else None,
        ),
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
        model_server_namespace=SERVING_NAMESPACE if serving else None,
        cron_time_zone=schedule.time_zone if schedule else "UTC",
    ),
    k8s_opts,
)
# Declared even when disabled: its reconcile Job is what removes the recurring run.
TrainingSchedule(
    "training-schedule",
    TrainingScheduleArgs(
        image=images.refs[TRAINING_STEPS.name],
        cron=schedule.cron if schedule else None,
        time_zone=schedule.time_zone if schedule else "UTC",
        depends_on=[kubeflow],
    ),
    k8s_opts,
)
model_server = (
    ModelServer(
        "serving",
        ModelServerArgs(
            image=images.refs[MODEL_SERVER.name],
            model_name=training.model_name,
            store=artifacts,
            mlflow=mlflow_access(
                mlflow, mlflow_users.model_server_username, mlflow_users.model_server_password
            ),
            min_replicas=serving.min_replicas,
            max_replicas=serving.max_replicas,
            target_cpu_utilization=serving.target_cpu_utilization,
            poll_seconds=serving.poll_seconds,
            capture_sample_rate=serving.capture.sample_rate,
            depends_on=[monitoring],
            eks_cluster_name=cluster.handle.pod_identity_cluster,
        ),
        k8s_opts,
    )
    if serving is not None
    else None
)
if serving is not None and live_drift is not None and model_server is not None:
    LiveDriftCheck(
        "live-drift",
        LiveDriftCheckArgs(
            image=images.refs[MODEL_SERVER.name],
            model_name=training.model_name,
            store=artifacts,
            mlflow=mlflow_access(mlflow, mlflow_users.pipeline_username, mlflow_users.pipeline_password),
            pushgateway_url=monitoring.pushgateway_url,
            schedule=live_drift.schedule,
            window_hours=live_drift.window_hours,
            min_rows=live_drift.min_rows,
            retention_days=serving.capture.retention_days,
            depends_on=[model_server],
            eks_cluster_name=cluster.handle.pod_identity_cluster,
        ),
        k8s_opts,
    )
    RetrainRelay(
        "retrain-relay",
        RetrainRelayArgs(
            image=images.refs[TRAINING_STEPS.name],
            token=monitoring.relay_token,
            enabled=settings.retrain.enabled,
            cooldown_seconds=settings.retrain.cooldown_seconds,
            max_runs_per_day=settings.retrain.max_runs_per_day,
            pipeline_name=PIPELINE_NAME,
            capture_uri=store_capture_uri(artifacts),
            depends_on=[monitoring, kubeflow],
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
if model_server is not None:
    pulumi.export("model_server_url", model_server.url)
    pulumi.export("model_server_port_forward", model_server.port_forward)
