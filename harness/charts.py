"""The Helm releases a stack declares, exactly as the program passes them (chart, repo, version, values).

`upstream.render` renders each release from these with helm-python-sdk and derives its facts;
`python -m harness charts --stack dev` writes the values files for a person who wants to look at them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from harness.mocks import Record, committed_record, integral_numbers

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
RELEASES_FILE = "releases.json"


class ChartRelease(NamedTuple):
    """One `helm.v3.Release` as recorded: where the chart comes from and the values it gets."""

    repo: str
    chart: str
    version: str
    values: dict[str, Any]
    namespace: str


def releases_in(record: Record) -> dict[str, ChartRelease]:
    """Helm release name -> its chart, version, repository, namespace and values."""
    releases: dict[str, ChartRelease] = {}
    for resource in record.of_type(HELM_RELEASE):
        inputs = resource.inputs
        name = inputs.get("name")
        repo = (inputs.get("repositoryOpts") or {}).get("repo")
        missing = [
            key
            for key, value in (
                ("name", name),
                ("repositoryOpts.repo", repo),
                ("version", inputs.get("version")),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"Helm release {resource.name}: {', '.join(missing)} not set; every release needs a fixed "
                "name, a chart repository and a pinned chart version"
            )
        if name in releases:
            raise ValueError(f"two Helm releases are both named {name!r}")
        releases[str(name)] = ChartRelease(
            repo=str(repo),
            chart=str(inputs["chart"]),
            version=str(inputs["version"]),
            values=integral_numbers(inputs.get("values") or {}),
            namespace=str(inputs.get("namespace") or "default"),
        )
    return releases


def chart_values(stack: str) -> dict[str, ChartRelease]:
    """The releases of `stack`, from a run of the program under the recording mocks."""
    return releases_in(committed_record(stack))


def write(releases: dict[str, ChartRelease], out_dir: Path) -> list[Path]:
    """Replace `out_dir` with one `<release>.values.yaml` per release plus `releases.json`."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    index = []
    written = []
    for name, release in sorted(releases.items()):
        values_file = f"{name}.values.yaml"
        (out_dir / values_file).write_text(yaml.safe_dump(release.values, sort_keys=True))
        written.append(out_dir / values_file)
        index.append(
            {
                "name": name,
                "namespace": release.namespace,
                "repo": release.repo,
                "chart": release.chart,
                "version": release.version,
                "values_file": values_file,
            }
        )
    (out_dir / RELEASES_FILE).write_text(json.dumps(index, indent=2) + "\n")
    written.append(out_dir / RELEASES_FILE)
    return written
