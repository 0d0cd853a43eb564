"""MlflowUsers: MLflow accounts for the platform's machines, so only people hold the admin password.

The pipeline steps log as `mlops-pipelines`, an ordinary MLflow user with MANAGE on the training
experiment and the registered model (and on whatever it creates itself); it cannot manage users or touch
other teams' experiments beyond MLflow's default READ. With `model_server_user`, the model server gets its
own user too, `mlops-model-server`, with READ only on the same experiments and models: it loads the
champion and cannot move an alias. Passwords are generated and reach pods only through Secrets. A Job
in the MLflow image runs `components/mlflow_users_sync.py` (shipped in a ConfigMap) as the admin: it
creates each user, or resets its password, and applies the grants. The Job is replaced, and so runs
again, when the script, the grants or a password change.

Prometheus keeps scraping `/metrics` as the admin: MLflow's basic-auth app (3.17, fail-closed) serves that
route to admins only. The ServiceMonitor reads the admin Secret in MLflow's own namespace; no copy leaves it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kb
from components import mlflow as mlflow_server
from components.mlflow_users_sync import READ, UserSpec
from pipelines.env import MLFLOW_READY_TIMEOUT, MLFLOW_USERS, MODEL_SERVER_PASSWORD, PIPELINES_PASSWORD

if TYPE_CHECKING:
    from components.mlflow import MlflowServer

SYNC_SCRIPT = Path(__file__).with_name("mlflow_users_sync.py")
APP = "mlflow-users"
CREDENTIALS_SECRET = "mlflow-platform-users"
PIPELINE_USER = "mlops-pipelines"
PIPELINE_PASSWORD_KEY = "pipelines-password"
PIPELINE_PASSWORD_ENV = PIPELINES_PASSWORD.name
MODEL_SERVER_USER = "mlops-model-server"
MODEL_SERVER_PASSWORD_KEY = "model-server-password"
MODEL_SERVER_PASSWORD_ENV = MODEL_SERVER_PASSWORD.name
# Where the sync Job finds each user's password in the credentials Secret.
PASSWORD_KEYS = {
    PIPELINE_PASSWORD_ENV: PIPELINE_PASSWORD_KEY,
    MODEL_SERVER_PASSWORD_ENV: MODEL_SERVER_PASSWORD_KEY,
}
SCRIPT_DIR = "/scripts"
SYNC_RESOURCES = kb.Resources(
    cpu_request="100m", memory_request="256Mi", cpu_limit="500m", memory_limit="512Mi"
)


@dataclass(frozen=True)
class MlflowUsersArgs:
    namespace: str
    """MLflow's namespace: the Job, its ConfigMap and the credentials Secret live there."""
    image: pulumi.Input[str]
    """The MLflow server image (digest-pinned): it has the mlflow client the script needs."""
    tracking_uri: pulumi.Input[str]
    """The in-cluster MLflow URL."""
    admin_secret: str
    """The Secret holding the admin's `admin-username` and `admin-password`."""
    experiments: Sequence[str]
    """Experiments the pipeline user manages (the training flow's, from params.yaml)."""
    registered_models: Sequence[str]
    """Registered models the pipeline user manages."""
    server_labels: dict[str, str]
    """Pod labels of the MLflow server, the only thing the Job may reach besides DNS."""
    server_port: int = mlflow_server.PORT
    depends_on: Sequence[pulumi.Resource] = ()
    """The MLflow server: the Job talks to it."""
    model_server_user: bool = False
    """Also create `mlops-model-server`, with READ only on the experiments and models (serving.enabled)."""

    @classmethod
    def for_server(
        cls,
        server: MlflowServer,
        *,
        image: pulumi.Input[str],
        experiments: Sequence[str],
        registered_models: Sequence[str],
        model_server_user: bool = False,
    ) -> MlflowUsersArgs:
        return cls(
            namespace=server.namespace,
            image=image,
            tracking_uri=server.tracking_uri,
            admin_secret=server.auth_secret_name,
            experiments=experiments,
            registered_models=registered_models,
            server_labels=kb.selector_labels(mlflow_server.APP, "tracking-server"),
            depends_on=(server,),
            model_server_user=model_server_user,
        )


def pipeline_user_spec(args: MlflowUsersArgs) -> UserSpec:
    return UserSpec(
        username=PIPELINE_USER,
        password_env=PIPELINES_PASSWORD.name,
        experiments=tuple(args.experiments),
        registered_models=tuple(args.registered_models),
    )


def model_server_user_spec(args: MlflowUsersArgs) -> UserSpec:
    return UserSpec(
        username=MODEL_SERVER_USER,
        password_env=MODEL_SERVER_PASSWORD_ENV,
        experiments=tuple(args.experiments),
        registered_models=tuple(args.registered_models),
        permission=READ,
    )


def sync_fingerprint(script: str, users: Sequence[UserSpec], password: str) -> str:
    """Changes when anything the Job applies changes, so Pulumi replaces (re-runs) it. A hash, never the
    password itself, reaches the Job's annotations."""
    material = json.dumps([script, [u.to_json() for u in users], password], sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def sync_job_manifest(
    args: MlflowUsersArgs, users: Sequence[UserSpec], image: str, tracking_uri: str, fingerprint: str
) -> dict[str, Any]:
    container = kb.ContainerSpec(
        name="sync-users",
        image=image,
        command=["python", f"{SCRIPT_DIR}/{SYNC_SCRIPT.name}"],
        env=[
            {"name": "MLFLOW_TRACKING_URI", "value": tracking_uri},
            kb.secret_env("MLFLOW_TRACKING_USERNAME", args.admin_secret, "admin-username"),
            kb.secret_env("MLFLOW_TRACKING_PASSWORD", args.admin_secret, "admin-password"),
            *(
                kb.secret_env(u.password_env, CREDENTIALS_SECRET, PASSWORD_KEYS[u.password_env])
                for u in users
            ),
            {"name": MLFLOW_USERS.name, "value": json.dumps([u.to_json() for u in users], sort_keys=True)},
            {"name": MLFLOW_READY_TIMEOUT.name, "value": "600"},
            # Egress is MLflow and DNS only: nothing to phone home to. HOME: the root filesystem is read-only.
            {"name": "MLFLOW_DISABLE_TELEMETRY", "value": "true"},
            {"name": "HOME", "value": "/tmp"},
        ],
        volume_mounts=[
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "script", "mountPath": SCRIPT_DIR, "readOnly": True},
        ],
        resources=SYNC_RESOURCES,
    )
    pod = kb.PodSpec(
        service_account=APP,
        containers=[container],
        volumes=[kb.temp_volume(), {"name": "script", "configMap": {"name": APP}}],
        restart_policy="OnFailure",
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": APP, "namespace": args.namespace, "labels": kb.labels(APP, "setup")},
        "spec": {
            "backoffLimit": 6,
            "template": {
                "metadata": {
                    "labels": kb.labels(APP, "setup"),
                    "annotations": {"mlops.platform/sync-fingerprint": fingerprint},
                },
                "spec": pod.manifest(),
            },
        },
    }


def network_policy(args: MlflowUsersArgs) -> dict[str, Any]:
    return kb.allow_policy(
        APP,
        args.namespace,
        kb.selector_labels(APP, "setup"),
        egress=[
            kb.dns_egress_rule(),
            kb.to_namespace_rule(args.namespace, args.server_labels, [args.server_port]),
        ],
    )


class MlflowUsers(pulumi.ComponentResource):
    pipeline_username: str
    pipeline_password: pulumi.Output[str]
    model_server_username: str | None = None
    model_server_password: pulumi.Output[str] | None = None

    def __init__(self, name: str, args: MlflowUsersArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:mlflow:MlflowUsers", name, None, opts)
        if not args.experiments or not args.registered_models:
            raise ValueError(
                "MlflowUsers: the pipeline user needs an experiment and a registered model to manage"
            )
        child = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        script = SYNC_SCRIPT.read_text(encoding="utf-8")

        password = random.RandomPassword(f"{name}-pipelines-password", length=32, special=False, opts=child)
        self.pipeline_username = PIPELINE_USER
        secret_password: pulumi.Output[str] = pulumi.Output.secret(password.result)
        credentials_data: dict[str, pulumi.Input[str]] = {
            "pipelines-username": PIPELINE_USER,
            PIPELINE_PASSWORD_KEY: secret_password,
        }
        users = [pipeline_user_spec(args)]
        passwords: list[pulumi.Output[str]] = [password.result]
        reader_password: pulumi.Output[str] | None = None
        if args.model_server_user:
            reader = random.RandomPassword(
                f"{name}-model-server-password", length=32, special=False, opts=child
            )
            reader_password = pulumi.Output.secret(reader.result)
            credentials_data |= {
                "model-server-username": MODEL_SERVER_USER,
                MODEL_SERVER_PASSWORD_KEY: reader_password,
            }
            users.append(model_server_user_spec(args))
            passwords.append(reader.result)
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={"name": CREDENTIALS_SECRET, "namespace": args.namespace, "labels": kb.labels(APP)},
            type="Opaque",
            string_data=credentials_data,
            opts=child,
        )
        service_account = kb.declare_service_account(f"{name}-service-account", APP, args.namespace, child)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-script",
            metadata={"name": APP, "namespace": args.namespace, "labels": kb.labels(APP)},
            data={SYNC_SCRIPT.name: script},
            opts=child,
        )
        policy = kb.declare_network_policy(f"{name}-netpol", network_policy(args), child)

        # A hash of 32-character random passwords reveals nothing; unsecret, the Job's diff stays readable.
        fingerprint = pulumi.Output.unsecret(
            pulumi.Output.all(*passwords).apply(
                lambda secrets: sync_fingerprint(script, users, "\n".join(secrets))
            )
        )
        job = pulumi.Output.all(args.image, args.tracking_uri, fingerprint).apply(
            lambda values: sync_job_manifest(args, users, values[0], values[1], values[2])
        )
        sync_job = k8s.batch.v1.Job(
            f"{name}-sync",
            metadata=job["metadata"],
            spec=job["spec"],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.depends_on, credentials, service_account, config_map, policy],
            ),
        )
        # Handed out only once the Job has created the user: the steps' Secret never names a user that
        # does not exist yet (pulumi-kubernetes waits for a Job to complete).
        self.pipeline_password = pulumi.Output.all(sync_job.id, secret_password).apply(lambda done: done[1])
        if reader_password is not None:
            self.model_server_username = MODEL_SERVER_USER
            self.model_server_password = pulumi.Output.all(sync_job.id, reader_password).apply(
                lambda done: done[1]
            )
        self.register_outputs(
            {
                "pipeline_username": PIPELINE_USER,
                "pipeline_password": self.pipeline_password,
                "model_server_password": self.model_server_password,
            }
        )
