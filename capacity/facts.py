"""The upstream pods a stack schedules, from the committed upstream facts (`upstream.facts`).

The facts are derived from the pinned upstream charts and manifests rendered with our values; this module
checks that they describe what the stack installs (every release, at its pinned version) and turns their
workloads into the planner's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from capacity.workloads import Workload, from_facts_workload
from upstream.facts import FACTS_DIR, load_facts

KFP_RELEASE = "kubeflow-pipelines"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


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
        derived = facts[release].source.version
        if version is not None and derived != version:
            raise ValueError(
                f"{facts_dir / stack / (release + '.json')}: derived from version {derived}, "
                f"but stack {stack} installs {release} {version}: re-derive the facts"
            )
        workloads += [from_facts_workload(dataclasses.asdict(w), release) for w in facts[release].workloads]
    return workloads
