"""A cluster somebody else runs (kind, k3d, minikube), reached through a kubeconfig context.

No AWS resource at all: a Kubernetes provider for the context, and metrics-server, which kind does not run
either (the model server's HPA needs it); k3d and minikube's addon run their own, so it can be left out.
Consumers take `handle` (components/cluster_handle.py: an `ExistingClusterHandle`, the provider and no Pod
Identity), like they take `EksCluster`'s; there is nothing to export. `components.cluster.platform_cluster`
picks this component for `ExistingClusterArgs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.cluster_handle import ExistingClusterHandle, with_former_cluster_type
from components.metrics_server import MetricsServer, MetricsServerArgs


@dataclass(frozen=True)
class ExistingClusterArgs:
    """A cluster somebody else runs (kind, k3d, minikube), reached through a kubeconfig context."""

    kube_context: str
    """The kubeconfig context."""
    install_metrics_server: bool = True
    """Install metrics-server (kind has none); False where the cluster runs its own (k3d, minikube's addon),
    which a second release would collide with."""


class ExistingCluster(pulumi.ComponentResource):
    """A kube context as the platform's cluster; `handle` is what services need."""

    handle: ExistingClusterHandle
    provider: k8s.Provider
    stack_outputs: dict[str, pulumi.Output[Any]]

    def __init__(
        self, name: str, args: ExistingClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:cluster:ExistingCluster", name, None, with_former_cluster_type(opts))
        self.provider = k8s.Provider(
            f"{name}-k8s", context=args.kube_context, opts=pulumi.ResourceOptions(parent=self)
        )
        if args.install_metrics_server:
            # kind's kubelets serve self-signed certificates: metrics-server cannot verify them there.
            MetricsServer(
                f"{name}-metrics-server",
                MetricsServerArgs(kubelet_insecure_tls=True),
                opts=pulumi.ResourceOptions(parent=self, providers={"kubernetes": self.provider}),
            )
        self.handle = ExistingClusterHandle(self.provider)
        self.stack_outputs = {}
        self.register_outputs({})
