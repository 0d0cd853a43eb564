"""Stack settings: the only reader of Pulumi config.

`load_settings()` reads every `mlops-infra:*` key of the current stack, validates the whole set at once and
returns one frozen `StackSettings`, or raises `SettingsError` listing every problem (key, value, what was
expected) before a single resource is registered. Components never read config: `__main__` hands each
one its slice of these settings.

Secrets (alert receiver URLs, the SMTP password) are not settings: `load_secrets()` returns them as
Pulumi secret Outputs and refuses any that was stored in plain text.

Defaults make a non-production stack cheap and a production stack safe: where a default differs, it is
derived from `production`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import json
import re
import shlex
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Self, get_args

import pulumi
import pulumi_aws as aws
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from components.dvc_remote import DvcRemoteArgs
from components.eks_cluster import (
    AutoscalingArgs,
    ControlPlaneArgs,
    EksClusterArgs,
    NetworkArgs,
    usable_zones_filter,
)
from components.existing_cluster import ExistingClusterArgs
from components.images import MLFLOW_SERVER, MODEL_SERVER, TRAINING_STEPS, PlatformImagesArgs
from components.instance_types import INSTANCE_TYPES, prefix_delegation_max_pods
from components.minio import MinioArgs
from components.mlflow import MlflowServerOptions, PostgresBackend, SqliteBackend
from components.model_server import NAMESPACE as SERVING_NAMESPACE
from components.monitoring import EmailAlerts, MonitoringOptions
from components.node_groups import (
    NodeGroupArgs,
    NodeGroupsArgs,
    default_node_group_max_pods,
    is_arm_instance_type,
)
from components.subnets import plan_subnets
from monitoring.cadence import CronError, no_success_window_hours
from monitoring.cadence import parse_cron as parse_runnable_cron
from monitoring.cron import parse_cron
from monitoring.durations import duration_seconds, parse_duration
from monitoring.rules import DEFAULT_RUNBOOK_BASE_URL
from versions import EKS_ADDON_VERSIONS, KUBEFLOW_PIPELINES_VERSIONS

PROJECT = "mlops-infra"

EKS_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
# The retention values CloudWatch Logs accepts (PutRetentionPolicy).
CLOUDWATCH_RETENTION_DAYS = (
    *(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731),
    *(1096, 1827, 2192, 2557, 2922, 3288, 3653),
)
# RFC 5737 ranges: fine in a committed example, but nobody can reach an endpoint restricted to them.
DOCUMENTATION_RANGES = tuple(
    ipaddress.IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
)

# Sources no client of a public endpoint has: private (RFC 1918), shared (RFC 6598), loopback, link-local,
# multicast, reserved and "this network" ranges.
NOT_INTERNET_RANGES = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "0.0.0.0/8",
    )
)

# Address ranges no VPC can use (AWS refuses them, or nothing routes them).
UNUSABLE_VPC_RANGES = tuple(
    ipaddress.IPv4Network(n)
    for n in ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
)

SECRET_KEYS = ("alertSlackWebhookUrl", "alertWebhookUrl", "alertSmtpPassword")
EKS_MAX_NODES_PER_GROUP = 450
# EKS quota "public endpoint access CIDR ranges per cluster" (not adjustable).
EKS_MAX_PUBLIC_ACCESS_CIDRS = 40
# AWS allows 50 tags per resource; the program adds up to ten of its own to one resource (project, stack,
# managed-by, Name, the Kubernetes subnet-role and Cluster Autoscaler node-template tags).
MAX_USER_TAGS = 40
# What AWS's services (EKS, S3, IAM, KMS, RDS) accept in a tag key or value: letters, digits and spaces,
# and + - = . _ : / @ (EC2 alone accepts more).
_TAG_TEXT = re.compile(r"^[\w +\-=.:/@]*$")
# The VPC sizes AWS accepts (CreateVpc); plan_subnets needs more room than the smallest.
VPC_PREFIXES = (16, 28)
# Keys that only an AWS stack reads, and mlflow keys only the PostgreSQL backend reads.
_AWS_ONLY_KEYS = ("node_groups", "dvc_remote", "network", "autoscaler", "tags")
# cluster.* keys that describe the EKS cluster target 'aws' creates; an existing (local) cluster reads none.
_EKS_ONLY_CLUSTER_KEYS = frozenset(
    {
        "endpoint_private_access",
        "endpoint_public_access",
        "public_access_cidrs",
        "log_types",
        "log_retention_days",
        "secrets_encryption",
        "upgrade_policy",
        "admin_principal_arns",
    }
)
_POSTGRES_ONLY_KEYS = frozenset(
    {"db_instance_class", "db_allocated_storage_gib", "db_backup_retention_days", "db_multi_az"}
)

# An API allow-list whose ranges add up to anything as broad as a /8 is the internet in all but name
# (["0.0.0.0/1", "128.0.0.0/1"] is 0.0.0.0/0): CKV_AWS_39 is about what the list covers, not its spelling.
BROADEST_ALLOWED_PREFIX = 8
# Stacks named for production hold production data: they must say `production: true`. Such a name has a
# part (split at - _ .) that says so, in any case: prod, Prod-eu, eu-prod, prod2, prd; not after pre/non
# (pre-prod, non-prod are not production), and not inside a word (product, preprod).
PRODUCTION_NAME_PART = re.compile(r"^(prod|production|prd)\d*$")
# What production keeps at least (noncurrent object versions, control-plane logs), so a deleted or
# overwritten object can be restored and an incident investigated.
PRODUCTION_MIN_NONCURRENT_VERSION_DAYS = 30
PRODUCTION_MIN_LOG_RETENTION_DAYS = 90
PRODUCTION_MIN_METRICS_RETENTION = "15d"
PRODUCTION_MIN_CAPTURE_RETENTION_DAYS = 30
# Platform services (monitoring, Alertmanager, MLflow, the autoscaler) on one system node go down with it.
PRODUCTION_MIN_SYSTEM_NODES = 2


class SettingsError(ValueError):
    """Every problem found in a stack's config, one per line."""

    def __init__(self, stack: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"stack '{stack}' has {len(problems)} invalid config value(s):\n{lines}")


def _cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"expected an IPv4 CIDR such as 10.0.0.0/16 ({exc})") from None
    if "/" not in value:
        raise ValueError(f"expected an IPv4 CIDR with its prefix length, such as {value}/32")
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]


def _retention(value: int) -> int:
    if value not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError(f"expected one of the CloudWatch retention values {CLOUDWATCH_RETENTION_DAYS}")
    return value


RetentionDays = Annotated[int, AfterValidator(_retention)]


_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


def _matching(pattern: str, expected: str) -> AfterValidator:
    """A string rule whose error says what is expected in words, not as the regular expression."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise ValueError(f"expected {expected}")
        return value

    return AfterValidator(check)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("expected an e-mail address such as oncall@example.com")
    return value


def _smarthost(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not _HOST_NAME.match(host) or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("expected host:port with a port from 1 to 65535, e.g. smtp.example.com:587")
    return value


_REGISTRY = re.compile(r"^(?P<host>[a-z0-9.-]+(:(?P<port>\d{1,5}))?)(/[a-z0-9._-]+)*$")


def _registry(value: str) -> str:
    match = _REGISTRY.match(value)
    port = match["port"] if match else None
    if match is None or (port is not None and not 1 <= int(port) <= 65535):
        raise ValueError(
            "expected a registry as host[:port][/path] in lowercase, without a scheme, the port 1-65535: "
            "e.g. localhost:5001 or 123456789012.dkr.ecr.us-east-1.amazonaws.com"
        )
    return value


# S3 refuses bucket names starting with these (general purpose bucket naming rules).
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def _bucket_prefix(value: str) -> str:
    if not re.match(r"^[a-z0-9][a-z0-9-]{1,35}[a-z0-9]$", value):
        raise ValueError(
            "expected 3-37 lowercase letters, digits and '-', starting and ending with a letter or digit "
            "(S3 bucket naming; a random suffix is added)"
        )
    reserved = [p for p in _S3_RESERVED_PREFIXES if value.startswith(p)]
    if reserved:
        raise ValueError(f"S3 refuses bucket names starting with {reserved[0]!r}; choose another prefix")
    return value


def _host_name(value: str) -> str:
    if not _HOST_NAME.match(value):
        raise ValueError("expected a DNS host name such as mlflow.example.com (no '*', no scheme, no port)")
    return value


def _unique(values: list[Any]) -> list[Any]:
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"expected each value once, repeated: {repeated}")
    return values


def _at_most(limit: int, why: str) -> AfterValidator:
    def check(values: list[Any]) -> list[Any]:
        if len(values) > limit:
            raise ValueError(f"{len(values)} entries: {why} allows at most {limit}")
        return values

    return AfterValidator(check)


def _tag_problems(tags: Mapping[str, str]) -> list[str]:
    """What AWS accepts as tags: a key of 1-128 characters outside the reserved `aws:` prefix, a value of
    at most 256, both from the characters every tagged service accepts, at most MAX_USER_TAGS of them (the
    platform's own project/stack/managed-by keys are added, not overridden)."""
    problems = []
    if len(tags) > MAX_USER_TAGS:
        problems.append(
            f"{_key('tags')} has {len(tags)} tags: expected at most {MAX_USER_TAGS} (AWS allows 50 per "
            "resource and the program adds up to ten of its own)"
        )
    for key, value in tags.items():
        typed = _key(f"tags.{key}")
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            problems.append(
                f"{typed}: tag key {key!r}: expected 1-128 characters, not starting with 'aws:' (reserved)"
            )
        elif key in ("project", "stack", "managed-by"):
            problems.append(
                f"{typed}: tag key {key!r} is set by the program on every resource; choose another key"
            )
        elif not _TAG_TEXT.match(key):
            problems.append(
                f"{typed}: tag key {key!r}: expected letters, digits, spaces and + - = . _ : / @ only"
            )
        if len(value) > 256:
            problems.append(f"{typed}: the value is {len(value)} characters, AWS allows 256")
        elif not _TAG_TEXT.match(value):
            problems.append(
                f"{typed} = {json.dumps(value)}: expected letters, digits, spaces and + - = . _ : / @ only "
                "(what EKS, S3, IAM and RDS accept in a tag value)"
            )
    return problems


def _kubeflow_version(value: str) -> str:
    if value not in KUBEFLOW_PIPELINES_VERSIONS:
        raise ValueError(
            f"expected a Kubeflow Pipelines release this program was checked against "
            f"{list(KUBEFLOW_PIPELINES_VERSIONS)} (versions.py)"
        )
    return value


def _prometheus_duration(value: str) -> str:
    if parse_duration(value) <= 0:
        raise ValueError("expected a duration longer than zero, e.g. 15d")
    return value


def _whole_seconds(value: str) -> str:
    seconds = parse_duration(value)
    if seconds < 1 or seconds != int(seconds):
        raise ValueError("expected whole seconds, at least 1s (e.g. 30s, 30m, 6h)")
    return value


def _cron(value: str) -> str:
    expression = parse_cron(value).expression
    try:
        parse_runnable_cron(expression)
    except CronError:
        raise ValueError(
            "never runs: no date matches its day-of-month, month and day-of-week fields (e.g. 31 February)"
        ) from None
    return expression


@functools.cache
def _zone_names() -> frozenset[str]:
    """The time zone database's names, read from disk once. Only zones: `localtime` (the host's zone) and
    `Factory` are files, not zones."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


def _time_zone(value: str) -> str:
    names = _zone_names()
    if value not in names:
        close = difflib.get_close_matches(value, sorted(names), n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ", e.g. UTC or Europe/Berlin"
        raise ValueError(f"expected an IANA time zone name{hint}")
    return value


PrometheusDuration = Annotated[str, AfterValidator(_prometheus_duration)]
SecondsDuration = Annotated[str, AfterValidator(_prometheus_duration), AfterValidator(_whole_seconds)]
CronExpression = Annotated[str, AfterValidator(_cron)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
EmailAddress = Annotated[str, AfterValidator(_email)]
HostName = Annotated[str, AfterValidator(_host_name)]
KubernetesVersion = Annotated[
    str, _matching(r"^1\.\d{2}$", 'a Kubernetes minor version such as "1.35" (quoted, no "v", no patch)')
]
IamPrincipalArn = Annotated[
    str,
    _matching(
        r"^arn:aws:iam::\d{12}:(role|user)/[\w+=,.@/-]+$",
        "an IAM role or user ARN such as arn:aws:iam::123456789012:role/admin (not an assumed-role session)",
    ),
]
KubeContext = Annotated[str, _matching(r"^\S+$", "a kube context name (kubectl config get-contexts)")]
RepositoryName = Annotated[
    str, _matching(r"^[a-z0-9][a-z0-9._/-]*$", "a lowercase repository name such as mlops-mlflow")
]


class _Section(BaseModel):
    """Config objects: camelCase keys in YAML, snake_case in Python, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


class NetworkConfig(_Section):
    vpc_cidr: Cidr = "10.0.0.0/16"
    """The VPC's address range; subnets are carved from it."""
    availability_zones: int = Field(default=2, ge=2, le=6)
    """How many AZs the VPC and node groups span (EKS needs at least two)."""
    nat_gateways: int | None = Field(default=None, ge=1)
    """NAT gateways: one is cheap (dev), one per AZ survives an AZ outage (production default)."""
    nat_type: Literal["gateway", "instance"] = "gateway"
    """`gateway`: managed NAT gateways; `instance`: a t4g.nano NAT instance each (about $30/month less
    per NAT, but a machine of ours in the path: not in production)."""


class NodeGroupConfig(_Section):
    instance_types: Annotated[list[str], AfterValidator(_unique)] = Field(min_length=1)
    """EC2 instance types; several types make spot capacity easier to find."""
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"
    min_size: int = Field(ge=0, le=EKS_MAX_NODES_PER_GROUP)
    desired_size: int = Field(ge=0, le=EKS_MAX_NODES_PER_GROUP)
    max_size: int = Field(ge=1, le=EKS_MAX_NODES_PER_GROUP)
    """At most 450: EKS's quota of nodes per managed node group."""
    disk_size_gib: int = Field(default=40, ge=20, le=1000)
    max_pods: int | None = Field(default=None, ge=8, le=250)
    """Pods per node (kubelet maxPods, with VPC CNI prefix delegation). Default: 8 per GiB of the smallest
    type's memory, at least its ENI limit, at most what prefix delegation and EKS allow (110 < 30 vCPUs)."""


class NodeGroupsConfig(_Section):
    system: NodeGroupConfig
    """Runs the platform services (MLflow, KFP, monitoring); on-demand so they are not evicted."""
    workloads: NodeGroupConfig
    """Runs pipeline steps; spot is fine because steps are retried."""
    gpu: NodeGroupConfig | None = None
    """Optional tainted GPU group that scales to zero when idle."""


class ClusterConfig(_Section):
    kubernetes_version: KubernetesVersion = "1.35"
    endpoint_private_access: bool = True
    endpoint_public_access: bool = True
    public_access_cidrs: Annotated[
        list[Cidr],
        AfterValidator(_unique),
        _at_most(EKS_MAX_PUBLIC_ACCESS_CIDRS, "EKS (public endpoint access CIDR ranges per cluster)"),
    ] = Field(default_factory=list)
    """Who may reach a public API endpoint; 0.0.0.0/0 is refused."""
    log_types: (
        Annotated[
            list[Literal["api", "audit", "authenticator", "controllerManager", "scheduler"]],
            AfterValidator(_unique),
        ]
        | None
    ) = None
    """Control-plane log types; default api+audit, all five in production."""
    log_retention_days: RetentionDays = 30
    """CloudWatch retention of control-plane logs; production: 90 unless set (and never less)."""
    secrets_encryption: bool | None = None
    """Envelope-encrypt Kubernetes Secrets with a customer KMS key (production default)."""
    upgrade_policy: Literal["STANDARD", "EXTENDED"] = "STANDARD"
    """EXTENDED support costs $0.60/h per cluster after standard support ends."""
    kube_context: KubeContext | None = None
    """For target `local`: the kubeconfig context of the existing kind/k3d cluster."""
    install_metrics_server: bool | None = None
    """For target `local`: install metrics-server (default; kind has none); false where the cluster runs its
    own (k3d, minikube's addon), which a second release would collide with."""
    admin_principal_arns: Annotated[list[IamPrincipalArn], AfterValidator(_unique)] = Field(
        default_factory=list
    )
    """IAM roles/users that get cluster-admin through EKS access entries (the creator always has it):
    e.g. the CI deploy role of the other environment, or your SSO admin role."""


class AutoscalerConfig(_Section):
    enabled: bool = True
    """Cluster Autoscaler on aws: adds nodes for pending pods, removes idle ones, takes GPUs to zero."""
    scale_down_unneeded_minutes: int = Field(default=10, ge=1, le=1440)
    """How long a node stays underused before it is removed."""
    scale_down_utilization_threshold: float = Field(default=0.5, ge=0.1, le=0.9)
    """A node whose pods request less than this share of its CPU and memory is a removal candidate."""
    expander: Literal["least-waste", "most-pods", "random"] = "least-waste"
    """Which node group grows when several could take the pending pods."""


class DvcRemoteConfig(_Section):
    bucket_prefix: Annotated[str, AfterValidator(_bucket_prefix)] = "mlops-dvc"
    """Start of the bucket name; Pulumi appends a random suffix so names never collide."""
    force_destroy: bool = False
    """Let `pulumi destroy` delete a non-empty bucket. Never in production."""
    kms_key: bool | None = None
    """Encrypt with a customer-managed KMS key instead of S3-managed keys (production default)."""
    noncurrent_version_days: int = Field(default=30, ge=1, le=3650)
    abort_multipart_days: int = Field(default=7, ge=1, le=7)


class MlflowConfig(_Section):
    backend: Literal["sqlite", "postgres"] = "sqlite"
    """sqlite: a file on a PersistentVolume (one replica). postgres: RDS PostgreSQL."""
    replicas: int = Field(default=1, ge=1, le=10)
    storage_size_gib: int = Field(default=10, ge=1, le=1000)
    """Size of the SQLite PersistentVolume."""
    db_instance_class: (
        Annotated[
            str,
            _matching(
                r"^db\.[a-z][a-z0-9-]*\.(micro|small|medium|large|xlarge|[1-9][0-9]?xlarge)$",
                "an RDS instance class such as db.t4g.micro or db.m6g.large",
            ),
        ]
        | None
    ) = None
    db_allocated_storage_gib: int = Field(default=20, ge=20, le=65536)
    db_backup_retention_days: int = Field(default=7, ge=1, le=35)
    db_multi_az: bool | None = None
    allowed_hosts: Annotated[list[HostName], AfterValidator(_unique)] = Field(default_factory=list)
    """Extra host names MLflow answers to (an ingress host); the Service's own names are always allowed."""


class MinioConfig(_Section):
    enabled: bool | None = None
    """In-cluster S3 storage; default on for target `local`, off on AWS (S3 is used)."""
    storage_size_gib: int = Field(default=20, ge=1, le=10000)


class KubeflowConfig(_Section):
    version: Annotated[str, AfterValidator(_kubeflow_version)] = KUBEFLOW_PIPELINES_VERSIONS[-1]
    """Kubeflow Pipelines standalone release: one this program was checked against."""


class MonitoringConfig(_Section):
    retention: PrometheusDuration | None = None
    """How long Prometheus keeps samples (a Prometheus duration): 7d, in production 15d (and never less)."""
    storage_size_gib: int = Field(default=20, ge=1, le=10000)
    replicas: int | None = Field(default=None, ge=1, le=5)
    """Prometheus and Alertmanager replicas; two in production."""
    alert_email_to: Annotated[list[EmailAddress], AfterValidator(_unique)] = Field(default_factory=list)
    alert_email_from: EmailAddress | None = None
    smtp_smarthost: Annotated[str, AfterValidator(_smarthost)] | None = None
    """host:port of the SMTP server (port 1-65535)."""
    no_success_hours: int | None = Field(default=None, ge=1, le=24 * 14)
    """Alert when no training run succeeded for this long. Derived from `training.schedule` (its longest
    gap plus the time a run may take); set it only to widen that window. No schedule, no alert."""
    runbook_base_url: (
        Annotated[
            str,
            _matching(
                r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[^\s?#]*)?$",
                "an http(s) URL with a host and no query or fragment, e.g. "
                "https://github.com/ORG/REPO/blob/main/docs/runbooks",
            ),
        ]
        | None
    ) = None
    """Where the runbooks are browsable (e.g. https://github.com/ORG/REPO/blob/main/docs/runbooks), so the
    link in a notification opens. Without it, `runbook_url` is the repository path `docs/runbooks/...`."""


Platform = Literal["linux/amd64", "linux/arm64"]


class ImagesConfig(_Section):
    registry: Annotated[str, AfterValidator(_registry)] | None = None
    """Where `pulumi up` pushes the images it builds. Default on aws: this account's ECR (repositories
    from the bootstrap project). Required on local: a registry the cluster can pull from, e.g. kind's
    local registry `localhost:5001`."""
    mlflow_repository: RepositoryName = "mlops-mlflow"
    steps_repository: RepositoryName = "mlops-pipeline-steps"
    platforms: Annotated[list[Platform], AfterValidator(_unique)] = Field(
        default_factory=lambda: list[Platform](["linux/amd64"]), min_length=1
    )
    """Node architectures to build for (Graviton node groups need linux/arm64)."""


class CaptureConfig(_Section):
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of valid requests whose features and prediction are captured (0 turns capture off)."""
    retention_days: int = Field(default=30, ge=1, le=3650)
    """Days captured rows are kept (S3 lifecycle on aws, pruned by the live-drift job on MinIO)."""


class LiveDriftConfig(_Section):
    enabled: bool = True
    """Compare captured traffic with the champion's training reference on a schedule."""
    schedule: CronExpression = "15 * * * *"
    """When the live-drift CronJob runs (five-field cron)."""
    window_hours: int = Field(default=24, ge=1, le=720)
    """How far back a check reads captured traffic."""
    min_rows: int = Field(default=200, ge=30)
    """Fewer captured rows in the window: "not enough traffic", no verdict."""


class ServingConfig(_Section):
    enabled: bool = True
    """Serve the champion model (MLServer) in the cluster."""
    min_replicas: int | None = Field(default=None, ge=1, le=20)
    """Fewest model-server pods: 1, production 2 (and never less)."""
    max_replicas: int | None = Field(default=None, ge=1, le=20)
    """Most pods the autoscaler may run: 3 (or minReplicas if larger), at most 20."""
    target_cpu_utilization: int = Field(default=70, ge=10, le=95)
    """Autoscaling target, percent of the CPU request."""
    poll_seconds: int = Field(default=30, ge=5, le=3600)
    """How often the server asks MLflow where the `champion` alias points."""
    capture: CaptureConfig = CaptureConfig()
    live_drift: LiveDriftConfig = LiveDriftConfig()


class TrainingScheduleConfig(_Section):
    enabled: bool | None = None
    """Run the training pipeline on a schedule: default on aws stacks, off on local."""
    cron: CronExpression = "0 3 * * *"
    """When (five-field cron, in `timeZone`)."""
    time_zone: TimeZoneName = "UTC"
    """IANA time zone of `cron`, e.g. Europe/Berlin."""


class TrainingConfig(_Section):
    schedule: TrainingScheduleConfig = TrainingScheduleConfig()


class RetrainConfig(_Section):
    enabled: bool | None = None
    """The kill switch of drift-triggered retraining: default on wherever live drift runs."""
    confirm_for: SecondsDuration = "30m"
    """How long live drift must keep firing before the relay is called (the alert's `for`)."""
    cooldown: SecondsDuration = "6h"
    """Shortest time between two triggered runs."""
    max_runs_per_day: int = Field(default=2, ge=1, le=24)
    """At most this many triggered runs per day."""


class _StackConfig(_Section):
    """The raw, validated `mlops-infra:*` keys. Defaults that depend on `production` stay None here."""

    target: Literal["local", "aws"]
    production: bool = False
    protect: bool | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    network: NetworkConfig = NetworkConfig()
    node_groups: NodeGroupsConfig | None = None
    cluster: ClusterConfig = ClusterConfig()
    autoscaler: AutoscalerConfig = AutoscalerConfig()
    dvc_remote: DvcRemoteConfig = DvcRemoteConfig()
    mlflow: MlflowConfig = MlflowConfig()
    minio: MinioConfig = MinioConfig()
    kubeflow: KubeflowConfig = KubeflowConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    images: ImagesConfig = ImagesConfig()
    serving: ServingConfig = ServingConfig()
    training: TrainingConfig = TrainingConfig()
    retrain: RetrainConfig = RetrainConfig()

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Self:
        problems = [
            *_tag_problems(self.tags),
            *_aws_rules(self),
            *_general_rules(self),
            *_node_group_rules(self),
            *_closed_loop_rules(self),
            *_production_rules(self),
        ]
        if problems:
            raise ValueError("\n".join(problems))
        return self


def _key(path: str) -> str:
    return f"{PROJECT}:{path}"


def _aws_rules(c: _StackConfig) -> list[str]:
    problems: list[str] = []
    if c.target == "local":
        for key in _AWS_ONLY_KEYS:
            if key in c.model_fields_set:
                problems.append(
                    f"{_key(to_camel(key))} is set, but target 'local' creates nothing on AWS and reads it "
                    "nowhere; remove it (or use target 'aws')"
                )
        for key in sorted(c.cluster.model_fields_set & _EKS_ONLY_CLUSTER_KEYS):
            problems.append(
                f"{_key('cluster.' + to_camel(key))} is set, but target 'local' uses an existing cluster and "
                "reads it nowhere (it describes the EKS cluster target 'aws' creates); remove it"
            )
        if c.cluster.kube_context is None:
            problems.append(
                f"{_key('cluster.kubeContext')} is not set: target 'local' needs the kube context"
            )
        if c.mlflow.backend == "postgres":
            problems.append(
                f"{_key('mlflow.backend')} = 'postgres': RDS needs target 'aws'; use 'sqlite' on 'local'"
            )
        if c.images.registry is None:
            problems.append(
                f"{_key('images.registry')} is not set: target 'local' needs a registry the cluster pulls "
                "from, e.g. kind's local registry localhost:5001"
            )
        if c.minio.enabled is False:
            problems.append(
                f"{_key('minio.enabled')} = false: "
                "target 'local' keeps DVC data and MLflow artifacts in MinIO"
            )
        return problems
    if c.node_groups is None:
        problems.append(f"{_key('nodeGroups')} is not set: target 'aws' needs system and workloads groups")
    if c.cluster.kube_context is not None:
        problems.append(
            f"{_key('cluster.kubeContext')} = {json.dumps(c.cluster.kube_context)}: target 'aws' creates its "
            "own EKS cluster and reads no kube context; remove the key (or use target 'local')"
        )
    if c.cluster.install_metrics_server is not None:
        problems.append(
            f"{_key('cluster.installMetricsServer')} = {json.dumps(c.cluster.install_metrics_server)}: "
            "target 'aws' always installs metrics-server (EKS runs none and the model server's autoscaler "
            "needs it); remove the key"
        )
    vpc = ipaddress.IPv4Network(c.network.vpc_cidr)
    if not VPC_PREFIXES[0] <= vpc.prefixlen <= VPC_PREFIXES[1]:
        problems.append(
            f"{_key('network.vpcCidr')} = {json.dumps(c.network.vpc_cidr)}: AWS accepts a VPC from /"
            f"{VPC_PREFIXES[0]} to /{VPC_PREFIXES[1]}"
        )
    elif any(vpc.overlaps(r) for r in UNUSABLE_VPC_RANGES):
        problems.append(
            f"{_key('network.vpcCidr')} = {json.dumps(c.network.vpc_cidr)}: overlaps a loopback, link-local, "
            "multicast, reserved or 0.0.0.0/8 range, which no VPC can use; expected a private range such as "
            "10.0.0.0/16 (RFC 1918)"
        )
    else:
        try:
            plan_subnets(c.network.vpc_cidr, c.network.availability_zones)
        except ValueError as exc:
            problems.append(f"{_key('network.vpcCidr')}: {exc}".replace("network.vpcCidr = ", "", 1))
    nat = c.network.nat_gateways
    if nat is not None and nat > c.network.availability_zones:
        problems.append(
            f"{_key('network.natGateways')} = {nat}: expected at most one per AZ "
            f"(network.availabilityZones = {c.network.availability_zones})"
        )
    return problems


def _general_rules(c: _StackConfig) -> list[str]:
    problems: list[str] = []
    groups = c.node_groups
    if groups is not None:
        for role, group in (("system", groups.system), ("workloads", groups.workloads), ("gpu", groups.gpu)):
            if group is None:
                continue
            if not group.min_size <= group.desired_size <= group.max_size:
                problems.append(
                    f"{_key(f'nodeGroups.{role}')}: expected minSize <= desiredSize <= maxSize, got "
                    f"{group.min_size} / {group.desired_size} / {group.max_size}"
                )
        if groups.system.min_size < 1:
            problems.append(
                f"{_key('nodeGroups.system.minSize')} = {groups.system.min_size}: the system group runs "
                "CoreDNS and the Cluster Autoscaler itself, so it cannot scale from zero; expected at least 1"
            )
        if groups.system.capacity_type == "SPOT":
            problems.append(
                f"{_key('nodeGroups.system.capacityType')} = 'SPOT': platform services need ON_DEMAND nodes"
            )
    cl = c.cluster
    if c.target == "aws":
        if not (cl.endpoint_private_access or cl.endpoint_public_access):
            problems.append(
                f"{_key('cluster.endpointPublicAccess')} and endpointPrivateAccess are both false: "
                "expected at least one way to reach the API"
            )
        if cl.endpoint_public_access and not cl.endpoint_private_access:
            problems.append(
                f"{_key('cluster.endpointPrivateAccess')} = false with a public endpoint limited to "
                "cluster.publicAccessCidrs: the nodes would reach the API from the NAT's address, which is "
                "not in that list, and never join; expected endpointPrivateAccess true"
            )
        if not cl.endpoint_public_access and "public_access_cidrs" in cl.model_fields_set:
            problems.append(
                f"{_key('cluster.publicAccessCidrs')} is set, but cluster.endpointPublicAccess is false: EKS "
                "ignores the list of a private-only endpoint; remove it (or enable the public endpoint)"
            )
        if cl.endpoint_public_access:
            problems += _public_access_problems(cl.public_access_cidrs)
            if not cl.public_access_cidrs:
                problems.append(
                    f"{_key('cluster.publicAccessCidrs')} is empty: "
                    "a public endpoint needs a CIDR allow-list "
                    "(or set cluster.endpointPublicAccess to false)"
                )
            covered = ipaddress.collapse_addresses(ipaddress.IPv4Network(c) for c in cl.public_access_cidrs)
            for network in covered:
                if network.prefixlen < BROADEST_ALLOWED_PREFIX:
                    spelled = [
                        c for c in cl.public_access_cidrs if ipaddress.IPv4Network(c).subnet_of(network)
                    ]
                    problems.append(
                        f"{_key('cluster.publicAccessCidrs')} contains {spelled}, which together cover "
                        f"{network} ({network.num_addresses:,} addresses): the API must not be open to the "
                        f"internet (CKV_AWS_39); list your office/VPN/CI egress ranges (each /"
                        f"{BROADEST_ALLOWED_PREFIX} or narrower in total)"
                    )
    if c.protect is True and c.dvc_remote.force_destroy:
        problems.append(
            f"{_key('dvcRemote.forceDestroy')} = true with protect = true: a protected bucket must not be "
            "emptied on delete; expected forceDestroy false"
        )
    if c.target == "aws" and not c.autoscaler.enabled:
        for key in _set_keys(c.autoscaler, "autoscaler"):
            problems.append(
                f"{_key(key)} is set, but autoscaler.enabled is false: nothing reads it; remove it (or "
                "enable the autoscaler)"
            )
    ml = c.mlflow
    if ml.backend == "postgres" and "storage_size_gib" in ml.model_fields_set:
        problems.append(
            f"{_key('mlflow.storageSizeGib')} is set, but mlflow.backend is 'postgres': it sizes the SQLite "
            "volume only; remove it (RDS storage is mlflow.dbAllocatedStorageGib)"
        )
    minio_enabled = c.minio.enabled if c.minio.enabled is not None else c.target == "local"
    if not minio_enabled and "storage_size_gib" in c.minio.model_fields_set:
        problems.append(
            f"{_key('minio.storageSizeGib')} is set, but MinIO is off (target 'aws' keeps data in S3): "
            "nothing reads it; remove it (or set minio.enabled: true)"
        )
    if ml.backend == "sqlite" and ml.replicas != 1:
        problems.append(
            f"{_key('mlflow.replicas')} = {ml.replicas}: the sqlite backend lives on one volume, expected 1 "
            "(use backend 'postgres' for more replicas)"
        )
    if ml.backend == "sqlite":
        for key in sorted(ml.model_fields_set & _POSTGRES_ONLY_KEYS):
            problems.append(
                f"{_key('mlflow.' + to_camel(key))} is set, but mlflow.backend is 'sqlite': it applies to "
                "the RDS PostgreSQL backend only; remove it (or set mlflow.backend: postgres)"
            )
    if ml.backend == "postgres" and ml.db_instance_class is None:
        problems.append(
            f"{_key('mlflow.dbInstanceClass')} is not set: backend 'postgres' needs an RDS instance class "
            "such as db.t4g.micro"
        )
    mon = c.monitoring
    if not mon.alert_email_to:
        for key in sorted(mon.model_fields_set & {"alert_email_from", "smtp_smarthost"}):
            problems.append(
                f"{_key('monitoring.' + to_camel(key))} is set, but monitoring.alertEmailTo is empty: no "
                "e-mail is sent; add recipients (or remove it)"
            )
    if mon.alert_email_to and not (mon.alert_email_from and mon.smtp_smarthost):
        problems.append(
            f"{_key('monitoring.alertEmailTo')} is set: e-mail alerts also need monitoring.alertEmailFrom "
            "and monitoring.smtpSmarthost"
        )
    return problems


def _node_group_rules(c: _StackConfig) -> list[str]:
    """What EC2 and EKS allow for each node group: known instance types, max pods, GPUs where promised."""
    problems: list[str] = []
    if c.cluster.kubernetes_version not in EKS_ADDON_VERSIONS:
        problems.append(
            f"{_key('cluster.kubernetesVersion')} = {json.dumps(c.cluster.kubernetes_version)}: expected a "
            f"version whose EKS add-on versions are pinned in versions.py and that the charts and manifests "
            f"are checked against ({sorted(EKS_ADDON_VERSIONS)})"
        )
    if c.target != "aws":
        return problems
    groups = c.node_groups
    if groups is None:
        return problems
    for role, group in (("system", groups.system), ("workloads", groups.workloads), ("gpu", groups.gpu)):
        if group is None:
            continue
        unknown = [t for t in group.instance_types if t not in INSTANCE_TYPES]
        if unknown:
            problems.append(
                f"{_key(f'nodeGroups.{role}.instanceTypes')} = {json.dumps(group.instance_types)}: "
                f"{', '.join(unknown)} not in components/instance_types.py (its vCPUs, memory and ENI limits "
                "size max pods and the capacity plan); add the type there or pick a listed one"
            )
            continue
        types = [INSTANCE_TYPES[t] for t in group.instance_types]
        without_gpu = [t.name for t in types if t.gpus == 0]
        if role == "gpu" and without_gpu:
            problems.append(
                f"{_key('nodeGroups.gpu.instanceTypes')} = {json.dumps(group.instance_types)}: "
                f"{', '.join(without_gpu)} has no GPU; expected NVIDIA GPU types such as g4dn.xlarge, "
                "g5.xlarge or g6.xlarge"
            )
        with_gpu = [t.name for t in types if t.gpus > 0]
        if role != "gpu" and with_gpu:
            problems.append(
                f"{_key(f'nodeGroups.{role}.instanceTypes')} = {json.dumps(group.instance_types)}: "
                f"{', '.join(with_gpu)} is a GPU type; put GPU types in nodeGroups.gpu (tainted, NVIDIA AMI)"
            )
        if len({is_arm_instance_type(t) for t in group.instance_types}) > 1:
            problems.append(
                f"{_key(f'nodeGroups.{role}.instanceTypes')} = {json.dumps(group.instance_types)}: mixes ARM "
                "(Graviton) and x86 types; one node group runs one AMI architecture"
            )
        platform = "linux/arm64" if is_arm_instance_type(group.instance_types[0]) else "linux/amd64"
        if platform not in c.images.platforms:
            problems.append(
                f"{_key('images.platforms')} = {json.dumps(c.images.platforms)}: nodeGroups.{role} runs "
                f"{', '.join(group.instance_types)}, whose pods need {platform} images; add {platform}"
            )
        if group.max_pods is not None:
            limit = min(prefix_delegation_max_pods(t) for t in types)
            if group.max_pods > limit:
                problems.append(
                    f"{_key(f'nodeGroups.{role}.maxPods')} = {group.max_pods}: expected at most {limit}, "
                    f"what prefix delegation and EKS allow on {', '.join(group.instance_types)}"
                )
    return problems


def _public_access_problems(cidrs: Sequence[str]) -> list[str]:
    """The public endpoint sees the internet address a client comes from: a private range never matches, and
    a range inside another one is listed twice."""
    problems = []
    networks = [ipaddress.IPv4Network(c) for c in cidrs]
    private = [str(n) for n in networks if any(n.subnet_of(r) for r in NOT_INTERNET_RANGES)]
    if private:
        problems.append(
            f"{_key('cluster.publicAccessCidrs')} contains {private}: not internet addresses, so no client "
            "of the public endpoint comes from them (traffic from the VPC or a VPN uses the private "
            "endpoint); list the public egress address of your office/VPN/CI"
        )
    for inner, outer in ((a, b) for a in networks for b in networks if a != b):
        if inner.subnet_of(outer):
            problems.append(
                f"{_key('cluster.publicAccessCidrs')} contains {inner} inside {outer}: expected each range "
                "once; remove the narrower one"
            )
    return problems


def _set_keys(section: BaseModel, prefix: str, exclude: str = "enabled") -> list[str]:
    """The keys under `prefix` the user set, as typed (camelCase), nested sections included."""
    keys = []
    for name in sorted(section.model_fields_set - {exclude}):
        value = getattr(section, name)
        if isinstance(value, BaseModel):
            keys += _set_keys(value, f"{prefix}.{to_camel(name)}", exclude="")
        else:
            keys.append(f"{prefix}.{to_camel(name)}")
    return keys


def _closed_loop_rules(c: _StackConfig) -> list[str]:
    """Serving, live drift, the training schedule and drift-triggered retraining fit together."""
    problems: list[str] = []
    s = c.serving

    def unread(keys: list[str], because: str, instead: str) -> None:
        problems.extend(f"{_key(k)} is set, but {because}: nothing reads it; {instead}" for k in keys)

    if not s.enabled:
        unread(_set_keys(s, "serving"), "serving.enabled is false", "remove it (or enable serving)")
    elif not s.live_drift.enabled:
        unread(
            _set_keys(s.live_drift, "serving.liveDrift"),
            "serving.liveDrift.enabled is false",
            "remove it (or enable live drift)",
        )
    live_drift = s.enabled and s.live_drift.enabled
    minimum = s.min_replicas if s.min_replicas is not None else (2 if c.production else 1)
    if s.max_replicas is not None and s.max_replicas < minimum:
        spelled = "serving.minReplicas" if s.min_replicas is not None else "serving.minReplicas, by default"
        problems.append(
            f"{_key('serving.maxReplicas')} = {s.max_replicas}: expected at least {spelled} ({minimum})"
        )
    if live_drift and s.live_drift.window_hours > s.capture.retention_days * 24:
        problems.append(
            f"{_key('serving.liveDrift.windowHours')} = {s.live_drift.window_hours}: captured rows are kept "
            f"{s.capture.retention_days} days (serving.capture.retentionDays), so a check could never read "
            f"that far back; expected at most {s.capture.retention_days * 24}"
        )
    if live_drift and s.capture.sample_rate == 0:
        problems.append(
            f"{_key('serving.capture.sampleRate')} = 0: live drift reads captured traffic; expected a rate "
            "above 0 (or set serving.liveDrift.enabled: false)"
        )
    schedule = c.training.schedule
    scheduled = schedule.enabled if schedule.enabled is not None else c.target == "aws"
    if not scheduled:
        because = (
            "training.schedule.enabled is false"
            if schedule.enabled is False
            else "target 'local' runs no schedule unless training.schedule.enabled is true"
        )
        unread(_set_keys(schedule, "training.schedule"), because, "remove it (or enable the schedule)")
        if c.monitoring.no_success_hours is not None:
            unread(
                ["monitoring.noSuccessHours"],
                f"{because} (nothing promises a run, so no stale-training alert exists)",
                "remove it (or enable the schedule)",
            )
    elif c.monitoring.no_success_hours is not None:
        try:
            window = no_success_window_hours(schedule.cron, schedule.time_zone)
        except ValueError:
            window = None  # the cron or time zone rule reports it
        if window is not None and c.monitoring.no_success_hours < window:
            problems.append(
                f"{_key('monitoring.noSuccessHours')} = {c.monitoring.no_success_hours}: the training "
                f"schedule ({schedule.cron!r} in {schedule.time_zone}) may leave {window:g} h between "
                f"successful runs; expected at least {window:g} (or remove it: the schedule sets it)"
            )
    if not live_drift:
        unread(
            _set_keys(c.retrain, "retrain"),
            "live drift is off (serving.enabled or serving.liveDrift.enabled is false), so no retraining "
            "relay runs",
            "remove it (or turn live drift on)",
        )
    if c.retrain.enabled is True and not live_drift:
        problems.append(
            f"{_key('retrain.enabled')} = true, but live drift is off (serving.enabled or "
            "serving.liveDrift.enabled is false): nothing would ever trigger a retrain; expected live drift "
            "on (or retrain.enabled: false)"
        )
    return problems


def _production_rules(c: _StackConfig) -> list[str]:
    """What `production: true` promises: nothing stateful can be lost by accident, no single AZ matters."""
    if not c.production:
        return []
    problems: list[str] = []

    def need(path: str, value: Any, expected: str) -> None:
        problems.append(f"{_key(path)} = {json.dumps(value)}: production stacks require {expected}")

    if c.target == "local":
        problems.append(
            f"{_key('production')} = true with target 'local': production needs target 'aws' (RDS, KMS, "
            "Multi-AZ); a kind/k3d cluster cannot keep those promises"
        )
    if c.protect is False:
        need("protect", False, "protect true for stateful resources")
    if c.dvc_remote.noncurrent_version_days < PRODUCTION_MIN_NONCURRENT_VERSION_DAYS:
        need(
            "dvcRemote.noncurrentVersionDays",
            c.dvc_remote.noncurrent_version_days,
            f"at least {PRODUCTION_MIN_NONCURRENT_VERSION_DAYS} days of overwritten and deleted versions",
        )
    if c.dvc_remote.force_destroy:
        need("dvcRemote.forceDestroy", True, "forceDestroy false")
    if c.dvc_remote.kms_key is False:
        need("dvcRemote.kmsKey", False, "a customer-managed KMS key")
    if c.target == "aws":
        if c.node_groups is not None and c.node_groups.system.min_size < PRODUCTION_MIN_SYSTEM_NODES:
            need(
                "nodeGroups.system.minSize",
                c.node_groups.system.min_size,
                f"at least {PRODUCTION_MIN_SYSTEM_NODES} system nodes (monitoring and alerting must outlive "
                "one node)",
            )
        if c.cluster.secrets_encryption is False:
            need("cluster.secretsEncryption", False, "KMS envelope encryption of Secrets")
        if c.cluster.log_retention_days < PRODUCTION_MIN_LOG_RETENTION_DAYS and (
            "log_retention_days" in c.cluster.model_fields_set
        ):
            need(
                "cluster.logRetentionDays",
                c.cluster.log_retention_days,
                f"at least {PRODUCTION_MIN_LOG_RETENTION_DAYS} days of control-plane logs",
            )
        if c.cluster.log_types is not None and set(c.cluster.log_types) != set(EKS_LOG_TYPES):
            need("cluster.logTypes", c.cluster.log_types, f"all five log types {list(EKS_LOG_TYPES)}")
        nat = c.network.nat_gateways
        if nat is not None and nat != c.network.availability_zones:
            need("network.natGateways", nat, "one NAT gateway per availability zone")
        if c.network.nat_type != "gateway":
            need("network.natType", c.network.nat_type, "'gateway' (managed, no machine of ours in the path)")
        if c.mlflow.backend != "postgres":
            need("mlflow.backend", c.mlflow.backend, "'postgres' (RDS, Multi-AZ, backups)")
        if c.mlflow.db_multi_az is False:
            need("mlflow.dbMultiAz", False, "Multi-AZ")
        if c.mlflow.db_backup_retention_days < 14:
            need("mlflow.dbBackupRetentionDays", c.mlflow.db_backup_retention_days, "at least 14 days")
        if c.mlflow.replicas < 2:
            need("mlflow.replicas", c.mlflow.replicas, "at least 2 replicas")
    if c.monitoring.replicas is not None and c.monitoring.replicas < 2:
        need("monitoring.replicas", c.monitoring.replicas, "at least 2 replicas")
    serving = c.serving
    if serving.enabled and serving.min_replicas is not None and serving.min_replicas < 2:
        need("serving.minReplicas", serving.min_replicas, "at least 2 model-server replicas")
    if serving.enabled and serving.capture.retention_days < PRODUCTION_MIN_CAPTURE_RETENTION_DAYS:
        need(
            "serving.capture.retentionDays",
            serving.capture.retention_days,
            f"at least {PRODUCTION_MIN_CAPTURE_RETENTION_DAYS} days of captured traffic",
        )
    retention = c.monitoring.retention
    if retention is not None and parse_duration(retention) < parse_duration(PRODUCTION_MIN_METRICS_RETENTION):
        need(
            "monitoring.retention",
            c.monitoring.retention,
            f"at least {PRODUCTION_MIN_METRICS_RETENTION} of metrics (the window an incident is looked into)",
        )
    return problems


@dataclass(frozen=True)
class CaptureSettings:
    sample_rate: float
    """Share of valid requests captured, 0 < rate <= 1 (0: capture off)."""
    retention_days: int
    """Days captured rows are kept."""


@dataclass(frozen=True)
class LiveDriftSettings:
    schedule: str
    """Five-field cron of the live-drift CronJob (validated by monitoring/cron.py)."""
    window_hours: int
    """Hours of captured traffic one check reads."""
    min_rows: int
    """Fewer rows: no verdict."""


@dataclass(frozen=True)
class ServingSettings:
    """The in-cluster model server; the lead wires these into the serving components' Args."""

    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int
    """Percent of the CPU request."""
    poll_seconds: int
    """How often the server checks the champion alias."""
    capture: CaptureSettings
    live_drift: LiveDriftSettings | None
    """None: no live-drift job."""


@dataclass(frozen=True)
class TrainingSchedule:
    cron: str
    """Five-field cron (validated by monitoring/cron.py)."""
    time_zone: str
    """IANA time zone name (validated with zoneinfo)."""


@dataclass(frozen=True)
class RetrainSettings:
    enabled: bool
    """The kill switch: false leaves the relay unable to start a run (and live drift alerts people only)."""
    confirm_for_seconds: int
    """How long live drift must keep firing before the relay is called."""
    cooldown_seconds: int
    """Shortest time between two triggered runs."""
    max_runs_per_day: int


@dataclass(frozen=True)
class StackSettings:
    """A stack's settings, validated and resolved: nothing optional is left to default, and each part is the
    plain Args (or options) type of the component that uses it, tagged by mode (EKS or existing cluster,
    S3 or MinIO storage, SQLite or PostgreSQL backend) so no consumer branches on a string."""

    project: str
    stack: str
    target: Literal["local", "aws"]
    """For the stack outputs and reports; components never see it."""
    production: bool
    protect: bool
    """protect + retain_on_delete on stateful resources (already folded into each Args below)."""
    aws_region: str | None
    """The AWS provider's region; None on `local` (no AWS provider at all)."""
    default_tags: Mapping[str, str]
    """Tags every taggable AWS resource carries (provider default tags), so leftovers can be found."""
    kubernetes_version: str
    """The Kubernetes minor version charts and manifests are rendered and checked against."""
    cluster: EksClusterArgs | ExistingClusterArgs
    dvc_remote: DvcRemoteArgs | None
    """The S3 DVC remote (and MLflow artifact store); None on `local`."""
    minio: MinioArgs | None
    """In-cluster MinIO; on `local` it is the artifact store."""
    images: PlatformImagesArgs
    mlflow: MlflowServerOptions
    kubeflow_version: str
    """A Kubeflow Pipelines release in versions.KUBEFLOW_PIPELINES_VERSIONS."""
    monitoring: MonitoringOptions
    alert_email: EmailAlerts | None
    """E-mail notifications; the SMTP password is a secret (`load_secrets`)."""
    serving: ServingSettings | None
    """None: `serving.enabled: false`."""
    training_schedule: TrainingSchedule | None
    """None: no scheduled training runs."""
    retrain: RetrainSettings

    @property
    def is_aws(self) -> bool:
        return isinstance(self.cluster, EksClusterArgs)


@dataclass(frozen=True)
class StackSecrets:
    """Alert receiver credentials, each a Pulumi secret Output or None when not configured."""

    slack_webhook_url: pulumi.Output[str] | None
    webhook_url: pulumi.Output[str] | None
    smtp_password: pulumi.Output[str] | None


def _node_group_args(group: NodeGroupConfig) -> NodeGroupArgs:
    return NodeGroupArgs(
        instance_types=tuple(group.instance_types),
        capacity_type=group.capacity_type,
        min_size=group.min_size,
        desired_size=group.desired_size,
        max_size=group.max_size,
        disk_size_gib=group.disk_size_gib,
        max_pods=group.max_pods
        if group.max_pods is not None
        else default_node_group_max_pods(group.instance_types),
    )


def _cluster_args(raw: _StackConfig, name: str, region: str, tags: Mapping[str, str]) -> EksClusterArgs:
    prod = raw.production
    c, n = raw.cluster, raw.network
    groups = raw.node_groups
    assert groups is not None  # _aws_rules: target 'aws' needs nodeGroups
    log_types = c.log_types if c.log_types is not None else list(EKS_LOG_TYPES if prod else ("api", "audit"))
    explicit_retention = "log_retention_days" in c.model_fields_set
    autoscaler = raw.autoscaler
    return EksClusterArgs(
        name=name,
        region=region,
        control_plane=ControlPlaneArgs(
            kubernetes_version=c.kubernetes_version,
            endpoint_private_access=c.endpoint_private_access,
            endpoint_public_access=c.endpoint_public_access,
            public_access_cidrs=tuple(c.public_access_cidrs),
            log_types=tuple(log_types),
            log_retention_days=c.log_retention_days
            if explicit_retention or not prod
            else PRODUCTION_MIN_LOG_RETENTION_DAYS,
            secrets_encryption=c.secrets_encryption if c.secrets_encryption is not None else prod,
            upgrade_policy=c.upgrade_policy,
            admin_principal_arns=tuple(c.admin_principal_arns),
        ),
        network=NetworkArgs(
            vpc_cidr=n.vpc_cidr,
            availability_zones=n.availability_zones,
            nat_gateways=n.nat_gateways
            if n.nat_gateways is not None
            else (n.availability_zones if prod else 1),
            nat_type=n.nat_type,
        ),
        node_groups=NodeGroupsArgs(
            system=_node_group_args(groups.system),
            workloads=_node_group_args(groups.workloads),
            gpu=_node_group_args(groups.gpu) if groups.gpu is not None else None,
        ),
        autoscaler=AutoscalingArgs(
            scale_down_unneeded_minutes=autoscaler.scale_down_unneeded_minutes,
            scale_down_utilization_threshold=autoscaler.scale_down_utilization_threshold,
            expander=autoscaler.expander,
        )
        if autoscaler.enabled
        else None,
        protect=raw.protect if raw.protect is not None else prod,
        instance_tags=dict(tags),
    )


def _mlflow_options(raw: _StackConfig, protect: bool) -> MlflowServerOptions:
    ml = raw.mlflow
    backend: SqliteBackend | PostgresBackend
    if ml.backend == "postgres":
        assert ml.db_instance_class is not None  # _general_rules: postgres needs dbInstanceClass
        backend = PostgresBackend(
            instance_class=ml.db_instance_class,
            allocated_storage_gib=ml.db_allocated_storage_gib,
            backup_retention_days=ml.db_backup_retention_days,
            multi_az=ml.db_multi_az if ml.db_multi_az is not None else raw.production,
        )
    else:
        backend = SqliteBackend(storage_size_gib=ml.storage_size_gib)
    return MlflowServerOptions(
        backend=backend, replicas=ml.replicas, allowed_hosts=tuple(ml.allowed_hosts), protect=protect
    )


def _resolve(raw: _StackConfig, project: str, stack: str, aws_region: str | None) -> StackSettings:
    """Raw config (rules passed) -> the resolved settings; every production-dependent default is applied
    here, once."""
    prod = raw.production
    protect = raw.protect if raw.protect is not None else prod
    tags = {**raw.tags, "project": project, "stack": stack, "managed-by": "pulumi"}
    region = aws_region if raw.target == "aws" else None
    cluster: EksClusterArgs | ExistingClusterArgs
    if region is not None:
        cluster = _cluster_args(raw, f"{project}-{stack}", region, tags)
    else:
        assert raw.cluster.kube_context is not None  # _aws_rules: target 'local' needs kubeContext
        cluster = ExistingClusterArgs(
            kube_context=raw.cluster.kube_context,
            install_metrics_server=raw.cluster.install_metrics_server is not False,
        )
    serving = _serving(raw)
    d = raw.dvc_remote
    dvc_remote = (
        DvcRemoteArgs(
            bucket_prefix=d.bucket_prefix,
            region=region,
            force_destroy=d.force_destroy,
            kms_key=d.kms_key if d.kms_key is not None else prod,
            noncurrent_version_days=d.noncurrent_version_days,
            abort_multipart_days=d.abort_multipart_days,
            protect=protect,
            capture_retention_days=serving.capture.retention_days if serving else None,
        )
        if region is not None
        else None
    )
    minio_enabled = raw.minio.enabled if raw.minio.enabled is not None else raw.target == "local"
    im = raw.images
    mon = raw.monitoring
    return StackSettings(
        project=project,
        stack=stack,
        target=raw.target,
        production=prod,
        protect=protect,
        aws_region=region,
        default_tags=tags,
        kubernetes_version=raw.cluster.kubernetes_version,
        cluster=cluster,
        dvc_remote=dvc_remote,
        minio=MinioArgs(
            storage_size_gib=raw.minio.storage_size_gib,
            protect=protect,
            # The model server captures traffic to the store and the live drift check reads it back.
            client_namespaces=("mlflow", "kubeflow", *((SERVING_NAMESPACE,) if serving else ())),
        )
        if minio_enabled
        else None,
        images=PlatformImagesArgs(
            builds=(
                dataclasses.replace(MLFLOW_SERVER, repository=im.mlflow_repository),
                dataclasses.replace(TRAINING_STEPS, repository=im.steps_repository),
                *((MODEL_SERVER,) if serving else ()),
            ),
            registry=im.registry,
            ecr_region=region if im.registry is None else None,
            platforms=tuple(im.platforms),
        ),
        mlflow=_mlflow_options(raw, protect),
        kubeflow_version=raw.kubeflow.version,
        monitoring=MonitoringOptions(
            retention=mon.retention or (PRODUCTION_MIN_METRICS_RETENTION if prod else "7d"),
            storage_size_gib=mon.storage_size_gib,
            replicas=mon.replicas if mon.replicas is not None else (2 if prod else 1),
            no_success_hours=_no_success_hours(raw),
            runbook_base_url=mon.runbook_base_url or DEFAULT_RUNBOOK_BASE_URL,
        ),
        alert_email=EmailAlerts(tuple(mon.alert_email_to), mon.alert_email_from, mon.smtp_smarthost)
        if mon.alert_email_to and mon.alert_email_from is not None and mon.smtp_smarthost is not None
        else None,
        serving=serving,
        training_schedule=_training_schedule(raw),
        retrain=_retrain(raw, serving),
    )


def _serving(raw: _StackConfig) -> ServingSettings | None:
    s = raw.serving
    if not s.enabled:
        return None
    minimum = s.min_replicas if s.min_replicas is not None else (2 if raw.production else 1)
    d = s.live_drift
    return ServingSettings(
        min_replicas=minimum,
        max_replicas=s.max_replicas if s.max_replicas is not None else max(3, minimum),
        target_cpu_utilization=s.target_cpu_utilization,
        poll_seconds=s.poll_seconds,
        capture=CaptureSettings(sample_rate=s.capture.sample_rate, retention_days=s.capture.retention_days),
        live_drift=LiveDriftSettings(d.schedule, d.window_hours, d.min_rows) if d.enabled else None,
    )


def _no_success_hours(raw: _StackConfig) -> float | None:
    """`MlopsNoRecentSuccessfulRun`'s window: the schedule's (or the wider one the stack set); none without
    a schedule, so the alert cannot contradict it."""
    schedule = _training_schedule(raw)
    if schedule is None:
        return None
    derived = no_success_window_hours(schedule.cron, schedule.time_zone)
    explicit = raw.monitoring.no_success_hours
    return float(explicit) if explicit is not None else derived


def _training_schedule(raw: _StackConfig) -> TrainingSchedule | None:
    schedule = raw.training.schedule
    enabled = schedule.enabled if schedule.enabled is not None else raw.target == "aws"
    return TrainingSchedule(schedule.cron, schedule.time_zone) if enabled else None


def _retrain(raw: _StackConfig, serving: ServingSettings | None) -> RetrainSettings:
    r = raw.retrain
    live_drift = serving is not None and serving.live_drift is not None
    return RetrainSettings(
        enabled=r.enabled if r.enabled is not None else live_drift,
        confirm_for_seconds=duration_seconds(r.confirm_for),
        cooldown_seconds=duration_seconds(r.cooldown),
        max_runs_per_day=r.max_runs_per_day,
    )


def uses_documentation_cidr(settings: StackSettings) -> bool:
    """A public API endpoint allowed only from RFC 5737 ranges: nobody can reach it (a committed example)."""
    cluster = settings.cluster
    if not isinstance(cluster, EksClusterArgs) or not cluster.control_plane.endpoint_public_access:
        return False
    return any(
        ipaddress.IPv4Network(c).subnet_of(r)
        for c in cluster.control_plane.public_access_cidrs
        for r in DOCUMENTATION_RANGES
    )


_KNOWN_KEYS = frozenset(
    {
        *(field.alias or name for name, field in _StackConfig.model_fields.items()),
        *SECRET_KEYS,
    }
)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The config section a field holds, if any (`NodeGroupConfig | None` -> NodeGroupConfig)."""
    for candidate in get_args(annotation) or (annotation,):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _section_at(parts: Sequence[str]) -> type[BaseModel] | None:
    """The section model at a key path (`["nodeGroups", "system"]` -> NodeGroupConfig), else None."""
    model: type[BaseModel] | None = _StackConfig
    for part in parts:
        fields = {f.alias or n: f for n, f in model.model_fields.items()} if model else {}
        model = _section_model(fields[part].annotation) if part in fields else None
    return model


def _section_keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _leaf_keys(model: type[BaseModel] = _StackConfig, prefix: str = "") -> list[str]:
    """Every documented key path, e.g. `cluster.kubernetesVersion`, `nodeGroups.system.maxSize`."""
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        section = _section_model(field.annotation)
        keys += _leaf_keys(section, f"{key}.") if section else [key]
    return keys


def _did_you_mean(path: str) -> str:
    """A hint for an unknown key: the closest sibling, the same name in another section, or the namespace
    typed as part of the key (`mlops-infra.production` set without the colon)."""
    parts = path.split(".")
    if parts[0] == PROJECT and len(parts) > 1:
        return f"; did you mean {_key('.'.join(parts[1:]))}? (the namespace ends with ':')"
    if path in ("region", "awsRegion"):
        return "; the region is the AWS provider's key aws:region (pulumi config set aws:region us-east-1)"
    # The first part that is not a key where it stands is the typo: `nodeGroups.sytem.maxSize`.
    depth = next(
        (i for i in range(len(parts)) if (s := _section_at(parts[:i])) and parts[i] not in _section_keys(s)),
        len(parts) - 1,
    )
    parent = _section_at(parts[:depth])
    siblings = _section_keys(parent) if parent else []
    typo = parts[depth]
    close = [s for s in siblings if s.lower() == typo.lower()] or difflib.get_close_matches(
        typo, siblings, n=2, cutoff=0.75
    )
    if close:
        spelled = [".".join([*parts[:depth], c, *parts[depth + 1 :]]) for c in close]
        return f"; did you mean {' or '.join(_key(k) for k in spelled)}?"
    elsewhere = [k for k in _leaf_keys() if k.split(".")[-1].lower() == parts[-1].lower()]
    if elsewhere:
        return f"; did you mean {' or '.join(_key(k) for k in elsewhere)}?"
    if siblings:
        where = ".".join(parts[:depth]) or "the top level"
        return f"; the keys of {where} are {', '.join(siblings)} (Pulumi.yaml documents every key)"
    return " (Pulumi.yaml documents every key)"


def _path(loc: Iterable[Any]) -> str:
    """A pydantic error location as the user types the key: `cluster.publicAccessCidrs[0]`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part and not ("[" in part and "]" in part):  # pydantic's own validator/union tags
            path += f".{part}" if path else part
    return path


# pydantic error types -> what to type instead, worded like the other messages ({...}: the error's context).
_EXPECTED = {
    "greater_than_equal": "expected at least {ge}",
    "less_than_equal": "expected at most {le}",
    "too_short": "expected at least {min_length} entry",
    "literal_error": "expected exactly {expected} (spelled as shown)",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
}


def _expected(error: Mapping[str, Any], path: str) -> str:
    """What the user should have typed, in words (pydantic's own message otherwise)."""
    value = error.get("input")
    kind = error["type"]
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        section = _section_at(path.split("."))
        keys = f" with the keys {', '.join(_section_keys(section))}" if section else " of keys and values"
        example = f"{path}.{_section_keys(section)[0]}" if section else f"{path}.<key>"
        return (
            f"expected an object{keys}; set one with: pulumi config set --path "
            f"{shlex.quote(_key(example))} <value>"
        )
    if kind == "string_type" and isinstance(value, int | float) and not isinstance(value, bool):
        tip = " (YAML reads an unquoted 1.30 as the number 1.3)" if isinstance(value, float) else ""
        return f'expected text, not a number: quote it in the stack file ("{value}"){tip}'
    if kind == "list_type":
        return f"expected a list, e.g. [a, b] (pulumi config set --path {shlex.quote(_key(path + '[0]'))} a)"
    if kind in _EXPECTED:
        return _EXPECTED[kind].format(**(error.get("ctx") or {}))
    return str(error["msg"]).removeprefix("Value error, ")


def _describe(error: Mapping[str, Any]) -> str:
    path = _path(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"{_key(path)} is not a known setting{_did_you_mean(path)}"
    if error["type"] == "missing":
        return f"{_key(path)} is required"
    message = _expected(error, path)
    if not path:
        return message
    return f"{_key(path)} = {json.dumps(error.get('input'), default=str)}: {message}"


def _parse_value(text: str) -> Any:
    """Pulumi hands structured config over as JSON text and scalars as plain strings."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _is_known_path(key: str) -> bool:
    """Whether `cluster.publicAccessCidrs[0]` (a flat key's name) names a documented key (or a tag)."""
    parts = re.sub(r"\[\d+\]", "", key).split(".")
    return ".".join(parts) in _leaf_keys() or (parts[0] == "tags" and len(parts) == 2)


def _flat_path_problem(key: str, text: str) -> str:
    """A key Pulumi stored as one flat name because it was set without `--path`; nothing reads it."""
    if not _is_known_path(key):
        hint = _did_you_mean(re.sub(r"\[\d+\]", "", key))
        return (
            f"{_key(key)} is not a known setting{hint} (it was also set without --path; remove it: "
            f"pulumi config rm {shlex.quote(_key(key))})"
        )
    value = text if _parse_value(text) is text else json.dumps(_parse_value(text))
    return (
        f"{_key(key)} was set without --path, so Pulumi keeps it as one key named {key!r} that nothing "
        f"reads (the setting is not applied); set it again with: pulumi config rm {shlex.quote(_key(key))} "
        f"&& pulumi config set --path {shlex.quote(_key(key))} {shlex.quote(value)}"
    )


def _near_miss_problems(other_keys: Iterable[str]) -> list[str]:
    """Keys in a namespace that looks like this project's but is not: a typo nothing would read."""
    wanted = re.sub(r"[^a-z0-9]", "", PROJECT)
    problems = []
    for full in sorted(other_keys):
        namespace, _, key = full.partition(":")
        folded = re.sub(r"[^a-z0-9]", "", namespace.lower())
        if namespace != PROJECT and (
            folded == wanted or difflib.SequenceMatcher(None, namespace.lower(), PROJECT).ratio() >= 0.8
        ):
            problems.append(
                f"{full} is in namespace {namespace!r}, not this project's {PROJECT!r}: nothing reads it; "
                f"did you mean {_key(key)}? (pulumi config rm {shlex.quote(full)})"
            )
    return problems


def _provider_key_problems(target: str, other_keys: Iterable[str]) -> list[str]:
    """aws:* keys: the program's AWS provider is explicit (it carries the default tags), so it reads only the
    region it is given; any other aws:* key would be ignored silently, and on local so would the region."""
    problems = []
    for full in sorted(other_keys):
        namespace, _, key = full.partition(":")
        if namespace != "aws":
            continue
        if key == "region":
            if target == "local":
                problems.append(
                    "aws:region is set, but target 'local' creates nothing on AWS and reads it nowhere; "
                    "remove it (pulumi config rm aws:region)"
                )
            continue
        instead = {
            "profile": "set AWS_PROFILE in the environment of `pulumi up` instead",
            "allowedAccountIds": "check the account with `aws sts get-caller-identity` before `pulumi up`",
        }.get(key, "set it through the AWS_* environment variables the provider reads instead")
        problems.append(
            f"{full} is set, but this program's AWS provider is explicit and reads only aws:region from the "
            f"stack config, so {full} would be ignored; remove it (pulumi config rm {full}) and {instead}"
        )
    return problems


def _secret_problems(project_config: Mapping[str, str]) -> list[str]:
    """Receiver secrets hold what Alertmanager needs; the value itself is never repeated in a message."""
    problems = []
    for key in ("alertSlackWebhookUrl", "alertWebhookUrl"):
        value = project_config.get(key)
        if value is not None and not re.match(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/\S*)?$", value):
            problems.append(
                f"{_key(key)} (a secret, value not shown): expected an http(s) URL with a host, e.g. "
                "https://hooks.slack.com/services/...; Alertmanager would refuse its configuration"
            )
    if project_config.get("alertSmtpPassword") == "":
        problems.append(f"{_key('alertSmtpPassword')} is empty: expected the SMTP password (or remove it)")
    return problems


def _region_problems(aws_region: str | None) -> list[str]:
    """A region AWS has (pulumi-aws's own list), or EKS, VPC and S3 calls fail halfway through an up."""
    # pulumi_aws costs half a second to import; only an AWS stack's validation needs its region list.
    from pulumi_aws import Region  # noqa: PLC0415

    known = [r.value for r in Region]
    if not aws_region:
        return ["aws:region is not set: target 'aws' needs a region, e.g. us-east-1"]
    if aws_region not in known:
        close = difflib.get_close_matches(aws_region, known, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ", e.g. us-east-1"
        return [f"aws:region = {aws_region!r}: not an AWS region{hint}"]
    return []


def _names_production(stack: str) -> bool:
    parts = re.split(r"[-_.]", stack.lower())
    return any(
        PRODUCTION_NAME_PART.match(part) and (i == 0 or parts[i - 1] not in ("pre", "non", "not"))
        for i, part in enumerate(parts)
    )


def _production_stack_problem(stack: str, production: bool) -> list[str]:
    if _names_production(stack) and not production:
        return [
            f"{_key('production')} is false on stack {stack!r}: a stack named for production must set "
            f"`{_key('production')}: true` (its safe defaults and floors), or be renamed"
        ]
    return []


def settings_from_config(
    stack: str,
    project_config: Mapping[str, str],
    aws_region: str | None,
    other_keys: Iterable[str] = (),
) -> StackSettings:
    """Validate raw config (`key -> text`, keys without the project prefix; `other_keys`: the stack's keys in
    other namespaces, `namespace:key`). Pure: tests call it directly."""
    other_keys = list(other_keys)
    problems = _near_miss_problems(other_keys)
    for k in sorted(project_config):
        if k.split(".")[0].split("[")[0] not in _KNOWN_KEYS:
            problems.append(f"{_key(k)} is not a known setting{_did_you_mean(k)}")
        elif k not in _KNOWN_KEYS:
            problems.append(_flat_path_problem(k, project_config[k]))
    values = {
        k: _parse_value(v) for k, v in project_config.items() if k in _KNOWN_KEYS and k not in SECRET_KEYS
    }
    raw: _StackConfig | None = None
    try:
        raw = _StackConfig.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problems.extend(_describe(error).split("\n"))
    if raw is not None and raw.target == "aws":
        problems += _region_problems(aws_region)
    if raw is not None:
        problems += _provider_key_problems(raw.target, other_keys)
    problems += _secret_problems(project_config)
    if "alertSmtpPassword" in project_config and (raw is None or not raw.monitoring.alert_email_to):
        problems.append(
            f"{_key('alertSmtpPassword')} is set but {_key('monitoring.alertEmailTo')} is empty: expected "
            "e-mail recipients (or remove the password)"
        )
    if raw is not None:
        problems += _production_stack_problem(stack, raw.production)
    if problems or raw is None:
        raise SettingsError(stack, problems)
    return _resolve(raw, PROJECT, stack, aws_region)


def _all_config() -> dict[str, str]:
    """Every config key of the stack, as the language host hands them over (`project:key` -> text)."""
    return {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}


def settings_from_stack_config(stack: str, config: Mapping[str, str]) -> StackSettings:
    """`settings_from_config` on every key of a stack as the language host hands them over
    (`namespace:key` -> text): the project's keys, `aws:region`, and the other namespaces' keys. Pure."""
    prefix = f"{PROJECT}:"
    return settings_from_config(
        stack,
        {k.removeprefix(prefix): v for k, v in config.items() if k.startswith(prefix)},
        config.get("aws:region"),
        other_keys=[k for k in config if not k.startswith(prefix)],
    )


def zone_problems(requested: int, region: str, zones: Sequence[str]) -> list[str]:
    """`network.availabilityZones` against the zones the account's region offers (`zones`, from AWS)."""
    if requested <= len(zones):
        return []
    return [
        f"{_key('network.availabilityZones')} = {requested}: region {region} offers this account "
        f"{len(zones)} availability zone(s) ({', '.join(zones)}); expected at most {len(zones)}"
    ]


def load_settings() -> StackSettings:
    """The current stack's settings. Raises SettingsError before any resource is registered."""
    settings = settings_from_stack_config(pulumi.get_stack(), _all_config())
    if isinstance(settings.cluster, EksClusterArgs):
        # The one rule that needs the account: how many zones its region offers (us-west-1 has two for most
        # accounts). Asked here, before any resource, so `up` cannot stop after the VPC with a bad subnet.
        zones = aws.get_availability_zones(state="available", filters=usable_zones_filter()).names
        problems = zone_problems(settings.cluster.network.availability_zones, settings.cluster.region, zones)
        if problems:
            raise SettingsError(settings.stack, problems)
    if uses_documentation_cidr(settings):
        pulumi.log.warn(
            f"{_key('cluster.publicAccessCidrs')} contains an RFC 5737 documentation range: nobody can reach "
            "the cluster API. Set your egress CIDR: pulumi config set --path "
            f"'{_key('cluster.publicAccessCidrs[0]')}' <your-ip>/32"
        )
    return settings


def load_secrets() -> StackSecrets:
    """Receiver credentials as secret Outputs. A value stored in plain text is refused."""
    config = pulumi.Config(PROJECT)
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env())
    plain = [k for k in SECRET_KEYS if config.get(k) is not None and _key(k) not in secret_keys]
    if plain:
        raise SettingsError(
            pulumi.get_stack(),
            [
                f"{_key(k)} is stored in plain text: set it with `pulumi config set --secret {k} ...`"
                for k in plain
            ],
        )
    return StackSecrets(
        slack_webhook_url=config.get_secret("alertSlackWebhookUrl"),
        webhook_url=config.get_secret("alertWebhookUrl"),
        smtp_password=config.get_secret("alertSmtpPassword"),
    )


# --- the bootstrap project (bootstrap/): GitHub OIDC trust and ECR, once per AWS account -------------

BOOTSTRAP_PROJECT = "mlops-infra-bootstrap"


class BootstrapSettings(_Section):
    """Validated `mlops-infra-bootstrap:*` keys."""

    github_repository: str = Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    """owner/name of the repository whose workflows may deploy."""
    environments: list[str] = Field(default_factory=lambda: ["dev", "prod"], min_length=1)
    """GitHub environments that get a deploy role each; protect `prod` with required reviewers."""
    deploy_policy_arns: list[str] = Field(
        default_factory=lambda: ["arn:aws:iam::aws:policy/AdministratorAccess"], min_length=1
    )
    """Managed policies of the deploy roles (creating EKS, VPC and IAM roles needs broad rights)."""
    ecr_repositories: list[str] = Field(default_factory=lambda: ["mlops-pipeline-steps", "mlops-mlflow"])
    state_bucket_arn: str | None = Field(default=None, pattern=r"^arn:aws:s3:::[a-z0-9.-]{3,63}$")
    """The Pulumi S3 state bucket, when that backend is used: preview roles may read it."""
    protect: bool = True


def bootstrap_settings_from_config(stack: str, project_config: Mapping[str, str]) -> BootstrapSettings:
    try:
        return BootstrapSettings.model_validate({k: _parse_value(v) for k, v in project_config.items()})
    except ValidationError as exc:
        problems = [
            _describe(error).replace(f"{PROJECT}:", f"{BOOTSTRAP_PROJECT}:")
            for error in exc.errors(include_url=False)
        ]
        raise SettingsError(stack, problems) from None


def load_bootstrap_settings() -> BootstrapSettings:
    prefix = f"{BOOTSTRAP_PROJECT}:"
    config = {k.removeprefix(prefix): v for k, v in _all_config().items() if k.startswith(prefix)}
    return bootstrap_settings_from_config(pulumi.get_stack(), config)
