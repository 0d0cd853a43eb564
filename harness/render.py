"""Render the Kubernetes objects a stack declares, from the recording mocks, one YAML file per object.

Only objects the program itself declares are rendered. Components the Kubernetes provider expands at
deploy time (kustomize directories, Helm releases, YAML config groups) are invisible to the mocks: they
are listed in `UNEXPANDED.yaml` with their inputs (which manifests, which version), never invented.
Secret values are replaced by a marker so rendered files can be shared for review.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.charts import HELM_RELEASE
from harness.mocks import REPO_ROOT, Record, Recorded, committed_record, integral_numbers

REDACTED = "REDACTED"
UNEXPANDED_FILE = "UNEXPANDED.yaml"
# Provider-side components: their children exist only once the provider runs against a cluster.
EXPANDED_BY_PROVIDER = (
    "kubernetes:kustomize/v2:Directory",
    "kubernetes:kustomize:Directory",
    "kubernetes:yaml/v2:ConfigGroup",
    "kubernetes:yaml/v2:ConfigFile",
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:helm.sh/v3:Chart",
)
# A Helm release is a real resource, but its chart's objects are rendered by Helm inside the provider.


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    """Kubernetes objects as they would be applied (secret values redacted)."""
    unexpanded: list[dict[str, Any]]
    """Components whose objects only the provider can produce: type, name, inputs."""


def _redact(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") != "Secret":
        return obj
    redacted = dict(obj)
    for field in ("data", "stringData"):
        if isinstance(obj.get(field), dict):
            redacted[field] = {k: REDACTED for k in obj[field]}
    return redacted


def is_kubernetes_object(resource: Recorded) -> bool:
    return (
        resource.custom
        and resource.type.startswith("kubernetes:")
        and not resource.type.startswith("pulumi:providers:")
        and resource.type != HELM_RELEASE
        and "apiVersion" in resource.inputs
        and "kind" in resource.inputs
    )


def kubernetes_object(resource: Recorded) -> dict[str, Any]:
    """The manifest of one recorded Kubernetes resource: its inputs, ordered like `kubectl get -o yaml`."""
    inputs = integral_numbers(resource.inputs)
    ordered = {key: inputs[key] for key in ("apiVersion", "kind", "metadata") if key in inputs}
    ordered |= {k: v for k, v in inputs.items() if k not in ordered}
    return _redact(ordered)


def render_record(record: Record) -> Rendered:
    objects = [kubernetes_object(r) for r in record.resources if is_kubernetes_object(r)]
    unexpanded = [
        _describe_unexpanded(r)
        for r in record.resources
        if r.type in EXPANDED_BY_PROVIDER or r.type == HELM_RELEASE
    ]
    return Rendered(objects=objects, unexpanded=unexpanded)


def _describe_unexpanded(resource: Recorded) -> dict[str, Any]:
    """Type, name, inputs; for a local kustomization also its content (upstream ref, patches)."""
    described: dict[str, Any] = {
        "type": resource.type,
        "name": resource.name,
        "inputs": integral_numbers(resource.inputs),
    }
    directory = resource.inputs.get("directory")
    if isinstance(directory, str) and "://" not in directory:
        kustomization = REPO_ROOT / directory / "kustomization.yaml"
        if kustomization.is_file():
            described["kustomization"] = yaml.safe_load(kustomization.read_text())
    return described


def render_stack(stack: str) -> Rendered:
    return render_record(committed_record(stack))


def file_name(obj: dict[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    namespace = metadata.get("namespace") or "cluster"
    parts = [namespace, str(obj["kind"]).lower(), str(metadata.get("name", "unnamed"))]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", "--".join(parts)) + ".yaml"


def write(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Replace `out_dir` with one file per object plus UNEXPANDED.yaml; returns the object files."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    paths: list[Path] = []
    for obj in rendered.objects:
        path = out_dir / file_name(obj)
        if path.exists():
            raise ValueError(f"two rendered objects map to the same file {path.name}: duplicate kind/name?")
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        paths.append(path)
    (out_dir / UNEXPANDED_FILE).write_text(
        "# Expanded by the Kubernetes provider at deploy time; the mocks cannot see their objects.\n"
        + yaml.safe_dump(rendered.unexpanded, sort_keys=False)
    )
    return paths
