"""The retraining relay in the cluster: Alertmanager's webhook for confirmed live drift (relay/).

One Deployment in a namespace of its own, running `python -m relay serve` from the training steps image
(which holds `relay/`, kfp and the compiled pipeline code). It needs no Kubernetes API access (no service
account token): it calls the Kubeflow Pipelines API over HTTP.

- The bearer token is generated (`RandomPassword`) and stored twice: in the relay's namespace (mounted as a
  file it compares against) and in Alertmanager's namespace, where Alertmanager mounts it
  (`alertmanagerSpec.secrets`) and reads it through `http_config.authorization.credentials_file`.
- NetworkPolicies: default deny; ingress only from Alertmanager (the webhook) and Prometheus (scrape) on the
  relay's port; egress only to DNS and the KFP API server; and, in `kubeflow`, an ingress rule that lets the
  relay reach the API server (policies add up, so KFP's own rules stay as they are).
- A ServiceMonitor scrapes `/metrics` as job `retrain-relay` (the relay's down and failing alerts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kb
from monitoring import metrics as m
from relay import config as relay_config
from relay.launchers import DEFAULT_EXPERIMENT
from relay.service import HEALTH_PATH, METRICS_PATH, WEBHOOK_PATH

APP: Final = m.RELAY_SCRAPE_JOB
PORT: Final = relay_config.DEFAULT_PORT
TOKEN_SECRET: Final = "retrain-relay-token"
TOKEN_KEY: Final = "token"
TOKEN_DIR: Final = "/var/run/secrets/retrain-relay"
# Where kube-prometheus-stack's Alertmanager mounts each Secret named in `alertmanagerSpec.secrets`.
ALERTMANAGER_SECRETS_DIR: Final = "/etc/alertmanager/secrets"
RESOURCES: Final = kb.Resources(
    cpu_request="50m", memory_request="192Mi", cpu_limit="500m", memory_limit="384Mi"
)

# Pod labels of the upstream workloads the policies name (kube-prometheus-stack, KFP 2.17.0).
ALERTMANAGER_POD: Final = {"app.kubernetes.io/name": "alertmanager"}
PROMETHEUS_POD: Final = {"app.kubernetes.io/name": "prometheus"}
KFP_API_SERVER_POD: Final = {"app": "ml-pipeline"}


@dataclass(frozen=True)
class RetrainRelayArgs:
    image: pulumi.Input[str]
    """The training steps image, pinned by digest (stack output `training_steps_image`)."""
    enabled: bool
    """`retrain.enabled`: false keeps the relay running and recording decisions, starting nothing."""
    cooldown_seconds: int
    """`retrain.cooldown` in seconds."""
    max_runs_per_day: int
    """`retrain.maxRunsPerDay`."""
    pipeline_name: str
    """The uploaded training pipeline whose newest version a retraining run uses."""
    capture_uri: str = ""
    """The model server's capture (`MLOPS_CAPTURE_URI`); Ingest joins its labelled rows. Empty: none."""
    namespace: str = "retrain-relay"
    """The relay's own namespace."""
    monitoring_namespace: str = "monitoring"
    """Where Alertmanager and Prometheus run (the token's second copy lives there)."""
    kfp_namespace: str = "kubeflow"
    """Where the Kubeflow Pipelines API server runs."""
    kfp_port: int = 8888
    """The API server's HTTP port."""
    experiment: str = DEFAULT_EXPERIMENT
    """KFP experiment of the runs the relay starts."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist first: the monitoring stack (ServiceMonitor CRD, its namespace) and KFP."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to the namespace."""


def validate(args: RetrainRelayArgs) -> None:
    if args.cooldown_seconds < 0:
        raise ValueError(f"RetrainRelay: cooldown_seconds must be >= 0, got {args.cooldown_seconds}")
    if not 1 <= args.max_runs_per_day <= 24:
        raise ValueError(f"RetrainRelay: max_runs_per_day must be in 1..24, got {args.max_runs_per_day}")
    if not args.pipeline_name:
        raise ValueError("RetrainRelay: pipeline_name must name the uploaded training pipeline")
    if args.namespace in (args.monitoring_namespace, args.kfp_namespace):
        raise ValueError(
            f"RetrainRelay: namespace {args.namespace!r} must be its own namespace: its policies admit only "
            "Alertmanager"
        )


def kfp_host(args: RetrainRelayArgs) -> str:
    return f"http://ml-pipeline.{args.kfp_namespace}.svc:{args.kfp_port}"


def webhook_url(namespace: str) -> str:
    """What Alertmanager calls (`monitoring.alertmanager.RelayReceiver.url`)."""
    return f"http://{APP}.{namespace}.svc:{PORT}{WEBHOOK_PATH}"


def alertmanager_credentials_file() -> str:
    """The token file inside the Alertmanager pod (`RelayReceiver.credentials_file`)."""
    return f"{ALERTMANAGER_SECRETS_DIR}/{TOKEN_SECRET}/{TOKEN_KEY}"


def container_env(args: RetrainRelayArgs) -> list[dict[str, Any]]:
    values = {
        relay_config.TOKEN_FILE_ENV: f"{TOKEN_DIR}/{TOKEN_KEY}",
        relay_config.RETRAIN_ENABLED_ENV: "true" if args.enabled else "false",
        relay_config.COOLDOWN_ENV: str(args.cooldown_seconds),
        relay_config.MAX_RUNS_ENV: str(args.max_runs_per_day),
        relay_config.LAUNCHER_ENV: "kfp",
        relay_config.KFP_HOST_ENV: kfp_host(args),
        relay_config.KFP_PIPELINE_ENV: args.pipeline_name,
        relay_config.KFP_EXPERIMENT_ENV: args.experiment,
        relay_config.CAPTURE_URI_ENV: args.capture_uri,
        # kfp writes its client settings under $HOME; the root filesystem is read-only.
        "HOME": "/tmp",
    }
    return [{"name": name, "value": value} for name, value in values.items()]


def deployment_manifest(args: RetrainRelayArgs, image: str) -> dict[str, Any]:
    selector = kb.selector_labels(APP, "webhook")
    container = kb.ContainerSpec(
        name=APP,
        image=image,
        command=["python", "-m", "relay"],
        args=["serve", "--port", str(PORT)],
        env=container_env(args),
        ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        volume_mounts=[
            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        resources=RESOURCES,
        liveness=kb.Probe(HEALTH_PATH, "http", initial_delay_seconds=15, period_seconds=20),
        readiness=kb.Probe(HEALTH_PATH, "http", initial_delay_seconds=5, period_seconds=10),
    )
    pod = kb.PodSpec(
        service_account=APP,
        containers=[container],
        volumes=[
            {"name": "token", "secret": {"secretName": TOKEN_SECRET, "defaultMode": 0o440}},
            kb.temp_volume("tmp", "64Mi"),
        ],
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": args.namespace, "labels": kb.labels(APP, "webhook")},
        "spec": {
            # One decider: two replicas would judge the same notification side by side.
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": kb.labels(APP, "webhook")}, "spec": pod.manifest()},
        },
    }


def _pods_in(namespace: str, pod_labels: Mapping[str, str]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {"matchLabels": dict(pod_labels)},
    }


def network_policies(args: RetrainRelayArgs) -> list[dict[str, Any]]:
    """Default deny in the relay's namespace; Alertmanager and Prometheus in, DNS and the KFP API out; and
    the KFP API server's matching ingress rule in its own namespace."""
    selector = kb.selector_labels(APP, "webhook")
    port = [{"protocol": "TCP", "port": PORT}]
    relay_policy = kb.allow_policy(
        APP,
        args.namespace,
        selector,
        ingress=[
            {"from": [_pods_in(args.monitoring_namespace, ALERTMANAGER_POD)], "ports": port},
            {"from": [_pods_in(args.monitoring_namespace, PROMETHEUS_POD)], "ports": port},
        ],
        egress=[
            kb.dns_egress_rule(),
            kb.to_namespace_rule(args.kfp_namespace, KFP_API_SERVER_POD, [args.kfp_port]),
        ],
    )
    api_server_policy = kb.allow_policy(
        "kfp-api-server-from-retrain-relay",
        args.kfp_namespace,
        KFP_API_SERVER_POD,
        ingress=[
            {
                "from": [_pods_in(args.namespace, selector)],
                "ports": [{"protocol": "TCP", "port": args.kfp_port}],
            }
        ],
    )
    return [kb.default_deny_policy(args.namespace), relay_policy, api_server_policy]


def service_monitor(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": APP, "namespace": namespace, "labels": kb.labels(APP, "scrape")},
        "spec": {
            "selector": {"matchLabels": kb.selector_labels(APP, "webhook")},
            "namespaceSelector": {"matchNames": [namespace]},
            "endpoints": [
                {
                    "port": "http",
                    "path": METRICS_PATH,
                    "interval": "30s",
                    # The relay's alerts look for this job name; pin it rather than rely on the Service's.
                    "relabelings": [
                        {"action": "replace", "targetLabel": "job", "replacement": m.RELAY_SCRAPE_JOB}
                    ],
                }
            ],
        },
    }


class RetrainRelay(pulumi.ComponentResource):
    namespace: str
    webhook_url: str
    alertmanager_token_secret: str
    alertmanager_credentials_file: str

    def __init__(self, name: str, args: RetrainRelayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:retrain_relay:RetrainRelay", name, None, opts)
        validate(args)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)

        namespace = kb.declare_namespace(f"{name}-namespace", args.namespace, child, args.extra_labels)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        kb.declare_service_account(f"{name}-service-account", APP, args.namespace, in_ns)
        secrets = self._token_secrets(in_ns)
        self._deployment(pulumi.ResourceOptions(parent=self, depends_on=[namespace, *secrets]))
        self._service(in_ns)
        for policy in network_policies(args):
            kb.declare_network_policy(f"{name}-netpol-{policy['metadata']['name']}", policy, in_ns)
        self._service_monitor(pulumi.ResourceOptions(parent=self, depends_on=[namespace, *args.depends_on]))

        self.namespace = args.namespace
        self.webhook_url = webhook_url(args.namespace)
        self.alertmanager_token_secret = TOKEN_SECRET
        self.alertmanager_credentials_file = alertmanager_credentials_file()
        self.register_outputs({"namespace": self.namespace, "webhook_url": self.webhook_url})

    def _token_secrets(self, opts: pulumi.ResourceOptions) -> list[k8s.core.v1.Secret]:
        token = random.RandomPassword(
            f"{self._name}-token", length=48, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        value: pulumi.Output[str] = pulumi.Output.secret(token.result)
        secrets = []
        for role, namespace in (
            ("relay", self._args.namespace),
            ("alertmanager", self._args.monitoring_namespace),
        ):
            secrets.append(
                k8s.core.v1.Secret(
                    f"{self._name}-token-{role}",
                    metadata={
                        "name": TOKEN_SECRET,
                        "namespace": namespace,
                        "labels": kb.labels(APP, "token"),
                    },
                    type="Opaque",
                    string_data={TOKEN_KEY: value},
                    opts=pulumi.ResourceOptions.merge(
                        opts, pulumi.ResourceOptions(depends_on=list(self._args.depends_on))
                    )
                    if role == "alertmanager"
                    else opts,
                )
            )
        return secrets

    def _deployment(self, opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        manifest = pulumi.Output.from_input(self._args.image).apply(
            lambda image: deployment_manifest(self._args, image)
        )
        return k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            metadata=manifest.apply(lambda d: d["metadata"]),
            spec=manifest.apply(lambda d: d["spec"]),
            opts=opts,
        )

    def _service(self, opts: pulumi.ResourceOptions) -> None:
        service = kb.service_manifest(
            APP, self._args.namespace, kb.selector_labels(APP, "webhook"), {"http": PORT}, "webhook"
        )
        k8s.core.v1.Service(
            f"{self._name}-service", metadata=service["metadata"], spec=service["spec"], opts=opts
        )

    def _service_monitor(self, opts: pulumi.ResourceOptions) -> None:
        monitor = service_monitor(self._args.namespace)
        k8s.apiextensions.CustomResource(
            f"{self._name}-service-monitor",
            api_version=monitor["apiVersion"],
            kind=monitor["kind"],
            metadata=monitor["metadata"],
            spec=monitor["spec"],
            opts=opts,
        )
