"""EC2 instance facts and what an EKS AL2023 node of each type offers pods (slots, allocatable CPU/memory).

Instance facts: vCPUs and memory from https://aws.amazon.com/ec2/instance-types/; ENIs and IPv4 addresses
per ENI from awslabs/amazon-eks-ami v20260724 `nodeadm/internal/kubelet/instance-info.jsonl` (the table the
node bootstrap itself reads). Every type our stack files and docs name is here, plus the GPU types a
`gpu` group may use.

Reservations follow the EKS AL2023 node bootstrap, awslabs/amazon-eks-ami v20260724
`nodeadm/internal/kubelet/config.go`: kube-reserved memory = 11 MiB x maxPods + 255 MiB
(`getMemoryMebibytesToReserve`), kube-reserved CPU = 6% of the first core, 1% of the second, 0.5% of cores
3-4 and 0.25% above (`getCPUMillicoresToReserve`), eviction threshold `memory.available<100Mi`;
max pods = ENIs x (IPv4 per ENI - 1) + 2 (`eni_max_pods.go` `calculateStandardMaxPods`) unless the node
group sets its own.
"""

from __future__ import annotations

from dataclasses import dataclass

# The kernel and firmware keep part of the nominal memory: a node's capacity is below the instance's
# MiB. Karpenter estimates it with this default (`VM_MEMORY_OVERHEAD_PERCENT`, 7.5%); real t3.medium
# nodes report 3851 MiB of 4096 (6%), so the estimate errs on the safe side.
VM_MEMORY_OVERHEAD = 0.075
EVICTION_HARD_MEMORY_MIB = 100


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: int
    memory_mib: int
    """Nominal memory, as EC2 lists it."""
    enis: int
    ipv4_per_eni: int
    nitro: bool
    """Nitro instances support VPC CNI prefix delegation."""
    gpus: int = 0


def _types(*rows: tuple[str, int, int, int, int, bool, int]) -> dict[str, InstanceType]:
    return {row[0]: InstanceType(*row) for row in rows}


INSTANCE_TYPES: dict[str, InstanceType] = _types(
    # name, vCPU, MiB, ENIs, IPv4/ENI, Nitro, GPUs
    ("t3.medium", 2, 4096, 3, 6, True, 0),
    ("t3.large", 2, 8192, 3, 12, True, 0),
    ("t3.xlarge", 4, 16384, 4, 15, True, 0),
    ("t3a.medium", 2, 4096, 3, 6, True, 0),
    ("t3a.large", 2, 8192, 3, 12, True, 0),
    ("t3a.xlarge", 4, 16384, 4, 15, True, 0),
    ("m5.large", 2, 8192, 3, 10, True, 0),
    ("m5.xlarge", 4, 16384, 4, 15, True, 0),
    ("m5a.large", 2, 8192, 3, 10, True, 0),
    ("m5a.xlarge", 4, 16384, 4, 15, True, 0),
    ("m6a.large", 2, 8192, 3, 10, True, 0),
    ("m6a.xlarge", 4, 16384, 4, 15, True, 0),
    ("m6i.large", 2, 8192, 3, 10, True, 0),
    ("m6i.xlarge", 4, 16384, 4, 15, True, 0),
    ("m7i.large", 2, 8192, 3, 10, True, 0),
    ("m7i.xlarge", 4, 16384, 4, 15, True, 0),
    ("c6a.large", 2, 4096, 3, 10, True, 0),
    ("c6a.xlarge", 4, 8192, 4, 15, True, 0),
    ("r6a.large", 2, 16384, 3, 10, True, 0),
    ("g4dn.xlarge", 4, 16384, 3, 10, True, 1),
    ("g5.xlarge", 4, 16384, 4, 15, True, 1),
)


@dataclass(frozen=True)
class Allocatable:
    cpu_millis: int
    memory_mib: int
    pods: int


def instance_type(name: str) -> InstanceType:
    try:
        return INSTANCE_TYPES[name]
    except KeyError:
        raise ValueError(
            f"instance type {name!r} is not in capacity/instances.py INSTANCE_TYPES; add its vCPUs and "
            "memory (https://aws.amazon.com/ec2/instance-types/) and ENIs/IPv4 per ENI (amazon-eks-ami "
            "nodeadm/internal/kubelet/instance-info.jsonl)"
        ) from None


def eni_max_pods(instance: InstanceType) -> int:
    """Pods the VPC CNI can address without prefix delegation (one secondary IP per pod)."""
    return instance.enis * (instance.ipv4_per_eni - 1) + 2


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


def kube_reserved_memory_mib(max_pods: int) -> int:
    return 11 * max_pods + 255


def node_capacity_memory_mib(instance: InstanceType) -> int:
    return int(instance.memory_mib * (1 - VM_MEMORY_OVERHEAD))


def allocatable(instance: InstanceType, max_pods: int | None = None) -> Allocatable:
    """What the kubelet offers pods on one node: capacity - kube-reserved - eviction threshold."""
    pods = eni_max_pods(instance) if max_pods is None else max_pods
    if pods > eni_max_pods(instance) and not instance.nitro:
        raise ValueError(
            f"{instance.name}: max pods {pods} exceeds its ENI limit {eni_max_pods(instance)} and it is "
            "not a Nitro instance, so prefix delegation cannot raise it"
        )
    memory = node_capacity_memory_mib(instance) - kube_reserved_memory_mib(pods) - EVICTION_HARD_MEMORY_MIB
    return Allocatable(instance.vcpus * 1000 - kube_reserved_cpu_millis(instance.vcpus), memory, pods)
