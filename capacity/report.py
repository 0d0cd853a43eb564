"""The capacity plan as a text table, Markdown (docs/cost.md "What fits where") or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from capacity.plan import CapacityPlan, GroupResult


def _pct(used: int, total: int) -> str:
    return f"{used / total:.0%}" if total else "-"


def _use(used: int, total: int) -> str:
    return f"{used}/{total} ({_pct(used, total)})"


def _nodes(g: GroupResult) -> str:
    grown = f", plan needs {g.nodes}" if g.nodes != g.desired_nodes else ""
    return f"{g.desired_nodes} x {g.instance_type}{grown}"


def render_text(plan: CapacityPlan) -> str:
    lines = [
        f"stack {plan.stack}: capacity plan ({plan.headroom:.0%} headroom kept on every node) - "
        + ("fits" if plan.fits else "DOES NOT FIT"),
        f"  {'group':<10} {'desired nodes':<34} {'max':>4} {'pods/slots':>11} {'CPU m req/alloc':>20} "
        f"{'memory MiB req/alloc':>24} {'headroom':>8}",
    ]
    for g in plan.groups:
        lines.append(
            f"  {g.role:<10} {_nodes(g):<34} {g.max_nodes:>4} {f'{g.pods}/{g.pod_slots}':>11} "
            f"{_use(g.cpu_requested_m, g.cpu_allocatable_m):>20} "
            f"{_use(g.memory_requested_mib, g.memory_allocatable_mib):>24} {g.headroom:>8.0%}"
        )
    for g in plan.groups:
        if g.max_nodes > g.nodes and g.nodes:
            more = g.max_nodes - g.nodes
            slots, cpu, memory = (
                x // g.nodes * more for x in (g.pod_slots, g.cpu_allocatable_m, g.memory_allocatable_mib)
            )
            lines.append(
                f"  autoscaler may add {more} {g.role} node(s): +{slots} slots, +{cpu}m CPU, +{memory} MiB"
            )
    for p in plan.placements:
        if p.transient:
            lines.append(
                f"  transient {p.pod}: {p.cpu_m}m / {p.memory_mib} MiB, fits on {p.role} node {p.node}"
            )
    for pod in plan.unplaced:
        lines.append(f"  NO ROOM for {pod}")
    return "\n".join(lines) + "\n"


def render_markdown(plan: CapacityPlan) -> str:
    rows = [
        f"| {g.role} | {_nodes(g)} ({g.capacity_type.lower().replace('_', '-')}, max {g.max_nodes}) "
        f"| {g.pods}/{g.pod_slots} | {g.cpu_requested_m}/{g.cpu_allocatable_m} "
        f"| {g.memory_requested_mib}/{g.memory_allocatable_mib} | {g.headroom:.0%} |"
        for g in plan.groups
    ]
    return (
        "\n".join(
            [
                f"**{plan.stack}** ({'fits' if plan.fits else 'does not fit'} "
                f"with {plan.headroom:.0%} headroom)",
                "",
                "| Group | Nodes | Pods/slots | CPU m requested/allocatable "
                "| Memory MiB requested/allocatable | Headroom |",
                "|---|---|---:|---:|---:|---:|",
                *rows,
            ]
        )
        + "\n"
    )


def render_json(plan: CapacityPlan) -> str:
    document = asdict(plan)
    document["fits"] = plan.fits
    for group, result in zip(document["groups"], plan.groups, strict=True):
        group["headroom"] = round(result.headroom, 4)
    return json.dumps(document, indent=2) + "\n"
