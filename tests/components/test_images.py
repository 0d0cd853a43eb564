"""Our images: content-derived tags, and build inputs that match what each Dockerfile copies."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from components.images import (
    MLFLOW_SERVER,
    MODEL_SERVER,
    TRAINING_STEPS,
    ImageBuild,
    build_files,
    content_tag,
)
from pipelines.images import PYTHON_BASE
from tests.support.stacks import record as stack_record
from tests.support.tools import REPO_ROOT
from versions import MLSERVER_VERSION

BUILDS = [TRAINING_STEPS, MLFLOW_SERVER, MODEL_SERVER]


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
    copied = {
        (Path(build.context) / source).as_posix() for source in _copied_sources(REPO_ROOT / build.dockerfile)
    }
    assert copied, "no COPY lines found"
    hashed = {f.relative_to(REPO_ROOT).as_posix() for f in build_files(build)}
    unhashed = {c for c in copied if c not in build.inputs and not any(h.startswith(c) for h in hashed)}
    assert not unhashed, f"copied but not hashed: {sorted(unhashed)}"


@pytest.mark.parametrize("build", [b for b in BUILDS if b.context == "."], ids=lambda b: b.name)
def test_dockerignore_sends_every_build_input(build: ImageBuild) -> None:
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert set(build.inputs) <= allowed, f"ignored by .dockerignore: {sorted(set(build.inputs) - allowed)}"


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(\[[a-z,]+\])?==(\S+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(3)
    return pins


def test_serving_image_runs_the_pinned_runtime_read_only_as_non_root() -> None:
    dockerfile = (REPO_ROOT / MODEL_SERVER.dockerfile).read_text()
    assert f"FROM {PYTHON_BASE.reference}\n" in dockerfile
    assert "USER 10001:10001\n" in dockerfile, "the uid the pod's securityContext runs as"
    # MLServer keeps multi-process metrics under the working directory: it must be the writable /tmp.
    assert "WORKDIR /tmp\n" in dockerfile.rsplit("USER", 1)[1]
    assert 'ENTRYPOINT ["python", "-m", "serving"]' in dockerfile
    image = _pins(REPO_ROOT / "docker" / "serving" / "requirements.txt")
    repository = _pins(REPO_ROOT / "requirements.txt")
    for package in ("mlserver", "mlserver-mlflow"):
        assert image[package] == MLSERVER_VERSION == repository[package], package
    assert content_tag(MODEL_SERVER).startswith(MLSERVER_VERSION + "-")


IMAGE = "docker-build:index:Image"
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_aws_stacks_build_their_images_into_the_accounts_ecr_with_a_short_lived_login(stack: str) -> None:
    record = stack_record(stack)
    images = {r.name: r for r in record.of_type(IMAGE)}
    assert set(images) == {"images-mlflow-server", "images-training-steps", "images-model-server"}
    pairs = (
        (MLFLOW_SERVER, images["images-mlflow-server"]),
        (TRAINING_STEPS, images["images-training-steps"]),
        (MODEL_SERVER, images["images-model-server"]),
    )
    for build, image in pairs:
        assert image.inputs["push"] is True
        assert image.inputs["tags"] == [f"{ECR}/{build.repository}:{content_tag(build)}"]
        assert image.inputs["platforms"] == ["linux/amd64"]
        assert image.inputs["context"]["location"] == str(REPO_ROOT / build.context)
        assert image.inputs["dockerfile"]["location"] == str(REPO_ROOT / build.dockerfile)
        (login,) = image.inputs["registries"]
        assert login["address"] == ECR and login["username"] == "AWS"
        (cache_to,) = image.inputs["cacheTo"]
        assert (cache_to["registry"]["ref"], cache_to["registry"]["mode"]) == (
            f"{ECR}/{build.repository}:buildcache",
            "max",
        )
    assert "aws:ecr/getAuthorizationToken:getAuthorizationToken" in {t for t, _ in record.invokes}


def test_local_stack_pushes_to_the_configured_registry_without_aws() -> None:
    record = stack_record("local")
    images = record.of_type(IMAGE)
    assert len(images) == 3, "MLflow, the pipeline steps and the model server"
    for image in images:
        assert image.inputs["tags"][0].startswith("localhost:5001/")
        assert "registries" not in image.inputs


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_mlflow_runs_exactly_the_image_that_was_built_and_exports_the_steps_image(stack: str) -> None:
    record = stack_record(stack)
    built = record.one(IMAGE, "images-mlflow-server").outputs["ref"]
    assert re.fullmatch(r".+:3\.17\.2-[0-9a-f]{12}@sha256:[0-9a-f]{64}", built)
    deployment = record.one("kubernetes:apps/v1:Deployment", "mlflow-deployment")
    containers = deployment.inputs["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers if c["name"] == "mlflow"] == [built]
    assert record.exports["training_steps_image"] == record.one(IMAGE, "images-training-steps").outputs["ref"]
