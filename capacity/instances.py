"""What an EKS AL2023 node of each instance type offers pods: slots and allocatable CPU/memory.

The instance facts (vCPUs, memory, ENIs, IPv4 per ENI, GPUs) live in one table,
`components/instance_types.py`, which settings validate node groups against; its ENI figures match
awslabs/amazon-eks-ami v20260724
`nodeadm/internal/kubelet/instance-info.jsonl`, the table the node bootstrap itself reads.

Reservations follow the EKS AL2023 node bootstrap, awslabs/amazon-eks-ami v20260724
`nodeadm/internal/kubelet/config.go`: kube-reserved memory = 11 MiB x maxPods + 255 MiB
(`getMemoryMebibytesToReserve`), kube-reserved CPU = 6% of the first core, 1% of the second, 0.5% of cores
3-4 and 0.25% above (`getCPUMillicoresToReserve`), eviction threshold `memory.available<100Mi`;
max pods = ENIs x (IPv4 per ENI - 1) + 2 (`eni_max_pods.go` `calculateStandardMaxPods`) unless the node
group sets its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.instance_types import InstanceType, eni_max_pods, kube_reserved_memory_mib

# The kernel and firmware keep part of the nominal memory: a node's capacity is below the instance's
# MiB. Karpenter estimates it with this default (`VM_MEMORY_OVERHEAD_PERCENT`, 7.5%); real t3.medium
# nodes report 3851 MiB of 4096 (6%), so the estimate errs on the safe side.
VM_MEMORY_OVERHEAD = 0.075
EVICTION_HARD_MEMORY_MIB = 100


@dataclass(frozen=True)
class Allocatable:
    cpu_millis: int
    memory_mib: int
    pods: int


def kube_reserved_cpu_millis(vcpus: int) -> int:
    total = vcpus * 1000
    # (range end in millicores, reserved share in 1/10000): nodeadm's cpuRanges and percentages.
    bands = ((1000, 600), (2000, 100), (4000, 50), (total, 25))
    reserved, start = 0, 0
    for end, share in bands:
        if total > start:
            reserved += (min(total, end) - start) * share // 10000
        start = end
    return reserved


def node_capacity_memory_mib(instance: InstanceType) -> int:
    return int(instance.memory_mib * (1 - VM_MEMORY_OVERHEAD))


def allocatable(instance: InstanceType, max_pods: int | None = None) -> Allocatable:
    """What the kubelet offers pods on one node: capacity - kube-reserved - eviction threshold."""
    pods = eni_max_pods(instance) if max_pods is None else max_pods
    memory = node_capacity_memory_mib(instance) - kube_reserved_memory_mib(pods) - EVICTION_HARD_MEMORY_MIB
    return Allocatable(instance.vcpus * 1000 - kube_reserved_cpu_millis(instance.vcpus), memory, pods)
