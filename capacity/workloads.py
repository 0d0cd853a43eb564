"""Every pod a stack schedules, as plain workloads with their effective requests.

Three sources, one shape: the Kubernetes objects the program declares (rendered from the mock record),
the upstream releases (facts files derived from the pinned charts and manifests, `upstream/facts/`), and
the EKS add-ons (`capacity/addons.py`).

A pod's effective request is Kubernetes' rule: max(the largest init container, the sum of the app
containers), where a sidecar (an init container with `restartPolicy: Always`) runs alongside the app and
adds to both sides. An unset request counts as zero, as the scheduler counts it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.utils import parse_quantity

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
MIB = 2**20


@dataclass(frozen=True)
class Toleration:
    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None

    def tolerates(self, key: str, value: str, effect: str) -> bool:
        if self.effect and self.effect != effect:
            return False
        if self.operator == "Exists":
            return self.key in (None, "", key)
        return self.key == key and (self.value or "") == value


@dataclass(frozen=True)
class Container:
    name: str
    cpu_millis: int
    memory_mib: int
    init: bool = False
    sidecar: bool = False
    """An init container with restartPolicy Always: it keeps running next to the app containers."""


@dataclass(frozen=True)
class Workload:
    source: str
    """Where it comes from: 'program', an upstream release name, or 'eks-addon'."""
    kind: str
    namespace: str
    name: str
    replicas: int
    containers: tuple[Container, ...]
    per_node: bool = False
    """A DaemonSet: one pod on every node it may run on."""
    transient: bool = False
    """A Job or Helm hook: runs to completion, need not coexist with the other transient pods."""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    note: str = ""
    """Where the numbers come from, for data we hold ourselves (add-ons)."""

    @property
    def ident(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name} ({self.source})"

    @property
    def cpu_millis(self) -> int:
        return _effective(self.containers, "cpu_millis")

    @property
    def memory_mib(self) -> int:
        return _effective(self.containers, "memory_mib")


def _effective(containers: Sequence[Container], attribute: str) -> int:
    app = sum(getattr(c, attribute) for c in containers if not c.init)
    init_peak, sidecars = 0, 0
    for c in containers:
        if not c.init:
            continue
        if c.sidecar:
            sidecars += getattr(c, attribute)
        else:
            init_peak = max(init_peak, sidecars + getattr(c, attribute))
    return max(init_peak, app + sidecars)


def cpu_millis(quantity: object) -> int:
    return math.ceil(parse_quantity(str(quantity)) * 1000) if quantity is not None else 0


def memory_mib(quantity: object) -> int:
    return math.ceil(parse_quantity(str(quantity)) / MIB) if quantity is not None else 0


def _requests(requests: Mapping[str, Any] | None) -> tuple[int, int]:
    requests = requests or {}
    return cpu_millis(requests.get("cpu")), memory_mib(requests.get("memory"))


def _tolerations(raw: Iterable[Mapping[str, Any]] | None) -> tuple[Toleration, ...]:
    return tuple(
        Toleration(t.get("key"), t.get("operator") or "Equal", t.get("value"), t.get("effect"))
        for t in raw or ()
    )


# --- the program's own objects ---------------------------------------------------------------------------


def _container(raw: Mapping[str, Any], *, init: bool) -> Container:
    cpu, memory = _requests((raw.get("resources") or {}).get("requests"))
    sidecar = init and raw.get("restartPolicy") == "Always"
    return Container(str(raw.get("name", "")), cpu, memory, init=init, sidecar=sidecar)


def from_object(obj: Mapping[str, Any], source: str = "program") -> Workload | None:
    """The workload of one rendered Kubernetes object, or None for objects that run no pod."""
    kind = obj.get("kind")
    if kind not in WORKLOAD_KINDS:
        return None
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    if kind == "Pod":
        pod, replicas = spec, 1
    elif kind == "CronJob":
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        replicas = int(spec["jobTemplate"]["spec"].get("parallelism", 1))
    elif kind == "Job":
        pod, replicas = spec["template"]["spec"], int(spec.get("parallelism", 1))
    else:
        pod = spec["template"]["spec"]
        replicas = 1 if kind == "DaemonSet" else int(spec.get("replicas", 1))
    containers = tuple(_container(c, init=True) for c in pod.get("initContainers") or ()) + tuple(
        _container(c, init=False) for c in pod.get("containers") or ()
    )
    return Workload(
        source=source,
        kind=str(kind),
        namespace=str(metadata.get("namespace") or "default"),
        name=str(metadata.get("name")),
        replicas=replicas,
        containers=containers,
        per_node=kind == "DaemonSet",
        transient=kind in ("Job", "CronJob"),
        node_selector=dict(pod.get("nodeSelector") or {}),
        tolerations=_tolerations(pod.get("tolerations")),
    )


def from_objects(objects: Iterable[Mapping[str, Any]], source: str = "program") -> list[Workload]:
    return [w for w in (from_object(o, source) for o in objects) if w is not None]


# --- upstream facts (schema 1, see upstream/facts/) ------------------------------------------------------


def from_facts_workload(raw: Mapping[str, Any], release: str) -> Workload:
    """One `workloads[]` entry of an upstream facts file."""
    containers = tuple(
        Container(str(c["name"]), *_requests(c.get("requests")), init=bool(c.get("init")))
        for c in raw["containers"]
    )
    kind = str(raw["kind"])
    return Workload(
        source=release,
        kind=kind,
        namespace=str(raw.get("namespace") or "default"),
        name=str(raw["name"]),
        replicas=int(raw.get("replicas", 1)),
        containers=containers,
        per_node=bool(raw.get("per_node")),
        transient=bool(raw.get("hook")) or kind in ("Job", "CronJob"),
        node_selector=dict(raw.get("node_selector") or {}),
        tolerations=_tolerations(raw.get("tolerations")),
    )
