"""`python -m monitoring render` rewrites the committed dashboard JSON; `check` fails if it is stale."""

from __future__ import annotations

import argparse
import sys

from monitoring import dashboards


def _stale_files() -> list[str]:
    stale: list[str] = []
    for spec in dashboards.all_dashboards():
        path = dashboards.DASHBOARD_DIR / f"{spec.slug}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != spec.to_json():
            stale.append(str(path))
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    parser.add_argument("command", choices=["render", "check"])
    args = parser.parse_args(argv)
    if args.command == "render":
        for path in dashboards.write_dashboards():
            print(f"wrote {path}")
        return 0
    stale = _stale_files()
    for stale_path in stale:
        print(f"out of date: {stale_path} (run `python -m monitoring render`)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
