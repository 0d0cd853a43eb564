"""`python -m harness validate` (the CI charts job's schema gate) and the `helm template` commands."""

from __future__ import annotations

from pathlib import Path

from harness.__main__ import main
from harness.validate import validate_folder

VALID = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {key: value}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: rules}
spec: {groups: []}
"""

UNKNOWN_FIELD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, imagePullPolice: Always}]
"""


def _folder(tmp_path: Path, *documents: str) -> Path:
    for index, text in enumerate(documents):
        (tmp_path / f"{index}.yaml").write_text(text)
    return tmp_path


def test_valid_objects_pass_and_custom_resources_are_listed(tmp_path: Path) -> None:
    report = validate_folder(_folder(tmp_path, VALID), "1.35")
    assert report.checked == 1
    assert report.errors == []
    assert report.without_schema == {"monitoring.coreos.com/v1/PrometheusRule": 1}
    assert main(["validate", str(tmp_path)]) == 0


def test_an_unknown_field_fails_with_its_place(tmp_path: Path) -> None:
    report = validate_folder(_folder(tmp_path, VALID, UNKNOWN_FIELD), "1.35")
    assert len(report.errors) == 1
    assert "Deployment web: spec/template/spec/containers/0" in report.errors[0]
    assert "imagePullPolice" in report.errors[0]
    assert main(["validate", str(tmp_path)]) == 1


def test_an_empty_folder_is_a_failure_not_a_pass(tmp_path: Path) -> None:
    assert main(["validate", str(tmp_path)]) == 1
