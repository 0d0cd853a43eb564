"""Pure subnet planning: carve a VPC range into one public and one private subnet per availability zone.

Private subnets hold the nodes and, with the VPC CNI, every pod's IP address, so they get the lion's share:
the VPC is split into eight equal blocks, the first `az_count` become private subnets and the last block is
split again into eight small public subnets (NAT gateways and load balancers only need a few addresses).
For a /16 that is a /19 (8,190 addresses) private and a /22 (1,022 addresses) public subnet per AZ.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

MAX_AZS = 6
# Eight private blocks, the last reserved for the public subnets.
_SPLIT_BITS = 3
# A private subnet smaller than /23 (510 addresses) runs out of pod IPs with a handful of nodes.
_SMALLEST_PRIVATE_PREFIX = 23


@dataclass(frozen=True)
class SubnetPlan:
    """The CIDRs of one availability zone's subnets."""

    az_index: int
    public_cidr: str
    private_cidr: str


def plan_subnets(vpc_cidr: str, az_count: int) -> list[SubnetPlan]:
    """One public and one private CIDR per AZ, non-overlapping, all inside `vpc_cidr`."""
    vpc = ipaddress.IPv4Network(vpc_cidr, strict=True)
    if not 1 <= az_count <= MAX_AZS:
        raise ValueError(f"network.availabilityZones = {az_count}: expected 1..{MAX_AZS}")
    private_prefix = vpc.prefixlen + _SPLIT_BITS
    if private_prefix > _SMALLEST_PRIVATE_PREFIX:
        raise ValueError(
            f"network.vpcCidr = {vpc_cidr!r}: too small for EKS pod networking; expected a /"
            f"{_SMALLEST_PRIVATE_PREFIX - _SPLIT_BITS} or larger (e.g. 10.0.0.0/16)"
        )
    blocks = list(vpc.subnets(new_prefix=private_prefix))
    public_blocks = list(blocks[-1].subnets(new_prefix=private_prefix + _SPLIT_BITS))
    return [
        SubnetPlan(az_index=i, public_cidr=str(public_blocks[i]), private_cidr=str(blocks[i]))
        for i in range(az_count)
    ]
