"""MLflow's PostgreSQL backend store on RDS: encrypted, private, TLS forced, backed up, final snapshot kept.

Declared as children of the MlflowServer component (so their URNs are those they always had), from a
`PostgresBackend` and the cluster's VPC; only the cluster nodes' security group may connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from components.cluster_handle import ClusterVpc
from versions import POSTGRES_ENGINE_VERSION, POSTGRES_PARAMETER_FAMILY

if TYPE_CHECKING:
    from components.mlflow import PostgresBackend

DB_NAME = "mlflow"
DB_USER = "mlflow"
PORT = 5432


@dataclass(frozen=True)
class PostgresDatabase:
    address: pulumi.Output[str]
    """The instance's host name."""
    password: pulumi.Output[str]
    """The generated password of `DB_USER` (secret)."""


def postgres_uri(password: str, host: str, port: int = PORT) -> str:
    # psycopg2 explicitly: plain postgresql:// makes SQLAlchemy 2.1 look for psycopg 3.
    return f"postgresql+psycopg2://{DB_USER}:{password}@{host}:{port}/{DB_NAME}?sslmode=require"


def declare_postgres_database(
    name: str,
    backend: PostgresBackend,
    vpc: ClusterVpc,
    *,
    kms_key_arn: pulumi.Input[str] | None,
    protect: bool,
    parent: pulumi.Resource,
) -> PostgresDatabase:
    """The RDS instance and what it needs (password, subnet group, security group, TLS parameter group)."""
    child = pulumi.ResourceOptions(parent=parent)
    stateful = pulumi.ResourceOptions(parent=parent, protect=protect, retain_on_delete=protect)
    password = random.RandomPassword(
        f"{name}-db-password",
        length=32,
        # RDS refuses / @ " and space; alphanumeric also needs no URL-escaping in the store URI.
        special=False,
        opts=child,
    )
    subnets = aws.rds.SubnetGroup(
        f"{name}-db-subnets",
        subnet_ids=vpc.private_subnet_ids,
        description="MLflow backend store: private subnets only",
        opts=child,
    )
    security_group = aws.ec2.SecurityGroup(
        f"{name}-db",
        vpc_id=vpc.vpc_id,
        description="MLflow backend store: PostgreSQL from the cluster nodes only",
        ingress=[
            aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp",
                from_port=PORT,
                to_port=PORT,
                security_groups=[vpc.node_security_group_id],
                description="PostgreSQL from EKS nodes (MLflow pods)",
            )
        ],
        opts=child,
    )
    parameters = aws.rds.ParameterGroup(
        f"{name}-db-params",
        family=POSTGRES_PARAMETER_FAMILY,
        description="MLflow backend store: TLS required",
        parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
        opts=child,
    )
    instance = aws.rds.Instance(
        f"{name}-db",
        engine="postgres",
        engine_version=POSTGRES_ENGINE_VERSION,
        instance_class=backend.instance_class,
        allocated_storage=backend.allocated_storage_gib,
        max_allocated_storage=backend.allocated_storage_gib * 5,
        storage_type="gp3",
        storage_encrypted=True,
        kms_key_id=kms_key_arn,
        db_name=DB_NAME,
        username=DB_USER,
        password=password.result,
        db_subnet_group_name=subnets.name,
        vpc_security_group_ids=[security_group.id],
        parameter_group_name=parameters.name,
        publicly_accessible=False,
        multi_az=backend.multi_az,
        backup_retention_period=backend.backup_retention_days,
        copy_tags_to_snapshot=True,
        deletion_protection=protect,
        skip_final_snapshot=False,
        final_snapshot_identifier=f"{name}-db-final",
        auto_minor_version_upgrade=True,
        iam_database_authentication_enabled=True,
        enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
        performance_insights_enabled=True,
        apply_immediately=False,
        opts=stateful,
    )
    return PostgresDatabase(instance.address, password.result)
