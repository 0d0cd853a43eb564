"""Scheduled training as code: a KFP recurring run of the compiled pipeline, reconciled on `pulumi up`.

Why a reconcile Job rather than a step of the deploy workflow: the steps image is built by `pulumi up`
itself (components/images.py), the schedule is stack config, and the KFP API is reachable only inside the
cluster (its Service is ClusterIP behind default-deny policies); a Job declared next to KFP sees all three,
runs on every stack the same way (no workflow on `local`), and `pulumi up` fails if it fails, so config and
cluster cannot silently disagree.

The Job is named by a hash of the image, the schedule and the pipeline name: an unchanged config keeps the
same Job (nothing runs), any change replaces it and the new Job brings KFP in line
(`python -m pipelines schedule`, pipelines/recurring.py: upload the version, create, replace or delete the
recurring run; idempotent). Disabled, the Job still runs once, to delete the recurring run.

KFP takes the cron's time zone from its install config, cluster-wide: `time_zone_patch` is the kustomize
patch that sets it, for the platform overlay of `KubeflowPipelines` (components/kubeflow.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kb
from monitoring.cadence import parse_cron, time_zone
from pipelines.stage import PIPELINE_NAME

APP: Final = "training-schedule"
RESOURCES: Final = kb.Resources(
    cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi"
)
KFP_API_SERVER_POD: Final = {"app": "ml-pipeline"}
KFP_INSTALL_CONFIG: Final = "pipeline-install-config"


@dataclass(frozen=True)
class TrainingScheduleArgs:
    image: pulumi.Input[str]
    """The training steps image, pinned by digest: the reconcile runs in it and the scheduled runs use it."""
    cron: str | None
    """`training.schedule.cron` (5 fields); None when `training.schedule.enabled` is false."""
    time_zone: str = "UTC"
    """`training.schedule.timeZone` (IANA); applied cluster-wide through `time_zone_patch`."""
    pipeline_name: str = PIPELINE_NAME
    """The pipeline the versions are uploaded under (the relay runs its newest version too)."""
    namespace: str = "kubeflow"
    """KFP's namespace: the Job runs next to the API server."""
    kfp_port: int = 8888
    """The API server's HTTP port."""
    depends_on: Sequence[pulumi.Resource] = ()
    """KFP itself: the API server must be up before the Job calls it."""


def validate(args: TrainingScheduleArgs) -> None:
    """Type-level checks (settings already refused bad config with the key's name)."""
    if args.cron is not None:
        parse_cron(args.cron)
    time_zone(args.time_zone)
    if not args.pipeline_name:
        raise ValueError("TrainingSchedule: pipeline_name must not be empty")


def reconcile_hash(image: str, cron: str | None, pipeline_name: str) -> str:
    """10 hex characters naming the Job and the pipeline version it uploads."""
    text = "\n".join((image, cron or "disabled", pipeline_name))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def job_manifest(args: TrainingScheduleArgs, image: str) -> dict[str, Any]:
    digest = reconcile_hash(image, args.cron, args.pipeline_name)
    when = ["--disable"] if args.cron is None else ["--cron", args.cron]
    container = kb.ContainerSpec(
        name=APP,
        image=image,
        command=["python", "-m", "pipelines"],
        args=[
            "schedule",
            "--host",
            f"http://ml-pipeline.{args.namespace}.svc:{args.kfp_port}",
            "--steps-image",
            image,
            "--version",
            f"schedule-{digest}",
            "--name",
            args.pipeline_name,
            *when,
        ],
        # kfp keeps client settings under $HOME; the root filesystem is read-only.
        env=[{"name": "HOME", "value": "/tmp"}],
        volume_mounts=[{"name": "tmp", "mountPath": "/tmp"}],
        resources=RESOURCES,
    )
    pod = kb.PodSpec(
        service_account=APP, containers=[container], volumes=[kb.temp_volume("tmp")], restart_policy="Never"
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{APP}-{digest}",
            "namespace": args.namespace,
            "labels": kb.labels(APP, "reconcile"),
        },
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 900,
            "template": {"metadata": {"labels": kb.labels(APP, "reconcile")}, "spec": pod.manifest()},
        },
    }


def network_policies(args: TrainingScheduleArgs) -> list[dict[str, Any]]:
    """The Job may reach the KFP API server, and the API server accepts it (DNS: KFP's `kfp-dns`)."""
    selector = kb.selector_labels(APP, "reconcile")
    port = [{"protocol": "TCP", "port": args.kfp_port}]
    return [
        kb.allow_policy(
            APP,
            args.namespace,
            selector,
            egress=[{"to": [{"podSelector": {"matchLabels": KFP_API_SERVER_POD}}], "ports": port}],
        ),
        kb.allow_policy(
            "kfp-api-server-from-training-schedule",
            args.namespace,
            KFP_API_SERVER_POD,
            ingress=[{"from": [{"podSelector": {"matchLabels": selector}}], "ports": port}],
        ),
    ]


def time_zone_patch(zone: str, namespace: str = "kubeflow") -> dict[str, Any]:
    """Kustomize patch: KFP's scheduled-workflow controller reads the cron time zone from its install
    config (`cronScheduleTimezone`, upstream default UTC, 2.17.0)."""
    time_zone(zone)
    return {
        "target": {"version": "v1", "kind": "ConfigMap", "name": KFP_INSTALL_CONFIG},
        "patch": yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": KFP_INSTALL_CONFIG, "namespace": namespace},
                "data": {"cronScheduleTimezone": zone},
            },
            sort_keys=False,
        ),
    }


class TrainingSchedule(pulumi.ComponentResource):
    enabled: bool

    def __init__(
        self, name: str, args: TrainingScheduleArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:training_schedule:TrainingSchedule", name, None, opts)
        validate(args)
        self._name = name
        self._args = args
        after_kfp = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        account = kb.declare_service_account(f"{name}-service-account", APP, args.namespace, after_kfp)
        policies = [
            kb.declare_network_policy(f"{name}-netpol-{policy['metadata']['name']}", policy, after_kfp)
            for policy in network_policies(args)
        ]
        self._job(pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, account, *policies]))
        self.enabled = args.cron is not None
        self.register_outputs({"enabled": self.enabled})

    def _job(self, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
        manifest = pulumi.Output.from_input(self._args.image).apply(
            lambda image: job_manifest(self._args, image)
        )
        return k8s.batch.v1.Job(
            f"{self._name}-reconcile",
            metadata=manifest.apply(lambda j: j["metadata"]),
            spec=manifest.apply(lambda j: j["spec"]),
            opts=pulumi.ResourceOptions.merge(
                opts,
                # The Job's name carries the hash: a new config is a new Job, created before the old one
                # goes, and `pulumi up` waits for it to finish.
                pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="15m", update="15m")),
            ),
        )
