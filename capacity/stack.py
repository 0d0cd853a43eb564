"""A committed stack's pods and node groups, gathered for the planner (runs the program under the mocks)."""

from __future__ import annotations

from pathlib import Path

from capacity.addons import eks_addons
from capacity.facts import upstream_workloads
from capacity.plan import DEFAULT_HEADROOM, CapacityPlan, from_node_group_plans, size_to_fit
from capacity.workloads import Workload, from_objects
from components.eks_cluster import EksClusterArgs
from components.node_groups import plan_node_groups
from cost_estimate.report import committed_stack_settings
from harness.render import Rendered, render_stack
from upstream.facts import FACTS_DIR


def stack_workloads(stack: str, rendered: Rendered, facts_dir: Path = FACTS_DIR) -> list[Workload]:
    """Ours (rendered from the mock record), upstream (facts files) and the EKS add-ons."""
    settings = committed_stack_settings(stack)
    ours = from_objects(rendered.objects)
    upstream = upstream_workloads(stack, rendered.unexpanded, facts_dir)
    return ours + upstream + (eks_addons() if settings.is_aws else [])


def plan_stack(
    stack: str,
    *,
    facts_dir: Path = FACTS_DIR,
    headroom: float = DEFAULT_HEADROOM,
    rendered: Rendered | None = None,
) -> CapacityPlan | None:
    """The plan of an AWS stack, grown to fit where its max sizes allow; None for a stack without node
    groups (`local` runs on a cluster we do not size). `rendered` saves running the program again."""
    settings = committed_stack_settings(stack)
    if not isinstance(settings.cluster, EksClusterArgs):
        return None
    groups = from_node_group_plans(plan_node_groups(settings.cluster.node_groups))
    workloads = stack_workloads(stack, rendered or render_stack(stack), facts_dir)
    return size_to_fit(workloads, groups, stack=stack, headroom=headroom)
