"""`python -m capacity --stack dev [--stack prod] [--format text|markdown|json]`: print the capacity plan.

Exit status 1 when a stack does not fit (with the headroom) even at its groups' max sizes, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from capacity.plan import DEFAULT_HEADROOM, UnschedulablePodError
from capacity.report import render_json, render_markdown, render_text
from capacity.stack import plan_stack
from settings import SettingsError
from upstream.facts import FACTS_DIR


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m capacity", description=__doc__)
    parser.add_argument("--stack", action="append", required=True, help="a committed stack (repeatable)")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    parser.add_argument(
        "--json", action="store_const", const="json", dest="format", help="same as --format json"
    )
    parser.add_argument(
        "--facts-dir", type=Path, default=FACTS_DIR, help="upstream facts (default: %(default)s)"
    )
    parser.add_argument("--headroom", type=float, default=DEFAULT_HEADROOM, help="share kept free per node")
    args = parser.parse_args(argv)
    if not 0 <= args.headroom < 1:
        parser.error(f"--headroom {args.headroom}: expected a share of each node to keep free, 0 <= h < 1")
    render = {"text": render_text, "markdown": render_markdown, "json": render_json}[args.format]
    status = 0
    for i, stack in enumerate(args.stack):
        try:
            plan = plan_stack(stack, facts_dir=args.facts_dir, headroom=args.headroom)
        except UnschedulablePodError as exc:
            print(f"error: stack {stack}: {exc}", file=sys.stderr)
            return 1
        except (FileNotFoundError, SettingsError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if plan is None:
            print(f"{chr(10) if i else ''}stack {stack}: no node groups (target local): not planned")
            continue
        print(("\n" if i else "") + render(plan), end="")
        status = status or (0 if plan.fits else 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
