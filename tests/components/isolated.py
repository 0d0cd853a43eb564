"""Build one component from its own Args under the recording mocks, and check what it renders.

A component test writes a tiny Pulumi program (the component and its plain Args, no settings.py, no whole
stack), runs it with `harness.mocks.run_program`, and asserts on the record. The rendered Kubernetes
objects go through the same checks as the stacks' objects: strict schemas and checkov's check list.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import kubernetes_validate

from harness import checkov
from harness.mocks import Record, run_program
from harness.render import Rendered, render_record, write
from tests.support.tools import missing_tool

KUBERNETES_VERSION = "1.35"


def run_component(program: str, directory: Path, stack: str = "dev") -> Record:
    """Run `program` (Python source of a Pulumi program) for `stack` and return its record."""
    path = directory / "__main__.py"
    path.write_text(textwrap.dedent(program))
    return run_program(stack, {}, program_file=path)


def rendered_objects(record: Record) -> list[dict[str, Any]]:
    return render_record(record).objects


def objects_of(record: Record, kind: str) -> list[dict[str, Any]]:
    return [o for o in rendered_objects(record) if o["kind"] == kind]


def one_object(record: Record, kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in objects_of(record, kind) if name is None or o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def is_custom_resource(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def validate_strictly(objects: list[dict[str, Any]]) -> int:
    """kubernetes-validate every built-in object (unknown fields are errors); returns how many it checked."""
    checked = 0
    for obj in objects:
        if is_custom_resource(obj):
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked += 1
    return checked


def checkov_findings(objects: list[dict[str, Any]], directory: Path) -> list[tuple[str, str]]:
    """checkov's findings (check ID, resource) on the objects, with the stacks' check list."""
    write(Rendered(objects=objects, unexpanded=[]), directory)
    try:
        report = checkov.run_checkov(directory)
    except checkov.CheckovMissingError as exc:
        missing_tool(str(exc))
        raise
    assert report["summary"]["passed"] > 0 and report["summary"]["parsing_errors"] == 0
    return checkov.findings(report)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
