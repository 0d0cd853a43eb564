"""components/instance_types.py: pod slots per instance type (ENI, prefix delegation, our default)."""

from __future__ import annotations

from components.instance_types import (
    INSTANCE_TYPES,
    default_max_pods,
    eni_max_pods,
    kube_reserved_memory_mib,
    prefix_delegation_max_pods,
)


def test_instance_type_pod_limits_match_the_eks_ami_tables() -> None:
    # awslabs/amazon-eks-ami eni-max-pods.txt and FACTS.md.
    expected = {"t3a.medium": 17, "t3a.large": 35, "m5.large": 29, "m6i.xlarge": 58, "g4dn.xlarge": 29}
    assert {t: eni_max_pods(INSTANCE_TYPES[t]) for t in expected} == expected
    assert {prefix_delegation_max_pods(t) for t in INSTANCE_TYPES.values()} == {110}
    assert kube_reserved_memory_mib(110) == 1465


def test_default_max_pods_is_eight_per_gib_within_the_eni_and_eks_limits() -> None:
    defaults = {t: default_max_pods(INSTANCE_TYPES[t]) for t in ("t3a.medium", "t3a.large", "m6i.xlarge")}
    assert defaults == {"t3a.medium": 32, "t3a.large": 64, "m6i.xlarge": 110}
    for t in INSTANCE_TYPES.values():
        assert eni_max_pods(t) <= default_max_pods(t) <= prefix_delegation_max_pods(t), t.name
