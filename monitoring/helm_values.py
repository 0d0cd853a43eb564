"""Helm values for kube-prometheus-stack and the Pushgateway, from plain typed arguments.

Pure functions: `components/monitoring.py` passes the settings in and hands the result to
`helm.v3.Release`. Chart versions and image pins live here, in one place.

Where the pins come from (checked through public sources, since this machine has no helm and no registry
access): chart versions from the charts' `Chart.yaml` in prometheus-community/helm-charts and from release
notes; values keys from the charts' `values.yaml`; image digests from the multi-arch manifest-list
digests that public repositories pin for the same tags (`prom/*` images carry the same digest on Docker
Hub and quay.io). CI's `helm template` run on GitHub Actions is the final check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Final

from monitoring import metrics as m

KUBE_PROMETHEUS_STACK_CHART: Final = "kube-prometheus-stack"
KUBE_PROMETHEUS_STACK_VERSION: Final = "75.6.2"
PUSHGATEWAY_CHART: Final = "prometheus-pushgateway"
PUSHGATEWAY_CHART_VERSION: Final = "3.2.0"
PROMETHEUS_COMMUNITY_REPO: Final = "https://prometheus-community.github.io/helm-charts"

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_DURATION = re.compile(r"^[0-9]+(ms|s|m|h|d|w|y)$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$")
_STORAGE = re.compile(r"^[0-9]+(Mi|Gi|Ti)$")
_LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class ImagePin:
    """An image pinned by tag and digest."""

    registry: str
    repository: str
    tag: str
    digest: str

    def __post_init__(self) -> None:
        if not _DIGEST.match(self.digest):
            raise ValueError(f"image {self.repository}:{self.tag}: digest must be sha256:<64 hex>")

    @property
    def reference(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}@{self.digest}"

    def chart_image(self) -> dict[str, str]:
        """The `image:` block of kube-prometheus-stack and the grafana chart: their templates add
        `@sha256:` themselves, so `sha` holds the bare hex digest."""
        return {
            "registry": self.registry,
            "repository": self.repository,
            "tag": self.tag,
            "sha": self.digest.removeprefix("sha256:"),
        }

    def node_exporter_image(self) -> dict[str, str]:
        """The prometheus-node-exporter chart forbids `sha` and appends `@<digest>` verbatim."""
        return {
            "registry": self.registry,
            "repository": self.repository,
            "tag": self.tag,
            "digest": self.digest,
        }


PROMETHEUS_IMAGE: Final = ImagePin(
    "docker.io",
    "prom/prometheus",
    "v3.5.0",
    "sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996",
)
ALERTMANAGER_IMAGE: Final = ImagePin(
    "docker.io",
    "prom/alertmanager",
    "v0.28.1",
    "sha256:27c475db5fb156cab31d5c18a4251ac7ed567746a2483ff264516437a39b15ba",
)
NODE_EXPORTER_IMAGE: Final = ImagePin(
    "quay.io",
    "prometheus/node-exporter",
    "v1.9.1",
    "sha256:d00a542e409ee618a4edc67da14dd48c5da66726bbd5537ab2af9c1dfc442c8a",
)
GRAFANA_IMAGE: Final = ImagePin(
    "docker.io",
    "grafana/grafana",
    "12.0.2",
    "sha256:b5b59bfc7561634c2d7b136c4543d702ebcc94a3da477f21ff26f89ffd4214fa",
)
PUSHGATEWAY_IMAGE: Final = ImagePin(
    "docker.io",
    "prom/pushgateway",
    "v1.11.1",
    "sha256:03738d278e082ee9821df730c741b3b465c251fc2b68a85883def301a55a6215",
)

# Images whose tag the chart version fixes but whose digest we could not verify offline. Listed so the
# gap is visible (and a test keeps the list from growing silently); pin each once a digest is verified.
IMAGES_PINNED_BY_CHART_VERSION_ONLY: Final = (
    "quay.io/prometheus-operator/prometheus-operator",
    "quay.io/prometheus-operator/prometheus-config-reloader",
    "registry.k8s.io/kube-state-metrics/kube-state-metrics",
    "quay.io/kiwigrid/k8s-sidecar",
)

GRAFANA_ADMIN_USER_KEY: Final = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY: Final = "admin-password"
ALERTMANAGER_CONFIG_SECRET_KEY: Final = "alertmanager.yaml"


@dataclass(frozen=True)
class Resources:
    """Container requests and limits (Kubernetes quantities)."""

    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not _QUANTITY.match(value):
                raise ValueError(
                    f"{name} must be a Kubernetes quantity like '100m' or '256Mi', got {value!r}"
                )

    def as_dict(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def _validate_storage(name: str, value: str | None) -> None:
    if value is not None and not _STORAGE.match(value):
        raise ValueError(
            f"{name} must be a size like '20Gi' (or None for no persistent volume), got {value!r}"
        )


@dataclass(frozen=True)
class StackValuesArgs:
    """Inputs of `kube_prometheus_stack_values`. Every field comes from the stack's settings."""

    grafana_admin_secret: str
    """Existing Secret with keys `admin-user` and `admin-password` (the component generates it)."""
    alertmanager_config_secret: str
    """Existing Secret whose key `alertmanager.yaml` holds `render_alertmanager_config(...)` as YAML."""
    alertmanager_secrets: tuple[str, ...] = ()
    """Secrets mounted into Alertmanager at /etc/alertmanager/secrets/<name>/ (the relay's bearer token)."""
    retention: str = "15d"
    """How long Prometheus keeps samples."""
    retention_size: str | None = None
    """Cap on the TSDB size (e.g. '18GB'); None for time-based retention only."""
    storage_size: str | None = "20Gi"
    """Prometheus volume size per replica; None keeps data in an emptyDir (lost on restart)."""
    alertmanager_storage_size: str | None = "2Gi"
    """Alertmanager volume (silences, notification log); None for an emptyDir."""
    storage_class: str | None = None
    """StorageClass for every volume; None uses the cluster default."""
    prometheus_replicas: int = 1
    alertmanager_replicas: int = 1
    grafana_replicas: int = 1
    dashboards_label: str = "grafana_dashboard"
    """Label key Grafana's sidecar looks for on dashboard ConfigMaps."""
    dashboards_label_value: str = "1"
    prometheus_resources: Resources = field(default_factory=lambda: Resources("200m", "1Gi", "1", "2Gi"))
    alertmanager_resources: Resources = field(
        default_factory=lambda: Resources("20m", "64Mi", "200m", "128Mi")
    )
    grafana_resources: Resources = field(default_factory=lambda: Resources("50m", "256Mi", "500m", "512Mi"))
    operator_resources: Resources = field(default_factory=lambda: Resources("50m", "128Mi", "200m", "256Mi"))
    kube_state_metrics_resources: Resources = field(
        default_factory=lambda: Resources("20m", "64Mi", "200m", "256Mi")
    )
    node_exporter_resources: Resources = field(
        default_factory=lambda: Resources("20m", "32Mi", "200m", "64Mi")
    )
    sidecar_resources: Resources = field(default_factory=lambda: Resources("10m", "64Mi", "100m", "128Mi"))
    node_exporter_namespace: str | None = None
    """Namespace for node-exporter alone (it needs host access, which Pod Security `restricted` forbids);
    None keeps it in the release namespace."""

    def __post_init__(self) -> None:
        if self.node_exporter_namespace is not None and not _DNS_NAME.match(self.node_exporter_namespace):
            raise ValueError(
                f"node_exporter_namespace must be a namespace name, got {self.node_exporter_namespace!r}"
            )
        for name in ("grafana_admin_secret", "alertmanager_config_secret"):
            if not _DNS_NAME.match(getattr(self, name)):
                raise ValueError(f"{name} must be a Kubernetes object name, got {getattr(self, name)!r}")
        if not _DURATION.match(self.retention):
            raise ValueError(f"retention must be a duration like '15d', got {self.retention!r}")
        if self.retention_size is not None and not re.match(r"^[0-9]+(KB|MB|GB|TB)$", self.retention_size):
            raise ValueError(f"retention_size must be like '18GB', got {self.retention_size!r}")
        _validate_storage("storage_size", self.storage_size)
        _validate_storage("alertmanager_storage_size", self.alertmanager_storage_size)
        for name in ("prometheus_replicas", "alertmanager_replicas", "grafana_replicas"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not _LABEL_KEY.match(self.dashboards_label):
            raise ValueError(
                f"dashboards_label must be a Kubernetes label key, got {self.dashboards_label!r}"
            )


def _volume_claim(size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    if storage_class is not None:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def _pdb(replicas: int) -> dict[str, Any]:
    # A PodDisruptionBudget with a single replica would block node drains forever.
    return {"enabled": replicas >= 2, "minAvailable": 1}


# Control-plane scrape targets and their default rule groups, off on every cluster this program targets.
# EKS runs controller-manager, scheduler and etcd out of reach and binds kube-proxy's metrics to 127.0.0.1
# (prometheus-community/helm-charts #4106); kind (and k3d, minikube) bind all four to 127.0.0.1 inside the
# node. Scraped anyway, their targets stay down and "...Down" alerts fire forever.
UNSCRAPABLE_CONTROL_PLANE: Final = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")
UNSCRAPABLE_RULE_GROUPS: Final = (
    "kubeControllerManager",
    "kubeSchedulerAlerting",
    "kubeSchedulerRecording",
    "etcd",
    "kubeProxy",
)


def kube_prometheus_stack_values(args: StackValuesArgs) -> dict[str, Any]:
    """Values for the kube-prometheus-stack chart at `KUBE_PROMETHEUS_STACK_VERSION`."""
    prometheus_spec: dict[str, Any] = {
        "image": PROMETHEUS_IMAGE.chart_image(),
        "replicas": args.prometheus_replicas,
        "retention": args.retention,
        "resources": args.prometheus_resources.as_dict(),
        # Select every PrometheusRule and ServiceMonitor in the cluster, not only those carrying this
        # release's label: our own objects are created outside the chart.
        "ruleSelectorNilUsesHelmValues": False,
        "serviceMonitorSelectorNilUsesHelmValues": False,
        "podMonitorSelectorNilUsesHelmValues": False,
        "probeSelectorNilUsesHelmValues": False,
    }
    if args.retention_size is not None:
        prometheus_spec["retentionSize"] = args.retention_size
    if args.storage_size is not None:
        prometheus_spec["storageSpec"] = _volume_claim(args.storage_size, args.storage_class)

    alertmanager_spec: dict[str, Any] = {
        "image": ALERTMANAGER_IMAGE.chart_image(),
        "replicas": args.alertmanager_replicas,
        "resources": args.alertmanager_resources.as_dict(),
        # The receivers' URLs are secrets: the component writes them to this Secret, never into values.
        "useExistingSecret": True,
        "configSecret": args.alertmanager_config_secret,
    }
    if args.alertmanager_secrets:
        alertmanager_spec["secrets"] = list(args.alertmanager_secrets)
    if args.alertmanager_storage_size is not None:
        alertmanager_spec["storage"] = _volume_claim(args.alertmanager_storage_size, args.storage_class)

    values: dict[str, Any] = {
        "crds": {"enabled": True},
        "defaultRules": {
            "create": True,
            "rules": {group: False for group in UNSCRAPABLE_RULE_GROUPS},
        },
        **{component: {"enabled": False} for component in UNSCRAPABLE_CONTROL_PLANE},
        "prometheusOperator": {
            "resources": args.operator_resources.as_dict(),
            # The admission webhook's certificate jobs are Helm hooks with their own unpinned image and are
            # a common cause of stuck releases; rule syntax is checked with promtool in CI instead.
            "admissionWebhooks": {"enabled": False},
            "tls": {"enabled": False},
        },
        "prometheus": {
            "podDisruptionBudget": _pdb(args.prometheus_replicas),
            "prometheusSpec": prometheus_spec,
        },
        "alertmanager": {
            "podDisruptionBudget": _pdb(args.alertmanager_replicas),
            "alertmanagerSpec": alertmanager_spec,
        },
        "grafana": {
            "image": GRAFANA_IMAGE.chart_image(),
            "replicas": args.grafana_replicas,
            "resources": args.grafana_resources.as_dict(),
            "admin": {
                "existingSecret": args.grafana_admin_secret,
                "userKey": GRAFANA_ADMIN_USER_KEY,
                "passwordKey": GRAFANA_ADMIN_PASSWORD_KEY,
            },
            # Both pull images we do not use: a test runner and a chown init container for persistence.
            "testFramework": {"enabled": False},
            "initChownData": {"enabled": False},
            "sidecar": {
                "resources": args.sidecar_resources.as_dict(),
                "dashboards": {
                    "enabled": True,
                    "label": args.dashboards_label,
                    "labelValue": args.dashboards_label_value,
                    "searchNamespace": "ALL",
                },
                "datasources": {
                    "enabled": True,
                    # Lists Alertmanager as a data source, so Prometheus alerts show in Grafana's
                    # alerting view next to the dashboards.
                    "alertmanager": {
                        "enabled": True,
                        "handleGrafanaManagedAlerts": False,
                        "implementation": "prometheus",
                    },
                },
            },
        },
        "kube-state-metrics": {"resources": args.kube_state_metrics_resources.as_dict()},
        "prometheus-node-exporter": {
            "image": NODE_EXPORTER_IMAGE.node_exporter_image(),
            "resources": args.node_exporter_resources.as_dict(),
        },
    }
    if args.node_exporter_namespace is not None:
        values["prometheus-node-exporter"]["namespaceOverride"] = args.node_exporter_namespace
    return values


@dataclass(frozen=True)
class PushgatewayValuesArgs:
    """Inputs of `pushgateway_values`."""

    service_monitor_namespace: str
    """Namespace of the ServiceMonitor (the Pushgateway's own namespace)."""
    storage_size: str | None = "2Gi"
    """Volume for `--persistence.file`, so a restart keeps the last values (last-success time!)."""
    storage_class: str | None = None
    resources: Resources = field(default_factory=lambda: Resources("10m", "32Mi", "200m", "128Mi"))
    scrape_interval: str = "30s"

    def __post_init__(self) -> None:
        if not _DNS_NAME.match(self.service_monitor_namespace):
            raise ValueError(
                f"service_monitor_namespace must be a namespace name, got {self.service_monitor_namespace!r}"
            )
        _validate_storage("storage_size", self.storage_size)
        if not _DURATION.match(self.scrape_interval):
            raise ValueError(f"scrape_interval must be a duration like '30s', got {self.scrape_interval!r}")


PUSHGATEWAY_DATA_DIR: Final = "/data"


def pushgateway_values(args: PushgatewayValuesArgs) -> dict[str, Any]:
    """Values for the prometheus-pushgateway chart at `PUSHGATEWAY_CHART_VERSION`."""
    persistent = args.storage_size is not None
    persistent_volume: dict[str, Any] = {"enabled": persistent, "mountPath": PUSHGATEWAY_DATA_DIR}
    if args.storage_size is not None:
        persistent_volume["size"] = args.storage_size
    if args.storage_class is not None:
        persistent_volume["storageClass"] = args.storage_class
    return {
        # Prometheus Operator names the scrape job after the Service, and the "Pushgateway down" alert
        # looks for that job name.
        "fullnameOverride": m.PUSHGATEWAY_SCRAPE_JOB,
        # This chart renders `repository:tag` with no digest field, so the digest rides on the tag.
        "image": {
            "repository": f"{PUSHGATEWAY_IMAGE.registry}/{PUSHGATEWAY_IMAGE.repository}",
            "tag": f"{PUSHGATEWAY_IMAGE.tag}@{PUSHGATEWAY_IMAGE.digest}",
        },
        "replicaCount": 1,  # replicas would each hold a different subset of the pushes
        "resources": args.resources.as_dict(),
        "extraArgs": (
            [f"--persistence.file={PUSHGATEWAY_DATA_DIR}/pushgateway.data", "--persistence.interval=1m"]
            if persistent
            else []
        ),
        "persistentVolume": persistent_volume,
        "automountServiceAccountToken": False,
        "securityContext": {
            "fsGroup": 65534,
            "runAsUser": 65534,
            "runAsGroup": 65534,
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "serviceMonitor": {
            "enabled": True,
            "namespace": args.service_monitor_namespace,
            "interval": args.scrape_interval,
            # Keep the `job`, `pipeline` and `stage` labels the pipeline pushed.
            "honorLabels": True,
        },
    }
