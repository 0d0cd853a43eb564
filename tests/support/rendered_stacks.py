"""Each committed stack run once per test session under the recording mocks, and its rendered objects."""

from __future__ import annotations

import functools
from typing import Any

from harness.mocks import Recorded
from harness.render import Rendered, render_record
from tests.support.stacks import record

STACKS = ("local", "dev", "prod")


@functools.cache
def rendered(stack: str) -> Rendered:
    return render_record(record(stack))


def k8s_object(stack: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    found = [
        o
        for o in rendered(stack).objects
        if o["kind"] == kind
        and o["metadata"]["name"] == name
        and (namespace is None or o["metadata"].get("namespace") == namespace)
    ]
    assert len(found) == 1, f"{stack}: expected one {kind} {namespace}/{name}, found {len(found)}"
    return found[0]


def pod_specs(stack: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind/namespace/name, pod spec) of every workload the program declares."""
    specs = []
    for obj in rendered(stack).objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
            where = f"{obj['kind']}/{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
            specs.append((where, obj["spec"]["template"]["spec"]))
    return specs


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def arg_value(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} missing from {args}"
    return args[args.index(flag) + 1]


def children(stack: str, component_type: str) -> list[Recorded]:
    rec = record(stack)
    (component,) = rec.of_type(component_type)
    found: list[Recorded] = []
    frontier = [component]
    while frontier:
        parent = frontier.pop()
        kids = rec.children_of(parent)
        found.extend(kids)
        frontier.extend(kids)
    return found
