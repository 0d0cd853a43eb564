"""Reading a committed stack file and printing an estimate as text or Markdown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cost_estimate import prices
from cost_estimate.estimate import CostEstimate
from settings import PROJECT, StackSettings, settings_from_config

REPO_ROOT = Path(__file__).resolve().parents[1]


def committed_stack_settings(stack: str, repo_root: Path = REPO_ROOT) -> StackSettings:
    """Validated settings of `Pulumi.<stack>.yaml`, read the way the Pulumi language host hands them over."""
    path = repo_root / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        stacks = sorted(p.name.split(".")[1] for p in repo_root.glob("Pulumi.*.yaml"))
        raise FileNotFoundError(f"{path} does not exist; committed stacks: {', '.join(stacks)}")
    document: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    config: dict[str, Any] = document.get("config") or {}
    prefix = f"{PROJECT}:"
    project_config = {
        key.removeprefix(prefix): value if isinstance(value, str) else json.dumps(value)
        for key, value in config.items()
        if key.startswith(prefix) and not (isinstance(value, dict) and set(value) == {"secure"})
    }
    region = config.get("aws:region")
    return settings_from_config(stack, project_config, str(region) if region else None)


def render_text(estimate: CostEstimate) -> str:
    if not estimate.items:
        return f"stack {estimate.stack}: no AWS resources (target local): $0.00/month on AWS\n"
    width = max(len(i.item) for i in estimate.items)
    lines = [
        f"stack {estimate.stack}: estimated monthly cost, {prices.REGION} last known list prices of "
        f"{prices.PRICES_CHECKED_ON.isoformat()}"
    ]
    for i in estimate.items:
        lines.append(f"  {i.category:<10} {i.item:<{width}}  {i.monthly_usd:>8.2f}  ({i.quantity})")
    lines.append(f"  {'TOTAL':<10} {'':<{width}}  {estimate.total_usd:>8.2f}  USD/month")
    return "\n".join(lines) + "\n"


def render_markdown(estimate: CostEstimate) -> str:
    if not estimate.items:
        return f"**{estimate.stack}**: no AWS resources, $0/month on AWS.\n"
    rows = [f"| {i.category} | {i.item} | {i.quantity} | {i.monthly_usd:,.2f} |" for i in estimate.items]
    return (
        "\n".join(
            [
                f"**{estimate.stack}** ({prices.REGION}, "
                f"last known list prices of {prices.PRICES_CHECKED_ON})",
                "",
                "| Category | Item | Quantity | USD/month |",
                "|---|---|---|---:|",
                *rows,
                f"| **Total** | | | **{estimate.total_usd:,.2f}** |",
            ]
        )
        + "\n"
    )
