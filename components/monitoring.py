"""Observability on the cluster: kube-prometheus-stack, a Pushgateway, our alert rules, dashboards and
notification receivers.

Everything here is declared from pure functions in `monitoring/`: Helm values, the PrometheusRule, the
dashboard ConfigMaps and the Alertmanager configuration. The receivers' URLs and SMTP password are secret
Outputs: the rendered `alertmanager.yaml` goes into a Kubernetes Secret (never into Helm values), and the
Grafana admin password is generated and stored in a Secret the chart reads.

Objects whose kinds the chart's CRDs define (PrometheusRule, ServiceMonitor) depend on the
kube-prometheus-stack release explicitly, and so does the Pushgateway release (its chart brings a
ServiceMonitor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import k8s as kb
from components import mlflow as mlflow_server
from monitoring import helm_values as hv
from monitoring import metrics as m
from monitoring.alertmanager import (
    EmailReceiver,
    NotificationSettings,
    RelayReceiver,
    SlackReceiver,
    WebhookReceiver,
    render_alertmanager_config,
)
from monitoring.dashboards import all_dashboards, dashboard_configmap
from monitoring.rules import (
    DEFAULT_RUNBOOK_BASE_URL,
    PROMETHEUS_RULE_API_VERSION,
    AlertSettings,
    render_prometheus_rule,
)
from versions import KUBE_PROMETHEUS_STACK_CHART, PUSHGATEWAY_CHART

if TYPE_CHECKING:
    from components.mlflow import MlflowServer

# Helm release names decide the Service names users port-forward to (docs/monitoring.md): a release name
# containing the chart name keeps them short, e.g. `kube-prometheus-stack-grafana`.
STACK_RELEASE: Final = KUBE_PROMETHEUS_STACK_CHART.chart
PUSHGATEWAY_RELEASE: Final = m.PUSHGATEWAY_SCRAPE_JOB
PUSHGATEWAY_PORT: Final = 9091
GRAFANA_SERVICE: Final = f"{STACK_RELEASE}-grafana"
PROMETHEUS_SERVICE: Final = f"{STACK_RELEASE}-prometheus"
ALERTMANAGER_SERVICE: Final = f"{STACK_RELEASE}-alertmanager"
GRAFANA_ADMIN_SECRET: Final = "grafana-admin"
GRAFANA_ADMIN_USER: Final = "admin"
ALERTMANAGER_CONFIG_SECRET: Final = "alertmanager-mlops"
PROMETHEUS_RULE_NAME: Final = "mlops-alerts"
MLFLOW_SERVICE_MONITOR: Final = "mlflow"
SCRAPE_INTERVAL: Final = "30s"
APP: Final = "monitoring"
# PrometheusRule and ServiceMonitor share the operator's API group and version.
MONITORING_API_VERSION: Final = PROMETHEUS_RULE_API_VERSION
# Key of the relay's token in its Secret; Alertmanager reads /etc/alertmanager/secrets/<secret>/<key>.
RELAY_TOKEN_KEY: Final = "token"

# Pod labels the charts and the operator put on their pods, for NetworkPolicy selectors.
PROMETHEUS_POD: Final = {"app.kubernetes.io/name": "prometheus"}
ALERTMANAGER_POD: Final = {"app.kubernetes.io/name": "alertmanager"}
PUSHGATEWAY_POD: Final = {"app.kubernetes.io/name": PUSHGATEWAY_CHART.chart}
KUBE_API_PORTS: Final = (443, 6443)


@dataclass(frozen=True)
class EmailAlerts:
    """E-mail notifications (the SMTP password is a secret of `AlertReceivers`)."""

    to: tuple[str, ...]
    """Recipients."""
    sender: str
    """Sender address, also the SMTP user name."""
    smarthost: str
    """SMTP relay host:port."""


@dataclass(frozen=True)
class AlertReceivers:
    """Where notifications go; each channel is optional."""

    slack_webhook_url: pulumi.Input[str] | None = None
    """Slack incoming-webhook URL (secret)."""
    webhook_url: pulumi.Input[str] | None = None
    """Generic Alertmanager webhook URL (secret)."""
    smtp_password: pulumi.Input[str] | None = None
    """SMTP password (secret); the user name is the sender address."""
    email: EmailAlerts | None = None
    """E-mail recipients, sender and relay."""


@dataclass(frozen=True)
class MonitoringOptions:
    """What a stack chooses for its monitoring (settings.py resolves these from `monitoring.*`)."""

    retention: str
    """Prometheus TSDB retention, a Prometheus duration such as 15d (monitoring/durations.py)."""
    storage_size_gib: int
    """Volume of each Prometheus replica."""
    replicas: int
    """Prometheus and Alertmanager replicas."""
    no_success_hours: float | None
    """Alert when no training run succeeded for this long."""
    runbook_base_url: str = DEFAULT_RUNBOOK_BASE_URL
    """Where notifications link the runbooks."""


@dataclass(frozen=True)
class MlflowScrapeTarget:
    """The MLflow Service Prometheus scrapes as job `mlflow` (the "MLflow down" alert watches it)."""

    namespace: str
    """MLflow's namespace; the ServiceMonitor lives there, next to the auth Secret it reads."""
    service_labels: Mapping[str, str]
    """Labels selecting the MLflow Service."""
    port_name: str
    """Named Service port serving `/metrics`."""
    auth_secret: str
    """Secret with the basic-auth credentials: MLflow's basic-auth app protects `/metrics` too."""
    username_key: str
    """Key of the user name in `auth_secret`."""
    password_key: str
    """Key of the password in `auth_secret`."""
    metrics_path: str = "/metrics"
    """Path of `mlflow server --expose-prometheus`."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What must exist first (the MLflow component: its namespace and Secret)."""

    @classmethod
    def from_server(cls, server: MlflowServer) -> MlflowScrapeTarget:
        return cls(
            namespace=server.namespace,
            service_labels=kb.selector_labels(mlflow_server.APP, "tracking-server"),
            port_name="http",
            auth_secret=server.auth_secret_name,
            username_key="admin-username",
            password_key="admin-password",
            depends_on=(server,),
        )


@dataclass(frozen=True)
class LoopAlerts:
    """The closed loop's side of the alerts: the training schedule's window and the retraining relay."""

    no_success_hours: float | None
    """`monitoring.cadence.no_success_window_hours` of the training schedule; None: no schedule, no
    `MlopsNoRecentSuccessfulRun`."""
    live_drift_confirm_for: str = "30m"
    """`retrain.confirmFor`: how long live drift fires before it is confirmed (and the relay called)."""
    relay_url: str | None = None
    """The relay's webhook (`RetrainRelay.webhook_url`); None: no relay route and no relay alerts."""
    relay_token_secret: str | None = None
    """Name of the Secret (in this namespace) holding the relay's generated token
    (`retrain_relay.TOKEN_SECRET`); the stack creates it and exposes the value as `relay_token`."""
    relay_credentials_file: str | None = None
    """Where Alertmanager reads it (`retrain_relay.alertmanager_credentials_file()`)."""


@dataclass(frozen=True)
class MonitoringStackArgs:
    options: MonitoringOptions
    """Retention, storage size, replicas, the no-success window, runbook links."""
    receivers: AlertReceivers
    """Notification channels."""
    mlflow: MlflowScrapeTarget
    """The MLflow Service to scrape."""
    namespace: str = "monitoring"
    """Namespace of the stack, the Pushgateway and our rules and dashboards."""
    node_exporter_namespace: str = "monitoring-node-exporter"
    """node-exporter's own namespace: it needs host access, which Pod Security `restricted` forbids."""
    pushgateway_client_namespaces: Sequence[str] = ("kubeflow",)
    """Namespaces whose pods push metrics (the pipeline steps)."""
    storage_class: str | None = None
    """StorageClass of every volume (cluster default when None)."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels added to the namespaces."""
    serving_alerts: bool = True
    """Render the model server's alerts (`serving.enabled`): without a server, "down" would always fire."""
    loop: LoopAlerts | None = None
    """Scheduled training and retraining on drift; None keeps the alerts as they were before the loop."""


# --- pure planning -------------------------------------------------------------------------------------


def notification_settings(
    *,
    slack_webhook_url: str | None,
    webhook_url: str | None,
    smtp_password: str | None,
    email: EmailAlerts | None,
    relay: RelayReceiver | None = None,
) -> NotificationSettings:
    """Receiver values, secrets already resolved, as the typed settings Alertmanager is rendered from."""
    email_receiver = (
        EmailReceiver(email.to, email.sender, email.smarthost, auth_password=smtp_password)
        if email is not None
        else None
    )
    return NotificationSettings(
        slack=SlackReceiver(slack_webhook_url) if slack_webhook_url else None,
        email=email_receiver,
        webhook=WebhookReceiver(webhook_url) if webhook_url else None,
        relay=relay,
    )


def relay_receiver(loop: LoopAlerts | None) -> RelayReceiver | None:
    if loop is None or loop.relay_url is None:
        return None
    if loop.relay_credentials_file is None or loop.relay_token_secret is None:
        raise ValueError(
            "MonitoringStack: loop.relay_url needs relay_token_secret and relay_credentials_file"
        )
    return RelayReceiver(loop.relay_url, loop.relay_credentials_file)


def alertmanager_config_yaml(settings: NotificationSettings) -> str:
    return yaml.safe_dump(render_alertmanager_config(settings), sort_keys=False)


def stack_values_args(args: MonitoringStackArgs) -> hv.StackValuesArgs:
    s = args.options
    replicas = s.replicas
    return hv.StackValuesArgs(
        grafana_admin_secret=GRAFANA_ADMIN_SECRET,
        alertmanager_config_secret=ALERTMANAGER_CONFIG_SECRET,
        retention=s.retention,
        storage_size=f"{s.storage_size_gib}Gi",
        storage_class=args.storage_class,
        prometheus_replicas=replicas,
        alertmanager_replicas=replicas,
        node_exporter_namespace=args.node_exporter_namespace,
        alertmanager_secrets=(args.loop.relay_token_secret,)
        if args.loop is not None and args.loop.relay_token_secret
        else (),
    )


def alert_settings(args: MonitoringStackArgs) -> AlertSettings:
    base = args.options.runbook_base_url
    if args.loop is None:
        return AlertSettings(
            runbook_base_url=base,
            no_success_hours=args.options.no_success_hours,
            retrain_relay=False,
            serving=args.serving_alerts,
        )
    return AlertSettings(
        runbook_base_url=base,
        no_success_hours=args.loop.no_success_hours,
        live_drift_confirm_for=args.loop.live_drift_confirm_for,
        retrain_relay=args.loop.relay_url is not None,
        serving=args.serving_alerts,
    )


def pushgateway_url(namespace: str) -> str:
    """Where pipeline steps push their metrics."""
    return f"http://{PUSHGATEWAY_RELEASE}.{namespace}.svc:{PUSHGATEWAY_PORT}"


def mlflow_service_monitor(target: MlflowScrapeTarget) -> dict[str, Any]:
    """A ServiceMonitor scraping MLflow as job `mlflow`, with the basic-auth credentials from its Secret."""
    return {
        "apiVersion": MONITORING_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": {
            "name": MLFLOW_SERVICE_MONITOR,
            "namespace": target.namespace,
            "labels": kb.labels(APP, "mlflow-scrape"),
        },
        "spec": {
            "selector": {"matchLabels": dict(target.service_labels)},
            "namespaceSelector": {"matchNames": [target.namespace]},
            "endpoints": [
                {
                    "port": target.port_name,
                    "path": target.metrics_path,
                    "interval": SCRAPE_INTERVAL,
                    "basicAuth": {
                        "username": {"name": target.auth_secret, "key": target.username_key},
                        "password": {"name": target.auth_secret, "key": target.password_key},
                    },
                    # The "MLflow down" alert looks for this job name; pin it rather than rely on the
                    # Service's name.
                    "relabelings": [
                        {"action": "replace", "targetLabel": "job", "replacement": m.MLFLOW_SCRAPE_JOB}
                    ],
                }
            ],
        },
    }


def _all_pods_in(namespace: str) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
        "podSelector": {},
    }


def _anywhere_but_instance_metadata() -> dict[str, Any]:
    return {"ipBlock": {"cidr": "0.0.0.0/0", "except": [kb.INSTANCE_METADATA_CIDR]}}


def network_policies(namespace: str, pushgateway_clients: Sequence[str]) -> list[dict[str, Any]]:
    """Default deny, then what the stack needs.

    Inside the namespace everything may talk (Grafana -> Prometheus/Alertmanager, Prometheus -> the
    Pushgateway and exporters, Alertmanager replicas gossiping). Every pod may reach DNS and the Kubernetes
    API (the operator, kube-state-metrics and Grafana's sidecars watch it; its address differs per
    cluster). Prometheus scrapes every namespace and every node; Alertmanager reaches the receivers, whose
    URLs and ports are secrets, so any address but the node's instance metadata. Pipeline steps push to the
    Pushgateway.
    """
    return [
        kb.default_deny_policy(namespace),
        kb.allow_policy(
            "monitoring-internal",
            namespace,
            {},
            ingress=[{"from": [_all_pods_in(namespace)]}],
            egress=[
                {"to": [_all_pods_in(namespace)]},
                kb.dns_egress_rule(),
                kb.to_cidrs_rule(["0.0.0.0/0"], KUBE_API_PORTS, except_cidrs=[kb.INSTANCE_METADATA_CIDR]),
            ],
        ),
        kb.allow_policy(
            "prometheus-scrape",
            namespace,
            PROMETHEUS_POD,
            egress=[{"to": [{"namespaceSelector": {}}, _anywhere_but_instance_metadata()]}],
        ),
        kb.allow_policy(
            "alertmanager-receivers",
            namespace,
            ALERTMANAGER_POD,
            egress=[{"to": [_anywhere_but_instance_metadata()]}],
        ),
        kb.allow_policy(
            "pushgateway-clients",
            namespace,
            PUSHGATEWAY_POD,
            ingress=[kb.from_namespaces_rule(pushgateway_clients, [PUSHGATEWAY_PORT])],
        ),
    ]


def _validate(args: MonitoringStackArgs) -> None:
    if args.receivers.smtp_password is not None and args.receivers.email is None:
        raise TypeError("MonitoringStack: an SMTP password without EmailAlerts has nobody to mail")
    relay_receiver(args.loop)
    if args.namespace == args.node_exporter_namespace:
        raise ValueError(
            f"MonitoringStack: node_exporter_namespace must differ from namespace {args.namespace!r}: "
            "it is labelled privileged"
        )


# --- the component -------------------------------------------------------------------------------------


class MonitoringStack(pulumi.ComponentResource):
    namespace: str
    pushgateway_url: str
    grafana_admin_password: pulumi.Output[str]
    grafana_port_forward: str
    prometheus_port_forward: str
    alertmanager_port_forward: str
    pushgateway_port_forward: str

    def __init__(
        self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:monitoring:MonitoringStack", name, None, opts)
        _validate(args)
        self._name = name
        self._args = args
        self.namespace = args.namespace
        child = pulumi.ResourceOptions(parent=self)

        namespaces = self._namespaces(child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=namespaces)
        secrets = [self._grafana_admin_secret(in_ns), self._alertmanager_config_secret(in_ns)]
        # Alertmanager mounts the relay's token: it must exist before the release starts the pod.
        secrets += self._relay_token_secret(in_ns)
        stack = self._stack_release(pulumi.ResourceOptions(parent=self, depends_on=[*namespaces, *secrets]))
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[stack])
        self._pushgateway_release(after_crds)
        self._prometheus_rule(after_crds)
        self._mlflow_service_monitor(
            pulumi.ResourceOptions(parent=self, depends_on=[stack, *args.mlflow.depends_on])
        )
        self._dashboards(in_ns)
        for policy in network_policies(args.namespace, args.pushgateway_client_namespaces):
            kb.declare_network_policy(f"{name}-netpol-{policy['metadata']['name']}", policy, in_ns)
        # hostNetwork pods ignore NetworkPolicies; the deny keeps anything else started there isolated.
        node_policy = kb.default_deny_policy(args.node_exporter_namespace)
        kb.declare_network_policy(f"{name}-netpol-node-exporter-default-deny", node_policy, in_ns)

        ns = args.namespace
        self.pushgateway_url = pushgateway_url(ns)
        self.grafana_port_forward = f"kubectl -n {ns} port-forward svc/{GRAFANA_SERVICE} 3000:80"
        self.prometheus_port_forward = f"kubectl -n {ns} port-forward svc/{PROMETHEUS_SERVICE} 9090:9090"
        self.alertmanager_port_forward = f"kubectl -n {ns} port-forward svc/{ALERTMANAGER_SERVICE} 9093:9093"
        self.pushgateway_port_forward = (
            f"kubectl -n {ns} port-forward svc/{PUSHGATEWAY_RELEASE} {PUSHGATEWAY_PORT}:{PUSHGATEWAY_PORT}"
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "pushgateway_url": self.pushgateway_url,
                "grafana_port_forward": self.grafana_port_forward,
                "grafana_admin_password": self.grafana_admin_password,
            }
        )

    # --- children ---

    def _namespaces(self, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
        a = self._args
        main = kb.declare_namespace(f"{self._name}-namespace", a.namespace, opts, a.extra_labels)
        # node-exporter reads the host's /proc and /sys through hostPath mounts, with hostNetwork and
        # hostPID: only the `privileged` Pod Security level admits that. It gets a namespace of its own so
        # the rest of the stack stays `restricted`; nothing else runs here.
        node = kb.declare_namespace(
            f"{self._name}-node-exporter-namespace",
            a.node_exporter_namespace,
            opts,
            a.extra_labels,
            pod_security="privileged",
        )
        return [main, node]

    def _grafana_admin_secret(self, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        password = random.RandomPassword(
            f"{self._name}-grafana-admin-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        return k8s.core.v1.Secret(
            f"{self._name}-grafana-admin",
            metadata={
                "name": GRAFANA_ADMIN_SECRET,
                "namespace": self._args.namespace,
                "labels": kb.labels(APP, "grafana"),
            },
            type="Opaque",
            string_data={
                hv.GRAFANA_ADMIN_USER_KEY: GRAFANA_ADMIN_USER,
                hv.GRAFANA_ADMIN_PASSWORD_KEY: self.grafana_admin_password,
            },
            opts=opts,
        )

    def _relay_token_secret(self, opts: pulumi.ResourceOptions) -> list[k8s.core.v1.Secret]:
        """The retraining relay's bearer token, generated here because Alertmanager's pod mounts it; the
        relay gets the same value (`relay_token`) for its own Secret."""
        loop = self._args.loop
        self.relay_token: pulumi.Output[str] | None = None
        if loop is None or loop.relay_url is None or loop.relay_token_secret is None:
            return []
        token = random.RandomPassword(
            f"{self._name}-relay-token", length=48, special=False, opts=pulumi.ResourceOptions(parent=self)
        )
        self.relay_token = pulumi.Output.secret(token.result)
        return [
            k8s.core.v1.Secret(
                f"{self._name}-relay-token",
                metadata={
                    "name": loop.relay_token_secret,
                    "namespace": self._args.namespace,
                    "labels": kb.labels(APP, "alertmanager"),
                },
                type="Opaque",
                string_data={RELAY_TOKEN_KEY: self.relay_token},
                opts=opts,
            )
        ]

    def _alertmanager_config_secret(self, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret:
        r = self._args.receivers

        def render(secrets: list[Any]) -> str:
            return alertmanager_config_yaml(
                notification_settings(
                    slack_webhook_url=secrets[0],
                    webhook_url=secrets[1],
                    smtp_password=secrets[2],
                    email=r.email,
                    relay=relay_receiver(self._args.loop),
                )
            )

        # Rendered inside `apply`: the URLs are only known (and stay secret) there.
        receivers = pulumi.Output.all(r.slack_webhook_url, r.webhook_url, r.smtp_password)
        config: pulumi.Output[str] = pulumi.Output.secret(receivers.apply(render))
        return k8s.core.v1.Secret(
            f"{self._name}-alertmanager-config",
            metadata={
                "name": ALERTMANAGER_CONFIG_SECRET,
                "namespace": self._args.namespace,
                "labels": kb.labels(APP, "alertmanager"),
            },
            type="Opaque",
            string_data={hv.ALERTMANAGER_CONFIG_SECRET_KEY: config},
            opts=opts,
        )

    def _stack_release(self, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
        return k8s.helm.v3.Release(
            f"{self._name}-kube-prometheus-stack",
            name=STACK_RELEASE,
            namespace=self._args.namespace,
            chart=KUBE_PROMETHEUS_STACK_CHART.chart,
            version=KUBE_PROMETHEUS_STACK_CHART.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=KUBE_PROMETHEUS_STACK_CHART.repository),
            values=hv.kube_prometheus_stack_values(stack_values_args(self._args)),
            # Volumes, CRDs and several Deployments: the default 5 minutes is too short on a fresh cluster.
            timeout=900,
            cleanup_on_fail=True,
            max_history=5,
            opts=opts,
        )

    def _pushgateway_release(self, opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
        values = hv.pushgateway_values(
            hv.PushgatewayValuesArgs(
                service_monitor_namespace=self._args.namespace,
                storage_class=self._args.storage_class,
                scrape_interval=SCRAPE_INTERVAL,
            )
        )
        return k8s.helm.v3.Release(
            f"{self._name}-pushgateway",
            name=PUSHGATEWAY_RELEASE,
            namespace=self._args.namespace,
            chart=PUSHGATEWAY_CHART.chart,
            version=PUSHGATEWAY_CHART.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=PUSHGATEWAY_CHART.repository),
            values=values,
            timeout=600,
            cleanup_on_fail=True,
            max_history=5,
            opts=opts,
        )

    def _prometheus_rule(self, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        rule = render_prometheus_rule(
            PROMETHEUS_RULE_NAME, self._args.namespace, alert_settings(self._args), kb.labels(APP, "alerts")
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-rules",
            api_version=rule["apiVersion"],
            kind=rule["kind"],
            metadata=rule["metadata"],
            spec=rule["spec"],
            opts=opts,
        )

    def _mlflow_service_monitor(self, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        monitor = mlflow_service_monitor(self._args.mlflow)
        return k8s.apiextensions.CustomResource(
            f"{self._name}-mlflow-service-monitor",
            api_version=monitor["apiVersion"],
            kind=monitor["kind"],
            metadata=monitor["metadata"],
            spec=monitor["spec"],
            opts=opts,
        )

    def _dashboards(self, opts: pulumi.ResourceOptions) -> None:
        values_args = stack_values_args(self._args)
        for spec in all_dashboards():
            configmap = dashboard_configmap(
                spec, self._args.namespace, values_args.dashboards_label, values_args.dashboards_label_value
            )
            k8s.core.v1.ConfigMap(
                f"{self._name}-dashboard-{spec.slug}",
                metadata={
                    **configmap["metadata"],
                    "labels": {**kb.labels(APP, "dashboards"), **configmap["metadata"]["labels"]},
                },
                data=configmap["data"],
                opts=opts,
            )
