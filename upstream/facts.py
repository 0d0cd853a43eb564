"""Facts about the upstream parts a stack installs, derived from their render at the pinned versions.

The schema is /work/helpers/UPSTREAM_FACTS_SCHEMA.md's (documented in docs/upstream.md); these pydantic
dataclasses mirror it and reject unknown or missing fields, so a reader gets a clear error instead of a
silently different shape. Extension over the schema (compatible): each container also records
`host_ports` (Pod Security baseline forbids them), and each release `namespaces`, the Namespace objects
its render creates with their labels (the Pod Security level our overlay sets on `kubeflow`).

`load_facts(stack)` reads the committed files; `release_facts(...)` derives them from rendered objects.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from pydantic.dataclasses import dataclass

SCHEMA_VERSION = 1
FACTS_DIR = Path(__file__).resolve().parent / "facts"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
# Env vars whose name says they hold a credential; a literal value for one is a credential in the manifest.
EXECUTOR_IMAGE_FLAG = "--executor-image"
CREDENTIAL_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|ALLOW_EMPTY", re.IGNORECASE)
HELM_HOOK = "helm.sh/hook"
_STRICT = ConfigDict(extra="forbid", frozen=True)


@dataclass(config=_STRICT)
class Source:
    kind: str
    """`helm` or `kustomize`."""
    name: str
    """Chart name, or `kubeflow/pipelines`."""
    version: str
    """Exact chart version, or the KFP git tag."""
    location: str
    """Chart repository URL, or the kustomize remote target of the platform overlay."""


@dataclass(config=_STRICT)
class SecretFacts:
    name: str
    """Secret name."""
    namespace: str
    """Its namespace (the release namespace when the manifest sets none)."""
    keys: list[str]
    """Keys of `data` and `stringData`, sorted; never values."""


@dataclass(config=_STRICT)
class NamespaceFacts:
    name: str
    """A Namespace object the render creates."""
    labels: dict[str, str]
    """Its labels (Pod Security levels among them), with our overlays applied."""


@dataclass(config=_STRICT)
class Volume:
    name: str
    """Volume name."""
    type: str
    """The volume source key (`persistentVolumeClaim`, `hostPath`, `emptyDir`, ...)."""


@dataclass(config=_STRICT)
class PodFacts:
    service_account: str | None
    """serviceAccountName, or None (the namespace's `default`)."""
    automount_service_account_token: bool | None
    """None when unset."""
    host_network: bool
    """hostNetwork."""
    host_pid: bool
    """hostPID."""
    host_ipc: bool
    """hostIPC."""
    security_context: dict[str, Any]
    """The pod securityContext as written ({} when unset)."""
    volumes: list[Volume]
    """Every volume with its source type."""
    labels: dict[str, str]
    """Pod template labels (for NetworkPolicy selectors)."""


@dataclass(config=_STRICT)
class Container:
    name: str
    """Container name."""
    init: bool
    """True for initContainers."""
    image: str
    """Image reference as written."""
    requests: dict[str, str]
    """resources.requests ({} when unset), quantities as the manifest has them."""
    limits: dict[str, str]
    """resources.limits ({} when unset)."""
    security_context: dict[str, Any]
    """The container securityContext as written ({} when unset)."""
    liveness_probe: bool
    """A livenessProbe is set."""
    readiness_probe: bool
    """A readinessProbe is set."""
    ports: list[int]
    """containerPort of each declared port."""
    env_literals: dict[str, str]
    """Env vars whose name looks like a credential and that carry a literal value."""
    host_ports: list[int] = field(default_factory=list)
    """hostPort of each declared port that sets one (extension over schema 1; empty when absent)."""
    launches: list[str] = field(default_factory=list)
    """Images this container starts other pods with: literal `*_IMAGE` env values and `--executor-image`,
    i.e. KFP's driver and launcher, Argo's executor (extension over schema 1; empty when absent)."""


@dataclass(config=_STRICT)
class Workload:
    kind: str
    """Deployment | StatefulSet | DaemonSet | Job | CronJob | Pod."""
    name: str
    """Object name."""
    namespace: str
    """Its namespace."""
    replicas: int
    """Pods it runs at once (DaemonSet: 1, per node)."""
    per_node: bool
    """True for DaemonSets."""
    hook: bool
    """True for Helm hooks (transient)."""
    node_selector: dict[str, str]
    """Pod nodeSelector."""
    tolerations: list[dict[str, Any]]
    """Pod tolerations as written."""
    pod: PodFacts
    """Pod-level facts."""
    containers: list[Container]
    """initContainers (init=True) then containers."""
    managed_by: str | None = None
    """The operator that creates these pods from a custom resource (extension over schema 1; None when the
    render declares the workload itself). Its container security contexts are the operator's, not recorded."""


@dataclass(config=_STRICT)
class ReleaseFacts:
    schema: int
    """Schema version (1)."""
    release: str
    """Helm release name, or `kubeflow-pipelines`."""
    stack: str
    """The stack whose values rendered it."""
    source: Source
    """Where it came from."""
    derived_by: str
    """The command that wrote it."""
    kinds: dict[str, int]
    """Count of every rendered object kind, CRDs included."""
    crds: list[str]
    """CRD names, sorted."""
    images: list[str]
    """Every container image, sorted, unique."""
    secrets: list[SecretFacts]
    """Secret objects in the render (names and keys only)."""
    workloads: list[Workload]
    """Every pod-creating object."""
    namespaces: list[NamespaceFacts] = field(default_factory=list)
    """Namespace objects in the render (extension over schema 1; empty when absent)."""


_ADAPTER = TypeAdapter(ReleaseFacts)


# --- derivation ------------------------------------------------------------------------------------------


def _pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec") or {}
    kind = obj["kind"]
    if kind == "Pod":
        return {"metadata": obj.get("metadata") or {}, "spec": spec}
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
    return spec.get("template") or {}


def _replicas(obj: dict[str, Any]) -> int:
    spec = obj.get("spec") or {}
    if obj["kind"] in ("Deployment", "StatefulSet"):
        return int(spec.get("replicas", 1))
    if obj["kind"] == "Job":
        return int(spec.get("parallelism", 1))
    return 1


def _container(raw: dict[str, Any], init: bool) -> Container:
    resources = raw.get("resources") or {}
    ports = raw.get("ports") or []
    return Container(
        name=str(raw["name"]),
        init=init,
        image=str(raw.get("image", "")),
        requests={k: str(v) for k, v in (resources.get("requests") or {}).items()},
        limits={k: str(v) for k, v in (resources.get("limits") or {}).items()},
        security_context=raw.get("securityContext") or {},
        liveness_probe="livenessProbe" in raw,
        readiness_probe="readinessProbe" in raw,
        ports=[int(p["containerPort"]) for p in ports if "containerPort" in p],
        env_literals={
            str(e["name"]): str(e["value"])
            for e in raw.get("env") or []
            if "value" in e and CREDENTIAL_NAME.search(str(e["name"]))
        },
        host_ports=[int(p["hostPort"]) for p in ports if p.get("hostPort")],
        launches=_launched_images(raw),
    )


def _launched_images(raw: dict[str, Any]) -> list[str]:
    """Images a controller hands to the pods it creates, which run on the cluster too: literal `*_IMAGE`
    env values (KFP's driver and launcher) and the `--executor-image` argument (Argo's executor). Operator
    flags for images only optional features use (prometheus-operator's Thanos default) are not runs."""
    images = {
        str(e["value"]) for e in raw.get("env") or [] if str(e["name"]).endswith("_IMAGE") and e.get("value")
    }
    args = [str(a) for a in [*(raw.get("command") or []), *(raw.get("args") or [])]]
    images |= {value for flag, value in itertools.pairwise(args) if flag == EXECUTOR_IMAGE_FLAG}
    images |= {a.split("=", 1)[1] for a in args if a.startswith(f"{EXECUTOR_IMAGE_FLAG}=")}
    return sorted(images)


def workload(obj: dict[str, Any], default_namespace: str) -> Workload:
    metadata = obj.get("metadata") or {}
    template = _pod_template(obj)
    spec = template.get("spec") or {}
    return Workload(
        kind=obj["kind"],
        name=str(metadata.get("name")),
        namespace=str(metadata.get("namespace") or default_namespace),
        replicas=_replicas(obj),
        per_node=obj["kind"] == "DaemonSet",
        hook=HELM_HOOK in (metadata.get("annotations") or {}),
        node_selector={str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
        tolerations=list(spec.get("tolerations") or []),
        pod=PodFacts(
            service_account=spec.get("serviceAccountName"),
            automount_service_account_token=spec.get("automountServiceAccountToken"),
            host_network=bool(spec.get("hostNetwork", False)),
            host_pid=bool(spec.get("hostPID", False)),
            host_ipc=bool(spec.get("hostIPC", False)),
            security_context=spec.get("securityContext") or {},
            volumes=[
                Volume(name=str(v["name"]), type=next((k for k in sorted(v) if k != "name"), "emptyDir"))
                for v in spec.get("volumes") or []
            ],
            labels={
                str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()
            },
        ),
        containers=[_container(c, True) for c in spec.get("initContainers") or []]
        + [_container(c, False) for c in spec.get("containers") or []],
    )


# prometheus-operator turns each of these custom resources into a StatefulSet named `<prefix>-<name>`, with
# the resource's container plus a config-reloader sidecar (its image and requests are operator flags).
OPERATOR_WORKLOADS = {
    "Prometheus": ("prometheus", "prometheus"),
    "Alertmanager": ("alertmanager", "alertmanager"),
}
PROMETHEUS_OPERATOR_GROUP = "monitoring.coreos.com/"


def _operator_flags(objects: list[dict[str, Any]]) -> dict[str, str]:
    flags: dict[str, str] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get(
            "containers"
        ) or []:
            for arg in container.get("args") or []:
                if str(arg).startswith("--prometheus-config-reloader=") or str(arg).startswith(
                    "--config-reloader-"
                ):
                    key, _, value = str(arg)[2:].partition("=")
                    flags[key] = value
    return flags


def _quantities(flags: dict[str, str], kind: str) -> dict[str, str]:
    """`--config-reloader-cpu-request=0` means the operator sets none."""
    found = {r: flags.get(f"config-reloader-{r}-{kind}", "0") for r in ("cpu", "memory")}
    return {r: q for r, q in found.items() if q not in ("", "0")}


def operator_workload(obj: dict[str, Any], default_namespace: str, flags: dict[str, str]) -> Workload:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    prefix, container_name = OPERATOR_WORKLOADS[obj["kind"]]
    resources = spec.get("resources") or {}
    replicas = int(spec.get("replicas", 1)) * int(spec.get("shards", 1) or 1)
    main = Container(
        name=container_name,
        init=False,
        image=str(spec.get("image", "")),
        requests={k: str(v) for k, v in (resources.get("requests") or {}).items()},
        limits={k: str(v) for k, v in (resources.get("limits") or {}).items()},
        security_context={},
        liveness_probe=True,
        readiness_probe=True,
        ports=[],
        env_literals={},
    )
    reloader = Container(
        name="config-reloader",
        init=False,
        image=flags.get("prometheus-config-reloader", ""),
        requests=_quantities(flags, "request"),
        limits=_quantities(flags, "limit"),
        security_context={},
        liveness_probe=False,
        readiness_probe=False,
        ports=[],
        env_literals={},
    )
    return Workload(
        kind="StatefulSet",
        name=f"{prefix}-{metadata.get('name')}",
        namespace=str(metadata.get("namespace") or default_namespace),
        replicas=replicas,
        per_node=False,
        hook=False,
        node_selector={str(k): str(v) for k, v in (spec.get("nodeSelector") or {}).items()},
        tolerations=list(spec.get("tolerations") or []),
        pod=PodFacts(
            service_account=spec.get("serviceAccountName"),
            automount_service_account_token=spec.get("automountServiceAccountToken"),
            host_network=bool(spec.get("hostNetwork", False)),
            host_pid=False,
            host_ipc=False,
            security_context=spec.get("securityContext") or {},
            volumes=[Volume(name="storage", type="persistentVolumeClaim")] if spec.get("storage") else [],
            labels={str(k): str(v) for k, v in ((spec.get("podMetadata") or {}).get("labels") or {}).items()},
        ),
        containers=[main, reloader],
        managed_by="prometheus-operator",
    )


def workloads_of(objects: list[dict[str, Any]], default_namespace: str) -> list[Workload]:
    """Workloads the render declares, plus the StatefulSets prometheus-operator makes of its resources."""
    flags = _operator_flags(objects)
    return [workload(o, default_namespace) for o in objects if o.get("kind") in WORKLOAD_KINDS] + [
        operator_workload(o, default_namespace, flags)
        for o in objects
        if o.get("kind") in OPERATOR_WORKLOADS
        and str(o.get("apiVersion", "")).startswith(PROMETHEUS_OPERATOR_GROUP)
    ]


def release_facts(
    *,
    stack: str,
    release: str,
    source: Source,
    objects: list[dict[str, Any]],
    default_namespace: str,
) -> ReleaseFacts:
    workloads = sorted(workloads_of(objects, default_namespace), key=lambda w: (w.namespace, w.kind, w.name))
    secrets = sorted(
        (
            SecretFacts(
                name=str(o["metadata"]["name"]),
                namespace=str(o["metadata"].get("namespace") or default_namespace),
                keys=sorted(set(o.get("data") or {}) | set(o.get("stringData") or {})),
            )
            for o in objects
            if o.get("kind") == "Secret"
        ),
        key=lambda s: (s.namespace, s.name),
    )
    return ReleaseFacts(
        schema=SCHEMA_VERSION,
        release=release,
        stack=stack,
        source=source,
        derived_by=f"python -m upstream derive --stack {stack}",
        kinds=dict(sorted(Counter(str(o["kind"]) for o in objects).items())),
        crds=sorted(
            str(o["metadata"]["name"]) for o in objects if o.get("kind") == "CustomResourceDefinition"
        ),
        images=sorted({i for w in workloads for c in w.containers for i in [c.image, *c.launches]}),
        secrets=secrets,
        workloads=workloads,
        namespaces=sorted(
            (
                NamespaceFacts(
                    name=str(o["metadata"]["name"]),
                    labels={str(k): str(v) for k, v in (o["metadata"].get("labels") or {}).items()},
                )
                for o in objects
                if o.get("kind") == "Namespace"
            ),
            key=lambda n: n.name,
        ),
    )


# --- files -----------------------------------------------------------------------------------------------


def to_json(facts: ReleaseFacts) -> str:
    """Stable JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(_ADAPTER.dump_python(facts, mode="json"), indent=2, sort_keys=True) + "\n"


def from_json(text: str, where: str = "facts") -> ReleaseFacts:
    try:
        return _ADAPTER.validate_json(text)
    except ValueError as exc:
        raise ValueError(f"{where}: not upstream facts schema {SCHEMA_VERSION}: {exc}") from exc


def facts_path(stack: str, release: str, root: Path = FACTS_DIR) -> Path:
    return root / stack / f"{release}.json"


def load_facts(stack: str, root: Path = FACTS_DIR) -> dict[str, ReleaseFacts]:
    """Release name -> facts, from the committed `upstream/facts/<stack>/*.json`."""
    folder = root / stack
    if not folder.is_dir():
        raise FileNotFoundError(
            f"no upstream facts for stack {stack!r} in {folder}: run python -m upstream derive"
        )
    loaded = {}
    for path in sorted(folder.glob("*.json")):
        facts = from_json(path.read_text(), str(path))
        if facts.release != path.stem or facts.stack != stack:
            raise ValueError(f"{path}: holds release {facts.release!r} of stack {facts.stack!r}")
        loaded[facts.release] = facts
    return loaded
