"""The planner on small hand-made stacks: placement rules, headroom, errors that name the pod."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from capacity.addons import eks_addons
from capacity.plan import (
    NodeGroupCapacity,
    UnschedulablePodError,
    from_node_group_plans,
    plan_capacity,
    size_to_fit,
)
from capacity.workloads import Container, Toleration, Workload, from_object
from components.instance_types import instance_type
from components.node_groups import (
    NodeGroupArgs,
    NodeGroupsArgs,
    default_node_group_max_pods,
    plan_node_groups,
)
from pipelines.scheduling import NODE_ROLE_LABEL

GPU_TOLERATION = (Toleration("nvidia.com/gpu", "Exists", effect="NoSchedule"),)


def _group(
    role: str, type_name: str = "t3a.medium", nodes: int = 1, max_size: int = 3, **kw: object
) -> NodeGroupCapacity:
    return NodeGroupCapacity(
        role=role,
        instance_type=instance_type(type_name),
        capacity_type="ON_DEMAND",
        nodes=nodes,
        min_size=0,
        max_size=max_size,
        labels={NODE_ROLE_LABEL: role, "kubernetes.io/os": "linux"},
        **kw,  # type: ignore[arg-type]
    )


def _pod(
    name: str,
    cpu: int = 100,
    memory: int = 128,
    replicas: int = 1,
    *,
    selector: Mapping[str, str] | None = None,
    tolerations: tuple[Toleration, ...] = (),
    kind: str = "Deployment",
    per_node: bool = False,
    transient: bool = False,
) -> Workload:
    return Workload(
        "test",
        kind,
        "ns",
        name,
        replicas,
        (Container(name, cpu, memory),),
        node_selector=dict(selector or {}),
        tolerations=tolerations,
        per_node=per_node,
        transient=transient,
    )


def test_effective_request_is_the_larger_of_init_and_app_containers() -> None:
    pod = Workload(
        "test",
        "Deployment",
        "ns",
        "p",
        1,
        (
            Container("migrate", 500, 64, init=True),
            Container("app", 100, 256),
            Container("sidecar", 50, 32),
        ),
    )
    assert (pod.cpu_millis, pod.memory_mib) == (500, 288)


def test_a_native_sidecar_counts_next_to_the_app_and_the_later_init_containers() -> None:
    pod = Workload(
        "test",
        "Deployment",
        "ns",
        "p",
        1,
        (
            Container("proxy", 100, 100, init=True, sidecar=True),
            Container("migrate", 300, 10, init=True),
            Container("app", 100, 100),
        ),
    )
    assert (pod.cpu_millis, pod.memory_mib) == (400, 200)


def test_rendered_objects_give_replicas_requests_and_transience() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "a"},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "nodeSelector": {"x": "y"},
                    "initContainers": [
                        {"name": "i", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}
                    ],
                    "containers": [
                        {"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "500Mi"}}}
                    ],
                }
            },
        },
    }
    web = from_object(deployment)
    assert web is not None
    assert (web.replicas, web.cpu_millis, web.memory_mib, web.transient) == (3, 1000, 1024, False)
    assert web.node_selector == {"x": "y"}
    job = from_object(
        {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": []}}}}
    )
    assert job is not None and job.transient and job.namespace == "default"
    assert from_object({"kind": "ConfigMap", "metadata": {"name": "c"}}) is None


def test_daemonsets_take_a_slot_and_their_requests_on_every_node_they_tolerate() -> None:
    daemon = _pod("agent", 50, 64, kind="DaemonSet", per_node=True)
    tolerant = _pod(
        "agent-everywhere",
        10,
        10,
        kind="DaemonSet",
        per_node=True,
        tolerations=(Toleration(operator="Exists"),),
    )
    gpu = _group("gpu", "g4dn.xlarge", nodes=2, taints=(("nvidia.com/gpu", "true", "NoSchedule"),))
    plan = plan_capacity([daemon, tolerant], [_group("system", nodes=2), gpu])
    system, gpu_result = plan.groups
    assert (system.pods, system.cpu_requested_m, system.memory_requested_mib) == (4, 120, 148)
    assert (gpu_result.pods, gpu_result.cpu_requested_m) == (2, 20)


def test_daemonsets_bigger_than_a_node_are_an_error_naming_them() -> None:
    daemon = _pod("hog", 100, 4096, kind="DaemonSet", per_node=True)
    with pytest.raises(
        UnschedulablePodError, match=r"DaemonSets of group system \(DaemonSet ns/hog \(test\)\)"
    ):
        plan_capacity([daemon], [_group("system")])


def test_pods_fill_the_first_group_up_to_the_headroom_then_the_next() -> None:
    # t3a.medium: 1930m CPU allocatable, 80% = 1544m: three 500m pods fit, the fourth spills over.
    pods = [_pod("web", 500, 128, replicas=4)]
    plan = plan_capacity(pods, [_group("system"), _group("workloads")])
    assert plan.fits
    assert [p.role for p in plan.placements] == ["system"] * 3 + ["workloads"]
    assert min(g.headroom for g in plan.groups) >= 0.2


def test_too_many_pods_for_the_pod_slots_do_not_fit_and_are_named() -> None:
    # 17 slots, 13 within the headroom: 14 tiny pods leave one without room.
    plan = plan_capacity([_pod("tiny", 1, 1, replicas=14)], [_group("system", max_size=1)])
    assert not plan.fits
    assert plan.unplaced == ("Deployment ns/tiny (test)",)
    assert size_to_fit([_pod("tiny", 1, 1, replicas=14)], [_group("system", max_size=1)]).unplaced


def test_a_pod_bigger_than_any_node_is_an_error_naming_it() -> None:
    with pytest.raises(
        UnschedulablePodError, match=r"Deployment ns/huge \(test\): requests 100m CPU / 8192 MiB"
    ):
        plan_capacity([_pod("huge", 100, 8192)], [_group("system"), _group("workloads")])


def test_a_pod_no_group_admits_is_an_error_naming_it() -> None:
    lost = _pod("lost", selector={NODE_ROLE_LABEL: "gpu"})
    with pytest.raises(UnschedulablePodError, match=r"Deployment ns/lost \(test\): no node group admits it"):
        plan_capacity([lost], [_group("system"), _group("workloads")])


def test_only_pods_that_tolerate_the_gpu_taint_land_on_gpu_nodes() -> None:
    gpu = _group("gpu", "g4dn.xlarge", taints=(("nvidia.com/gpu", "true", "NoSchedule"),))
    step = _pod("train", 1000, 8192, selector={NODE_ROLE_LABEL: "gpu"}, tolerations=GPU_TOLERATION)
    other = _pod("web", 100, 128)
    plan = plan_capacity([step, other], [_group("system"), gpu])
    assert {p.pod: p.role for p in plan.placements} == {
        "Deployment ns/train (test)": "gpu",
        "Deployment ns/web (test)": "system",
    }
    with pytest.raises(UnschedulablePodError, match="no node group admits it"):
        plan_capacity([_pod("train", selector={NODE_ROLE_LABEL: "gpu"})], [_group("system"), gpu])


def test_transient_pods_fit_one_at_a_time_beside_the_steady_ones() -> None:
    steady = _pod("web", 1500, 128)  # 1500m of 1544m within headroom on the one node
    hook = _pod("hook", 400, 64, kind="Job", transient=True)
    plan = plan_capacity(
        [steady, hook, _pod("hook-2", 400, 64, kind="Job", transient=True)], [_group("system")]
    )
    assert plan.fits, plan.unplaced  # each hook has 430m left at full allocatable; they need not coexist
    too_big = _pod("hook", 500, 64, kind="Job", transient=True)
    assert plan_capacity([steady, too_big], [_group("system")]).unplaced == ("Job ns/hook (test)",)


def test_size_to_fit_adds_nodes_up_to_max_and_keeps_the_desired_size_visible() -> None:
    pods = [_pod("web", 500, 128, replicas=7)]
    plan = size_to_fit(pods, [_group("system", nodes=1, max_size=4)])
    [system] = plan.groups
    assert plan.fits and (system.desired_nodes, system.nodes) == (1, 3)
    capped = size_to_fit(pods, [_group("system", nodes=1, max_size=2)])
    assert not capped.fits and capped.groups[0].nodes == 2


def _node_group(
    *types: str, spot: bool = False, min_size: int, desired_size: int, max_size: int
) -> NodeGroupArgs:
    return NodeGroupArgs(
        instance_types=types,
        capacity_type="SPOT" if spot else "ON_DEMAND",
        min_size=min_size,
        desired_size=desired_size,
        max_size=max_size,
        disk_size_gib=40,
        max_pods=default_node_group_max_pods(types),
    )


def _settings() -> NodeGroupsArgs:
    return NodeGroupsArgs(
        system=_node_group("t3a.large", min_size=1, desired_size=1, max_size=2),
        workloads=_node_group("t3a.large", "t3a.medium", spot=True, min_size=0, desired_size=1, max_size=3),
        gpu=_node_group("g4dn.xlarge", min_size=0, desired_size=0, max_size=1),
    )


def test_node_group_plans_become_capacity_with_the_smallest_spot_type_and_taints() -> None:
    system, workloads, gpu = from_node_group_plans(plan_node_groups(_settings()))
    assert system.instance_type.name == "t3a.large" and workloads.instance_type.name == "t3a.medium"
    assert gpu.taints == (("nvidia.com/gpu", "true", "NoSchedule"),) and gpu.nodes == 0
    assert workloads.labels["eks.amazonaws.com/capacityType"] == "SPOT"


def test_the_node_groups_max_pods_replaces_the_eni_limit() -> None:
    plain = plan_node_groups(_settings())[0]
    [delegated] = from_node_group_plans([dataclasses.replace(plain, max_pods=40)])
    assert delegated.allocatable.pods == 40
    # t3a.large: 3 ENIs x (12 - 1) + 2 = 35 without prefix delegation; the cluster sets its own cap.
    assert dataclasses.replace(delegated, max_pods=None).allocatable.pods == 35
    assert from_node_group_plans([plain])[0].allocatable.pods == plain.max_pods
    plan = plan_capacity([_pod("tiny", 1, 1, replicas=30)], [delegated])
    assert plan.fits and plan.groups[0].pod_slots == 40


def test_eks_addons_count_the_network_policy_agent() -> None:
    addons = {a.name: a for a in eks_addons()}
    assert [c.name for c in addons["aws-node"].containers if not c.init] == ["aws-node", "aws-eks-nodeagent"]
    assert addons["aws-node"].cpu_millis == 50
    assert addons["coredns"].replicas == 2 and addons["ebs-csi-controller"].memory_mib == 192
    # Installed as Helm releases: counted from their upstream facts, never twice.
    assert not {"cluster-autoscaler", "metrics-server", "nvidia-device-plugin"} & set(addons)


def test_a_pod_pinned_to_one_group_is_placed_before_pods_that_may_run_anywhere() -> None:
    # Plain first-fit decreasing puts the big floating pod on the first node (system) and leaves no room for
    # the smaller pod only system admits; placing the most constrained pod first fits both.
    system, workloads = _group("system"), _group("workloads")
    room = system.allocatable.memory_mib * 0.8
    pinned = _pod("pinned", memory=int(room * 0.6), selector={NODE_ROLE_LABEL: "system"})
    floating = _pod("floating", memory=int(room * 0.7))
    plan = plan_capacity([floating, pinned], [system, workloads])
    assert plan.fits
    where = {p.pod: p.role for p in plan.placements}
    assert where == {pinned.ident: "system", floating.ident: "workloads"}
