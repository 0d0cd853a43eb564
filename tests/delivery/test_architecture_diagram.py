"""docs/architecture.png is generated from docs/architecture.py, and the script still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.tools import REPO_ROOT, require_tool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_architecture_script_draws_a_png(tmp_path: Path) -> None:
    require_tool("dot")
    target = tmp_path / "architecture"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "docs" / "architecture.py"), str(target)],
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    drawn = target.with_suffix(".png").read_bytes()
    assert drawn.startswith(PNG_SIGNATURE)
    assert len(drawn) > 50_000, "a diagram with icons and labels, not an empty canvas"


def test_committed_diagram_is_a_real_png() -> None:
    committed = (REPO_ROOT / "docs" / "architecture.png").read_bytes()
    assert committed.startswith(PNG_SIGNATURE)
    assert len(committed) > 50_000
