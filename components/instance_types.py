"""EC2 instance types the node groups may use: size, network interfaces, GPUs, and the pod limits they imply.

Pure data and arithmetic (no Pulumi), so settings validate `nodeGroups.<group>.maxPods` with it and the
capacity plan counts pod slots with it. Figures are AWS's published instance specifications; the ENI pod
limits they give (`eni_max_pods`) match `eni-max-pods.txt` of awslabs/amazon-eks-ami (t3a.medium 17,
t3a.large 35, m5.large 29, m5.xlarge 58, g4dn.xlarge 29). Every type listed is Nitro-based, which prefix
delegation needs. A type missing here is refused by settings with a message naming this file.
"""

from __future__ import annotations

from dataclasses import dataclass

# EKS caps max pods on managed node groups at 110 below 30 vCPUs and 250 above, with or without prefix
# delegation (EKS user guide, "Increase the available IP addresses for your Amazon EKS node").
MANAGED_NODE_GROUP_MAX_PODS_SMALL = 110
MANAGED_NODE_GROUP_MAX_PODS_LARGE = 250
_LARGE_VCPUS = 30
# Each /28 prefix holds 16 addresses.
PREFIX_SIZE = 16
# Memory the kubelet reserves per pod slot (AL2023 nodeadm: kube-reserved = 255 MiB + 11 MiB x maxPods).
KUBE_RESERVED_BASE_MIB = 255
KUBE_RESERVED_PER_POD_MIB = 11
# The default cap: 8 pod slots per GiB keeps the per-pod reservation at 88 MiB per GiB (8.6% of memory),
# where EKS's own 110 on a 4 GiB node reserves 1465 MiB (36%) for slots a small node never fills.
DEFAULT_PODS_PER_GIB = 8


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    enis: int
    """Network interfaces the type can attach."""
    ipv4_per_eni: int
    """IPv4 addresses per interface (the first is the interface's own)."""
    gpus: int = 0
    """NVIDIA GPUs (`nvidia.com/gpu` once the device plugin runs)."""
    accelerator: str | None = None
    """GPU model, for the `k8s.amazonaws.com/accelerator` label Cluster Autoscaler recognises GPU nodes by."""


def _types(*rows: InstanceType) -> dict[str, InstanceType]:
    return {row.name: row for row in rows}


INSTANCE_TYPES: dict[str, InstanceType] = _types(
    InstanceType("t3.medium", 2, 4096, 3, 6),
    InstanceType("t3a.medium", 2, 4096, 3, 6),
    InstanceType("t3.large", 2, 8192, 3, 12),
    InstanceType("t3a.large", 2, 8192, 3, 12),
    InstanceType("t3.xlarge", 4, 16384, 4, 15),
    InstanceType("t3a.xlarge", 4, 16384, 4, 15),
    InstanceType("c6i.large", 2, 4096, 3, 10),
    InstanceType("c6i.xlarge", 4, 8192, 4, 15),
    InstanceType("m5.large", 2, 8192, 3, 10),
    InstanceType("m5a.large", 2, 8192, 3, 10),
    InstanceType("m6a.large", 2, 8192, 3, 10),
    InstanceType("m6i.large", 2, 8192, 3, 10),
    InstanceType("m7i.large", 2, 8192, 3, 10),
    InstanceType("m6g.large", 2, 8192, 3, 10),
    InstanceType("m7g.large", 2, 8192, 3, 10),
    InstanceType("m5.xlarge", 4, 16384, 4, 15),
    InstanceType("m5a.xlarge", 4, 16384, 4, 15),
    InstanceType("m6a.xlarge", 4, 16384, 4, 15),
    InstanceType("m6i.xlarge", 4, 16384, 4, 15),
    InstanceType("m7i.xlarge", 4, 16384, 4, 15),
    InstanceType("g4dn.xlarge", 4, 16384, 3, 10, gpus=1, accelerator="nvidia-tesla-t4"),
    InstanceType("g4dn.2xlarge", 8, 32768, 3, 10, gpus=1, accelerator="nvidia-tesla-t4"),
    InstanceType("g5.xlarge", 4, 16384, 4, 15, gpus=1, accelerator="nvidia-a10g"),
    InstanceType("g5.2xlarge", 8, 32768, 4, 15, gpus=1, accelerator="nvidia-a10g"),
    InstanceType("g6.xlarge", 4, 16384, 4, 15, gpus=1, accelerator="nvidia-l4"),
    InstanceType("g6.2xlarge", 8, 32768, 4, 15, gpus=1, accelerator="nvidia-l4"),
)


def instance_type(name: str) -> InstanceType:
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        raise ValueError(
            f"instance type {name!r} is not in components/instance_types.py; add its vCPUs, memory and ENI "
            f"limits there (known: {', '.join(sorted(INSTANCE_TYPES))})"
        ) from None


def eni_max_pods(t: InstanceType) -> int:
    """Pods per node with one IP per pod (no prefix delegation): the EKS AMI's `eni-max-pods.txt` value."""
    return t.enis * (t.ipv4_per_eni - 1) + 2


def managed_node_group_max_pods_cap(t: InstanceType) -> int:
    return MANAGED_NODE_GROUP_MAX_PODS_LARGE if t.vcpus >= _LARGE_VCPUS else MANAGED_NODE_GROUP_MAX_PODS_SMALL


def prefix_delegation_max_pods(t: InstanceType) -> int:
    """The most pods a node can hold with /28 prefixes on every secondary slot, within EKS's cap."""
    addresses = t.enis * (t.ipv4_per_eni - 1) * PREFIX_SIZE + 2
    return min(addresses, managed_node_group_max_pods_cap(t))


def default_max_pods(t: InstanceType) -> int:
    """8 slots per GiB, never fewer than the ENI limit, never more than prefix delegation allows."""
    by_memory = DEFAULT_PODS_PER_GIB * t.memory_mib // 1024
    return min(max(by_memory, eni_max_pods(t)), prefix_delegation_max_pods(t))


def kube_reserved_memory_mib(max_pods: int) -> int:
    """Memory the kubelet keeps from pods on an AL2023 node with this max pods (before eviction headroom)."""
    return KUBE_RESERVED_BASE_MIB + KUBE_RESERVED_PER_POD_MIB * max_pods
