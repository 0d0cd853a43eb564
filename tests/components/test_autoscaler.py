"""ClusterAutoscaler: a least-privilege Pod Identity role, pinned chart and image, a hardened pod."""

from __future__ import annotations

import pytest

from components.autoscaler import (
    NAMESPACE,
    SERVICE_ACCOUNT,
    ClusterAutoscalerArgs,
    cluster_autoscaler_policy,
    cluster_autoscaler_values,
)
from harness.mocks import Record, Recorded, integral_numbers
from tests.support.stack_records import committed, policy, provider_ref
from tests.support.stacks import run_fixture
from versions import CLUSTER_AUTOSCALER_CHART, CLUSTER_AUTOSCALER_IMAGE

AWS_STACKS = ("dev", "prod")
RELEASE = "kubernetes:helm.sh/v3:Release"
MUTATING = {"autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"}
ARGS = ClusterAutoscalerArgs(
    cluster_name="c1", cluster="c1", region="eu-west-1", node_selector={"mlops.platform/node-role": "system"}
)


def _actions(statement: dict) -> set[str]:
    action = statement["Action"]
    return {action} if isinstance(action, str) else set(action)


def test_policy_resizes_only_groups_tagged_for_this_cluster() -> None:
    statements = cluster_autoscaler_policy("c1")["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    mutating = [s for s in statements if _actions(s) & MUTATING]
    assert len(mutating) == 1 and _actions(mutating[0]) == MUTATING
    assert mutating[0]["Condition"] == {
        "StringEquals": {
            "aws:ResourceTag/k8s.io/cluster-autoscaler/c1": "owned",
            "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
        }
    }
    # Everything else only reads; nothing is a wildcard action.
    others = set().union(*(_actions(s) for s in statements if s is not mutating[0]))
    assert all(a.split(":")[1].startswith(("Describe", "Get")) for a in others), others
    assert not any("*" in a for s in statements for a in _actions(s))
    [nodegroups] = [s for s in statements if "eks:DescribeNodegroup" in _actions(s)]
    assert nodegroups["Resource"] == "arn:aws:eks:*:*:nodegroup/c1/*/*"


def test_values_pin_the_image_and_harden_the_pod() -> None:
    values = cluster_autoscaler_values(ARGS)
    assert values["image"]["repository"] == CLUSTER_AUTOSCALER_IMAGE.repository
    assert values["image"]["tag"] == f"{CLUSTER_AUTOSCALER_IMAGE.tag}@{CLUSTER_AUTOSCALER_IMAGE.digest}"
    assert values["autoDiscovery"] == {"clusterName": "c1"}
    assert values["awsRegion"] == "eu-west-1"
    assert values["rbac"]["serviceAccount"] == {"create": True, "name": SERVICE_ACCOUNT}
    assert values["nodeSelector"] == {"mlops.platform/node-role": "system"}
    pod, container = values["securityContext"], values["containerSecurityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(values["resources"]) == {"requests", "limits"}
    assert values["extraArgs"]["scale-down-unneeded-time"] == "10m"


def _release(record: Record) -> Recorded:
    return record.one(RELEASE, "platform-autoscaler-release")


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_release_is_pinned_and_runs_with_its_own_pod_identity_role(stack: str) -> None:
    record = committed(stack)
    release = _release(record)
    inputs = release.inputs
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        CLUSTER_AUTOSCALER_CHART.chart,
        CLUSTER_AUTOSCALER_CHART.version,
        CLUSTER_AUTOSCALER_CHART.repository,
    )
    assert inputs["namespace"] == NAMESPACE
    cluster_name = f"mlops-infra-{stack}"
    expected = cluster_autoscaler_values(
        ClusterAutoscalerArgs(
            cluster_name=cluster_name,
            cluster=cluster_name,
            region="us-east-1",
            node_selector={"mlops.platform/node-role": "system"},
            scale_down_unneeded_minutes={"dev": 10, "prod": 20}[stack],
        )
    )
    assert integral_numbers(inputs["values"]) == expected
    k8s_provider = record.one("pulumi:providers:kubernetes")
    assert release.provider == provider_ref(k8s_provider)

    association = record.one(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation", "platform-autoscaler-identity-association"
    )
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        NAMESPACE,
        SERVICE_ACCOUNT,
    )
    assert association.inputs["clusterName"] == cluster_name
    role_policy = record.one("aws:iam/rolePolicy:RolePolicy", "platform-autoscaler-identity-policy")
    assert policy(role_policy.inputs["policy"]) == cluster_autoscaler_policy(cluster_name)
    component = record.one("mlops:autoscaler:ClusterAutoscaler")
    assert association.urn in release.dependencies, "the pod must not start before its role is associated"
    agent = record.one("aws:eks/addon:Addon", "platform-pod-identity-agent")
    assert agent.urn in component.dependencies
    assert {g.urn for g in record.of_type("aws:eks/nodeGroup:NodeGroup")} <= set(component.dependencies)


def test_disabled_autoscaler_leaves_no_release_and_no_role() -> None:
    record = run_fixture("dev", set_values={"mlops-infra:autoscaler": {"enabled": False}})
    assert [r.name for r in record.of_type(RELEASE) if "autoscaler" in r.name] == []
    assert not [r for r in record.resources if r.name.startswith("platform-autoscaler")]


def test_knobs_reach_the_autoscaler_arguments() -> None:
    record = run_fixture(
        "dev",
        set_values={
            "mlops-infra:autoscaler": {
                "scaleDownUnneededMinutes": 30,
                "scaleDownUtilizationThreshold": 0.7,
                "expander": "most-pods",
            }
        },
    )
    args = _release(record).inputs["values"]["extraArgs"]
    assert (args["scale-down-unneeded-time"], args["scale-down-utilization-threshold"], args["expander"]) == (
        "30m",
        "0.7",
        "most-pods",
    )
