"""AWS list prices (us-east-1, on-demand, USD) and the usage assumptions the estimate rests on.

Prices are the public list prices on the pages below as the table's authors knew them on
PRICES_CHECKED_ON; that day they could not be compared with the live pages (no network access), so treat
them as the last known list prices. They change a few times a year: re-check the pages and update the
date together.
A stack in another region costs somewhat more (us-east-1 is among the cheapest regions).

Sources:
- EKS: https://aws.amazon.com/eks/pricing/ ($0.10 per cluster-hour in standard support, $0.60 in extended)
- EC2: https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, us-east-1)
- Spot: https://aws.amazon.com/ec2/spot/pricing/ and https://aws.amazon.com/ec2/spot/instance-advisor/
- VPC / NAT gateway and public IPv4: https://aws.amazon.com/vpc/pricing/
- EBS gp3: https://aws.amazon.com/ebs/pricing/
- RDS for PostgreSQL: https://aws.amazon.com/rds/postgresql/pricing/
- S3 Standard: https://aws.amazon.com/s3/pricing/
- CloudWatch Logs: https://aws.amazon.com/cloudwatch/pricing/
- KMS: https://aws.amazon.com/kms/pricing/
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

PRICES_CHECKED_ON = date(2026, 11, 26)
REGION = "us-east-1"
HOURS_PER_MONTH = 730  # AWS's own convention in its pricing calculator

EKS_CONTROL_PLANE_PER_HOUR = 0.10
EKS_EXTENDED_SUPPORT_PER_HOUR = 0.60

# EC2 on-demand, Linux, per hour.
EC2_PER_HOUR: dict[str, float] = {
    "t4g.nano": 0.0042,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3.xlarge": 0.1664,
    "t3a.medium": 0.0376,
    "t3a.large": 0.0752,
    "t3a.xlarge": 0.1504,
    "m5.large": 0.096,
    "m5.xlarge": 0.192,
    "m5a.large": 0.086,
    "m5a.xlarge": 0.172,
    "m6a.large": 0.0864,
    "m6a.xlarge": 0.1728,
    "m6i.large": 0.096,
    "m6i.xlarge": 0.192,
    "m7i.large": 0.1008,
    "m7i.xlarge": 0.2016,
    "c6a.large": 0.0765,
    "c6a.xlarge": 0.153,
    "r6a.large": 0.1134,
    "g4dn.xlarge": 0.526,
    "g5.xlarge": 1.006,
}

# Spot prices move hourly; the Spot Instance Advisor shows 60-70% savings for these general-purpose
# families in us-east-1 most of the time. We assume the low end so the estimate errs high.
SPOT_DISCOUNT = 0.60

NAT_GATEWAY_PER_HOUR = 0.045
NAT_GATEWAY_PER_GB = 0.045
PUBLIC_IPV4_PER_HOUR = 0.005  # every public IPv4 address, in use or not, since February 2024

EBS_GP3_PER_GB_MONTH = 0.08

# RDS for PostgreSQL, single-AZ per hour; Multi-AZ (one standby) costs twice as much.
RDS_POSTGRES_PER_HOUR: dict[str, float] = {
    "db.t4g.micro": 0.016,
    "db.t4g.small": 0.032,
    "db.t4g.medium": 0.065,
    "db.t4g.large": 0.129,
    "db.t3.micro": 0.018,
    "db.t3.small": 0.036,
    "db.t3.medium": 0.072,
    "db.m6g.large": 0.152,
}
RDS_GP2_PER_GB_MONTH = 0.115  # single-AZ; Multi-AZ doubles it

S3_STANDARD_PER_GB_MONTH = 0.023
CLOUDWATCH_LOGS_INGEST_PER_GB = 0.50
CLOUDWATCH_LOGS_STORAGE_PER_GB_MONTH = 0.03
KMS_KEY_PER_MONTH = 1.00


@dataclass(frozen=True)
class UsageAssumptions:
    """What the bill depends on besides the settings; production stacks are assumed busier."""

    nat_data_gb: float
    """GB through the NAT gateways per month (image pulls, package installs, AWS APIs)."""
    s3_stored_gb: float
    """Data in the DVC/MLflow bucket, including noncurrent versions."""
    control_plane_log_gb_per_type: float
    """GB of control-plane logs per enabled log type per month (audit dominates)."""
    kubeflow_storage_gib: int
    """PVCs of Kubeflow Pipelines' own MySQL and object store (upstream manifests: 20 GiB each)."""


NON_PRODUCTION_USAGE = UsageAssumptions(
    nat_data_gb=20, s3_stored_gb=20, control_plane_log_gb_per_type=1.0, kubeflow_storage_gib=40
)
PRODUCTION_USAGE = UsageAssumptions(
    nat_data_gb=100, s3_stored_gb=200, control_plane_log_gb_per_type=3.0, kubeflow_storage_gib=40
)
