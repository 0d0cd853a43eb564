"""Run the schema migration step exactly as the Job and the init containers do: the script alone in its
folder (the ConfigMap mount), in the project's MLflow, with the store URI in the environment."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from components import mlflow_db_upgrade as db_upgrade
from tests.support.tools import REPO_ROOT

PYTHON = REPO_ROOT / ".venv" / "bin" / "python"


def install_script(workdir: Path) -> Path:
    """The script copied into a folder of its own, as the ConfigMap mounts it."""
    mount = workdir / "migration-script"
    mount.mkdir(exist_ok=True)
    script = mount / db_upgrade.SCRIPT.name
    shutil.copy(db_upgrade.SCRIPT, script)
    return script


def migration_step(command: str, env: Mapping[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    script = install_script(workdir)
    return subprocess.run(
        [str(PYTHON), str(script), command],
        capture_output=True,
        text=True,
        check=False,
        env=dict(env),
        cwd=workdir,
    )
