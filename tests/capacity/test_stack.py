"""The committed stacks against their node groups, and the facts reader they depend on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capacity.__main__ import main
from capacity.facts import upstream_workloads
from capacity.plan import DEFAULT_HEADROOM
from capacity.report import render_markdown
from capacity.stack import plan_stack
from tests.capacity.facts_fixture import rendered, workload, write_facts
from tests.support.tools import missing_tool
from upstream.facts import FACTS_DIR

AWS_STACKS = ("dev", "prod")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_committed_stack_fits_its_desired_nodes_with_headroom(stack: str) -> None:
    if not (FACTS_DIR / stack).is_dir():
        missing_tool(
            f"upstream facts for {stack} are not committed ({FACTS_DIR / stack}): python -m upstream derive"
        )
    plan = plan_stack(stack, rendered=rendered(stack))
    assert plan is not None and plan.fits, plan and plan.unplaced
    for group in plan.groups:
        assert group.nodes == group.desired_nodes, f"{stack}: {group.role} needs {group.nodes} nodes"
        assert group.headroom >= DEFAULT_HEADROOM - 1e-9, group


def test_local_has_no_node_groups_to_plan() -> None:
    assert plan_stack("local", rendered=rendered("local")) is None


def test_the_plan_counts_ours_upstream_and_the_addons(tmp_path: Path) -> None:
    facts = write_facts(tmp_path, "dev")
    plan = plan_stack("dev", facts_dir=facts, rendered=rendered("dev"))
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
    heavy = {"kubeflow-pipelines": [workload("hungry", "100m", "2Gi", replicas=12)]}
    plan = plan_stack("dev", facts_dir=write_facts(tmp_path, "dev", heavy), rendered=rendered("dev"))
    assert plan is not None and not plan.fits
    assert "Deployment upstream/hungry (kubeflow-pipelines)" in plan.unplaced


def test_missing_facts_name_the_release_and_the_command(tmp_path: Path) -> None:
    facts = write_facts(tmp_path, "dev")
    (facts / "dev" / "kubeflow-pipelines.json").unlink()
    with pytest.raises(
        ValueError, match=r"installs .kubeflow-pipelines. but .* `python -m upstream derive --stack dev`"
    ):
        upstream_workloads("dev", rendered("dev").unexpanded, facts)


def test_facts_of_another_chart_version_are_stale(tmp_path: Path) -> None:
    facts = write_facts(tmp_path, "dev")
    path = next(
        p
        for p in (facts / "dev").glob("*.json")
        if json.loads(p.read_text())["source"]["version"] != "2.17.0"
    )
    document = json.loads(path.read_text())
    document["source"]["version"] = "0.0.1"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"derived from version 0\.0\.1, but stack dev installs"):
        upstream_workloads("dev", rendered("dev").unexpanded, facts)


def test_malformed_facts_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dev" / "x.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"schema": 2}))
    with pytest.raises(ValueError, match=r"x\.json: not upstream facts schema 1"):
        upstream_workloads("dev", rendered("dev").unexpanded, tmp_path)


def test_cli_prints_the_plan_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    facts = str(write_facts(tmp_path, "dev"))
    assert main(["--stack", "dev", "--stack", "local", "--facts-dir", facts]) == 0
    out = capsys.readouterr().out
    assert "stack dev: capacity plan" in out and "system" in out and "stack local: no node groups" in out
    assert main(["--stack", "dev", "--json", "--facts-dir", facts]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["fits"] is True and [g["role"] for g in document["groups"]] == ["system", "workloads"]


def test_cli_names_missing_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev", "--facts-dir", str(tmp_path)]) == 2
    assert "no upstream facts for stack 'dev'" in capsys.readouterr().err


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_docs_what_fits_where_is_current(stack: str) -> None:
    """docs/cost.md shows what `python -m capacity --stack <stack> --format markdown` prints."""
    if not (FACTS_DIR / stack).is_dir():
        missing_tool(
            f"upstream facts for {stack} are not committed ({FACTS_DIR / stack}): python -m upstream derive"
        )
    plan = plan_stack(stack, rendered=rendered(stack))
    assert plan is not None
    document = (REPO_ROOT / "docs" / "cost.md").read_text()
    assert render_markdown(plan) in document, (
        f"docs/cost.md is stale for {stack}: python -m capacity --stack {stack} --format markdown"
    )


def test_cli_refuses_a_headroom_that_is_not_a_share(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--stack", "dev", "--headroom", "1.5"])
    assert exited.value.code == 2 and "--headroom 1.5" in capsys.readouterr().err
