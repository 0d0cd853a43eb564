"""Small upstream facts files (schema of `upstream.facts`), one per upstream part a stack declares, for tests.

The committed facts are derived from the pinned upstream by the upstream tooling; these fixtures only need
the shape, with versions taken from what the stack declares so they are never stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from capacity.facts import declared_releases
from harness.render import Rendered, render_record
from tests.support.stacks import record


def rendered(stack: str) -> Rendered:
    return render_record(record(stack))


def facts_document(
    stack: str, release: str, version: str | None, workloads: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "schema": 1,
        "release": release,
        "stack": stack,
        "source": {"kind": "helm", "name": release, "version": version or "2.17.0", "location": "x"},
        "derived_by": "test fixture",
        "kinds": {},
        "crds": [],
        "images": [],
        "secrets": [],
        "workloads": workloads,
    }


def workload(name: str, cpu: str, memory: str, replicas: int = 1, **extra: object) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "name": name,
        "namespace": "upstream",
        "replicas": replicas,
        "per_node": False,
        "hook": False,
        "node_selector": {},
        "tolerations": [],
        "pod": {
            "service_account": None,
            "automount_service_account_token": None,
            "host_network": False,
            "host_pid": False,
            "host_ipc": False,
            "security_context": {},
            "volumes": [],
            "labels": {},
        },
        "containers": [
            {
                "name": name,
                "init": False,
                "image": f"example.org/{name}:1",
                "requests": {"cpu": cpu, "memory": memory},
                "limits": {},
                "security_context": {},
                "liveness_probe": True,
                "readiness_probe": True,
                "ports": [],
                "env_literals": {},
            }
        ],
        **extra,
    }


def write_facts(root: Path, stack: str, per_release: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """`root/<stack>/<release>.json` for every upstream part the stack declares; returns root."""
    for release, version in declared_releases(rendered(stack).unexpanded).items():
        workloads = (per_release or {}).get(release, [workload(f"{release}-server", "100m", "128Mi")])
        path = root / stack / f"{release}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(facts_document(stack, release, version, workloads)))
    return root
