"""Reader of the committed upstream facts, `upstream/facts/<stack>/<release>.json` (schema 1).

The facts are derived from the pinned upstream charts and manifests rendered with our values; this module
only reads the fields the capacity plan needs and checks that they describe what the stack installs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capacity.workloads import Workload, from_facts_workload

REPO_ROOT = Path(__file__).resolve().parents[1]
FACTS_DIR = REPO_ROOT / "upstream" / "facts"
SCHEMA = 1
KFP_RELEASE = "kubeflow-pipelines"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class ReleaseFacts:
    release: str
    stack: str
    version: str
    """Chart version or KFP tag the facts were derived from."""
    derived_by: str
    workloads: tuple[Workload, ...]


def _field(document: Mapping[str, Any], key: str, path: Path) -> Any:
    try:
        return document[key]
    except KeyError:
        raise ValueError(f"{path}: missing field {key!r} (upstream facts schema {SCHEMA})") from None


def load_release(path: Path) -> ReleaseFacts:
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if _field(document, "schema", path) != SCHEMA:
        raise ValueError(f"{path}: schema {document['schema']!r}, this reader understands schema {SCHEMA}")
    release = str(_field(document, "release", path))
    workloads = []
    for i, raw in enumerate(_field(document, "workloads", path)):
        try:
            workloads.append(from_facts_workload(raw, release))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{path}: workloads[{i}] is malformed: {exc!r}") from None
    return ReleaseFacts(
        release=release,
        stack=str(_field(document, "stack", path)),
        version=str(_field(_field(document, "source", path), "version", path)),
        derived_by=str(document.get("derived_by", "")),
        workloads=tuple(workloads),
    )


def load_facts(stack: str, facts_dir: Path = FACTS_DIR) -> dict[str, ReleaseFacts]:
    """Release name -> facts, from every `<facts_dir>/<stack>/*.json`."""
    facts: dict[str, ReleaseFacts] = {}
    for path in sorted((facts_dir / stack).glob("*.json")):
        loaded = load_release(path)
        if loaded.stack != stack:
            raise ValueError(f"{path}: describes stack {loaded.stack!r}, found under {stack!r}")
        facts[loaded.release] = loaded
    return facts


def declared_releases(unexpanded: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
    """Release name -> pinned version of every upstream part the stack installs (None: not pinned by input).

    Helm releases go by their release name; the Kubeflow Pipelines kustomize directories (platform and
    cluster-scoped) are one release, `kubeflow-pipelines`; anything else by its resource name.
    """
    releases: dict[str, str | None] = {}
    for component in unexpanded:
        inputs = component.get("inputs") or {}
        if component["type"] == HELM_RELEASE:
            releases[str(inputs.get("name") or component["name"])] = str(inputs.get("version") or "") or None
        elif KFP_RELEASE in str(inputs.get("directory", "")):
            releases[KFP_RELEASE] = None
        else:
            releases[str(inputs.get("name") or component["name"])] = str(inputs.get("version") or "") or None
    return releases


def upstream_workloads(
    stack: str, unexpanded: Sequence[Mapping[str, Any]], facts_dir: Path = FACTS_DIR
) -> list[Workload]:
    """The workloads of every upstream part the stack declares; missing or stale facts are an error."""
    facts = load_facts(stack, facts_dir)
    workloads: list[Workload] = []
    for release, version in sorted(declared_releases(unexpanded).items()):
        if release not in facts:
            raise ValueError(
                f"stack {stack} installs {release!r} but {facts_dir / stack} has no facts file for it "
                f"(expected {release}.json): derive them with `python -m upstream derive --stack {stack}`"
            )
        if version is not None and facts[release].version != version:
            raise ValueError(
                f"{facts_dir / stack / (release + '.json')}: derived from version {facts[release].version}, "
                f"but stack {stack} installs {release} {version}: re-derive the facts"
            )
        workloads += facts[release].workloads
    return workloads
