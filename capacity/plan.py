"""First-fit-decreasing placement of a stack's pods on its node groups, with headroom.

Rules, in the order they apply:
- Nodes: each group at its configured desired size (the capacity that exists without the autoscaler).
  A spot group may get any of its listed types: the plan uses the smallest, the cost the dearest.
- A pod may go to a group whose node labels include its nodeSelector and whose NoSchedule/NoExecute
  taints it tolerates. DaemonSet pods go on every node they may go to, first.
- Steady pods (every replica of every Deployment/StatefulSet/standalone Pod) are placed largest memory
  first, on the first node (system, then workloads, then gpu) that keeps `headroom` of its pod slots,
  CPU and memory free.
- Transient pods (Jobs, Helm hooks) run one at a time (hooks in sequence, our Job once per deploy): each
  must fit, next to the steady pods, in what some node has left; they do not eat into the headroom.
- A pod that fits no group even on an empty node (a request above any allocatable, a nodeSelector or taint
  no group satisfies) is an error naming it: no number of nodes would help.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from capacity.instances import Allocatable, allocatable
from capacity.workloads import Workload
from components.instance_types import InstanceType, instance_type
from components.node_groups import NodeGroupPlan, is_arm_instance_type

DEFAULT_HEADROOM = 0.2
_TAINT_EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": None}


class UnschedulablePodError(ValueError):
    """A pod no node of any group could ever run."""


@dataclass(frozen=True)
class NodeGroupCapacity:
    """One node group as the planner sees it."""

    role: str
    instance_type: InstanceType
    capacity_type: str
    nodes: int
    min_size: int
    max_size: int
    labels: Mapping[str, str]
    taints: tuple[tuple[str, str, str], ...] = ()
    """(key, value, effect) with Kubernetes effects (NoSchedule, NoExecute)."""
    max_pods: int | None = None
    """Configured max pods (prefix delegation); None: the ENI limit."""
    desired_nodes: int | None = None
    """The configured desired size when `nodes` was grown from it; None: `nodes` is the configured size."""

    @property
    def allocatable(self) -> Allocatable:
        return allocatable(self.instance_type, self.max_pods)

    def admits(self, workload: Workload) -> bool:
        if any(self.labels.get(k) != v for k, v in workload.node_selector.items()):
            return False
        return all(any(t.tolerates(*taint) for t in workload.tolerations) for taint in self.taints)


def from_node_group_plans(plans: Sequence[NodeGroupPlan]) -> list[NodeGroupCapacity]:
    """What each planned node group offers, its pod slots capped at the group's kubelet max pods."""
    groups = []
    for plan in plans:
        types = [instance_type(t) for t in plan.instance_types]
        capacity_type = plan.capacity_type
        chosen = min(types, key=lambda t: (t.memory_mib, t.vcpus)) if capacity_type == "SPOT" else types[0]
        labels = {
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "arm64" if is_arm_instance_type(chosen.name) else "amd64",
            "node.kubernetes.io/instance-type": chosen.name,
            "eks.amazonaws.com/capacityType": capacity_type,
            **dict(plan.labels),
        }
        taints = tuple(
            (t.key, t.value, effect) for t in plan.taints if (effect := _TAINT_EFFECTS[t.effect]) is not None
        )
        groups.append(
            NodeGroupCapacity(
                role=plan.role,
                instance_type=chosen,
                capacity_type=capacity_type,
                nodes=plan.desired_size,
                min_size=plan.min_size,
                max_size=plan.max_size,
                labels=labels,
                taints=taints,
                max_pods=plan.max_pods,
            )
        )
    return groups


@dataclass
class _Node:
    group: NodeGroupCapacity
    index: int
    pods: list[Workload] = field(default_factory=list)

    @property
    def cpu(self) -> int:
        return sum(p.cpu_millis for p in self.pods)

    @property
    def memory(self) -> int:
        return sum(p.memory_mib for p in self.pods)

    def fits(self, pod: Workload, share: float) -> bool:
        a = self.group.allocatable
        return (
            len(self.pods) + 1 <= math.floor(a.pods * share)
            and self.cpu + pod.cpu_millis <= a.cpu_millis * share
            and self.memory + pod.memory_mib <= a.memory_mib * share
        )


@dataclass(frozen=True)
class GroupResult:
    role: str
    instance_type: str
    capacity_type: str
    nodes: int
    max_nodes: int
    desired_nodes: int
    pods: int
    pod_slots: int
    cpu_requested_m: int
    cpu_allocatable_m: int
    memory_requested_mib: int
    memory_allocatable_mib: int

    @property
    def headroom(self) -> float:
        """The smallest free share of slots, CPU and memory (1.0 for a group with no nodes)."""
        used = [
            (self.pods, self.pod_slots),
            (self.cpu_requested_m, self.cpu_allocatable_m),
            (self.memory_requested_mib, self.memory_allocatable_mib),
        ]
        return min((1 - u / c for u, c in used if c), default=1.0)


@dataclass(frozen=True)
class Placement:
    pod: str
    role: str
    node: int
    cpu_m: int
    memory_mib: int
    transient: bool = False


@dataclass(frozen=True)
class CapacityPlan:
    stack: str
    headroom: float
    groups: tuple[GroupResult, ...]
    placements: tuple[Placement, ...]
    unplaced: tuple[str, ...]
    """Pods that found no node with room (steady pods within the headroom, transient pods at all)."""

    @property
    def fits(self) -> bool:
        return not self.unplaced

    def nodes(self) -> dict[str, int]:
        return {g.role: g.nodes for g in self.groups}


def _check_schedulable(workloads: Sequence[Workload], groups: Sequence[NodeGroupCapacity]) -> None:
    for g in groups:
        a = g.allocatable
        daemons = [d for d in workloads if d.per_node and g.admits(d)]
        if (
            sum(d.cpu_millis for d in daemons) > a.cpu_millis
            or sum(d.memory_mib for d in daemons) > a.memory_mib
            or len(daemons) > a.pods
        ):
            raise UnschedulablePodError(
                f"the DaemonSets of group {g.role} ({', '.join(d.ident for d in daemons)}) need more than a "
                f"{g.instance_type.name} node offers ({a.cpu_millis}m / {a.memory_mib} MiB, {a.pods} pods)"
            )
    for w in workloads:
        if w.per_node:
            continue
        admitting = [g for g in groups if g.admits(w)]
        if not admitting:
            raise UnschedulablePodError(
                f"{w.ident}: no node group admits it (nodeSelector {dict(w.node_selector)}, tolerations "
                f"{[t.key or '*' for t in w.tolerations]}; groups: "
                + ", ".join(f"{g.role} labels {dict(g.labels)} taints {list(g.taints)}" for g in groups)
                + ")"
            )
        for g in admitting:
            a = g.allocatable
            daemons = [d for d in workloads if d.per_node and g.admits(d)]
            if (
                w.cpu_millis + sum(d.cpu_millis for d in daemons) <= a.cpu_millis
                and w.memory_mib + sum(d.memory_mib for d in daemons) <= a.memory_mib
                and len(daemons) + 1 <= a.pods
            ):
                break
        else:
            raise UnschedulablePodError(
                f"{w.ident}: requests {w.cpu_millis}m CPU / {w.memory_mib} MiB, more than an empty "
                "node of any group it may run on offers: "
                + ", ".join(
                    f"{g.role} ({g.instance_type.name}: {g.allocatable.cpu_millis}m / "
                    f"{g.allocatable.memory_mib} MiB allocatable)"
                    for g in admitting
                )
            )


def plan_capacity(
    workloads: Sequence[Workload],
    groups: Sequence[NodeGroupCapacity],
    *,
    stack: str = "",
    headroom: float = DEFAULT_HEADROOM,
) -> CapacityPlan:
    _check_schedulable(workloads, groups)
    nodes = [_Node(g, i) for g in groups for i in range(g.nodes)]
    for n in nodes:
        n.pods += [d for d in workloads if d.per_node and n.group.admits(d)]
    steady = [p for w in workloads if not w.per_node and not w.transient for p in [w] * w.replicas]
    # Most constrained first (fewest groups that admit the pod), then first-fit decreasing by memory: a
    # pod pinned to one group gets its place before pods that could run anywhere fill that group.
    steady.sort(key=lambda p: (sum(g.admits(p) for g in groups), -p.memory_mib, -p.cpu_millis, p.ident))
    unplaced: list[str] = []
    for pod in steady:
        target = next((n for n in nodes if n.group.admits(pod) and n.fits(pod, 1 - headroom)), None)
        if target is None:
            unplaced.append(pod.ident)
        else:
            target.pods.append(pod)
    transient_placements = []
    for w in (w for w in workloads if w.transient):
        room = next((n for n in nodes if n.group.admits(w) and n.fits(w, 1.0)), None)
        if room is None:
            unplaced.append(w.ident)
        else:
            transient_placements.append(
                Placement(w.ident, room.group.role, room.index, w.cpu_millis, w.memory_mib, transient=True)
            )
    results = []
    for g in groups:
        mine = [n for n in nodes if n.group is g]
        a = g.allocatable
        results.append(
            GroupResult(
                role=g.role,
                instance_type=g.instance_type.name,
                capacity_type=g.capacity_type,
                nodes=g.nodes,
                max_nodes=g.max_size,
                desired_nodes=g.nodes if g.desired_nodes is None else g.desired_nodes,
                pods=sum(len(n.pods) for n in mine),
                pod_slots=a.pods * g.nodes,
                cpu_requested_m=sum(n.cpu for n in mine),
                cpu_allocatable_m=a.cpu_millis * g.nodes,
                memory_requested_mib=sum(n.memory for n in mine),
                memory_allocatable_mib=a.memory_mib * g.nodes,
            )
        )
    placements = [
        Placement(p.ident, n.group.role, n.index, p.cpu_millis, p.memory_mib) for n in nodes for p in n.pods
    ]
    placements += transient_placements
    return CapacityPlan(stack, headroom, tuple(results), tuple(placements), tuple(unplaced))


def size_to_fit(
    workloads: Sequence[Workload],
    groups: Sequence[NodeGroupCapacity],
    *,
    stack: str = "",
    headroom: float = DEFAULT_HEADROOM,
) -> CapacityPlan:
    """The plan at desired sizes, grown a node at a time (first group that admits a pod left over, up to
    its max size) until everything fits; the last plan if the groups' max sizes cannot hold it."""
    current = list(groups)
    while True:
        result = plan_capacity(workloads, current, stack=stack, headroom=headroom)
        if result.fits:
            return result
        left = [w for w in workloads if w.ident in set(result.unplaced)]
        growable = (i for i, g in enumerate(current) if g.nodes < g.max_size and any(map(g.admits, left)))
        grow = next(growable, None)
        if grow is None:
            return result
        g = current[grow]
        desired = g.nodes if g.desired_nodes is None else g.desired_nodes
        current[grow] = replace(g, nodes=g.nodes + 1, desired_nodes=desired)
