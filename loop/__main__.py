"""`python -m loop demo [--workdir DIR]`: the closed loop end to end on this machine (`make demo-loop`)."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType

from loop.demo import LoopDemo, summary
from loop.stack import StackError


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="drift -> alert -> relay -> retraining -> champion -> resolved")
    demo.add_argument(
        "--workdir", type=Path, default=None, help="keep state and logs here (default: a temp folder)"
    )
    args = parser.parse_args(argv)
    # SIGTERM like Ctrl-C: the context managers stop every process on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="mlops-loop-") as scratch:
        workdir = args.workdir or Path(scratch)
        print(f"Closed loop on this machine (state and logs in {workdir})")
        try:
            report = LoopDemo(workdir).run()
        except KeyboardInterrupt:
            print("\nInterrupted: every process the demo started has been stopped.", file=sys.stderr)
            return 130
        except (StackError, RuntimeError, TimeoutError) as exc:
            print(f"\nClosed loop FAILED: {exc}\n(logs in {workdir})", file=sys.stderr)
            return 1
        print("\n".join(summary(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
