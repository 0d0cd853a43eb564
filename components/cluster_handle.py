"""What services need from the cluster they run on: a tagged handle, EKS or existing.

`EksCluster` (components/eks_cluster.py) hands out an `EksClusterHandle`, `ExistingCluster`
(components/existing_cluster.py) an `ExistingClusterHandle`. Components that may run on either take
`ClusterHandle` and choose by its type (Pod Identity and VPC-bound services need `EksClusterHandle`), never
by a mode string. Light on purpose: no pulumi-aws or pulumi-eks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ClusterVpc:
    """Where VPC-bound services (RDS) go and who may reach them."""

    vpc_id: pulumi.Input[str]
    """The cluster's VPC."""
    cidr: str
    """The VPC's range."""
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets, one per AZ."""
    node_security_group_id: pulumi.Input[str]
    """The cluster nodes' security group."""


@dataclass(frozen=True)
class EksClusterHandle:
    """What services on an EKS cluster need: the Kubernetes provider, Pod Identity's cluster, the VPC."""

    provider: k8s.Provider
    """Kubernetes provider built from the cluster's kubeconfig output."""
    cluster_name: pulumi.Input[str]
    """Resolves once the cluster is ready; Pod Identity associations are made in it."""
    vpc: ClusterVpc
    """The cluster's network."""

    @property
    def pod_identity_cluster(self) -> pulumi.Input[str]:
        """Where Pod Identity associations are made (services reach AWS without keys)."""
        return self.cluster_name


@dataclass(frozen=True)
class ExistingClusterHandle:
    """An existing cluster: only a Kubernetes provider (no AWS, no Pod Identity)."""

    provider: k8s.Provider
    """Kubernetes provider for the kube context."""

    @property
    def pod_identity_cluster(self) -> None:
        """No EKS, no Pod Identity: services here use the in-cluster MinIO's keys."""
        return None


ClusterHandle = EksClusterHandle | ExistingClusterHandle


# Both cluster components were one, of this type, until they were split. Deployed stacks hold it in the
# component's URN and, through the parent chain, in every child's: an alias to it lets the engine carry
# each resource over to the new type instead of replacing it.
FORMER_CLUSTER_TYPE = "mlops:cluster:PlatformCluster"


def with_former_cluster_type(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """`opts` plus an alias to the former type; children inherit their parent's aliases, so theirs follow."""
    former = pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=FORMER_CLUSTER_TYPE)])
    return pulumi.ResourceOptions.merge(opts, former)
