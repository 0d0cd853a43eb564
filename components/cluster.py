"""The Kubernetes cluster the platform runs on, chosen by the type of its Args.

`EksClusterArgs` builds `EksCluster` (components/eks_cluster.py: EKS in its own VPC on AWS),
`ExistingClusterArgs` builds `ExistingCluster` (components/existing_cluster.py: a kube context, no AWS).
Both offer one contract: `handle` for the services on the cluster (components/cluster_handle.py),
`provider` for Kubernetes resources, `stack_outputs` for `__main__` to export.
"""

from __future__ import annotations

import pulumi

from components.eks_cluster import EksCluster, EksClusterArgs
from components.existing_cluster import ExistingCluster, ExistingClusterArgs

ClusterArgs = EksClusterArgs | ExistingClusterArgs


def platform_cluster(
    name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None
) -> EksCluster | ExistingCluster:
    """The cluster component for `args`: EKS for `EksClusterArgs`, a context for `ExistingClusterArgs`."""
    if isinstance(args, EksClusterArgs):
        return EksCluster(name, args, opts)
    if isinstance(args, ExistingClusterArgs):
        return ExistingCluster(name, args, opts)
    raise TypeError(f"platform_cluster: expected EksClusterArgs or ExistingClusterArgs, got {type(args)!r}")
