"""Our images: content-derived tags, and build inputs that match what each Dockerfile copies."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from components.images import TRAINING_STEPS, ImageBuild, build_files, content_tag
from tests.support.tools import REPO_ROOT

BUILDS = [TRAINING_STEPS]


def _tree(tmp_path: Path) -> tuple[ImageBuild, Path]:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('v1')\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY app ./app\n")
    return ImageBuild("demo", "demo", "Dockerfile", ("app",), "1.0"), tmp_path


def test_content_tag_is_stable_and_changes_with_any_input(tmp_path: Path) -> None:
    build, root = _tree(tmp_path)
    first = content_tag(build, root)
    assert re.fullmatch(r"1\.0-[0-9a-f]{12}", first)
    assert content_tag(build, root) == first

    (root / "app" / "__pycache__").mkdir()
    (root / "app" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"\x00")
    assert content_tag(build, root) == first, "bytecode is not a build input"

    (root / "app" / "main.py").write_text("print('v2')\n")
    assert content_tag(build, root) != first
    (root / "app" / "main.py").write_text("print('v1')\n")
    (root / "Dockerfile").write_text("FROM scratch\nCOPY app ./app\nUSER 1000\n")
    assert content_tag(build, root) != first


def test_a_missing_build_input_is_named(tmp_path: Path) -> None:
    build, root = _tree(tmp_path)
    with pytest.raises(FileNotFoundError, match="image demo: build input nope matches no file"):
        content_tag(dataclasses.replace(build, inputs=("nope",)), root)


def _copied_sources(dockerfile: Path) -> set[str]:
    sources: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            sources.update(p.rstrip("/") for p in parts[1:-1] if not p.startswith("--"))
    return sources


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: b.name)
def test_build_inputs_cover_every_copied_path(build: ImageBuild) -> None:
    """A COPY source outside the inputs would change the image without changing its tag."""
    copied = _copied_sources(REPO_ROOT / build.dockerfile)
    assert copied, "no COPY lines found"
    assert copied <= set(build.inputs), f"copied but not hashed: {sorted(copied - set(build.inputs))}"
    assert build_files(build)


@pytest.mark.parametrize("build", BUILDS, ids=lambda b: b.name)
def test_dockerignore_sends_every_build_input(build: ImageBuild) -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert set(build.inputs) <= allowed, f"ignored by .dockerignore: {sorted(set(build.inputs) - allowed)}"
