"""Validate rendered Kubernetes YAML (ours or `helm template` output) against the official schemas.

`python -m harness validate build/charts --kubernetes-version 1.35` checks every object in every YAML file
below the folder with kubernetes-validate in strict mode (unknown fields are errors). Custom resources
(PrometheusRule, ServiceMonitor, ...) have no schema there: they are counted and listed, not failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml


@dataclass
class ValidationReport:
    checked: int = 0
    errors: list[str] = field(default_factory=list)
    without_schema: Counter[str] = field(default_factory=Counter)


def objects_in(path: Path) -> list[dict[str, Any]]:
    """Every Kubernetes object in a (multi-document) YAML file; `List` kinds are flattened."""
    found: list[dict[str, Any]] = []
    for document in yaml.safe_load_all(path.read_text()):
        if not isinstance(document, dict):
            continue
        if document.get("kind", "").endswith("List") and "items" in document:
            found.extend(item for item in document["items"] if isinstance(item, dict))
        else:
            found.append(document)
    return found


def validate_folder(folder: Path, kubernetes_version: str) -> ValidationReport:
    report = ValidationReport()
    files = sorted(p for p in folder.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    for path in files:
        for obj in objects_in(path):
            if "apiVersion" not in obj or "kind" not in obj:
                continue
            name = f"{path.relative_to(folder)}: {obj['kind']} {obj.get('metadata', {}).get('name', '?')}"
            try:
                kubernetes_validate.validate(obj, kubernetes_version, strict=True)
                report.checked += 1
            except kubernetes_validate.SchemaNotFoundError:
                report.without_schema[f"{obj['apiVersion']}/{obj['kind']}"] += 1
            except kubernetes_validate.ValidationError as exc:
                location = "/".join(str(p) for p in exc.path)
                report.errors.append(f"{name}: {location}: {exc.message}")
    return report
