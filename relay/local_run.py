"""`python -m relay.local_run RECORD LOG -- COMMAND...`: one local training run, recorded when it ends.

The local launcher starts this supervisor in a process group of its own; it runs COMMAND with its output in
LOG and, when COMMAND exits, writes the outcome into RECORD. The record is thus complete whether or not the
relay that started the run is still alive (a restarted relay reads it like any other).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from relay.launchers import finish_record


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: python -m relay.local_run RECORD LOG -- COMMAND...", file=sys.stderr)
        return 2
    record, log = Path(argv[0]), Path(argv[1])
    with log.open("wb") as out:
        code = subprocess.run(
            argv[3:], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        ).returncode
    finish_record(record, code, log.read_text(encoding="utf-8", errors="replace").splitlines())
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
