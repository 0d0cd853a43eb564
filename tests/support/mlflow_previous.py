"""The previous MLflow minor version in a throwaway venv, to write a store the way users' servers did.

The upgrade rehearsal needs a store written by the MLflow release before ours. It lives in
`.venv-mlflow-previous/` (gitignored), created on first use and reused while the requirements are the same:
about 50 s and 190 MB once per machine. Only mlflow differs from the project's venv: the database driver,
SQLAlchemy and Alembic are the versions installed there, so the rehearsal isolates MLflow's own change.
mlflow-skinny is enough to write through the SQL store and carries the same migrations as the full package.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from tests.support.tools import REPO_ROOT, missing_tool

# The one place the previous version is named. Bump it with MLFLOW_VERSION (versions.py):
# the latest release of the minor version before ours (`pip index versions mlflow`).
MLFLOW_PREVIOUS_VERSION = "3.16.1"
VENV = REPO_ROOT / ".venv-mlflow-previous"
STAMP = VENV / ".requirements"


def requirements() -> list[str]:
    same_as_ours = ("sqlalchemy", "alembic", "psycopg2-binary")
    return [
        f"mlflow-skinny=={MLFLOW_PREVIOUS_VERSION}",
        *(f"{p}=={metadata.version(p)}" for p in same_as_ours),
    ]


def install_commands() -> list[list[str]]:
    return [
        [sys.executable, "-m", "venv", "--clear", str(VENV)],
        [
            str(VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            *requirements(),
        ],
    ]


def previous_mlflow_python() -> Path:
    """The previous venv's interpreter; creates the venv if missing or out of date, else skip/fail."""
    python = VENV / "bin" / "python"
    wanted = " ".join(requirements())
    if python.exists() and STAMP.exists() and STAMP.read_text(encoding="utf-8") == wanted:
        return python
    for command in install_commands():
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            shown = " && ".join(" ".join(c) for c in install_commands())
            missing_tool(
                f"MLflow {MLFLOW_PREVIOUS_VERSION} venv could not be created "
                f"({result.stderr.strip()[-300:]}); create it with: {shown}"
            )
    STAMP.write_text(wanted, encoding="utf-8")
    return python
