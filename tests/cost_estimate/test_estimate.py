"""The monthly cost estimate: guardrails on the committed stacks and the arithmetic behind them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from capacity.facts import FACTS_DIR
from capacity.stack import plan_stack
from components.eks_cluster import EksClusterArgs
from cost_estimate import prices
from cost_estimate.__main__ import main
from cost_estimate.estimate import CostEstimate, estimate_monthly_cost
from cost_estimate.report import committed_stack_settings, render_markdown
from settings import StackSettings
from tests.capacity.facts_fixture import rendered, write_facts
from tests.support.tools import missing_tool

REPO_ROOT = Path(__file__).resolve().parents[2]
BUDGET_USD = {"dev": 160.0, "prod": 550.0}


def _estimate(stack: str) -> CostEstimate:
    return estimate_monthly_cost(committed_stack_settings(stack))


def _item(estimate: CostEstimate, item: str) -> float:
    [amount] = [i.monthly_usd for i in estimate.items if i.item == item]
    return amount


def _with(settings: StackSettings, **changes: object) -> StackSettings:
    return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]


def _eks(settings: StackSettings, **changes: object) -> StackSettings:
    assert isinstance(settings.cluster, EksClusterArgs)
    return _with(settings, cluster=dataclasses.replace(settings.cluster, **changes))  # type: ignore[arg-type]


@pytest.mark.parametrize("stack", sorted(BUDGET_USD))
def test_committed_stack_stays_within_its_monthly_budget(stack: str) -> None:
    estimate = _estimate(stack)
    assert estimate.total_usd <= BUDGET_USD[stack], render_markdown(estimate)


@pytest.mark.parametrize("stack", sorted(BUDGET_USD))
def test_the_stack_its_capacity_plan_needs_stays_within_budget(stack: str) -> None:
    if not (FACTS_DIR / stack).is_dir():
        missing_tool(
            f"upstream facts for {stack} are not committed ({FACTS_DIR / stack}): python -m upstream derive"
        )
    plan = plan_stack(stack, rendered=rendered(stack))
    assert plan is not None and plan.fits, plan and plan.unplaced
    estimate = estimate_monthly_cost(committed_stack_settings(stack), nodes=plan.nodes())
    assert estimate.total_usd <= BUDGET_USD[stack], render_markdown(estimate)


def test_node_groups_are_priced_at_what_the_plan_needs() -> None:
    settings = committed_stack_settings("dev")
    desired, planned = estimate_monthly_cost(settings), estimate_monthly_cost(settings, nodes={"system": 2})
    one_node = _item(desired, "node group 'system'")
    assert _item(planned, "node group 'system'") == round(2 * one_node, 2)
    assert _item(planned, "node root volumes (gp3)") == pytest.approx(
        _item(desired, "node root volumes (gp3)") + 20 * 0.08
    )
    [line] = [i.quantity for i in planned.items if i.item == "node group 'system'"]
    assert "capacity plan: 2 needed, desired 1" in line
    # A plan never prices below the desired size: those nodes run anyway.
    assert estimate_monthly_cost(settings, nodes={"workloads": 0}) == desired


def test_a_nat_instance_replaces_the_nat_gateway_lines() -> None:
    dev = _estimate("dev")
    assert _item(dev, "NAT instances") == round(730 * prices.EC2_PER_HOUR["t4g.nano"], 2)
    assert _item(dev, "NAT instance root volumes (gp3)") == round(8 * prices.EBS_GP3_PER_GB_MONTH, 2)
    assert not [i for i in dev.items if i.item in ("NAT gateways", "NAT data processing")]
    settings = committed_stack_settings("dev")
    assert isinstance(settings.cluster, EksClusterArgs)
    gateway = _eks(settings, network=dataclasses.replace(settings.cluster.network, nat_type="gateway"))
    saved = estimate_monthly_cost(gateway).total_usd - dev.total_usd
    assert saved == pytest.approx(730 * (0.045 - 0.0042) + 20 * 0.045 - 8 * 0.08, abs=0.02)


def test_local_stack_costs_nothing_on_aws() -> None:
    estimate = _estimate("local")
    assert estimate.items == () and estimate.total_usd == 0


def test_itemised_lines_cover_every_cost_driver() -> None:
    dev, prod = _estimate("dev"), _estimate("prod")
    assert _item(dev, "EKS control plane") == 73.0
    assert _item(prod, "NAT gateways") == 98.55
    assert (
        _item(dev, "NAT public IPv4 addresses") == 3.65 and _item(prod, "NAT public IPv4 addresses") == 10.95
    )
    assert {i.category for i in prod.items} == {
        "Cluster",
        "Compute",
        "Network",
        "Storage",
        "Database",
        "Operations",
    }
    assert not [i for i in dev.items if i.category == "Database"], "dev keeps MLflow on SQLite"
    assert _item(prod, "RDS PostgreSQL db.t4g.small (Multi-AZ)") == round(2 * 730 * 0.032, 2)
    assert _item(prod, "KMS customer keys") == 2.0
    assert estimate_total_matches_items(prod)


def estimate_total_matches_items(estimate: CostEstimate) -> bool:
    return estimate.total_usd == round(sum(i.monthly_usd for i in estimate.items), 2)


def test_on_demand_uses_the_first_type_and_spot_the_dearest_type_discounted() -> None:
    dev = _estimate("dev")
    assert _item(dev, "node group 'system'") == round(1 * 730 * prices.EC2_PER_HOUR["t3a.medium"], 2)
    # Workloads may land on any listed spot type: price the dearest (t3.large), discounted.
    expected_spot = 1 * 730 * prices.EC2_PER_HOUR["t3.large"] * (1 - prices.SPOT_DISCOUNT)
    assert _item(dev, "node group 'workloads'") == round(expected_spot, 2)


def test_extended_support_adds_its_surcharge() -> None:
    settings = committed_stack_settings("dev")
    assert isinstance(settings.cluster, EksClusterArgs)
    extended = _eks(
        settings, control_plane=dataclasses.replace(settings.cluster.control_plane, upgrade_policy="EXTENDED")
    )
    surcharge = estimate_monthly_cost(extended).total_usd - estimate_monthly_cost(settings).total_usd
    assert surcharge == pytest.approx(730 * 0.50, abs=0.01)


def test_an_unpriced_instance_type_is_named_in_the_error() -> None:
    settings = committed_stack_settings("dev")
    assert isinstance(settings.cluster, EksClusterArgs)
    groups = settings.cluster.node_groups
    unpriced = dataclasses.replace(
        groups, system=dataclasses.replace(groups.system, instance_types=("x9z.huge",))
    )
    with pytest.raises(ValueError, match=r"'x9z\.huge' has no price in cost_estimate/prices\.py"):
        estimate_monthly_cost(_eks(settings, node_groups=unpriced))


def test_docs_cost_table_is_current() -> None:
    """docs/cost.md shows what `python -m cost_estimate --format markdown` prints for each stack."""
    document = (REPO_ROOT / "docs" / "cost.md").read_text()
    for stack in ("dev", "prod"):
        assert render_markdown(_estimate(stack)) in document, (
            f"docs/cost.md is stale for {stack}: python -m cost_estimate --stack {stack} --format markdown"
        )


def test_cli_prints_the_capacity_plan_and_an_itemised_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_facts(tmp_path, "dev")
    write_facts(tmp_path, "prod")
    assert main(["--stack", "dev", "--stack", "prod", "--facts-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stack dev: capacity plan" in out and "stack prod: capacity plan" in out
    assert "stack dev: estimated monthly cost" in out and "stack prod: estimated monthly cost" in out
    assert out.count("TOTAL") == 2 and "EKS control plane" in out


def test_cli_names_missing_upstream_facts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "dev", "--facts-dir", str(tmp_path)]) == 2
    assert "no upstream facts for stack 'dev'" in capsys.readouterr().err


def test_cli_names_a_missing_stack_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--stack", "staging"]) == 2
    err = capsys.readouterr().err
    assert "Pulumi.staging.yaml does not exist" in err and "dev" in err
