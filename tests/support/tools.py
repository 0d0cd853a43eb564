"""Finding the external tools some tests need (promtool, PostgreSQL, checkov ...).

On a developer's laptop a missing tool skips the test with the reason. Under CI (`CI=true`) a missing tool
is a failure: `.ci/run` installs every tool, so an absent one means the setup is broken, and a silent skip
would hide that.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_tool(reason: str) -> None:
    """Skip locally, fail under CI, with the same reason."""
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true: .ci/run should have installed it)")
    pytest.skip(reason)


def require_tool(name: str, *extra_dirs: str) -> str:
    """Absolute path of an executable on PATH (or in one of `extra_dirs`), else skip/fail."""
    path = shutil.which(name, path=os.pathsep.join([*extra_dirs, os.environ.get("PATH", "")]))
    if path is None:
        missing_tool(f"{name} is not installed")
    assert path is not None
    return path
