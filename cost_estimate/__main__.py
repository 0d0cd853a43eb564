"""`python -m cost_estimate --stack dev [--stack prod] [--format markdown]`: print the monthly estimate.

Each AWS stack's node groups are priced at the size its capacity plan (`python -m capacity`) says the
platform needs, so the estimate is for a stack that runs; the text format prints the plan first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from capacity.plan import UnschedulablePodError
from capacity.report import render_text as render_plan
from capacity.stack import plan_stack
from cost_estimate.estimate import estimate_monthly_cost
from cost_estimate.report import committed_stack_settings, render_markdown, render_text
from settings import SettingsError
from upstream.facts import FACTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost_estimate", description=__doc__)
    parser.add_argument("--stack", action="append", required=True, help="a committed stack (repeatable)")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    parser.add_argument(
        "--facts-dir", type=Path, default=FACTS_DIR, help="upstream facts (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    render = render_markdown if args.format == "markdown" else render_text
    for i, stack in enumerate(args.stack):
        try:
            settings = committed_stack_settings(stack)
            plan = plan_stack(stack, facts_dir=args.facts_dir) if settings.is_aws else None
            estimate = estimate_monthly_cost(settings, nodes=plan.nodes() if plan else None)
        except (FileNotFoundError, SettingsError, UnschedulablePodError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        text = render(estimate)
        if plan is not None and args.format == "text":
            text = render_plan(plan) + "\n" + text
        print(("\n" if i else "") + text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
