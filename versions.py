"""Every image, chart and manifest version the platform deploys, in one place, with where each came from.

Images are referenced as `repository:tag@sha256:digest`: the tag tells a reader what runs, the digest makes
the pull immutable (CKV_K8S_14, CKV_K8S_43). One pin type per kind: `ImagePin` (a third-party image),
`ChartPin` (a Helm chart), `AddonPin` (an EKS add-on). Top-level so that `components/` and `monitoring/`
(which must not import `components/`) read the same pins. The one exception is the Python base of the images
we build, `pipelines/images.py` PYTHON_BASE: the steps image ships `pipelines/` without this module.
`docs/platform-services.md` explains how these get updated.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.images import ImageRef


@dataclass(frozen=True)
class ImagePin(ImageRef):
    """A third-party image: the digest is required (ImageRef validates its form and builds `reference`)."""

    digest: str
    """Content digest of the tag (manifest-list digest for multi-arch images)."""

    def __post_init__(self) -> None:
        if self.digest is None:
            raise ValueError(f"image {self.repository}:{self.tag}: third-party images need a digest")
        super().__post_init__()
        if "/" not in self.repository or "." not in self.repository.split("/", 1)[0]:
            raise ValueError(
                f"image {self.repository}: expected a registry host first, e.g. docker.io/prom/x"
            )

    @property
    def registry(self) -> str:
        """The registry host, e.g. docker.io (charts take it apart from the path)."""
        return self.repository.split("/", 1)[0]

    @property
    def path(self) -> str:
        """The repository within the registry, e.g. prom/prometheus."""
        return self.repository.split("/", 1)[1]


# MinIO stopped publishing community images in late 2025; RELEASE.2025-09-07T16-13-09Z is the last release
# with a published image. Only the local stack uses it (and optionally others); see docs.
MINIO_SERVER = ImagePin(
    repository="quay.io/minio/minio",
    tag="RELEASE.2025-09-07T16-13-09Z",
    digest="sha256:14cea493d9a34af32f524e538b8346cf79f3321eff8e708c1e2960462bd8936e",
    source="manifest-list digest pinned identically by several independent public repositories for both "
    "quay.io/minio/minio and docker.io/minio/minio at this tag; not pulled from the registry here (offline)",
)
MINIO_CLIENT = ImagePin(
    repository="quay.io/minio/mc",
    tag="RELEASE.2025-08-13T08-35-41Z",
    digest="sha256:a7fe349ef4bd8521fb8497f55c6042871b2ae640607cf99d9bede5e9bdf11727",
    source="manifest-list digest pinned identically by several independent public repositories; "
    "not pulled from the registry here (offline)",
)

# Both images `pulumi up` builds (docker/mlflow/Dockerfile, pipelines/Dockerfile) start FROM one Python base,
# pinned once in pipelines/images.py (PYTHON_BASE): the steps image must build without this package. The
# upstream MLflow image has no PostgreSQL driver, hence our own MLflow image on that base.

MLFLOW_VERSION = "3.17.2"
# Our MLflow server image is built from docker/mlflow/Dockerfile by `pulumi up` and deployed by digest
# (components/images.py, MLFLOW_SERVER); its tag starts with this version.

MLSERVER_VERSION = "1.7.1"
# The model server runtime: MLServer with mlserver-mlflow at this version (docker/serving/requirements.txt,
# the runtime KServe's `kserve-mlserver` uses for MLflow models); our serving image's tag starts with it.

# Kubeflow Pipelines standalone, installed from the upstream kustomize manifests at this git tag.
# The manifests pin their own images by tag (ghcr.io/kubeflow/kfp-*:<version>); their digests could not be
# read offline, so they are not overridden here (see docs).
KUBEFLOW_PIPELINES_VERSIONS = ("2.17.0",)
KUBEFLOW_PIPELINES_REPO = "https://github.com/kubeflow/pipelines"


def kubeflow_pipelines_manifest_url(path: str, version: str) -> str:
    """A kustomize remote target for one folder of the upstream manifests at a release tag."""
    if version not in KUBEFLOW_PIPELINES_VERSIONS:
        raise ValueError(
            f"Kubeflow Pipelines {version} is not a version this program was checked against; "
            f"expected one of {list(KUBEFLOW_PIPELINES_VERSIONS)}"
        )
    return f"{KUBEFLOW_PIPELINES_REPO}//manifests/kustomize/{path}?ref={version}"


# RDS PostgreSQL for MLflow's backend store in production: major version pinned, minor versions applied
# by AWS in the maintenance window (auto_minor_version_upgrade). The parameter-group family must match.
POSTGRES_ENGINE_VERSION = "16"
POSTGRES_PARAMETER_FAMILY = "postgres16"


# --- EKS managed add-ons -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AddonPin:
    """An EKS managed add-on version for one Kubernetes minor version, and where the string was read."""

    version: str
    """`vX.Y.Z-eksbuild.N`, as `aws eks describe-addon-versions` lists it."""
    source: str


# Offline, `aws eks describe-addon-versions --kubernetes-version 1.35` cannot be asked, and the EKS user
# guide's version tables in the stored snapshots stop at 1.32. Each string below is pinned identically for a
# 1.35 cluster by several independent public Terraform configurations (2026); re-check with
# `aws eks describe-addon-versions --addon-name NAME --kubernetes-version 1.35` before bumping.
_SEEN_FOR_135 = "pinned for EKS 1.35 by several independent public Terraform configurations (2026)"
EKS_ADDON_VERSIONS: dict[str, dict[str, AddonPin]] = {
    "1.35": {
        "vpc-cni": AddonPin("v1.21.1-eksbuild.3", _SEEN_FOR_135),
        "kube-proxy": AddonPin("v1.35.0-eksbuild.2", _SEEN_FOR_135),
        "coredns": AddonPin("v1.13.2-eksbuild.1", _SEEN_FOR_135),
        "eks-pod-identity-agent": AddonPin("v1.3.10-eksbuild.2", _SEEN_FOR_135),
        "aws-ebs-csi-driver": AddonPin(
            "v1.56.0-eksbuild.1", f"{_SEEN_FOR_135}; newer builds (v1.57.x) exist, not yet cross-checked"
        ),
    },
}
EKS_ADDONS = ("vpc-cni", "kube-proxy", "coredns", "eks-pod-identity-agent", "aws-ebs-csi-driver")


def eks_addon_version(addon: str, kubernetes_version: str) -> str:
    """The pinned add-on version for a cluster version; settings refuse versions missing from the table."""
    try:
        return EKS_ADDON_VERSIONS[kubernetes_version][addon].version
    except KeyError:
        raise ValueError(
            f"no pinned version of EKS add-on {addon!r} for Kubernetes {kubernetes_version} "
            f"(versions.py EKS_ADDON_VERSIONS covers {sorted(EKS_ADDON_VERSIONS)})"
        ) from None


# --- cluster add-ons installed with Helm -------------------------------------------------------------------


@dataclass(frozen=True)
class ChartPin:
    """A Helm chart at an exact version, from its repository."""

    chart: str
    version: str
    repository: str


# Cluster Autoscaler's minor must match the cluster's Kubernetes minor. Chart 9.59.0 (2026-07-21, appVersion
# 1.35.0) is the newest chart of the 1.35 line (kubernetes/autoscaler tag cluster-autoscaler-chart-9.59.0);
# the image is the 1.35.2 patch release (tag cluster-autoscaler-1.35.2, 2026-07-22).
CLUSTER_AUTOSCALER_CHART = ChartPin(
    chart="cluster-autoscaler", version="9.59.0", repository="https://kubernetes.github.io/autoscaler"
)
CLUSTER_AUTOSCALER_IMAGE = ImagePin(
    repository="registry.k8s.io/autoscaling/cluster-autoscaler",
    tag="v1.35.2",
    digest="sha256:aac369dc283927a623deb1af54696efcc722ae79255aa07788422e495bab887d",
    source="manifest-list digest pinned identically by several public repositories for v1.35.2; not pulled "
    "from the registry here (offline)",
)
# The EKS-optimized AL2023 NVIDIA AMIs ship the driver and container toolkit but not the device plugin
# (EKS user guide: ml-eks-optimized-ami, create-managed-node-group "GPU nodes only").
NVIDIA_DEVICE_PLUGIN_CHART = ChartPin(
    chart="nvidia-device-plugin", version="0.20.0", repository="https://nvidia.github.io/k8s-device-plugin"
)
NVIDIA_DEVICE_PLUGIN_IMAGE = ImagePin(
    repository="nvcr.io/nvidia/k8s-device-plugin",
    tag="v0.20.0",
    digest="sha256:a61ba9fd8efb82f3a79f877f7580e02c1e8e7593f62473644bc9c79e315c3312",
    source="manifest-list digest pinned identically by several public repositories (and NVIDIA's GPU "
    "operator bundle) for v0.20.0; not pulled from the registry here (offline)",
)
# metrics-server serves `metrics.k8s.io`, which the model server's CPU HorizontalPodAutoscaler reads; neither
# EKS nor kind runs it. Chart 3.13.1 (appVersion 0.8.1) is kubernetes-sigs/metrics-server tag
# metrics-server-helm-chart-3.13.1; its image is v0.8.1 (tag v0.8.1).
METRICS_SERVER_CHART = ChartPin(
    chart="metrics-server", version="3.13.1", repository="https://kubernetes-sigs.github.io/metrics-server/"
)
METRICS_SERVER_IMAGE = ImagePin(
    repository="registry.k8s.io/metrics-server/metrics-server",
    tag="v0.8.1",
    digest="sha256:b2d2efaf5ac3b366ed0f839d2412a2c4279d4fc2a2a733f12c52133faed36c41",
    source="manifest-list digest pinned identically by several public repositories for v0.8.1; not pulled "
    "from the registry here (offline)",
)


# --- kube-prometheus-stack and the Pushgateway (values in monitoring/helm_values.py) -----------------------
# Checked through public sources (no helm, no registry access here): chart versions from the charts'
# `Chart.yaml` in prometheus-community/helm-charts and release notes; image digests are the multi-arch
# manifest-list digests public repositories pin for the same tags (`prom/*` images carry the same digest on
# Docker Hub and quay.io). `python -m upstream check` renders the charts at these versions.

PROMETHEUS_COMMUNITY_REPO = "https://prometheus-community.github.io/helm-charts"
KUBE_PROMETHEUS_STACK_CHART = ChartPin("kube-prometheus-stack", "75.6.2", PROMETHEUS_COMMUNITY_REPO)
PUSHGATEWAY_CHART = ChartPin("prometheus-pushgateway", "3.2.0", PROMETHEUS_COMMUNITY_REPO)
_MONITORING_DIGESTS = (
    "multi-arch manifest-list digest pinned by public repositories for this tag; not pulled here"
)
PROMETHEUS_IMAGE = ImagePin(
    repository="docker.io/prom/prometheus",
    tag="v3.5.0",
    digest="sha256:63805ebb8d2b3920190daf1cb14a60871b16fd38bed42b857a3182bc621f4996",
    source=_MONITORING_DIGESTS,
)
ALERTMANAGER_IMAGE = ImagePin(
    repository="docker.io/prom/alertmanager",
    tag="v0.28.1",
    digest="sha256:27c475db5fb156cab31d5c18a4251ac7ed567746a2483ff264516437a39b15ba",
    source=_MONITORING_DIGESTS,
)
NODE_EXPORTER_IMAGE = ImagePin(
    repository="quay.io/prometheus/node-exporter",
    tag="v1.9.1",
    digest="sha256:d00a542e409ee618a4edc67da14dd48c5da66726bbd5537ab2af9c1dfc442c8a",
    source=_MONITORING_DIGESTS,
)
GRAFANA_IMAGE = ImagePin(
    repository="docker.io/grafana/grafana",
    tag="12.0.2",
    digest="sha256:b5b59bfc7561634c2d7b136c4543d702ebcc94a3da477f21ff26f89ffd4214fa",
    source=_MONITORING_DIGESTS,
)
PUSHGATEWAY_IMAGE = ImagePin(
    repository="docker.io/prom/pushgateway",
    tag="v1.11.1",
    digest="sha256:03738d278e082ee9821df730c741b3b465c251fc2b68a85883def301a55a6215",
    source=_MONITORING_DIGESTS,
)
# Images whose tag the chart version fixes but whose digest could not be verified offline. Listed so the
# gap is visible (and a test keeps the list from growing silently); pin each once a digest is verified.
IMAGES_PINNED_BY_CHART_VERSION_ONLY = (
    "quay.io/prometheus-operator/prometheus-operator",
    "quay.io/prometheus-operator/prometheus-config-reloader",
    "registry.k8s.io/kube-state-metrics/kube-state-metrics",
    "quay.io/kiwigrid/k8s-sidecar",
)
