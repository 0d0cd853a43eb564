"""`python -m tests.pipelines.fault_driver FAULT -- CLI ARGS`: the real CLI (`run --local --in-process`) with
one fault planted, for the fault tests to kill or watch from outside.

The pause faults print `FAULT-POINT <name>` and sleep at the named point (the test SIGKILLs the process
group there); `disk-full-drift` makes the copy of the drift report fail with ENOSPC, as a full disk does.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable
from typing import Any

PAUSE_SECONDS = 600


def _pause(name: str) -> None:
    print(f"FAULT-POINT {name}", flush=True)
    time.sleep(PAUSE_SECONDS)


def _pausing(
    name: str, original: Callable[..., Any], when: Callable[..., bool] = lambda *a, **k: True
) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            _pause(name)
        return original(*args, **kwargs)

    return wrapper


def plant(fault: str) -> None:
    import shutil

    import mlflow.sklearn
    import pytest
    from mlflow import MlflowClient

    patch = pytest.MonkeyPatch()  # never undone: the process ends with the run
    if fault == "pause-train":
        # Inside the open MLflow run: a kill here leaves it RUNNING.
        patch.setattr(mlflow.sklearn, "log_model", _pausing(fault, mlflow.sklearn.log_model))
    elif fault == "pause-alias":
        # The version exists (pending), the alias has not moved.
        original = MlflowClient.set_registered_model_alias
        patch.setattr(MlflowClient, "set_registered_model_alias", _pausing(fault, original))
    elif fault == "pause-done":
        # The alias has moved, the version is not yet marked done.
        tagged = MlflowClient.set_model_version_tag
        patch.setattr(
            MlflowClient, "set_model_version_tag", _pausing(fault, tagged, lambda *a, **k: a[-1] == "done")
        )
    elif fault == "disk-full-drift":
        copyfile = shutil.copyfile

        def full(source: Any, target: Any, *args: Any, **kwargs: Any) -> Any:
            if "drift-reports" in str(target):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
            return copyfile(source, target, *args, **kwargs)

        patch.setattr(shutil, "copyfile", full)
    elif fault != "none":
        raise SystemExit(f"unknown fault {fault!r}")


def main(argv: list[str]) -> int:
    fault, separator, *cli_args = argv
    assert separator == "--", "usage: fault_driver FAULT -- CLI ARGS"
    plant(fault)
    from pipelines.cli import main as cli_main

    return cli_main(cli_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
