"""Offline views of a stack, for people and CI.

python -m harness render --stack dev [--out DIR]            every Kubernetes object we declare, as YAML
python -m harness charts --stack dev [--out DIR]            each Helm release's values (rendered and
                                                             checked by `python -m upstream`)
python -m harness validate DIR [--kubernetes-version 1.35]  strict schema check of every YAML object
python -m harness inventory --stack dev                     what a first `pulumi up` creates (Markdown)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

STACKS = ("local", "dev", "prod")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="write the stack's Kubernetes objects, one YAML file each")
    render.add_argument("--stack", required=True, choices=STACKS)
    render.add_argument("--out", type=Path, help="output folder (default build/manifests/<stack>)")
    charts = commands.add_parser("charts", help="write each Helm release's values and releases.json")
    charts.add_argument("--stack", required=True, choices=STACKS)
    charts.add_argument("--out", type=Path, help="output folder (default build/charts/<stack>)")
    validate = commands.add_parser("validate", help="validate YAML objects against the Kubernetes schemas")
    validate.add_argument("folder", type=Path)
    validate.add_argument("--kubernetes-version", default="1.35")
    inventory = commands.add_parser("inventory", help="count what a first `pulumi up` creates (Markdown)")
    inventory.add_argument("--stack", required=True, choices=STACKS)
    args = parser.parse_args(argv)
    if args.command == "inventory":
        return _inventory(args.stack)
    if args.command == "charts":
        return _charts(args.stack, args.out or Path("build") / "charts" / args.stack)
    if args.command == "validate":
        return _validate(args.folder, args.kubernetes_version)

    return _render(args.stack, args.out or Path("build") / "manifests" / args.stack)


def _render(stack: str, out: Path) -> int:
    from harness.render import UNEXPANDED_FILE, render_stack, write

    rendered = render_stack(stack)
    paths = write(rendered, out)
    print(f"{len(paths)} objects written to {out}/")
    for item in rendered.unexpanded:
        print(f"  not expanded offline: {item['type']} {item['name']} (see {out / UNEXPANDED_FILE})")
    return 0


def _charts(stack: str, out: Path) -> int:
    from harness.charts import chart_values, write

    releases = chart_values(stack)
    write(releases, out)
    for name, release in sorted(releases.items()):
        print(f"{name}: {release.chart} {release.version} from {release.repo} -> {out}/{name}.values.yaml")
    return 0


def _inventory(stack: str) -> int:
    from harness.inventory import inventory, render_markdown
    from harness.mocks import run_stack
    from upstream.facts import load_facts

    print(render_markdown(inventory(run_stack(stack), load_facts(stack))), end="")
    return 0


def _validate(folder: Path, kubernetes_version: str) -> int:
    from harness.validate import validate_folder

    report = validate_folder(folder, kubernetes_version)
    for error in report.errors:
        print(f"INVALID {error}")
    for kind, count in sorted(report.without_schema.items()):
        print(f"no schema (custom resource): {kind} x{count}")
    valid, invalid = report.checked, len(report.errors)
    print(f"{valid} objects valid against Kubernetes {kubernetes_version}, {invalid} invalid")
    return 1 if report.errors or report.checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
