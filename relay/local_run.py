"""`python -m relay.local_run RUN_FILE LOG -- COMMAND...`: one local training run, finished in its file.

The local launcher starts this supervisor in a process group of its own; it runs COMMAND with its output in
LOG and, when COMMAND exits, writes the outcome into RUN_FILE (the run's JSON file). That file is thus
complete whether or not the relay that started the run is still alive (a restarted relay reads it like any
other).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from relay.launchers import finish_local_run


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m relay.local_run RUN_FILE LOG -- COMMAND...", file=sys.stderr)
        return 2
    run_file, log = Path(argv[0]), Path(argv[1])
    with log.open("wb") as out:
        code = subprocess.run(
            argv[3:], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        ).returncode
    finish_local_run(run_file, code, log.read_text(encoding="utf-8", errors="replace").splitlines())
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
