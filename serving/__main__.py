"""`python -m serving serve | live-drift | local` (see serving/__init__.py)."""

from __future__ import annotations

import argparse
import os
import sys


def _serve(_: argparse.Namespace) -> int:
    from serving.config import ConfigError, server_config

    try:
        config = server_config(os.environ)
    except ConfigError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    from serving.server import run

    run(config)
    return 0


def _live_drift(_: argparse.Namespace) -> int:
    from serving.live_drift import main

    return main(os.environ)


def _local(args: argparse.Namespace) -> int:
    from serving.laptop import serve_state_folder

    return serve_state_folder(args.state, args.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the model server (configured by MLOPS_* variables)").set_defaults(
        run=_serve
    )
    commands.add_parser(
        "live-drift", help="check drift on the captured traffic of the last window (MLOPS_* variables)"
    ).set_defaults(run=_live_drift)
    local = commands.add_parser("local", help="serve the champion of the demo's state folder until Ctrl-C")
    local.add_argument("--state", default=None, help="state folder (default .state, or MLOPS_STATE_DIR)")
    local.add_argument("--port", type=int, default=8080, help="HTTP port on 127.0.0.1 (default 8080)")
    local.set_defaults(run=_local)
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
