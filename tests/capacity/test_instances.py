"""The node arithmetic against the numbers EKS itself produces."""

from __future__ import annotations

import pytest

from capacity.instances import allocatable, kube_reserved_cpu_millis
from components.instance_types import eni_max_pods, instance_type, kube_reserved_memory_mib


@pytest.mark.parametrize(
    ("name", "pods"),
    [("t3.medium", 17), ("t3a.medium", 17), ("t3a.large", 35), ("m6i.large", 29), ("m6i.xlarge", 58)],
)
def test_eni_max_pods_match_the_eks_table(name: str, pods: int) -> None:
    # amazon-eks-ami's eni-max-pods.txt lists exactly these.
    assert eni_max_pods(instance_type(name)) == pods


@pytest.mark.parametrize(("vcpus", "millis"), [(1, 60), (2, 70), (4, 80), (8, 90), (16, 110)])
def test_kube_reserved_cpu_follows_the_eks_bands(vcpus: int, millis: int) -> None:
    assert kube_reserved_cpu_millis(vcpus) == millis


def test_kube_reserved_memory_grows_with_max_pods() -> None:
    assert kube_reserved_memory_mib(17) == 442
    assert kube_reserved_memory_mib(110) == 1465


def test_t3_medium_allocatable_is_at_or_just_below_what_a_real_node_reports() -> None:
    # A t3.medium EKS AL2023 node reports allocatable cpu 1930m, memory 3388364Ki (3308 MiB).
    a = allocatable(instance_type("t3.medium"))
    assert (a.cpu_millis, a.pods) == (1930, 17)
    assert 3308 * 0.97 <= a.memory_mib <= 3308


def test_more_pods_per_node_cost_memory() -> None:
    t3a_large = instance_type("t3a.large")
    eni, prefix = allocatable(t3a_large), allocatable(t3a_large, max_pods=110)
    assert prefix.pods == 110
    assert eni.memory_mib - prefix.memory_mib == 11 * (110 - 35)


def test_an_unknown_instance_type_is_named() -> None:
    with pytest.raises(ValueError, match=r"'x9z\.huge' is not in components/instance_types\.py"):
        instance_type("x9z.huge")
