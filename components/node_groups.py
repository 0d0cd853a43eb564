"""Pure node group planning: the EKS managed node groups worked out from their Args, before any is declared.

`EksCluster` (components/eks_cluster.py) declares one managed node group, launch template and set of Auto
Scaling group tags per `NodeGroupPlan`; settings.py resolves `NodeGroupArgs` with these rules (one AMI
architecture per group, maxPods of the smallest type); the capacity planner (capacity/) packs pods onto the
same plans. No pulumi-aws here: plain data in, plain data out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import yaml

from components.instance_types import default_max_pods, instance_type
from pipelines.scheduling import GPU_TAINT_KEY, GPU_TAINT_VALUE, NODE_ROLE_LABEL

# Cluster Autoscaler's AWS provider tells GPU nodes by this label (cloudprovider/aws GPULabel).
GPU_ACCELERATOR_LABEL = "k8s.amazonaws.com/accelerator"
NODE_TEMPLATE_TAG = "k8s.io/cluster-autoscaler/node-template"
_INSTANCE_TYPE = re.compile(r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z-]*)\.[a-z0-9]+$")


@dataclass(frozen=True)
class NodeGroupArgs:
    instance_types: tuple[str, ...]
    """EC2 instance types (one AMI architecture per group)."""
    capacity_type: Literal["ON_DEMAND", "SPOT"]
    """On-demand or spot capacity."""
    min_size: int
    """Fewest nodes."""
    desired_size: int
    """Nodes at creation; an autoscaler owns the size afterwards."""
    max_size: int
    """Most nodes."""
    disk_size_gib: int
    """Root volume size."""
    max_pods: int
    """Kubelet maxPods on every node (pod slots, with VPC CNI prefix delegation)."""


@dataclass(frozen=True)
class NodeGroupsArgs:
    system: NodeGroupArgs
    """Platform services (on-demand)."""
    workloads: NodeGroupArgs
    """Pipeline steps."""
    gpu: NodeGroupArgs | None = None
    """Optional tainted GPU group that scales from zero."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: Literal["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"]


@dataclass(frozen=True)
class NodeGroupPlan:
    """One managed node group, fully worked out from its settings."""

    role: str
    instance_types: tuple[str, ...]
    capacity_type: str
    min_size: int
    desired_size: int
    max_size: int
    disk_size_gib: int
    ami_type: str
    labels: Mapping[str, str]
    max_pods: int
    """Kubelet maxPods on every node of the group (pod slots, with VPC CNI prefix delegation)."""
    taints: tuple[Taint, ...] = ()


def is_arm_instance_type(instance_type: str) -> bool:
    """Graviton types carry a `g` among the attributes after the generation (m7g, c6gn); g4dn is x86."""
    match = _INSTANCE_TYPE.match(instance_type)
    if match is None:
        raise ValueError(f"instance type {instance_type!r}: expected a name such as t3a.large or m6g.xlarge")
    return "g" in match["attributes"]


def _ami_type(role: str, instance_types: Sequence[str], gpu: bool) -> str:
    arm = {is_arm_instance_type(t) for t in instance_types}
    if len(arm) > 1:
        raise ValueError(
            f"node group {role!r}: {list(instance_types)} mixes ARM (Graviton) and x86 types; "
            "one node group runs one AMI architecture"
        )
    if gpu:
        if arm == {True}:
            return "AL2023_ARM_64_NVIDIA"
        return "AL2023_x86_64_NVIDIA"
    return "AL2023_ARM_64_STANDARD" if arm == {True} else "AL2023_x86_64_STANDARD"


def default_node_group_max_pods(instance_types: Sequence[str]) -> int:
    """The default maxPods of a group: that of its smallest instance type."""
    return min(default_max_pods(instance_type(t)) for t in instance_types)


def _gpu_labels(group: NodeGroupArgs) -> dict[str, str]:
    accelerators = {instance_type(t).accelerator for t in group.instance_types}
    return {GPU_ACCELERATOR_LABEL: "-or-".join(sorted(a for a in accelerators if a))}


def _plan(role: str, group: NodeGroupArgs, *, gpu: bool = False) -> NodeGroupPlan:
    return NodeGroupPlan(
        role=role,
        instance_types=tuple(group.instance_types),
        capacity_type=group.capacity_type,
        # A GPU node costs dollars per hour: it only exists while a job asks for it.
        min_size=0 if gpu else group.min_size,
        desired_size=group.desired_size,
        max_size=group.max_size,
        disk_size_gib=group.disk_size_gib,
        ami_type=_ami_type(role, group.instance_types, gpu),
        labels={NODE_ROLE_LABEL: role, **(_gpu_labels(group) if gpu else {})},
        max_pods=group.max_pods,
        taints=(Taint(GPU_TAINT_KEY, GPU_TAINT_VALUE, "NO_SCHEDULE"),) if gpu else (),
    )


def plan_node_groups(groups: NodeGroupsArgs) -> list[NodeGroupPlan]:
    """system (on-demand, platform services), workloads (pipeline steps), optional tainted gpu."""
    plans = [_plan("system", groups.system), _plan("workloads", groups.workloads)]
    if groups.gpu is not None:
        plans.append(_plan("gpu", groups.gpu, gpu=True))
    return plans


_KUBERNETES_EFFECT = {
    "NO_SCHEDULE": "NoSchedule",
    "NO_EXECUTE": "NoExecute",
    "PREFER_NO_SCHEDULE": "PreferNoSchedule",
}


def autoscaler_group_tags(plan: NodeGroupPlan) -> dict[str, str]:
    """Tags on the group's Auto Scaling group: the labels and taints its nodes will carry.

    They are what Cluster Autoscaler reads to know, while a group has no node, that a pending pod would fit
    there (EKS's DescribeNodegroup answer is used only until the group's first node). The discovery tags
    (`k8s.io/cluster-autoscaler/enabled`, `.../<cluster>`) are EKS's own on every managed group: declaring
    them here too would give them two owners, and deleting ours would delete EKS's.
    """
    tags = {f"{NODE_TEMPLATE_TAG}/label/{k}": v for k, v in plan.labels.items()}
    tags |= {
        f"{NODE_TEMPLATE_TAG}/taint/{t.key}": f"{t.value}:{_KUBERNETES_EFFECT[t.effect]}" for t in plan.taints
    }
    return tags


NODEADM_BOUNDARY = "==MLOPS-NODEADM=="


def node_user_data(plan: NodeGroupPlan) -> str:
    """Launch-template user data: a MIME part with a nodeadm NodeConfig that sets the kubelet's maxPods.

    Without an AMI ID in the launch template, EKS writes its own NodeConfig (cluster endpoint, CA, labels)
    first and nodeadm merges ours over it, so ours decides maxPods; EKS would pick 110 on every small type.
    """
    node_config = {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"kubelet": {"config": {"maxPods": plan.max_pods}}},
    }
    return "\n".join(
        [
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{NODEADM_BOUNDARY}"',
            "",
            f"--{NODEADM_BOUNDARY}",
            "Content-Type: application/node.eks.aws",
            "",
            "---",
            yaml.safe_dump(node_config, sort_keys=False).rstrip(),
            "",
            f"--{NODEADM_BOUNDARY}--",
            "",
        ]
    )
