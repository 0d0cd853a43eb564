"""checkov over a folder of rendered Kubernetes YAML, with the check list we hold every object to.

One home for the list: our own objects (tests/harness/test_render.py) and the upstream parts
(upstream/checks.py) are checked against the same IDs. checkov lives in its own venv (see Makefile).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from harness.mocks import REPO_ROOT

CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# SECURITY.md rows checked with checkov (C): pod hardening, probes, resources, service accounts,
# image pinning and a NetworkPolicy per namespace.
CHECKOV_CHECKS = (
    "CKV_K8S_8,CKV_K8S_9,CKV_K8S_10,CKV_K8S_11,CKV_K8S_12,CKV_K8S_13,CKV_K8S_14,CKV_K8S_16,CKV_K8S_17,"
    "CKV_K8S_18,CKV_K8S_19,CKV_K8S_20,CKV_K8S_21,CKV_K8S_22,CKV_K8S_23,CKV_K8S_28,CKV_K8S_31,CKV_K8S_37,"
    "CKV_K8S_38,CKV_K8S_40,CKV_K8S_41,CKV_K8S_43,CKV2_K8S_6"
)


class CheckovMissingError(RuntimeError):
    """checkov is not installed where the Makefile puts it."""


def run_checkov(directory: Path, checks: str = CHECKOV_CHECKS) -> dict[str, Any]:
    """checkov's JSON report for every YAML file below `directory` (offline: no download, no mapping)."""
    if not CHECKOV.exists():
        raise CheckovMissingError(f"checkov is not installed in {CHECKOV.parent.parent} (see Makefile)")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--framework",
            "kubernetes",
            "--check",
            checks,
            "--skip-download",
            "--quiet",
            "--compact",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
        timeout=900,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed on {directory}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    if isinstance(report, list):
        report = report[0]
    if isinstance(report, dict) and "results" not in report:
        # checkov prints a bare summary when nothing at all was checked
        report = {"results": {"failed_checks": []}, "summary": report}
    return report


def findings(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(check id, resource as checkov names it: Kind.namespace.name) of every failed check."""
    return [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
