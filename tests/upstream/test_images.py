"""One list of every third-party image the platform runs: complete, current, and without our own builds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from upstream.facts import load_facts
from upstream.images import (
    IMAGES_FILE,
    buildx_resolver,
    image_list_text,
    image_repository,
    image_tag,
    load_image_list,
)

STACKS = ("local", "dev", "prod")


def test_the_committed_list_is_what_the_command_derives() -> None:
    assert IMAGES_FILE.read_text() == image_list_text(), "run python -m upstream images and commit"


def test_the_list_holds_every_upstream_image_and_ours_but_not_the_images_we_build() -> None:
    listed = set(load_image_list())
    upstream = {image for stack in STACKS for facts in load_facts(stack).values() for image in facts.images}
    assert upstream <= listed
    repositories = {image_repository(i) for i in listed}
    assert {"quay.io/minio/minio", "quay.io/minio/mc", "python"} <= repositories
    assert not [r for r in repositories if r.endswith(("mlops-mlflow", "mlops-pipeline-steps"))]
    for entry in json.loads(IMAGES_FILE.read_text()):
        assert entry["used_by"], entry


def test_image_names_split_into_repository_and_tag() -> None:
    digest = "@sha256:" + "a" * 64
    assert image_repository("docker.io/library/python:3.11" + digest) == "python"
    assert image_repository("localhost:5001/mlops-mlflow:3.17.2") == "localhost:5001/mlops-mlflow"
    assert image_repository("gcr.io/ml-pipeline/minio") == "gcr.io/ml-pipeline/minio"
    assert image_tag("localhost:5001/x" + digest) is None
    assert (
        image_tag("quay.io/minio/mc:RELEASE.2025-08-13T08-35-41Z" + digest) == "RELEASE.2025-08-13T08-35-41Z"
    )


def test_buildx_resolver_tells_a_gone_pin_from_a_registry_it_cannot_ask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$4" in\n'
        '  *:present) echo \'{"mediaType": "x", "digest": "sha256:abc", "size": 1}\' ;;\n'
        '  *:gone) echo "ERROR: $4: not found" >&2; exit 1 ;;\n'
        '  *) echo "ERROR: failed to do request: dial tcp: lookup registry: no such host" >&2; exit 1 ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert buildx_resolver("example.org/x:present") == "sha256:abc"
    assert buildx_resolver("example.org/x:gone") is None
    with pytest.raises(RuntimeError, match=r"could not resolve example\.org/x:offline"):
        buildx_resolver("example.org/x:offline")
