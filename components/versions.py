"""Every image and manifest version the platform deploys, in one place, with where each digest came from.

Images are referenced as `repository:tag@sha256:digest`: the tag tells a reader what runs, the digest makes
the pull immutable (CKV_K8S_14, CKV_K8S_43). `docs/platform-services.md` explains how these get updated.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.images import ImageRef


@dataclass(frozen=True)
class ImagePin(ImageRef):
    """A third-party image: the digest is required (ImageRef validates its form and builds `reference`)."""

    digest: str
    """Content digest of the tag (manifest-list digest for multi-arch images)."""

    def __post_init__(self) -> None:
        if self.digest is None:
            raise ValueError(f"image {self.repository}:{self.tag}: third-party images need a digest")
        super().__post_init__()


# MinIO stopped publishing community images in late 2025; RELEASE.2025-09-07T16-13-09Z is the last release
# with a published image. Only the local stack uses it (and optionally others); see docs.
MINIO_SERVER = ImagePin(
    repository="quay.io/minio/minio",
    tag="RELEASE.2025-09-07T16-13-09Z",
    digest="sha256:14cea493d9a34af32f524e538b8346cf79f3321eff8e708c1e2960462bd8936e",
    source="manifest-list digest pinned identically by several independent public repositories for both "
    "quay.io/minio/minio and docker.io/minio/minio at this tag; not pulled from the registry here (offline)",
)
MINIO_CLIENT = ImagePin(
    repository="quay.io/minio/mc",
    tag="RELEASE.2025-08-13T08-35-41Z",
    digest="sha256:a7fe349ef4bd8521fb8497f55c6042871b2ae640607cf99d9bede5e9bdf11727",
    source="manifest-list digest pinned identically by several independent public repositories; "
    "not pulled from the registry here (offline)",
)

# Both images `pulumi up` builds (docker/mlflow/Dockerfile, pipelines/Dockerfile) start FROM one Python base,
# pinned once in pipelines/images.py (PYTHON_BASE): the steps image must build without this package. The
# upstream MLflow image has no PostgreSQL driver, hence our own MLflow image on that base.

MLFLOW_VERSION = "3.17.2"
# Our MLflow server image is built from docker/mlflow/Dockerfile by `pulumi up` and deployed by digest
# (components/images.py, MLFLOW_SERVER); its tag starts with this version.

# Kubeflow Pipelines standalone, installed from the upstream kustomize manifests at this git tag.
# The manifests pin their own images by tag (ghcr.io/kubeflow/kfp-*:<version>); their digests could not be
# read offline, so they are not overridden here (see docs).
KUBEFLOW_PIPELINES_VERSIONS = ("2.17.0",)
KUBEFLOW_PIPELINES_REPO = "https://github.com/kubeflow/pipelines"


def kubeflow_pipelines_manifest_url(path: str, version: str) -> str:
    """A kustomize remote target for one folder of the upstream manifests at a release tag."""
    if version not in KUBEFLOW_PIPELINES_VERSIONS:
        raise ValueError(
            f"Kubeflow Pipelines {version} is not a version this program was checked against "
            f"(mlops-infra:kubeflow.version); expected one of {list(KUBEFLOW_PIPELINES_VERSIONS)}"
        )
    return f"{KUBEFLOW_PIPELINES_REPO}//manifests/kustomize/{path}?ref={version}"


# RDS PostgreSQL for MLflow's backend store in production: major version pinned, minor versions applied
# by AWS in the maintenance window (auto_minor_version_upgrade). The parameter-group family must match.
POSTGRES_ENGINE_VERSION = "16"
POSTGRES_PARAMETER_FAMILY = "postgres16"
