"""StackSettings -> itemised monthly estimate. Pure: no AWS calls, no Pulumi engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from components.eks_cluster import NAT_INSTANCE_DISK_GIB, NAT_INSTANCE_TYPE, EksClusterArgs
from components.mlflow import PostgresBackend, SqliteBackend
from components.node_groups import NodeGroupArgs
from cost_estimate import prices
from cost_estimate.prices import HOURS_PER_MONTH, UsageAssumptions
from settings import StackSettings


@dataclass(frozen=True)
class LineItem:
    category: str
    item: str
    quantity: str
    """How the amount was reached, e.g. '2 x t3a.large on-demand x 730 h x $0.0752'."""
    monthly_usd: float


@dataclass(frozen=True)
class CostEstimate:
    stack: str
    items: tuple[LineItem, ...]
    usage: UsageAssumptions | None

    @property
    def total_usd(self) -> float:
        return round(sum(i.monthly_usd for i in self.items), 2)


def _ec2_hourly(instance_type: str) -> float:
    try:
        return prices.EC2_PER_HOUR[instance_type]
    except KeyError:
        raise ValueError(
            f"instance type {instance_type!r} has no price in cost_estimate/prices.py EC2_PER_HOUR; "
            "add its us-east-1 on-demand price from https://aws.amazon.com/ec2/pricing/on-demand/"
        ) from None


def _node_group_item(role: str, group: NodeGroupArgs, nodes: int | None) -> LineItem:
    # On-demand groups launch the first listed type; spot groups may land on any, so take the dearest.
    if group.capacity_type == "SPOT":
        instance_type = max(group.instance_types, key=_ec2_hourly)
        hourly = _ec2_hourly(instance_type) * (1 - prices.SPOT_DISCOUNT)
        kind = f"spot (-{prices.SPOT_DISCOUNT:.0%})"
    else:
        instance_type = group.instance_types[0]
        hourly = _ec2_hourly(instance_type)
        kind = "on-demand"
    # The capacity plan may need more nodes than the desired size: price what runs the stack.
    count = group.desired_size if nodes is None else max(nodes, group.desired_size)
    grown = (
        f" (capacity plan: {count} needed, desired {group.desired_size})"
        if count != group.desired_size
        else ""
    )
    return LineItem(
        "Compute",
        f"node group '{role}'",
        f"{count} x {instance_type} {kind} x {HOURS_PER_MONTH} h x ${hourly:.4f}{grown}",
        count * hourly * HOURS_PER_MONTH,
    )


def _storage_items(
    settings: StackSettings, eks: EksClusterArgs, usage: UsageAssumptions, nodes: Mapping[str, int]
) -> list[LineItem]:
    items: list[LineItem] = []
    gp3 = prices.EBS_GP3_PER_GB_MONTH
    groups = eks.node_groups
    roles = {"system": groups.system, "workloads": groups.workloads, "gpu": groups.gpu}
    node_disks = [
        (max(nodes.get(role, 0), g.desired_size), g.disk_size_gib) for role, g in roles.items() if g
    ]
    gib = sum(n * size for n, size in node_disks)
    items.append(LineItem("Storage", "node root volumes (gp3)", f"{gib} GiB x ${gp3}", gib * gp3))
    volumes = {
        "Kubeflow": usage.kubeflow_storage_gib,
        "Prometheus": settings.monitoring.storage_size_gib * settings.monitoring.replicas,
    }
    if isinstance(settings.mlflow.backend, SqliteBackend):
        volumes["MLflow"] = settings.mlflow.backend.storage_size_gib
    if settings.minio is not None:
        volumes["MinIO"] = settings.minio.storage_size_gib
    gib = sum(volumes.values())
    parts = " + ".join(f"{size} {owner}" for owner, size in volumes.items())
    items.append(LineItem("Storage", "persistent volumes (gp3)", f"({parts}) GiB x ${gp3}", gib * gp3))
    s3 = prices.S3_STANDARD_PER_GB_MONTH
    items.append(
        LineItem(
            "Storage",
            "S3 DVC remote + MLflow artifacts",
            f"{usage.s3_stored_gb:g} GB x ${s3}",
            usage.s3_stored_gb * s3,
        )
    )
    return items


def _network_items(eks: EksClusterArgs, usage: UsageAssumptions) -> list[LineItem]:
    nat = eks.network.nat_gateways
    if eks.network.nat_type == "instance":
        hourly = _ec2_hourly(NAT_INSTANCE_TYPE)
        gib = nat * NAT_INSTANCE_DISK_GIB
        return [
            LineItem(
                "Network",
                "NAT instances",
                f"{nat} x {NAT_INSTANCE_TYPE} on-demand x {HOURS_PER_MONTH} h x ${hourly}",
                nat * HOURS_PER_MONTH * hourly,
            ),
            LineItem(
                "Network",
                "NAT instance root volumes (gp3)",
                f"{gib} GiB x ${prices.EBS_GP3_PER_GB_MONTH}",
                gib * prices.EBS_GP3_PER_GB_MONTH,
            ),
            LineItem(
                "Network",
                "NAT public IPv4 addresses",
                f"{nat} x {HOURS_PER_MONTH} h x ${prices.PUBLIC_IPV4_PER_HOUR}",
                nat * HOURS_PER_MONTH * prices.PUBLIC_IPV4_PER_HOUR,
            ),
        ]
    return [
        LineItem(
            "Network",
            "NAT gateways",
            f"{nat} x {HOURS_PER_MONTH} h x ${prices.NAT_GATEWAY_PER_HOUR}",
            nat * HOURS_PER_MONTH * prices.NAT_GATEWAY_PER_HOUR,
        ),
        LineItem(
            "Network",
            "NAT public IPv4 addresses",
            f"{nat} x {HOURS_PER_MONTH} h x ${prices.PUBLIC_IPV4_PER_HOUR}",
            nat * HOURS_PER_MONTH * prices.PUBLIC_IPV4_PER_HOUR,
        ),
        LineItem(
            "Network",
            "NAT data processing",
            f"{usage.nat_data_gb:g} GB x ${prices.NAT_GATEWAY_PER_GB}",
            usage.nat_data_gb * prices.NAT_GATEWAY_PER_GB,
        ),
    ]


def _database_items(settings: StackSettings) -> list[LineItem]:
    db = settings.mlflow.backend
    if not isinstance(db, PostgresBackend):
        return []
    try:
        hourly = prices.RDS_POSTGRES_PER_HOUR[db.instance_class]
    except KeyError:
        raise ValueError(
            f"mlflow.dbInstanceClass {db.instance_class!r} has no price in cost_estimate/prices.py "
            "RDS_POSTGRES_PER_HOUR; add it from https://aws.amazon.com/rds/postgresql/pricing/"
        ) from None
    copies = 2 if db.multi_az else 1
    layout = "Multi-AZ" if db.multi_az else "single-AZ"
    gib = db.allocated_storage_gib
    return [
        LineItem(
            "Database",
            f"RDS PostgreSQL {db.instance_class} ({layout})",
            f"{copies} x {HOURS_PER_MONTH} h x ${hourly}",
            copies * HOURS_PER_MONTH * hourly,
        ),
        LineItem(
            "Database",
            "RDS storage",
            f"{copies} x {gib} GiB x ${prices.RDS_GP2_PER_GB_MONTH}",
            copies * gib * prices.RDS_GP2_PER_GB_MONTH,
        ),
    ]


def _operations_items(
    settings: StackSettings, eks: EksClusterArgs, usage: UsageAssumptions
) -> list[LineItem]:
    control_plane = eks.control_plane
    log_types = len(control_plane.log_types)
    ingest_gb = log_types * usage.control_plane_log_gb_per_type
    # Steady state: retention/30 months of logs are stored at any time.
    stored_gb = ingest_gb * control_plane.log_retention_days / 30
    bucket_key = settings.dvc_remote is not None and settings.dvc_remote.kms_key
    keys = int(control_plane.secrets_encryption) + int(bucket_key)
    items = [
        LineItem(
            "Operations",
            "control-plane log ingestion",
            f"{log_types} types x {usage.control_plane_log_gb_per_type:g} GB x "
            f"${prices.CLOUDWATCH_LOGS_INGEST_PER_GB}",
            ingest_gb * prices.CLOUDWATCH_LOGS_INGEST_PER_GB,
        ),
        LineItem(
            "Operations",
            f"control-plane log storage ({control_plane.log_retention_days} d retention)",
            f"{stored_gb:.1f} GB x ${prices.CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH}",
            stored_gb * prices.CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH,
        ),
    ]
    if keys:
        items.append(
            LineItem(
                "Operations",
                "KMS customer keys",
                f"{keys} x ${prices.KMS_KEY_PER_MONTH}",
                keys * prices.KMS_KEY_PER_MONTH,
            )
        )
    return items


def estimate_monthly_cost(
    settings: StackSettings,
    usage: UsageAssumptions | None = None,
    nodes: Mapping[str, int] | None = None,
) -> CostEstimate:
    """Itemised monthly cost in USD at us-east-1 list prices; a `local` stack costs nothing on AWS.

    `nodes` (role -> count) is what the capacity plan needs; a group is priced at that count or its
    desired size, whichever is larger. Without it, at the desired sizes."""
    eks = settings.cluster
    if not isinstance(eks, EksClusterArgs):
        return CostEstimate(settings.stack, (), None)
    usage = usage or (prices.PRODUCTION_USAGE if settings.production else prices.NON_PRODUCTION_USAGE)
    items = [
        LineItem(
            "Cluster",
            "EKS control plane",
            f"{HOURS_PER_MONTH} h x ${prices.EKS_CONTROL_PLANE_PER_HOUR}",
            HOURS_PER_MONTH * prices.EKS_CONTROL_PLANE_PER_HOUR,
        )
    ]
    if eks.control_plane.upgrade_policy == "EXTENDED":
        surcharge = prices.EKS_EXTENDED_SUPPORT_PER_HOUR - prices.EKS_CONTROL_PLANE_PER_HOUR
        items.append(
            LineItem(
                "Cluster",
                "EKS extended support (once the version leaves standard support)",
                f"{HOURS_PER_MONTH} h x ${surcharge:.2f}",
                HOURS_PER_MONTH * surcharge,
            )
        )
    groups = eks.node_groups
    planned = nodes or {}
    items.append(_node_group_item("system", groups.system, planned.get("system")))
    items.append(_node_group_item("workloads", groups.workloads, planned.get("workloads")))
    if groups.gpu is not None:
        items.append(_node_group_item("gpu", groups.gpu, planned.get("gpu")))
    items += _network_items(eks, usage)
    items += _storage_items(settings, eks, usage, planned)
    items += _database_items(settings)
    items += _operations_items(settings, eks, usage)
    return CostEstimate(
        settings.stack,
        tuple(LineItem(i.category, i.item, i.quantity, round(i.monthly_usd, 2)) for i in items),
        usage,
    )
