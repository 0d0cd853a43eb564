"""Node group planning: architectures, the GPU group, kubelet maxPods in the user data, autoscaler tags."""

from __future__ import annotations

import email

import pytest
import yaml

from components.node_groups import (
    GPU_ACCELERATOR_LABEL,
    NodeGroupArgs,
    NodeGroupsArgs,
    autoscaler_group_tags,
    default_node_group_max_pods,
    is_arm_instance_type,
    node_user_data,
    plan_node_groups,
)
from pipelines.scheduling import GPU_TAINT_KEY


def _group(*types: str, min_size: int = 1, desired_size: int = 1, max_size: int = 2) -> NodeGroupArgs:
    """A node group as settings resolve it (maxPods from the smallest type)."""
    return NodeGroupArgs(
        instance_types=types,
        capacity_type="ON_DEMAND",
        min_size=min_size,
        desired_size=desired_size,
        max_size=max_size,
        disk_size_gib=20,
        max_pods=default_node_group_max_pods(types),
    )


def test_arm_detection_and_mixed_architectures_are_refused() -> None:
    assert [is_arm_instance_type(t) for t in ("m7g.large", "c6gn.xlarge", "g4dn.xlarge", "t3a.medium")] == [
        True,
        True,
        False,
        False,
    ]
    group = _group("m7g.large", "m6i.large", min_size=0, desired_size=0, max_size=1)
    with pytest.raises(ValueError, match=r"node group 'workloads'.*mixes ARM"):
        plan_node_groups(NodeGroupsArgs(system=_group("t3a.medium"), workloads=group))


def test_gpu_group_is_tainted_scales_to_zero_and_uses_the_nvidia_ami() -> None:
    base = _group("t3a.medium")
    gpu = _group("g4dn.xlarge", min_size=1, desired_size=0)
    plans = {p.role: p for p in plan_node_groups(NodeGroupsArgs(system=base, workloads=base, gpu=gpu))}
    assert plans["gpu"].min_size == 0
    assert plans["gpu"].ami_type == "AL2023_x86_64_NVIDIA"
    assert [(t.key, t.effect) for t in plans["gpu"].taints] == [(GPU_TAINT_KEY, "NO_SCHEDULE")]
    assert plans["system"].taints == () and plans["system"].ami_type == "AL2023_x86_64_STANDARD"


def _node_config(user_data: str) -> dict:
    message = email.message_from_string(user_data)
    [part] = [p for p in message.walk() if p.get_content_type() == "application/node.eks.aws"]
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return yaml.safe_load(payload)


def test_user_data_is_a_mime_nodeadm_config_with_max_pods() -> None:
    [plan] = [
        p
        for p in plan_node_groups(
            NodeGroupsArgs(
                system=_group("t3a.medium", max_size=1),
                workloads=_group("t3a.large", min_size=0, desired_size=0, max_size=1),
            )
        )
        if p.role == "workloads"
    ]
    config = _node_config(node_user_data(plan))
    assert config == {
        "apiVersion": "node.eks.aws/v1alpha1",
        "kind": "NodeConfig",
        "spec": {"kubelet": {"config": {"maxPods": 64}}},
    }


def test_autoscaler_group_tags_describe_labels_and_taints_for_scale_from_zero() -> None:
    gpu = _group("g5.xlarge", min_size=0, desired_size=0)
    base = _group("t3a.medium")
    plan = plan_node_groups(NodeGroupsArgs(system=base, workloads=base, gpu=gpu))[2]
    template = "k8s.io/cluster-autoscaler/node-template"
    assert autoscaler_group_tags(plan) == {
        f"{template}/label/mlops.platform/node-role": "gpu",
        f"{template}/label/{GPU_ACCELERATOR_LABEL}": "nvidia-a10g",
        f"{template}/taint/{GPU_TAINT_KEY}": "true:NoSchedule",
    }
