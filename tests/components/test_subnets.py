"""components/subnets.py: the pure subnet plan every EKS VPC is carved by."""

from __future__ import annotations

import ipaddress

import pytest

from components.subnets import plan_subnets


@pytest.mark.parametrize(("vpc", "azs"), [("10.20.0.0/16", 2), ("10.30.0.0/16", 3), ("10.0.0.0/20", 6)])
def test_subnet_plan_is_disjoint_inside_the_vpc_and_private_subnets_are_larger(vpc: str, azs: int) -> None:
    plans = plan_subnets(vpc, azs)
    network = ipaddress.IPv4Network(vpc)
    cidrs = [ipaddress.IPv4Network(c) for p in plans for c in (p.public_cidr, p.private_cidr)]
    assert len(plans) == azs
    assert all(c.subnet_of(network) for c in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1 :])
    assert all(
        ipaddress.IPv4Network(p.private_cidr).num_addresses
        >= 8 * ipaddress.IPv4Network(p.public_cidr).num_addresses
        for p in plans
    )


def test_subnet_plan_for_a_16_gives_19_private_and_22_public() -> None:
    first = plan_subnets("10.20.0.0/16", 2)[0]
    assert (first.private_cidr, first.public_cidr) == ("10.20.0.0/19", "10.20.224.0/22")


def test_subnet_plan_refuses_a_vpc_too_small_for_pod_ips() -> None:
    with pytest.raises(ValueError, match=r"network\.vpcCidr.*too small"):
        plan_subnets("10.0.0.0/24", 2)
