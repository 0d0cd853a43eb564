"""Cluster Autoscaler: node groups grow for pending pods and shrink when idle, GPUs down to zero.

Our nodes are EKS managed node groups with launch templates, which Cluster Autoscaler drives through their
Auto Scaling groups (discovered by tag) and scales from zero using the node-template tags `EksCluster`
puts on each group. Its AWS access is a Pod Identity role that may only resize groups carrying this
cluster's discovery tag. It runs on the system group, as a restricted pod.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from components import k8s as kb
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from versions import CLUSTER_AUTOSCALER_CHART, CLUSTER_AUTOSCALER_IMAGE

NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "cluster-autoscaler"
RELEASE = "cluster-autoscaler"
DISCOVERY_TAG = "k8s.io/cluster-autoscaler/enabled"
# 65534 (nobody): the autoscaler binary needs no user of its own, and restricted Pod Security wants non-root.
_NOBODY = 65534


def cluster_discovery_tag(cluster_name: str) -> str:
    """The tag EKS puts on a managed node group's Auto Scaling group, `owned` by the cluster."""
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


@dataclass(frozen=True)
class ClusterAutoscalerArgs:
    cluster_name: str
    """Physical EKS cluster name: auto-discovery and the IAM policy are scoped to it."""
    cluster: pulumi.Input[str]
    """The cluster name as an Output of the ready cluster, so the Pod Identity association waits for it."""
    region: str
    """AWS region (pods cannot read it from instance metadata: the hop limit is 1)."""
    node_selector: dict[str, str]
    """Where the autoscaler runs: the system node group, which it never takes below its minimum."""
    scale_down_unneeded_minutes: int = 10
    """How long a node stays underused before it is removed."""
    scale_down_utilization_threshold: float = 0.5
    """Below this share of requested CPU and memory a node is a removal candidate."""
    expander: str = "least-waste"
    """Which node group grows when several could take the pending pods."""


def cluster_autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """Read what discovery and scale-from-zero need; resize only this cluster's tagged groups."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DiscoverGroupsAndInstanceTypes",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                # Describe calls do not support resource-level permissions.
                "Resource": "*",
            },
            {
                "Sid": "ReadThisClustersNodegroups",
                "Effect": "Allow",
                "Action": "eks:DescribeNodegroup",
                "Resource": f"arn:aws:eks:*:*:nodegroup/{cluster_name}/*/*",
            },
            {
                "Sid": "ResizeOnlyThisClustersGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/{cluster_discovery_tag(cluster_name)}": "owned",
                        f"aws:ResourceTag/{DISCOVERY_TAG}": "true",
                    }
                },
            },
        ],
    }


def cluster_autoscaler_values(args: ClusterAutoscalerArgs) -> dict[str, Any]:
    """Values for the cluster-autoscaler chart at `CLUSTER_AUTOSCALER_CHART.version`."""
    return {
        "cloudProvider": "aws",
        "awsRegion": args.region,
        # The chart's default discovery tags: DISCOVERY_TAG and cluster_discovery_tag(clusterName).
        "autoDiscovery": {"clusterName": args.cluster_name},
        "image": {
            "repository": CLUSTER_AUTOSCALER_IMAGE.repository,
            # The chart renders `repository:tag`; the digest rides on the tag.
            "tag": f"{CLUSTER_AUTOSCALER_IMAGE.tag}@{CLUSTER_AUTOSCALER_IMAGE.digest}",
        },
        "rbac": {"serviceAccount": {"create": True, "name": SERVICE_ACCOUNT}},
        "extraArgs": {
            "logtostderr": True,
            "stderrthreshold": "info",
            "v": 2,
            "expander": args.expander,
            "balance-similar-node-groups": True,
            "scale-down-unneeded-time": f"{args.scale_down_unneeded_minutes}m",
            "scale-down-utilization-threshold": str(args.scale_down_utilization_threshold),
            # Pipeline steps write scratch data to emptyDir; a finished step must not pin its node.
            "skip-nodes-with-local-storage": False,
        },
        "nodeSelector": dict(args.node_selector),
        "resources": {
            "requests": {"cpu": "50m", "memory": "300Mi"},
            "limits": {"cpu": "500m", "memory": "600Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": _NOBODY,
            "runAsGroup": _NOBODY,
            "fsGroup": _NOBODY,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


class ClusterAutoscaler(pulumi.ComponentResource):
    """The Pod Identity role and the Helm release."""

    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:autoscaler:ClusterAutoscaler", name, None, opts)
        identity = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=args.cluster,
                namespace=NAMESPACE,
                service_account=SERVICE_ACCOUNT,
                policy_document=json.dumps(cluster_autoscaler_policy(args.cluster_name)),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        kb.declare_chart_release(
            f"{name}-release",
            CLUSTER_AUTOSCALER_CHART,
            release=RELEASE,
            namespace=NAMESPACE,
            values=cluster_autoscaler_values(args),
            # Started before its role is associated, the pod would run without AWS credentials.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[identity]),
        )
        self.role_arn = identity.role_arn
        self.register_outputs({"role_arn": self.role_arn})
