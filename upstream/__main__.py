"""Upstream parts rendered at their pinned versions, recorded as facts and checked like our own objects.

python -m upstream derive --stack dev [--kfp-source DIR [--argo-source DIR]] [--chart-source NAME=DIR ...]
    render every upstream part `dev` installs and write upstream/facts/dev/<release>.json
python -m upstream check --stack dev [same sources] [--no-checkov]
    render again; fail with a diff when the committed facts differ, and on any strict-schema error,
    checkov finding outside upstream/checkov-baseline.json, stale baseline entry or facts check failure
python -m upstream baseline --stack dev [same sources]
    rewrite this stack's entries of upstream/checkov-baseline.json from a checkov run (review the diff:
    the baseline may only shrink)
python -m upstream images [--check] [--stack dev]
    write upstream/images.json, every third-party image the platform runs; --check fails when it is stale;
    --stack prints one stack's images instead
python -m upstream pins
    resolve every image in upstream/images.json (docker buildx imagetools); fail naming each tag or digest
    that is gone and each tag that now points elsewhere (the scheduled image-pins workflow runs this)

Without sources, charts are pulled from their repositories and kustomize fetches its remote bases (network).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

STACKS = ("local", "dev", "prod")


def _chart_source(text: str) -> tuple[str, Path]:
    name, sep, directory = text.partition("=")
    if not sep or not name or not directory:
        raise argparse.ArgumentTypeError(
            f"--chart-source {text!r}: expected NAME=DIR, e.g. grafana=/tmp/grafana"
        )
    path = Path(directory)
    if not (path / "Chart.yaml").is_file():
        raise argparse.ArgumentTypeError(f"--chart-source {text!r}: {path} has no Chart.yaml")
    return name, path


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, choices=STACKS)
    parser.add_argument("--kfp-source", type=Path, help="Kubeflow Pipelines checkout at the pinned tag")
    parser.add_argument("--argo-source", type=Path, help="Argo Workflows checkout at the tag KFP references")
    parser.add_argument(
        "--chart-source",
        type=_chart_source,
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="unpacked chart at the pinned version (dependencies under charts/); repeatable",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upstream", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _add_sources(commands.add_parser("derive", help="render and write the stack's facts"))
    check = commands.add_parser("check", help="render, diff against the committed facts, run the checks")
    _add_sources(check)
    check.add_argument("--no-checkov", action="store_true", help="skip checkov (it is not installed)")
    _add_sources(commands.add_parser("baseline", help="rewrite the stack's checkov baseline entries"))
    images = commands.add_parser("images", help="write (or --check) upstream/images.json")
    images.add_argument("--check", action="store_true", help="fail when the committed list is stale")
    images.add_argument("--stack", choices=STACKS, help="print the images of one stack")
    commands.add_parser("pins", help="resolve every listed image; fail on any gone or moved pin")
    args = parser.parse_args(argv)
    try:
        if args.command == "images":
            return _images(check_only=args.check, stack=args.stack)
        if args.command == "pins":
            return _pins()
        return _with_render(args)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _with_render(args: argparse.Namespace) -> int:
    from harness.charts import releases_in
    from harness.mocks import run_stack
    from upstream import checks
    from upstream.render import RenderError, Sources, render_stack

    sources = Sources(charts=dict(args.chart_source), kfp=args.kfp_source, argo=args.argo_source)
    record = run_stack(args.stack)
    unused = sorted(set(sources.charts) - {r.chart for r in releases_in(record).values()})
    for name in unused:
        print(f"note: --chart-source {name}: the {args.stack} stack installs no such chart", file=sys.stderr)
    try:
        rendered = render_stack(args.stack, sources, record)
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    derived = checks.derive_facts(args.stack, rendered)
    if args.command == "derive":
        for path in checks.write_facts(args.stack, derived):
            print(f"wrote {path}")
        return 0
    if args.command == "baseline":
        path, count = checks.write_baseline(args.stack, rendered, record)
        print(f"{path}: {count} findings recorded for {args.stack}")
        return 0

    problems = checks.diff_facts(args.stack, derived)
    for diff in problems:
        print(diff)
    failures = checks.check_rendered(args.stack, rendered, record, run_checkov=not args.no_checkov)
    failures += checks.check_facts(args.stack, derived, record)
    for failure in failures:
        print(f"FAIL {failure}")
    if problems:
        print(
            f"the committed facts of {args.stack} differ from the render: review, then "
            f"`python -m upstream derive --stack {args.stack}` and commit",
            file=sys.stderr,
        )
    ok = not problems and not failures
    print(f"{args.stack}: {len(rendered)} upstream releases {'match their facts and pass' if ok else 'FAIL'}")
    return 0 if ok else 1


def _images(*, check_only: bool, stack: str | None) -> int:
    from upstream.images import IMAGES_FILE, image_list, image_list_text

    if stack is not None:
        for entry in image_list():
            if any(use.startswith(f"{stack}: ") for use in entry["used_by"]):
                print(entry["image"])
        return 0
    text = image_list_text()
    if check_only:
        current = IMAGES_FILE.read_text() if IMAGES_FILE.exists() else ""
        if current != text:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    str(IMAGES_FILE),
                    "derived",
                )
            )
            print(f"{IMAGES_FILE} is stale: run python -m upstream images", file=sys.stderr)
            return 1
        return 0
    IMAGES_FILE.write_text(text)
    print(f"wrote {IMAGES_FILE}")
    return 0


def _pins() -> int:
    from upstream.images import IMAGES_FILE, buildx_resolver, load_image_list, pin_problems

    images = load_image_list()
    problems = pin_problems(images, buildx_resolver)
    for problem in problems:
        print(f"FAIL {problem}")
    print(f"{len(images)} images in {IMAGES_FILE.name}, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
