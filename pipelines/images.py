"""The container images of the training pipeline, in one place, with where each digest came from.

Every KFP component runs in the steps image, built from `pipelines/Dockerfile` on the pinned Python base
below. Images are referenced as `repository:tag@sha256:digest`: the tag tells a reader what runs, the
digest makes the pull immutable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str
    digest: str | None
    """None only for the committed pipeline YAML's placeholder of our own steps image (see STEPS)."""
    source: str
    """Where the digest was read, so the next person can re-check it."""

    def __post_init__(self) -> None:
        if self.digest is not None and not _DIGEST.match(self.digest):
            raise ValueError(
                f"image {self.repository}:{self.tag}: digest {self.digest!r} is not sha256:<64 hex>"
            )

    @property
    def reference(self) -> str:
        pinned = f"{self.repository}:{self.tag}"
        return f"{pinned}@{self.digest}" if self.digest else pinned

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.repository, self.tag, digest, "given on the command line")


# The FROM line of pipelines/Dockerfile and docker/mlflow/Dockerfile (tests keep them equal): the one
# Python base of every image the platform builds; 3.11.15 is the release behind the digest.
PYTHON_BASE = ImageRef(
    repository="docker.io/library/python",
    tag="3.11.15-slim-bookworm",
    digest="sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3",
    source="multi-platform digest of python:3.11.15-slim-bookworm as pinned by several independent public "
    "repositories and by mlflow/mlflow docker/Dockerfile.full; not pulled here (offline)",
)

# The image the committed pipelines/training_pipeline.yaml names: a readable placeholder of the steps
# image, for review and for the golden test. What runs on a cluster is the digest-pinned image `pulumi up`
# built from pipelines/Dockerfile (stack output `training_steps_image`): `python -m pipelines upload` and
# `submit --steps-image` compile the pipeline for it.
STEPS = ImageRef(
    repository="mlops-pipeline-steps",
    tag="built-by-pulumi-up",
    digest=None,
    source="pipelines/Dockerfile, built and pushed by `pulumi up` (components/images.py)",
)
