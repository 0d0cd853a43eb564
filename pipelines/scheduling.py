"""Where pipeline steps run on the cluster: the node labels and the GPU taint the EKS node groups carry.

One home for names both sides use: `components/node_groups.py` puts them on the nodes, `pipelines/pipeline.py`
selects and tolerates them. Here, not in `components/`, because the steps image is built without that package.
"""

from __future__ import annotations

NODE_ROLE_LABEL = "mlops.platform/node-role"
"""Every managed node group labels its nodes with its role: system, workloads or gpu."""
GPU_NODE_ROLE = "gpu"
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "true"
GPU_TAINT_EFFECT = "NoSchedule"
"""Only pods that tolerate the taint (GPU steps, the NVIDIA device plugin) land on GPU nodes."""
GPU_RESOURCE = "nvidia.com/gpu"
"""The extended resource the NVIDIA device plugin advertises and a GPU step requests."""
