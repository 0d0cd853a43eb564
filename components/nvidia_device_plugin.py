"""The NVIDIA device plugin: GPU nodes advertise `nvidia.com/gpu`, so a step can request a GPU.

The EKS-optimized AL2023 NVIDIA AMI ships the driver and the container toolkit, not the device plugin. The
DaemonSet runs only on the gpu node group: the chart's default affinity (NFD / GPU feature discovery labels,
which nothing sets on EKS) is replaced by our node-role label, and it tolerates only the GPU taint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components import k8s as kb
from pipelines.scheduling import GPU_NODE_ROLE, GPU_TAINT_EFFECT, GPU_TAINT_KEY, NODE_ROLE_LABEL
from versions import NVIDIA_DEVICE_PLUGIN_CHART, NVIDIA_DEVICE_PLUGIN_IMAGE

NAMESPACE = "kube-system"
RELEASE = "nvidia-device-plugin"


@dataclass(frozen=True)
class NvidiaDevicePluginArgs:
    node_role_label: str = NODE_ROLE_LABEL
    """The node label that tells node groups apart."""
    gpu_node_role: str = GPU_NODE_ROLE
    """Its value on GPU nodes: the only nodes the plugin runs on."""


def nvidia_device_plugin_values(args: NvidiaDevicePluginArgs) -> dict[str, Any]:
    """Values for the nvidia-device-plugin chart at `NVIDIA_DEVICE_PLUGIN_CHART.version`."""
    only_gpu_nodes = {"key": args.node_role_label, "operator": "In", "values": [args.gpu_node_role]}
    return {
        "image": {
            "repository": NVIDIA_DEVICE_PLUGIN_IMAGE.repository,
            # The chart renders `repository:tag`; the digest rides on the tag.
            "tag": f"{NVIDIA_DEVICE_PLUGIN_IMAGE.tag}@{NVIDIA_DEVICE_PLUGIN_IMAGE.digest}",
        },
        "nodeSelector": {args.node_role_label: args.gpu_node_role},
        # Helm merges maps but replaces lists: this one term replaces the chart's three NFD-label terms.
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [only_gpu_nodes]}]
                }
            }
        },
        # Replaces the chart's list (which also tolerates CriticalAddonsOnly): the GPU taint and nothing else.
        "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "100m", "memory": "128Mi"},
        },
        "gfd": {"enabled": False},
        "nfd": {"enabled": False},
    }


class NvidiaDevicePlugin(pulumi.ComponentResource):
    """The device plugin's Helm release."""

    def __init__(
        self, name: str, args: NvidiaDevicePluginArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:nvidia_device_plugin:NvidiaDevicePlugin", name, None, opts)
        kb.declare_chart_release(
            f"{name}-release",
            NVIDIA_DEVICE_PLUGIN_CHART,
            release=RELEASE,
            namespace=NAMESPACE,
            values=nvidia_device_plugin_values(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})
