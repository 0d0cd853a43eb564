"""The committed stacks against their node groups, and the facts reader they depend on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from capacity.__main__ import main
from capacity.facts import FACTS_DIR, declared_releases, load_facts, upstream_workloads
from capacity.plan import DEFAULT_HEADROOM
from capacity.stack import plan_stack
from harness.render import Rendered, render_record
from tests.support.stacks import record
from tests.support.tools import missing_tool

AWS_STACKS = ("dev", "prod")


def _rendered(stack: str) -> Rendered:
    return render_record(record(stack))


def _facts(stack: str, release: str, version: str | None, workloads: list[dict[str, Any]]) -> dict[str, Any]:
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


def _workload(name: str, cpu: str, memory: str, replicas: int = 1, **extra: object) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "name": name,
        "namespace": "upstream",
        "replicas": replicas,
        "per_node": False,
        "hook": False,
        "node_selector": {},
        "tolerations": [],
        "pod": {},
        "containers": [
            {"name": name, "init": False, "requests": {"cpu": cpu, "memory": memory}, "limits": {}}
        ],
        **extra,
    }


def _write_fixture(
    tmp_path: Path, stack: str, per_release: dict[str, list[dict[str, Any]]] | None = None
) -> Path:
    """A facts directory with one small file per upstream part the stack declares."""
    for release, version in declared_releases(_rendered(stack).unexpanded).items():
        workloads = (per_release or {}).get(release, [_workload(f"{release}-server", "100m", "128Mi")])
        path = tmp_path / stack / f"{release}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(_facts(stack, release, version, workloads)))
    return tmp_path


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_committed_stack_fits_its_desired_nodes_with_headroom(stack: str) -> None:
    if not (FACTS_DIR / stack).is_dir():
        missing_tool(
            f"upstream facts for {stack} are not committed ({FACTS_DIR / stack}): python -m upstream derive"
        )
    plan = plan_stack(stack, rendered=_rendered(stack))
    assert plan is not None and plan.fits, plan and plan.unplaced
    for group in plan.groups:
        assert group.nodes == group.desired_nodes, f"{stack}: {group.role} needs {group.nodes} nodes"
        assert group.headroom >= DEFAULT_HEADROOM - 1e-9, group


def test_local_has_no_node_groups_to_plan() -> None:
    assert plan_stack("local", rendered=_rendered("local")) is None


def test_the_plan_counts_ours_upstream_and_the_addons(tmp_path: Path) -> None:
    facts = _write_fixture(tmp_path, "dev")
    plan = plan_stack("dev", facts_dir=facts, rendered=_rendered("dev"))
    assert plan is not None
    pods = {p.pod for p in plan.placements}
    assert "Deployment mlflow/mlflow (program)" in pods
    assert "Deployment upstream/kubeflow-pipelines-server (kubeflow-pipelines)" in pods
    assert {
        "DaemonSet kube-system/aws-node (eks-addon)",
        "Deployment kube-system/coredns (eks-addon)",
    } <= pods
    assert [p.transient for p in plan.placements if p.pod == "Job mlflow/mlflow-users (program)"] == [True]


def test_a_stack_whose_upstream_pods_overflow_its_max_sizes_does_not_fit(tmp_path: Path) -> None:
    heavy = {"kubeflow-pipelines": [_workload("hungry", "100m", "2Gi", replicas=12)]}
    plan = plan_stack("dev", facts_dir=_write_fixture(tmp_path, "dev", heavy), rendered=_rendered("dev"))
    assert plan is not None and not plan.fits
    assert "Deployment upstream/hungry (kubeflow-pipelines)" in plan.unplaced


def test_missing_facts_name_the_release_and_the_command(tmp_path: Path) -> None:
    facts = _write_fixture(tmp_path, "dev")
    (facts / "dev" / "kubeflow-pipelines.json").unlink()
    with pytest.raises(
        ValueError, match=r"installs .kubeflow-pipelines. but .* `python -m upstream derive --stack dev`"
    ):
        upstream_workloads("dev", _rendered("dev").unexpanded, facts)


def test_facts_of_another_chart_version_are_stale(tmp_path: Path) -> None:
    facts = _write_fixture(tmp_path, "dev")
    path = next(
        p
        for p in (facts / "dev").glob("*.json")
        if json.loads(p.read_text())["source"]["version"] != "2.17.0"
    )
    document = json.loads(path.read_text())
    document["source"]["version"] = "0.0.1"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"derived from version 0\.0\.1, but stack dev installs"):
        upstream_workloads("dev", _rendered("dev").unexpanded, facts)


def test_malformed_facts_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "x.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"schema": 2}))
    with pytest.raises(ValueError, match=r"x\.json: schema 2, this reader understands schema 1"):
        load_facts("dev", tmp_path)
    path.write_text(json.dumps({"schema": 1, "release": "x", "stack": "dev", "source": {}, "workloads": []}))
    with pytest.raises(ValueError, match=r"x\.json: missing field 'version'"):
        load_facts("dev", tmp_path)


def test_cli_prints_the_plan_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = str(_write_fixture(tmp_path, "dev"))
    assert main(["--stack", "dev", "--stack", "local", "--facts-dir", facts]) == 0
    out = capsys.readouterr().out
    assert "stack dev: capacity plan" in out and "system" in out and "stack local: no node groups" in out
    assert main(["--stack", "dev", "--json", "--facts-dir", facts]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["fits"] is True and [g["role"] for g in document["groups"]] == ["system", "workloads"]


def test_cli_names_missing_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev", "--facts-dir", str(tmp_path)]) == 2
    assert "has no facts file" in capsys.readouterr().err
