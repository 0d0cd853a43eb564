"""metrics-server: the `metrics.k8s.io` API, so CPU HorizontalPodAutoscalers (the model server's) can scale.

Neither EKS nor kind runs it. It scrapes each kubelet's resource metrics (port 10250) and serves them through
an APIService the API server proxies to. On EKS the kubelets' serving certificates are signed by the
cluster CA, so metrics-server verifies them. kind's kubelets serve self-signed certificates, which no CA in
the cluster vouches for: on the `local` target (and only there) metrics-server skips that verification
(`--kubelet-insecure-tls`), as the kind and metrics-server READMEs advise. It runs as a restricted pod in
kube-system, which gets no default-deny NetworkPolicy from us, so it needs no allow rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from components import k8s as kb
from versions import METRICS_SERVER_CHART, METRICS_SERVER_IMAGE

NAMESPACE = "kube-system"
RELEASE = "metrics-server"
KUBELET_INSECURE_TLS = "--kubelet-insecure-tls"
# 65534 (nobody): the binary needs no user of its own; the chart's default (1000) names no user either.
_NOBODY = 65534


@dataclass(frozen=True)
class MetricsServerArgs:
    kubelet_insecure_tls: bool = False
    """Skip verifying kubelets' serving certificates: only for kind, whose kubelets self-sign them."""
    node_selector: dict[str, str] = field(default_factory=dict)
    """Where it runs (the system node group on EKS); empty: any node."""


def metrics_server_values(args: MetricsServerArgs) -> dict[str, Any]:
    """Values for the metrics-server chart at `METRICS_SERVER_CHART.version`."""
    return {
        "image": {
            "repository": METRICS_SERVER_IMAGE.repository,
            # The chart renders `repository:tag`; the digest rides on the tag.
            "tag": f"{METRICS_SERVER_IMAGE.tag}@{METRICS_SERVER_IMAGE.digest}",
        },
        # Appended after the chart's defaultArgs (cert dir, preferred address types, node status port).
        "args": [KUBELET_INSECURE_TLS] if args.kubelet_insecure_tls else [],
        "nodeSelector": dict(args.node_selector),
        # The chart's upstream sizing for up to ~100 nodes, with limits so it cannot starve its node.
        "resources": {
            "requests": {"cpu": "100m", "memory": "200Mi"},
            "limits": {"cpu": "500m", "memory": "400Mi"},
        },
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": _NOBODY,
            "runAsGroup": _NOBODY,
            "fsGroup": _NOBODY,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Replaces the chart's whole container context (same hardening, our user).
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": _NOBODY,
            "runAsGroup": _NOBODY,
            "seccompProfile": {"type": "RuntimeDefault"},
            "capabilities": {"drop": ["ALL"]},
        },
    }


class MetricsServer(pulumi.ComponentResource):
    """The metrics-server Helm release."""

    def __init__(
        self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:metrics_server:MetricsServer", name, None, opts)
        kb.declare_chart_release(
            f"{name}-release",
            METRICS_SERVER_CHART,
            release=RELEASE,
            namespace=NAMESPACE,
            values=metrics_server_values(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
