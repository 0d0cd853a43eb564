"""`helm template` of every release a stack declares, with exactly the values the program passes.

Runs where helm exists (the project's GitHub Actions `charts` job, a laptop); this project's own CI
machine has no helm, so the tests cover the values (`harness.charts`) and the commands below.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.charts import ChartRelease


def template_command(name: str, release: ChartRelease, values_file: Path) -> list[str]:
    return [
        "helm",
        "template",
        name,
        release.chart,
        "--repo",
        release.repo,
        "--version",
        release.version,
        "--namespace",
        release.namespace,
        "--values",
        str(values_file),
    ]


def template_all(releases: dict[str, ChartRelease], values_dir: Path, out_dir: Path) -> list[Path]:
    """Render each release into `out_dir/<name>.yaml`. Raises if helm is missing or a chart fails."""
    if shutil.which("helm") is None:
        raise SystemExit("helm is not installed: `python -m harness charts` wrote the values; install helm")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, release in sorted(releases.items()):
        rendered = subprocess.run(
            template_command(name, release, values_dir / f"{name}.values.yaml"),
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        target = out_dir / f"{name}.yaml"
        target.write_text(rendered)
        written.append(target)
    return written
