"""StackSettings: every committed stack loads, and every bad config is refused before any resource.

Each rejection runs the whole program from the committed stack file with one change, and checks both
the message (it names the key, the value and what was expected) and that nothing was registered.
"""

from __future__ import annotations

import json
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from components.eks_cluster import EksClusterArgs
from components.existing_cluster import ExistingClusterArgs
from components.minio import MinioArgs
from components.mlflow import PostgresBackend, SqliteBackend
from harness.mocks import INVOKES, committed_record, run_program
from settings import (
    EKS_LOG_TYPES,
    CaptureSettings,
    LiveDriftSettings,
    NodeGroupConfig,
    NodeGroupsConfig,
    RetrainSettings,
    ServingSettings,
    SettingsError,
    TrainingSchedule,
    _StackConfig,
    settings_from_config,
)
from tests.support.stacks import REMOVE, config_set_path, fixture_config, resolve_fixture, run_fixture
from tests.support.tools import REPO_ROOT

STACKS = ("local", "dev", "prod")
K = "mlops-infra:"


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stack_file_runs(stack: str) -> None:
    record = committed_record(stack)  # the run the renderers, capacity plan and reports share
    assert record.error is None
    assert record.exports["target"] == ("local" if stack == "local" else "aws")


def test_production_defaults_are_safe_and_dev_defaults_cheap() -> None:
    dev = settings_from_config("dev", _aws(), "us-east-1")
    prod = settings_from_config(
        "prod",
        {
            "target": "aws",
            "production": "true",
            "nodeGroups": _groups(system_nodes=2),
            "network": '{"availabilityZones": 3}',
            "cluster": '{"publicAccessCidrs": ["198.51.100.0/24"]}',
            "mlflow": '{"backend": "postgres", "dbInstanceClass": "db.t4g.small", "replicas": 2, '
            '"dbBackupRetentionDays": 14}',
        },
        "us-east-1",
    )
    assert isinstance(dev.cluster, EksClusterArgs) and isinstance(prod.cluster, EksClusterArgs)
    assert dev.dvc_remote is not None and prod.dvc_remote is not None
    assert (dev.cluster.network.nat_gateways, prod.cluster.network.nat_gateways) == (1, 3)
    assert (dev.protect, prod.protect) == (False, True)
    assert (dev.cluster.protect, prod.cluster.protect, prod.dvc_remote.protect) == (False, True, True)
    assert dev.cluster.control_plane.log_types == ("api", "audit")
    assert prod.cluster.control_plane.log_types == EKS_LOG_TYPES
    assert (dev.cluster.control_plane.log_retention_days, prod.cluster.control_plane.log_retention_days) == (
        30,
        90,
    )
    assert (dev.cluster.control_plane.secrets_encryption, prod.cluster.control_plane.secrets_encryption) == (
        False,
        True,
    )
    assert (dev.dvc_remote.kms_key, prod.dvc_remote.kms_key) == (False, True)
    assert dev.mlflow.backend == SqliteBackend(storage_size_gib=10)
    assert isinstance(prod.mlflow.backend, PostgresBackend) and prod.mlflow.backend.multi_az
    assert (dev.monitoring.replicas, prod.monitoring.replicas) == (1, 2)
    assert (dev.monitoring.retention, prod.monitoring.retention) == ("7d", "15d")
    local = settings_from_config("l", _local(), None)
    assert (dev.minio, local.minio) == (
        None,
        MinioArgs(storage_size_gib=20, protect=False, client_namespaces=("mlflow", "kubeflow", "serving")),
    )
    assert local.cluster == ExistingClusterArgs(kube_context="kind-mlops")
    assert (local.dvc_remote, local.aws_region) == (None, None)


def test_default_tags_always_name_project_stack_and_tool() -> None:
    settings = settings_from_config("dev", {**_aws(), "tags": '{"team": "ml"}'}, "us-east-1")
    assert settings.default_tags == {
        "team": "ml",
        "project": "mlops-infra",
        "stack": "dev",
        "managed-by": "pulumi",
    }
    # A tag the program would overwrite is refused, not silently replaced.
    with pytest.raises(SettingsError, match="tag key 'stack' is set by the program"):
        settings_from_config("dev", {**_aws(), "tags": '{"stack": "spoofed"}'}, "us-east-1")


def _groups(system_nodes: int = 1) -> str:
    """Two node groups; production needs two system nodes."""
    return (
        f'{{"system": {{"instanceTypes": ["t3a.medium"], "minSize": {system_nodes}, '
        f'"desiredSize": {system_nodes}, "maxSize": 2}},'
        ' "workloads": {"instanceTypes": ["t3a.large"], "capacityType": "SPOT", "minSize": 0,'
        ' "desiredSize": 1, "maxSize": 3}}'
    )


def _node_groups(**changes: dict[str, Any]) -> dict[str, Any]:
    """dev's node groups (and a gpu group when asked) with some fields changed."""
    groups: dict[str, dict[str, Any]] = {
        "system": {"instanceTypes": ["t3a.medium"], "minSize": 1, "desiredSize": 1, "maxSize": 2},
        "workloads": {"instanceTypes": ["t3a.medium"], "minSize": 0, "desiredSize": 1, "maxSize": 3},
    }
    if "gpu" in changes:
        groups["gpu"] = {"instanceTypes": ["g4dn.xlarge"], "minSize": 0, "desiredSize": 0, "maxSize": 1}
    return {role: {**group, **changes.get(role, {})} for role, group in groups.items()}


def _aws() -> dict[str, str]:
    return {"target": "aws", "nodeGroups": _groups(), "cluster": '{"publicAccessCidrs": ["198.51.100.7/32"]}'}


def _local() -> dict[str, str]:
    return {
        "target": "local",
        "cluster": '{"kubeContext": "kind-mlops"}',
        "images": '{"registry": "localhost:5001"}',
    }


# (stack, config changes, keys to remove, fragments the message must contain)
REJECTIONS: list[tuple[str, str, dict[str, Any], tuple[str, ...], tuple[str, ...]]] = [
    ("unknown_key", "dev", {K + "nodeGroup": {}}, (), ("mlops-infra:nodeGroup is not a known setting",)),
    (
        "unknown_nested_key",
        "dev",
        {K + "network": {"vpcCidr": "10.20.0.0/16", "natGateway": 1}},
        (),
        ("mlops-infra:network.natGateway is not a known setting",),
    ),
    (
        "wrong_type",
        "dev",
        {K + "network": {"availabilityZones": "two"}},
        (),
        ('mlops-infra:network.availabilityZones = "two"', "expected a whole number"),
    ),
    (
        "min_greater_than_max",
        "dev",
        {
            K + "nodeGroups": {
                "system": {"instanceTypes": ["t3a.medium"], "minSize": 3, "desiredSize": 2, "maxSize": 2},
                "workloads": {"instanceTypes": ["t3a.large"], "minSize": 0, "desiredSize": 1, "maxSize": 1},
            }
        },
        (),
        ("mlops-infra:nodeGroups.system", "minSize <= desiredSize <= maxSize", "3 / 2 / 2"),
    ),
    (
        "runbook_link_not_a_url",
        "dev",
        {K + "monitoring": {"runbookBaseUrl": "docs/runbooks"}},
        (),
        ('mlops-infra:monitoring.runbookBaseUrl = "docs/runbooks"', "expected an http(s) URL"),
    ),
    (
        "bad_cidr",
        "dev",
        {K + "network": {"vpcCidr": "10.0.0.300/16"}},
        (),
        ('mlops-infra:network.vpcCidr = "10.0.0.300/16"', "expected an IPv4 CIDR"),
    ),
    (
        "nat_more_than_azs",
        "dev",
        {K + "network": {"availabilityZones": 2, "natGateways": 3}},
        (),
        ("mlops-infra:network.natGateways = 3", "at most one per AZ", "availabilityZones = 2"),
    ),
    (
        "production_protection_off_with_force_destroy",
        "prod",
        {K + "protect": False, K + "dvcRemote": {"bucketPrefix": "mlops-dvc-prod", "forceDestroy": True}},
        (),
        (
            "mlops-infra:protect = false: production stacks require protect true",
            "mlops-infra:dvcRemote.forceDestroy = true: production stacks require forceDestroy false",
        ),
    ),
    (
        "protect_with_force_destroy",
        "dev",
        {K + "protect": True, K + "dvcRemote": {"forceDestroy": True}},
        (),
        ("mlops-infra:dvcRemote.forceDestroy = true with protect = true",),
    ),
    (
        "postgres_without_instance_class",
        "dev",
        {K + "mlflow": {"backend": "postgres"}},
        (),
        ("mlops-infra:mlflow.dbInstanceClass is not set", "backend 'postgres'"),
    ),
    (
        "public_endpoint_open_to_world",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["0.0.0.0/0"]}},
        (),
        ("mlops-infra:cluster.publicAccessCidrs contains ['0.0.0.0/0']", "CKV_AWS_39"),
    ),
    (
        "public_endpoint_open_to_world_in_two_halves",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}},
        (),
        ("['0.0.0.0/1', '128.0.0.0/1'], which together cover 0.0.0.0/0", "CKV_AWS_39"),
    ),
    (
        "public_endpoint_open_to_a_slash_7",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["100.0.0.0/8", "101.0.0.0/8", "203.0.113.0/24"]}},
        (),
        ("together cover 100.0.0.0/7",),
    ),
    (
        "flat_key_set_without_path",
        "dev",
        {K + "cluster.endpointPublicAccess": "false"},
        (),
        (
            "mlops-infra:cluster.endpointPublicAccess was set without --path",
            "pulumi config rm mlops-infra:cluster.endpointPublicAccess && "
            "pulumi config set --path mlops-infra:cluster.endpointPublicAccess false",
        ),
    ),
    (
        "flat_indexed_key_from_the_readme_without_path",
        "dev",
        {K + "cluster.publicAccessCidrs[0]": "198.51.100.7/32"},
        (),
        ("pulumi config set --path 'mlops-infra:cluster.publicAccessCidrs[0]' 198.51.100.7/32",),
    ),
    (
        "flat_force_destroy_in_prod",
        "prod",
        {K + "dvcRemote.forceDestroy": "true"},
        (),
        ("mlops-infra:dvcRemote.forceDestroy was set without --path",),
    ),
    (
        "near_miss_namespace_underscore",
        "prod",
        {"mlops_infra:production": "true"},
        (),
        ("mlops_infra:production is in namespace 'mlops_infra'", "did you mean mlops-infra:production?"),
    ),
    (
        "near_miss_namespace_no_dash",
        "dev",
        {"mlopsinfra:cluster": {"endpointPublicAccess": False}},
        (),
        ("mlopsinfra:cluster is in namespace 'mlopsinfra'",),
    ),
    (
        "prod_stack_not_production",
        "prod",
        {K + "production": False},
        (),
        ("mlops-infra:production is false on stack 'prod'",),
    ),
    (
        "prod_noncurrent_versions_below_floor",
        "prod",
        {K + "dvcRemote": {"bucketPrefix": "mlops-dvc-prod", "kmsKey": True, "noncurrentVersionDays": 1}},
        (),
        ("mlops-infra:dvcRemote.noncurrentVersionDays = 1: production stacks require at least 30 days",),
    ),
    (
        "prod_log_retention_below_floor",
        "prod",
        {
            K + "cluster": {
                "publicAccessCidrs": ["198.51.100.0/24"],
                "logRetentionDays": 1,
                "secretsEncryption": True,
            }
        },
        (),
        ("mlops-infra:cluster.logRetentionDays = 1: production stacks require at least 90 days",),
    ),
    (
        "region_that_does_not_exist",
        "dev",
        {"aws:region": "mars-east-1"},
        (),
        ("aws:region = 'mars-east-1': not an AWS region",),
    ),
    (
        "vpc_larger_than_aws_allows",
        "dev",
        {K + "network": {"vpcCidr": "10.0.0.0/8", "availabilityZones": 2, "natGateways": 1}},
        (),
        ('mlops-infra:network.vpcCidr = "10.0.0.0/8": AWS accepts a VPC from /16 to /28',),
    ),
    (
        "vpc_too_small_for_pod_networking",
        "dev",
        {K + "network": {"vpcCidr": "10.0.0.0/24", "availabilityZones": 2, "natGateways": 1}},
        (),
        ("mlops-infra:network.vpcCidr: '10.0.0.0/24': too small for EKS pod networking",),
    ),
    (
        "node_group_beyond_the_eks_quota",
        "dev",
        {K + "nodeGroups": _node_groups(workloads={"maxSize": 100000})},
        (),
        ("mlops-infra:nodeGroups.workloads.maxSize = 100000", "expected at most 450"),
    ),
    (
        "smtp_port_out_of_range_and_bad_addresses",
        "dev",
        {
            K + "monitoring": {
                "alertEmailTo": ["", "x"],
                "alertEmailFrom": "alerts@example.com",
                "smtpSmarthost": "smtp.example.com:99999",
            }
        },
        (),
        (
            "mlops-infra:monitoring.alertEmailTo[0]",
            "mlops-infra:monitoring.alertEmailTo[1]",
            "a port from 1 to 65535",
        ),
    ),
    (
        "zero_retention",
        "dev",
        {K + "monitoring": {"retention": "0d"}},
        (),
        ('mlops-infra:monitoring.retention = "0d"',),
    ),
    (
        "tags_aws_cannot_hold",
        "dev",
        {K + "tags": {"": "x", "aws:owner": "me"}},
        (),
        ("tag key ''",),
    ),
    (
        "duplicate_log_types",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["203.0.113.0/24"], "logTypes": ["api", "api"]}},
        (),
        ("repeated: ['api']",),
    ),
    (
        "wildcard_allowed_host",
        "dev",
        {K + "mlflow": {"allowedHosts": ["*"]}},
        (),
        ('mlops-infra:mlflow.allowedHosts[0] = "*": expected a DNS host name',),
    ),
    (
        "database_keys_with_sqlite",
        "dev",
        {K + "mlflow": {"backend": "sqlite", "dbInstanceClass": "db.t4g.small"}},
        (),
        ("mlops-infra:mlflow.dbInstanceClass is set, but mlflow.backend is 'sqlite'",),
    ),
    (
        "node_groups_on_local",
        "local",
        {K + "nodeGroups": _node_groups()},
        (),
        ("mlops-infra:nodeGroups is set, but target 'local' creates nothing on AWS",),
    ),
    (
        "kube_context_on_aws",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["203.0.113.0/24"], "kubeContext": "kind-mlops"}},
        (),
        ("mlops-infra:cluster.kubeContext = \"kind-mlops\": target 'aws' creates its own EKS cluster",),
    ),
    (
        "smtp_password_without_recipients",
        "dev",
        {K + "alertSmtpPassword": "hunter2"},
        (),
        ("mlops-infra:alertSmtpPassword is set but mlops-infra:monitoring.alertEmailTo is empty",),
    ),
    (
        "production_on_local",
        "local",
        {K + "production": True},
        (),
        ("mlops-infra:production = true with target 'local'",),
    ),
    (
        "public_endpoint_without_allow_list",
        "dev",
        {K + "cluster": {"endpointPublicAccess": True}},
        (),
        ("mlops-infra:cluster.publicAccessCidrs is empty",),
    ),
    (
        "no_endpoint_at_all",
        "dev",
        {K + "cluster": {"endpointPublicAccess": False, "endpointPrivateAccess": False}},
        (),
        ("expected at least one way to reach the API",),
    ),
    (
        "sqlite_with_replicas",
        "dev",
        {K + "mlflow": {"backend": "sqlite", "replicas": 2}},
        (),
        ("mlops-infra:mlflow.replicas = 2", "expected 1"),
    ),
    (
        "postgres_on_local",
        "local",
        {K + "mlflow": {"backend": "postgres", "dbInstanceClass": "db.t4g.micro"}},
        (),
        ("mlops-infra:mlflow.backend = 'postgres'", "target 'aws'"),
    ),
    (
        "local_without_context",
        "local",
        {K + "cluster": {}},
        (),
        ("mlops-infra:cluster.kubeContext is not set",),
    ),
    (
        "local_without_registry",
        "local",
        {K + "images": {}},
        (),
        ("mlops-infra:images.registry is not set", "localhost:5001"),
    ),
    # --- serving, live drift, the training schedule and drift-triggered retraining ---
    (
        "serving_max_below_min",
        "dev",
        {K + "serving": {"minReplicas": 3, "maxReplicas": 2}},
        (),
        ("mlops-infra:serving.maxReplicas = 2: expected at least serving.minReplicas (3)",),
    ),
    (
        "serving_out_of_bounds",
        "dev",
        {K + "serving": {"maxReplicas": 21, "targetCpuUtilization": 5, "pollSeconds": 1}},
        (),
        (
            "mlops-infra:serving.maxReplicas = 21",
            "mlops-infra:serving.targetCpuUtilization = 5",
            "mlops-infra:serving.pollSeconds = 1",
        ),
    ),
    (
        "capture_rate_and_retention_out_of_bounds",
        "dev",
        {K + "serving": {"capture": {"sampleRate": 1.5, "retentionDays": 0}}},
        (),
        ("mlops-infra:serving.capture.sampleRate = 1.5", "mlops-infra:serving.capture.retentionDays = 0"),
    ),
    (
        "capture_off_while_live_drift_reads_it",
        "dev",
        {K + "serving": {"capture": {"sampleRate": 0}}},
        (),
        ("mlops-infra:serving.capture.sampleRate = 0: live drift reads captured traffic",),
    ),
    (
        "live_drift_schedule_not_five_fields",
        "dev",
        {K + "serving": {"liveDrift": {"schedule": "@hourly"}}},
        (),
        ('mlops-infra:serving.liveDrift.schedule = "@hourly"', "write the five fields"),
    ),
    (
        "live_drift_schedule_minute_out_of_range",
        "dev",
        {K + "serving": {"liveDrift": {"schedule": "61 * * * *"}}},
        (),
        ('mlops-infra:serving.liveDrift.schedule = "61 * * * *"', "minute 61: expected 0-59"),
    ),
    (
        "live_drift_window_and_rows_out_of_bounds",
        "dev",
        {K + "serving": {"liveDrift": {"windowHours": 1000, "minRows": 10}}},
        (),
        ("mlops-infra:serving.liveDrift.windowHours = 1000", "mlops-infra:serving.liveDrift.minRows = 10"),
    ),
    (
        "serving_keys_while_serving_is_off",
        "dev",
        {K + "serving": {"enabled": False, "minReplicas": 2, "capture": {"sampleRate": 0.5}}},
        (),
        (
            "mlops-infra:serving.minReplicas is set, but serving.enabled is false",
            "mlops-infra:serving.capture.sampleRate is set, but serving.enabled is false",
        ),
    ),
    (
        "live_drift_keys_while_live_drift_is_off",
        "dev",
        {K + "serving": {"liveDrift": {"enabled": False, "windowHours": 12}}},
        (),
        ("mlops-infra:serving.liveDrift.windowHours is set, but serving.liveDrift.enabled is false",),
    ),
    (
        "training_cron_hour_out_of_range",
        "dev",
        {K + "training": {"schedule": {"cron": "0 25 * * *"}}},
        (),
        ('mlops-infra:training.schedule.cron = "0 25 * * *"', "hour 25: expected 0-23"),
    ),
    (
        "training_time_zone_unknown",
        "dev",
        {K + "training": {"schedule": {"timeZone": "Europe/Berln"}}},
        (),
        ('mlops-infra:training.schedule.timeZone = "Europe/Berln"', "did you mean Europe/Berlin"),
    ),
    (
        "training_cron_on_local_without_a_schedule",
        "local",
        {K + "training": {"schedule": {"cron": "0 4 * * *"}}},
        (),
        (
            "mlops-infra:training.schedule.cron is set, but target 'local' runs no schedule unless "
            "training.schedule.enabled is true",
        ),
    ),
    (
        "retrain_windows_not_durations",
        "dev",
        {K + "retrain": {"confirmFor": "30 minutes", "cooldown": "0s", "maxRunsPerDay": 25}},
        (),
        (
            'mlops-infra:retrain.confirmFor = "30 minutes"',
            "Prometheus duration",
            'mlops-infra:retrain.cooldown = "0s"',
            "mlops-infra:retrain.maxRunsPerDay = 25",
        ),
    ),
    (
        "retrain_on_without_live_drift",
        "dev",
        {K + "retrain": {"enabled": True}, K + "serving": {"liveDrift": {"enabled": False}}},
        (),
        ("mlops-infra:retrain.enabled = true, but live drift is off",),
    ),
    (
        "unknown_capture_key",
        "dev",
        {K + "serving": {"capture": {"rate": 0.5}}},
        (),
        ("mlops-infra:serving.capture.rate is not a known setting",),
    ),
    (
        "prod_single_model_server_and_short_capture",
        "prod",
        {K + "serving": {"minReplicas": 1, "capture": {"retentionDays": 7}}},
        (),
        (
            "mlops-infra:serving.minReplicas = 1: production stacks require at least 2 model-server replicas",
            "mlops-infra:serving.capture.retentionDays = 7: production stacks require at least 30 days",
        ),
    ),
    ("aws_without_region", "dev", {}, ("aws:region",), ("aws:region is not set",)),
    ("missing_target", "dev", {}, (K + "target",), ("mlops-infra:target is required",)),
    ("bad_target", "dev", {K + "target": "gcp"}, (), ('mlops-infra:target = "gcp"', "'local' or 'aws'")),
    (
        "spot_system_nodes",
        "dev",
        {
            K + "nodeGroups": {
                "system": {
                    "instanceTypes": ["t3a.medium"],
                    "capacityType": "SPOT",
                    "minSize": 1,
                    "desiredSize": 1,
                    "maxSize": 2,
                },
                "workloads": {"instanceTypes": ["t3a.large"], "minSize": 0, "desiredSize": 1, "maxSize": 1},
            }
        },
        (),
        ("mlops-infra:nodeGroups.system.capacityType = 'SPOT'", "ON_DEMAND"),
    ),
    (
        "production_on_sqlite_single_az",
        "prod",
        {K + "mlflow": {"backend": "sqlite"}, K + "network": {"availabilityZones": 3, "natGateways": 1}},
        (),
        (
            "mlops-infra:mlflow.backend = \"sqlite\": production stacks require 'postgres'",
            "mlops-infra:network.natGateways = 1: "
            "production stacks require one NAT gateway per availability zone",
        ),
    ),
    (
        "production_short_backups_and_few_logs",
        "prod",
        {
            K + "mlflow": {
                "backend": "postgres",
                "dbInstanceClass": "db.t4g.small",
                "replicas": 2,
                "dbBackupRetentionDays": 7,
            },
            K + "cluster": {"publicAccessCidrs": ["198.51.100.0/24"], "logTypes": ["api"]},
        },
        (),
        (
            "mlops-infra:mlflow.dbBackupRetentionDays = 7",
            "at least 14 days",
            'mlops-infra:cluster.logTypes = ["api"]',
        ),
    ),
    (
        "bad_log_retention",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["198.51.100.0/24"], "logRetentionDays": 10}},
        (),
        ("mlops-infra:cluster.logRetentionDays = 10", "CloudWatch retention values"),
    ),
    (
        "admin_principal_not_an_iam_arn",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["198.51.100.0/24"], "adminPrincipalArns": ["alice"]}},
        (),
        ('mlops-infra:cluster.adminPrincipalArns[0] = "alice"', "expected an IAM role or user ARN"),
    ),
    (
        "email_without_smtp",
        "dev",
        {K + "monitoring": {"alertEmailTo": ["oncall@example.com"]}},
        (),
        ("mlops-infra:monitoring.alertEmailTo is set", "smtpSmarthost"),
    ),
    (
        "max_pods_beyond_what_prefix_delegation_allows",
        "dev",
        {K + "nodeGroups": _node_groups(workloads={"maxPods": 200})},
        (),
        ("mlops-infra:nodeGroups.workloads.maxPods = 200: expected at most 110", "t3a.medium"),
    ),
    (
        "max_pods_below_a_working_node",
        "dev",
        {K + "nodeGroups": _node_groups(system={"maxPods": 4})},
        (),
        ("mlops-infra:nodeGroups.system.maxPods = 4", "expected at least 8"),
    ),
    (
        "instance_type_without_known_limits",
        "dev",
        {K + "nodeGroups": _node_groups(workloads={"instanceTypes": ["t2.medium"]})},
        (),
        ('mlops-infra:nodeGroups.workloads.instanceTypes = ["t2.medium"]', "components/instance_types.py"),
    ),
    (
        "gpu_group_without_gpus",
        "dev",
        {K + "nodeGroups": _node_groups(gpu={"instanceTypes": ["m6i.xlarge"]})},
        (),
        ('mlops-infra:nodeGroups.gpu.instanceTypes = ["m6i.xlarge"]', "has no GPU", "g4dn.xlarge"),
    ),
    (
        "gpu_type_in_the_workloads_group",
        "dev",
        {K + "nodeGroups": _node_groups(workloads={"instanceTypes": ["g5.xlarge"]})},
        (),
        ('mlops-infra:nodeGroups.workloads.instanceTypes = ["g5.xlarge"]', "put GPU types in nodeGroups.gpu"),
    ),
    (
        "kubeflow_version_never_checked",
        "dev",
        {K + "kubeflow": {"version": "2.99.0"}},
        (),
        ('mlops-infra:kubeflow.version = "2.99.0"', "checked against ['2.17.0']"),
    ),
    (
        "node_group_mixing_arm_and_x86",
        "dev",
        {K + "nodeGroups": _node_groups(workloads={"instanceTypes": ["m7g.large", "m6i.large"]})},
        (),
        ('mlops-infra:nodeGroups.workloads.instanceTypes = ["m7g.large", "m6i.large"]', "mixes ARM"),
    ),
    (
        "retention_not_a_prometheus_duration",
        "dev",
        {K + "monitoring": {"retention": "15 days"}},
        (),
        ('mlops-infra:monitoring.retention = "15 days"', "Prometheus duration"),
    ),
    (
        "prod_metrics_retention_below_floor",
        "prod",
        {K + "monitoring": {"retention": "3d", "storageSizeGib": 50, "replicas": 2}},
        (),
        ('mlops-infra:monitoring.retention = "3d"', "at least 15d of metrics"),
    ),
    (
        "kubernetes_version_without_pinned_addons",
        "dev",
        {K + "cluster": {"publicAccessCidrs": ["198.51.100.0/24"], "kubernetesVersion": "1.31"}},
        (),
        ('mlops-infra:cluster.kubernetesVersion = "1.31"', "EKS add-on versions are pinned"),
    ),
    (
        "autoscaler_scale_down_out_of_bounds",
        "dev",
        {K + "autoscaler": {"scaleDownUnneededMinutes": 0, "expander": "priority"}},
        (),
        (
            "mlops-infra:autoscaler.scaleDownUnneededMinutes = 0",
            'mlops-infra:autoscaler.expander = "priority"',
        ),
    ),
]


@pytest.mark.parametrize(
    ("stack", "changes", "removed", "fragments"),
    [pytest.param(*case[1:], id=case[0]) for case in REJECTIONS],
)
def test_invalid_config_is_refused_before_any_resource(
    stack: str, changes: dict[str, Any], removed: tuple[str, ...], fragments: tuple[str, ...]
) -> None:
    record = run_fixture(stack, set_values=changes, remove=removed, expect_error=True)
    assert isinstance(record.error, SettingsError), record.error
    message = str(record.error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert record.resources == []


# Held-out review: wrong configs a user could type, each refused by settings before any resource, naming the
# key as typed. Keys without a namespace are set like `pulumi config set --path` into the test-owned stack
# file; keys with one (`aws:profile`, a flat `mlops-infra:x.y`) are set as they are.
# (id, stack, values, fragments the message must contain)
HELD_OUT: list[tuple[str, str, dict[str, Any], tuple[str, ...]]] = [
    # --- unknown keys, types and sections, in the user's words ---
    ("top_level_region", "dev", {K + "region": "us-east-1"}, ("mlops-infra:region", "aws:region")),
    ("top_level_wrong_case", "dev", {K + "Target": "aws"}, ("did you mean mlops-infra:target?",)),
    (
        "cluster_key_at_top_level",
        "dev",
        {K + "kubernetesVersion": "1.35"},
        (
            "mlops-infra:kubernetesVersion is not a known setting; "
            "did you mean mlops-infra:cluster.kubernetesVersion?",
        ),
    ),
    (
        "namespace_typed_with_a_dot",
        "dev",
        {K + "mlops-infra.production": "true"},
        ("mlops-infra:mlops-infra.production", "did you mean mlops-infra:production?"),
    ),
    (
        "misspelled_node_group_role",
        "dev",
        {"nodeGroups.sytem": {"instanceTypes": ["t3a.medium"], "minSize": 1, "desiredSize": 1, "maxSize": 2}},
        ("mlops-infra:nodeGroups.sytem is not a known setting; did you mean mlops-infra:nodeGroups.system?",),
    ),
    (
        "misspelled_nested_key",
        "dev",
        {"network.availabilityZone": 3},
        ("did you mean mlops-infra:network.availabilityZones?",),
    ),
    ("unknown_role", "dev", {"nodeGroups.ml": {}}, ("the keys of nodeGroups are system, workloads, gpu",)),
    (
        "flat_and_misspelled",
        "prod",
        {K + "mlflow.replica": "3"},
        ("did you mean mlops-infra:mlflow.replicas?", "pulumi config rm mlops-infra:mlflow.replica"),
    ),
    (
        "flat_with_a_misspelled_section",
        "dev",
        {K + "nodeGroups.sytem.maxSize": "3"},
        ("did you mean mlops-infra:nodeGroups.system.maxSize?",),
    ),
    (
        "section_given_a_value",
        "dev",
        {K + "network": "10.20.0.0/16"},
        ('mlops-infra:network = "10.20.0.0/16": expected an object with the keys vpcCidr',),
    ),
    (
        "schedule_given_the_cron",
        "dev",
        {"training.schedule": "0 3 * * *"},
        (
            'mlops-infra:training.schedule = "0 3 * * *": '
            "expected an object with the keys enabled, cron, timeZone",
        ),
    ),
    (
        "tags_as_a_list",
        "dev",
        {K + "tags": ["team=ml"]},
        ('mlops-infra:tags = ["team=ml"]: expected an object of keys and values',),
    ),
    (
        "version_unquoted_in_yaml",
        "dev",
        {"cluster.kubernetesVersion": 1.3},
        ("mlops-infra:cluster.kubernetesVersion = 1.3: expected text, not a number",),
    ),
    (
        "version_with_a_v",
        "dev",
        {"cluster.kubernetesVersion": "v1.35"},
        (
            'mlops-infra:cluster.kubernetesVersion = "v1.35": '
            'expected a Kubernetes minor version such as "1.35"',
        ),
    ),
    (
        "list_index_as_typed",
        "dev",
        {"cluster.publicAccessCidrs": ["198.51.100.7/24"]},
        ('mlops-infra:cluster.publicAccessCidrs[0] = "198.51.100.7/24"', "host bits set"),
    ),
    (
        "enum_in_the_wrong_case",
        "dev",
        {"nodeGroups.workloads.capacityType": "spot"},
        ('mlops-infra:nodeGroups.workloads.capacityType = "spot": expected exactly', "'SPOT'"),
    ),
    (
        "registry_with_a_scheme",
        "local",
        {"images.registry": "https://localhost:5001"},
        ('mlops-infra:images.registry = "https://localhost:5001": expected a registry as host[:port]',),
    ),
    (
        "bucket_prefix_with_capitals",
        "dev",
        {"dvcRemote.bucketPrefix": "MLOps-DVC"},
        ('mlops-infra:dvcRemote.bucketPrefix = "MLOps-DVC": expected 3-37 lowercase letters',),
    ),
    (
        "assumed_role_session_as_admin",
        "dev",
        {"cluster.adminPrincipalArns": ["arn:aws:sts::123456789012:assumed-role/Admin/alice"]},
        ("mlops-infra:cluster.adminPrincipalArns[0] = ", "not an assumed-role session"),
    ),
    # --- keys the chosen mode never reads ---
    ("aws_profile_ignored", "dev", {"aws:profile": "ml-dev"}, ("aws:profile is set", "AWS_PROFILE")),
    (
        "aws_allowed_accounts_ignored",
        "prod",
        {"aws:allowedAccountIds": ["123456789012"]},
        ("aws:allowedAccountIds is set", "reads only aws:region"),
    ),
    ("aws_region_on_local", "local", {"aws:region": "us-east-1"}, ("aws:region is set, but target 'local'",)),
    (
        "eks_cluster_keys_on_local",
        "local",
        {"cluster.publicAccessCidrs": ["198.51.100.7/32"], "cluster.logRetentionDays": 30},
        (
            "mlops-infra:cluster.publicAccessCidrs is set, but target 'local' uses an existing cluster",
            "mlops-infra:cluster.logRetentionDays is set, but target 'local'",
        ),
    ),
    (
        "autoscaler_and_tags_on_local",
        "local",
        {"autoscaler.expander": "random", "tags.team": "ml"},
        ("mlops-infra:autoscaler is set, but target 'local'", "mlops-infra:tags is set, but target 'local'"),
    ),
    (
        "autoscaler_keys_while_it_is_off",
        "dev",
        {"autoscaler.enabled": False},
        ("mlops-infra:autoscaler.scaleDownUnneededMinutes is set, but autoscaler.enabled is false",),
    ),
    (
        "allow_list_of_a_private_only_endpoint",
        "dev",
        {"cluster.endpointPublicAccess": False},
        ("mlops-infra:cluster.publicAccessCidrs is set, but cluster.endpointPublicAccess is false",),
    ),
    (
        "sqlite_volume_size_with_postgres",
        "prod",
        {"mlflow.storageSizeGib": 20},
        ("mlops-infra:mlflow.storageSizeGib is set, but mlflow.backend is 'postgres'",),
    ),
    (
        "minio_size_while_minio_is_off",
        "dev",
        {"minio.storageSizeGib": 50},
        ("mlops-infra:minio.storageSizeGib is set, but MinIO is off",),
    ),
    (
        "email_sender_and_relay_without_recipients",
        "dev",
        {
            "monitoring.alertEmailFrom": "alerts@example.com",
            "monitoring.smtpSmarthost": "smtp.example.com:587",
        },
        (
            "mlops-infra:monitoring.alertEmailFrom is set, but monitoring.alertEmailTo is empty",
            "mlops-infra:monitoring.smtpSmarthost is set, but monitoring.alertEmailTo is empty",
        ),
    ),
    (
        "retrain_keys_without_serving",
        "dev",
        {"serving.enabled": False, "retrain.cooldown": "12h"},
        ("mlops-infra:retrain.cooldown is set, but live drift is off",),
    ),
    # --- values the cloud (or Kubernetes) refuses ---
    (
        "vpc_in_loopback",
        "dev",
        {"network.vpcCidr": "127.0.0.0/16"},
        ('mlops-infra:network.vpcCidr = "127.0.0.0/16": overlaps a loopback',),
    ),
    (
        "vpc_in_link_local",
        "dev",
        {"network.vpcCidr": "169.254.0.0/16"},
        ('mlops-infra:network.vpcCidr = "169.254.0.0/16"', "no VPC can use"),
    ),
    (
        "cidr_without_prefix_length",
        "dev",
        {"cluster.publicAccessCidrs": ["198.51.100.7"]},
        ('mlops-infra:cluster.publicAccessCidrs[0] = "198.51.100.7"', "198.51.100.7/32"),
    ),
    (
        "private_range_in_the_public_allow_list",
        "dev",
        {"cluster.publicAccessCidrs": ["10.0.0.0/8", "192.168.1.0/24"]},
        ("mlops-infra:cluster.publicAccessCidrs contains ['10.0.0.0/8', '192.168.1.0/24']: not internet",),
    ),
    (
        "overlapping_allow_list",
        "dev",
        {"cluster.publicAccessCidrs": ["198.51.100.0/24", "198.51.100.128/25"]},
        ("mlops-infra:cluster.publicAccessCidrs contains 198.51.100.128/25 inside 198.51.100.0/24",),
    ),
    (
        "repeated_allow_list_entry",
        "dev",
        {"cluster.publicAccessCidrs": ["198.51.100.0/24", "198.51.100.0/24"]},
        ("mlops-infra:cluster.publicAccessCidrs = ", "expected each value once"),
    ),
    (
        "allow_list_beyond_the_eks_quota",
        "dev",
        {"cluster.publicAccessCidrs": [f"198.51.{i}.0/24" for i in range(41)]},
        ("mlops-infra:cluster.publicAccessCidrs = ", "41 entries", "at most 40"),
    ),
    (
        "no_private_endpoint_with_a_restricted_public_one",
        "dev",
        {"cluster.endpointPrivateAccess": False},
        ("mlops-infra:cluster.endpointPrivateAccess = false", "never join"),
    ),
    (
        "kubernetes_version_on_local_never_checked",
        "local",
        {"cluster.kubernetesVersion": "1.99"},
        ('mlops-infra:cluster.kubernetesVersion = "1.99"', "checked against"),
    ),
    ("empty_kube_context", "local", {"cluster.kubeContext": ""}, ('mlops-infra:cluster.kubeContext = ""',)),
    (
        "repeated_admin_principal",
        "dev",
        {"cluster.adminPrincipalArns": ["arn:aws:iam::123456789012:role/admin"] * 2},
        ("mlops-infra:cluster.adminPrincipalArns = ", "expected each value once"),
    ),
    (
        "tag_value_with_characters_aws_refuses",
        "dev",
        {"tags.owner": "ml#platform!"},
        ('mlops-infra:tags.owner = "ml#platform!": expected letters, digits, spaces',),
    ),
    (
        "more_tags_than_a_resource_holds",
        "dev",
        {K + "tags": {f"t{i}": "x" for i in range(48)}},
        ("mlops-infra:tags has 48 tags: expected at most 40",),
    ),
    (
        "tag_key_the_program_sets",
        "dev",
        {"tags.managed-by": "terraform"},
        ("mlops-infra:tags.managed-by: tag key 'managed-by' is set by the program",),
    ),
    (
        "repeated_instance_type",
        "dev",
        {"nodeGroups.workloads.instanceTypes": ["t3a.large", "t3a.large"]},
        ("mlops-infra:nodeGroups.workloads.instanceTypes = ", "expected each value once"),
    ),
    (
        "system_group_from_zero",
        "dev",
        {"nodeGroups.system.minSize": 0, "nodeGroups.system.desiredSize": 0},
        ("mlops-infra:nodeGroups.system.minSize = 0", "expected at least 1"),
    ),
    (
        "graviton_workers_without_arm_images",
        "dev",
        {"nodeGroups.workloads.instanceTypes": ["m7g.large", "m6g.large"]},
        ('mlops-infra:images.platforms = ["linux/amd64"]', "add linux/arm64"),
    ),
    (
        "arm_images_only_for_x86_nodes",
        "dev",
        {"images.platforms": ["linux/arm64"]},
        ('mlops-infra:images.platforms = ["linux/arm64"]', "add linux/amd64"),
    ),
    (
        "no_image_platform",
        "dev",
        {"images.platforms": []},
        ("mlops-infra:images.platforms = []: expected at least 1",),
    ),
    (
        "repeated_image_platform",
        "dev",
        {"images.platforms": ["linux/amd64", "linux/amd64"]},
        ("mlops-infra:images.platforms = ", "expected each value once"),
    ),
    (
        "registry_port_out_of_range",
        "local",
        {"images.registry": "localhost:99999"},
        ('mlops-infra:images.registry = "localhost:99999"', "the port 1-65535"),
    ),
    (
        "bucket_prefix_s3_reserves",
        "dev",
        {"dvcRemote.bucketPrefix": "xn--mlops"},
        ("mlops-infra:dvcRemote.bucketPrefix = \"xn--mlops\": S3 refuses bucket names starting with 'xn--'",),
    ),
    (
        "db_instance_class_misspelled",
        "prod",
        {"mlflow.dbInstanceClass": "db.t4g.smal"},
        ('mlops-infra:mlflow.dbInstanceClass = "db.t4g.smal": expected an RDS instance class',),
    ),
    (
        "repeated_recipient_and_host",
        "dev",
        {
            "mlflow.allowedHosts": ["mlflow.example.com", "mlflow.example.com"],
            "monitoring.alertEmailTo": ["oncall@example.com", "oncall@example.com"],
            "monitoring.alertEmailFrom": "alerts@example.com",
            "monitoring.smtpSmarthost": "smtp.example.com:587",
        },
        (
            "mlops-infra:mlflow.allowedHosts = ",
            "mlops-infra:monitoring.alertEmailTo = ",
            "expected each value once",
        ),
    ),
    (
        "runbook_url_without_a_host",
        "dev",
        {"monitoring.runbookBaseUrl": "https:///docs"},
        ('mlops-infra:monitoring.runbookBaseUrl = "https:///docs": expected an http(s) URL with a host',),
    ),
    (
        "live_drift_schedule_that_never_runs",
        "dev",
        {"serving.liveDrift.schedule": "0 0 31 2 *"},
        ('mlops-infra:serving.liveDrift.schedule = "0 0 31 2 *": never runs',),
    ),
    (
        "training_cron_that_never_runs",
        "dev",
        {"training.schedule.cron": "0 3 30 2 *"},
        ('mlops-infra:training.schedule.cron = "0 3 30 2 *": never runs',),
    ),
    (
        "time_zone_that_is_a_host_file",
        "dev",
        {"training.schedule.timeZone": "localtime"},
        ('mlops-infra:training.schedule.timeZone = "localtime": expected an IANA time zone name',),
    ),
    (
        "retrain_window_below_a_second",
        "dev",
        {"retrain.confirmFor": "500ms"},
        ('mlops-infra:retrain.confirmFor = "500ms": expected whole seconds',),
    ),
    (
        "serving_max_below_the_production_minimum",
        "prod",
        {"serving.maxReplicas": 1},
        ("mlops-infra:serving.maxReplicas = 1: expected at least serving.minReplicas, by default (2)",),
    ),
    (
        "live_drift_window_longer_than_capture_is_kept",
        "dev",
        {"serving.liveDrift.windowHours": 720, "serving.capture.retentionDays": 7},
        ("mlops-infra:serving.liveDrift.windowHours = 720", "expected at most 168"),
    ),
    # --- production floors ---
    (
        "production_on_one_system_node",
        "prod",
        {"nodeGroups.system.minSize": 1, "nodeGroups.system.desiredSize": 1},
        ("mlops-infra:nodeGroups.system.minSize = 1: production stacks require at least 2 system nodes",),
    ),
    (
        "metrics_server_choice_on_aws",
        "dev",
        {"cluster.installMetricsServer": False},
        ("mlops-infra:cluster.installMetricsServer = false: target 'aws' always installs metrics-server",),
    ),
]


@pytest.mark.parametrize(
    ("stack", "values", "fragments"), [pytest.param(*case[1:], id=case[0]) for case in HELD_OUT]
)
def test_held_out_wrong_configs_are_refused_by_key_before_any_resource(
    stack: str, values: dict[str, Any], fragments: tuple[str, ...]
) -> None:
    record = run_fixture(stack, set_values=config_set_path(stack, values), expect_error=True)
    assert isinstance(record.error, SettingsError), record.error
    message = str(record.error)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    assert record.resources == []


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (
            "alerts.example.com/hook",
            "mlops-infra:alertWebhookUrl (a secret, value not shown): expected an http(s)",
        ),
        ("", "mlops-infra:alertWebhookUrl (a secret, value not shown)"),
    ],
)
def test_a_receiver_secret_that_is_no_url_is_refused_without_showing_it(value: str, fragment: str) -> None:
    from harness.mocks import run_program

    config, secret_keys = fixture_config("dev")
    config[K + "alertWebhookUrl"] = value
    record = run_program("dev", config, [*secret_keys, K + "alertWebhookUrl"], expect_error=True)
    assert isinstance(record.error, SettingsError), record.error
    assert fragment in str(record.error)
    assert not value or value not in str(record.error)
    assert record.resources == []


# Sensible variants of the stack files: accepted, and the program registers its resources.
SENSIBLE: list[tuple[str, str, dict[str, Any]]] = [
    ("local_on_k3d", "local", {"cluster.kubeContext": "k3d-mlops", "cluster.installMetricsServer": False}),
    ("dev_in_three_azs", "dev", {"network.availabilityZones": 3}),
    ("dev_in_another_region", "dev", {"aws:region": "eu-central-1"}),
    (
        "dev_with_a_spot_gpu_group",
        "dev",
        {
            "nodeGroups.gpu": {
                "instanceTypes": ["g4dn.xlarge", "g5.xlarge"],
                "capacityType": "SPOT",
                "minSize": 0,
                "desiredSize": 0,
                "maxSize": 2,
            }
        },
    ),
    (
        "dev_on_graviton_workers",
        "dev",
        {
            "nodeGroups.workloads.instanceTypes": ["m7g.large", "m6g.large"],
            "images.platforms": ["linux/amd64", "linux/arm64"],
        },
    ),
    (
        "dev_private_endpoint_only",
        "dev",
        {"cluster.endpointPublicAccess": False, "cluster.publicAccessCidrs": REMOVE},
    ),
    (
        "dev_single_address_allowed",
        "dev",
        {"cluster.publicAccessCidrs": ["198.51.100.7/32", "203.0.113.0/24"]},
    ),
    (
        "dev_on_postgres",
        "dev",
        {
            "mlflow.backend": "postgres",
            "mlflow.dbInstanceClass": "db.t4g.micro",
            "mlflow.storageSizeGib": REMOVE,
        },
    ),
    (
        "dev_without_the_autoscaler",
        "dev",
        {"autoscaler.enabled": False, "autoscaler.scaleDownUnneededMinutes": REMOVE},
    ),
    ("dev_with_more_tags", "dev", {"tags.owner": "team-ml@example.com", "tags.Project Code": "ML-42"}),
    ("dev_retraining_killed", "dev", {"retrain.enabled": False, "retrain.cooldown": "12h"}),
    ("dev_live_drift_off", "dev", {"serving.liveDrift.enabled": False, "serving.capture.sampleRate": 0}),
    ("dev_minio_beside_s3", "dev", {"minio.enabled": True, "minio.storageSizeGib": 30}),
    ("dev_images_for_both_architectures", "dev", {"images.platforms": ["linux/amd64", "linux/arm64"]}),
    ("dev_vpc_in_172_16", "dev", {"network.vpcCidr": "172.16.0.0/16"}),
    ("dev_one_repository_for_both_images", "dev", {"images.stepsRepository": "mlops-mlflow"}),
    ("dev_wider_stale_training_window", "dev", {"monitoring.noSuccessHours": 96}),
    (
        "dev_week_of_drift_within_capture",
        "dev",
        {"serving.liveDrift.windowHours": 168, "serving.capture.retentionDays": 14},
    ),
    (
        "prod_with_more_replicas",
        "prod",
        {"mlflow.replicas": 3, "serving.minReplicas": 3, "serving.maxReplicas": 6, "monitoring.replicas": 3},
    ),
    ("prod_ten_years_of_control_plane_logs", "prod", {"cluster.logRetentionDays": 3653}),
    ("prod_in_four_azs", "prod", {"network.availabilityZones": 4, "network.natGateways": 4}),
    ("prod_serving_max_only", "prod", {"serving.maxReplicas": 4}),
    (
        "prod_runbooks_on_github",
        "prod",
        {"monitoring.runbookBaseUrl": "https://github.com/acme/mlops/blob/main/docs/runbooks"},
    ),
    ("local_serving_off", "local", {"serving.enabled": False}),
    (
        "local_with_a_berlin_schedule",
        "local",
        {
            "training.schedule.enabled": True,
            "training.schedule.cron": "30 2 * * MON-FRI",
            "training.schedule.timeZone": "Europe/Berlin",
        },
    ),
    (
        "local_with_e_mail_alerts",
        "local",
        {
            "monitoring.alertEmailTo": ["oncall@example.com", "ml@example.org"],
            "monitoring.alertEmailFrom": "alerts@example.com",
            "monitoring.smtpSmarthost": "smtp.example.com:587",
        },
    ),
    ("local_arm_images", "local", {"images.platforms": ["linux/arm64"]}),
]


@pytest.mark.parametrize(("stack", "values"), [pytest.param(*case[1:], id=case[0]) for case in SENSIBLE])
def test_sensible_variants_of_the_stack_files_are_accepted(stack: str, values: dict[str, Any]) -> None:
    settings = resolve_fixture(stack, set_values=config_set_path(stack, values))
    assert settings.stack == stack


# The same variants through the whole program (26 mock runs, ~20 s): no component refuses what settings
# accepted. In the slow tier, so the unit tier stays fast.
@pytest.mark.slow
@pytest.mark.parametrize(("stack", "values"), [pytest.param(*case[1:], id=case[0]) for case in SENSIBLE])
def test_sensible_variants_run_the_whole_program(stack: str, values: dict[str, Any]) -> None:
    record = run_fixture(stack, set_values=config_set_path(stack, values))
    assert record.error is None
    assert record.resources


@pytest.mark.parametrize("name", ["prod-eu", "production", "staging"])
def test_production_settings_are_accepted_on_other_stack_names(name: str) -> None:
    assert resolve_fixture("prod", name=name).production is True


@pytest.mark.parametrize("name", ["Prod", "PROD", "eu-prod", "prod2", "prd", "Production-EU"])
def test_a_stack_named_for_production_in_any_spelling_must_say_production_true(name: str) -> None:
    from harness.mocks import run_program

    config, secret_keys = fixture_config("prod")
    config[K + "production"] = "false"
    record = run_program(name, config, secret_keys, expect_error=True)
    assert isinstance(record.error, SettingsError), record.error
    assert f"mlops-infra:production is false on stack {name!r}" in str(record.error)
    assert record.resources == []


@pytest.mark.parametrize("name", ["non-prod", "pre-prod", "preprod", "product-demo"])
def test_names_that_only_mention_production_are_not_production(name: str) -> None:
    assert resolve_fixture("dev", name=name).production is False


def test_a_cluster_with_its_own_metrics_server_gets_none_from_us() -> None:
    kind = resolve_fixture("local").cluster
    k3d = resolve_fixture(
        "local", set_values=config_set_path("local", {"cluster.installMetricsServer": False})
    ).cluster
    assert isinstance(kind, ExistingClusterArgs) and isinstance(k3d, ExistingClusterArgs)
    assert (kind.install_metrics_server, k3d.install_metrics_server) == (True, False)


def test_more_zones_than_the_region_offers_are_refused_before_any_resource(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # us-west-1 offers most accounts two zones; the program asks AWS (here the mocks) before any resource.
    two_zones = {
        "names": ["us-west-1a", "us-west-1c"],
        "zoneIds": ["usw1-az1", "usw1-az3"],
        "id": "us-west-1",
    }
    monkeypatch.setitem(
        INVOKES, "aws:index/getAvailabilityZones:getAvailabilityZones", lambda _args: two_zones
    )
    config, secret_keys = fixture_config("dev")
    config["aws:region"] = "us-west-1"
    config[K + "network"] = json.dumps({**json.loads(config[K + "network"]), "availabilityZones": 3})
    record = run_program("dev", config, secret_keys, expect_error=True)
    assert isinstance(record.error, SettingsError), record.error
    assert (
        "mlops-infra:network.availabilityZones = 3: region us-west-1 offers this account 2 availability "
        "zone(s) (us-west-1a, us-west-1c); expected at most 2"
    ) in str(record.error)
    assert record.resources == []
    config[K + "network"] = json.dumps({**json.loads(config[K + "network"]), "availabilityZones": 2})
    assert run_program("dev", config, secret_keys).resources, "two zones fit"


def test_every_problem_is_reported_at_once() -> None:
    record = run_fixture(
        "dev",
        set_values={
            K + "bogus": 1,
            K + "mlflow": {"backend": "postgres", "replicas": 3},
            K + "cluster": {"publicAccessCidrs": ["0.0.0.0/0"]},
            K + "network": {"availabilityZones": 2, "natGateways": 3},
        },
        expect_error=True,
    )
    assert isinstance(record.error, SettingsError)
    assert len(record.error.problems) == 4, record.error.problems
    assert "4 invalid config value(s)" in str(record.error)
    assert record.resources == []


def test_secret_in_plain_text_is_refused() -> None:
    record = run_fixture(
        "dev",
        set_values={K + "alertSlackWebhookUrl": "https://hooks.slack.com/services/T/B/X"},
        expect_error=True,
    )
    assert "mlops-infra:alertSlackWebhookUrl is stored in plain text" in str(record.error)
    assert "--secret" in str(record.error)
    assert record.resources == []


def test_secret_set_with_secret_flag_is_accepted() -> None:
    from harness.mocks import run_program

    config, secret_keys = fixture_config("dev")
    config[K + "alertWebhookUrl"] = "https://alerts.example.com/hook"
    record = run_program("dev", config, [*secret_keys, K + "alertWebhookUrl"])
    assert record.error is None


def test_settings_error_lists_each_problem_on_its_own_line() -> None:
    with pytest.raises(SettingsError) as caught:
        settings_from_config("dev", {"target": "aws", "nope": "1"}, None)
    lines = str(caught.value).splitlines()
    assert lines[0] == "stack 'dev' has 3 invalid config value(s):"
    assert all(line.startswith("  - ") for line in lines[1:])


def test_other_projects_and_providers_namespaces_are_not_near_misses() -> None:
    from settings import _near_miss_problems

    keys = ["aws:region", "kubernetes:context", "pulumi:tags", "eks:x", "mlops-infra-bootstrap:protect"]
    assert _near_miss_problems(keys) == []
    assert len(_near_miss_problems(["mlops-infr:production", "MLOPS-INFRA:production"])) == 2


def test_narrow_allow_lists_that_do_not_cover_the_internet_are_accepted() -> None:
    base = {"target": "aws", "nodeGroups": _groups()}
    for cidrs in (["198.51.100.7/32", "203.0.113.0/24"], ["11.0.0.0/8"], ["100.0.0.0/8", "102.0.0.0/8"]):
        config = {**base, "cluster": json.dumps({"publicAccessCidrs": cidrs})}
        settings = settings_from_config("dev", config, "us-east-1")
        assert isinstance(settings.cluster, EksClusterArgs)
        assert settings.cluster.control_plane.public_access_cidrs == tuple(cidrs)


def test_closed_loop_settings_resolve_to_plain_values_with_production_defaults() -> None:
    dev = settings_from_config("dev", _aws(), "us-east-1")
    local = settings_from_config("l", _local(), None)
    prod = settings_from_config(
        "prod",
        {
            "target": "aws",
            "production": "true",
            "nodeGroups": _groups(system_nodes=2),
            "network": '{"availabilityZones": 3}',
            "cluster": '{"publicAccessCidrs": ["198.51.100.0/24"]}',
            "mlflow": '{"backend": "postgres", "dbInstanceClass": "db.t4g.small", "replicas": 2, '
            '"dbBackupRetentionDays": 14}',
            "training": '{"schedule": {"cron": "30  2 * * mon-fri", "timeZone": "Europe/Berlin"}}',
            "retrain": '{"confirmFor": "1h30m", "cooldown": "1d", "maxRunsPerDay": 1}',
        },
        "us-east-1",
    )
    assert dev.serving == ServingSettings(
        min_replicas=1,
        max_replicas=3,
        target_cpu_utilization=70,
        poll_seconds=30,
        capture=CaptureSettings(sample_rate=1.0, retention_days=30),
        live_drift=LiveDriftSettings(schedule="15 * * * *", window_hours=24, min_rows=200),
    )
    assert prod.serving is not None and (prod.serving.min_replicas, prod.serving.max_replicas) == (2, 3)
    assert dev.training_schedule == TrainingSchedule(cron="0 3 * * *", time_zone="UTC")
    assert local.training_schedule is None
    # Spelled as typed up to whitespace: the CronJob gets the five fields, one space apart.
    assert prod.training_schedule == TrainingSchedule(cron="30 2 * * mon-fri", time_zone="Europe/Berlin")
    assert dev.retrain == RetrainSettings(
        enabled=True, confirm_for_seconds=1800, cooldown_seconds=6 * 3600, max_runs_per_day=2
    )
    assert (prod.retrain.confirm_for_seconds, prod.retrain.cooldown_seconds) == (5400, 86400)
    big = settings_from_config("dev", {**_aws(), "serving": '{"minReplicas": 5}'}, "us-east-1")
    assert big.serving is not None and big.serving.max_replicas == 5


def test_switching_live_drift_off_switches_default_retraining_off_and_serving_off_clears_both() -> None:
    quiet = settings_from_config(
        "dev", {**_aws(), "serving": '{"liveDrift": {"enabled": false}}'}, "us-east-1"
    )
    assert quiet.serving is not None and quiet.serving.live_drift is None
    assert quiet.retrain.enabled is False
    off = settings_from_config("dev", {**_aws(), "serving": '{"enabled": false}'}, "us-east-1")
    assert (off.serving, off.retrain.enabled) == (None, False)
    # The kill switch: turning retraining off is one key, its other settings stay accepted.
    killed = settings_from_config(
        "dev", {**_aws(), "retrain": '{"enabled": false, "cooldown": "12h"}'}, "us-east-1"
    )
    assert (killed.retrain.enabled, killed.retrain.cooldown_seconds) == (False, 12 * 3600)


def _documented_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        nested = [a for a in get_args(field.annotation) or (field.annotation,) if isinstance(a, type)]
        sections = [a for a in nested if issubclass(a, BaseModel)]
        if sections and sections[0] is NodeGroupsConfig:
            keys += _documented_keys(NodeGroupConfig, f"{key}.<role>.")
        elif sections:
            keys += _documented_keys(sections[0], f"{key}.")
        else:
            keys.append(key)
    return keys


def test_every_key_is_in_the_config_reference() -> None:
    reference = (REPO_ROOT / "Pulumi.yaml").read_text()
    documented = {
        line.split()[1] for line in reference.splitlines() if line.startswith("# ") and len(line) > 2
    }
    keys = _documented_keys(_StackConfig)
    assert "serving.liveDrift.schedule" in keys and "nodeGroups.<role>.maxPods" in keys
    assert [k for k in keys if k not in documented] == []
