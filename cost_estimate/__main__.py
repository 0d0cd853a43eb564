"""`python -m cost_estimate --stack dev [--stack prod] [--format markdown]`: print the monthly estimate."""

from __future__ import annotations

import argparse
import sys

from cost_estimate.estimate import estimate_monthly_cost
from cost_estimate.report import committed_stack_settings, render_markdown, render_text
from settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost_estimate", description=__doc__)
    parser.add_argument("--stack", action="append", required=True, help="a committed stack (repeatable)")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    args = parser.parse_args(argv)
    render = render_markdown if args.format == "markdown" else render_text
    for i, stack in enumerate(args.stack):
        try:
            estimate = estimate_monthly_cost(committed_stack_settings(stack))
        except (FileNotFoundError, SettingsError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(("\n" if i else "") + render(estimate), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
