"""`make test` brings every system tool the suite runs (scripts/ensure-system-tools.sh), so nothing skips."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.monitoring.alerting_stack import TOOLS as ALERTING_TOOLS
from tests.support.tools import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "ensure-system-tools.sh"
# Installed into .venv by the pinned requirements, not by the system package manager.
VENV_TOOLS = {"zizmor", "check-jsonschema", "moto_server"}
# Checked by the script outside its package table: PostgreSQL's binaries are not on PATH; kubectl is not
# packaged in Debian main.
SPECIAL_CASED = {"initdb", "pg_ctl", "kubectl"}


def required_tools() -> set[str]:
    """Every executable the tests ask `require_tool` for (string literals), plus the alerting stack's."""
    names = set(ALERTING_TOOLS)
    for path in (REPO_ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "require_tool"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    return names


def script_tools() -> set[str]:
    return set(re.findall(r"^\s+\[([a-z-]+)\]=", SCRIPT.read_text(encoding="utf-8"), flags=re.MULTILINE))


def test_every_tool_a_test_requires_is_installed_by_make_test() -> None:
    missing = required_tools() - VENV_TOOLS - SPECIAL_CASED - script_tools()
    assert missing == set(), f"scripts/ensure-system-tools.sh does not bring {sorted(missing)}"


def test_make_test_runs_the_tools_check_before_any_test() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    (prerequisites,) = re.findall(r"^test: (.*?)  ##", makefile, flags=re.MULTILINE)
    assert prerequisites.split()[0] == "tools"


def test_a_missing_tool_without_permission_to_install_prints_the_exact_command(tmp_path: Path) -> None:
    # A PATH with only what the script itself calls: every tool is missing.
    for name in ("sort", "id", "env"):
        (tmp_path / name).symlink_to(str(shutil.which(name)))
    result = subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={**os.environ, "PATH": str(tmp_path), "MLOPS_NO_APT": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert (
        "sudo apt-get install -y --no-install-recommends "
        "graphviz prometheus prometheus-alertmanager prometheus-pushgateway" in result.stderr
    )
