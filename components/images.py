"""Our own container images, built and pushed by `pulumi up`, deployed by digest.

Two images are ours: the MLflow server (the upstream image has no PostgreSQL driver or boto3) and the
training steps (every KFP component runs in it). `pulumi up` builds each with BuildKit
(pulumi-docker-build), pushes it to the stack's registry and hands the other components a reference of
the form `registry/repository:tag@sha256:digest`, so what runs is exactly what was built, and images are
pinned by digest without anyone copying digests into code.

The tag is derived from the content of the files the image is built from: unchanged inputs mean the same
tag, no rebuild and no push; any change gives a new tag, which immutable ECR repositories require.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.github_oidc import BUILD_CACHE_TAG
from components.versions import MLFLOW_VERSION

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ImageBuild:
    """One image we build."""

    name: str
    """Short role name, also the key of `PlatformImages.refs` (e.g. `mlflow-server`)."""
    repository: str
    """Repository within the registry."""
    dockerfile: str
    """Dockerfile path relative to the repository root (the build context)."""
    inputs: tuple[str, ...]
    """Files and folders (relative to the repository root) whose content the image is built from."""
    version: str
    """Human-readable start of the tag (the main component's version)."""
    context: str = "."
    """Build context relative to the repository root (the root's .dockerignore applies to ".")."""
    build_args: dict[str, str] = field(default_factory=dict)


def build_files(build: ImageBuild, root: Path = REPO_ROOT) -> list[Path]:
    """Every file an image is built from (its Dockerfile and inputs), sorted, without bytecode."""
    files: set[Path] = set()
    for pattern in (build.dockerfile, *build.inputs):
        matches = list(root.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"image {build.name}: build input {pattern} matches no file under {root}")
        for match in matches:
            if match.is_dir():
                files.update(p for p in match.rglob("*") if p.is_file())
            else:
                files.add(match)
    return sorted(f for f in files if "__pycache__" not in f.parts and f.suffix != ".pyc")


def content_tag(build: ImageBuild, root: Path = REPO_ROOT) -> str:
    """`<version>-<12 hex>` from the paths and bytes of every build file, in a stable order."""
    digest = hashlib.sha256()
    for file in build_files(build, root):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return f"{build.version}-{digest.hexdigest()[:12]}"


# What each Dockerfile COPYs (tests keep these lists and the COPY lines in step).
TRAINING_STEPS = ImageBuild(
    name="training-steps",
    repository="mlops-pipeline-steps",
    dockerfile="pipelines/Dockerfile",
    inputs=(
        "requirements.txt",
        "params.yaml",
        "dvc.yaml",
        "dvc.lock",
        ".dvcignore",
        ".dvc/config",
        "data/*.dvc",
        "monitoring",
        "pipelines",
        "serving",
        "relay",
    ),
    version="py3.11",
)
MLFLOW_SERVER = ImageBuild(
    name="mlflow-server",
    repository="mlops-mlflow",
    dockerfile="docker/mlflow/Dockerfile",
    inputs=("docker/mlflow",),
    version=MLFLOW_VERSION,
    context="docker/mlflow",
)


@dataclass(frozen=True)
class PlatformImagesArgs:
    builds: Sequence[ImageBuild]
    """The images to build."""
    registry: str | None
    """Registry host (and optional path) to push to, e.g. localhost:5001; None: this account's ECR."""
    ecr_region: str | None
    """Region of the account's ECR, used when `registry` is None; pushes then log in with a short-lived
    token from the AWS provider (no stored credentials)."""
    platforms: Sequence[str] = ("linux/amd64",)
    """Architectures to build for."""


class PlatformImages(pulumi.ComponentResource):
    """Builds, pushes and pins our images. `refs[name]` is `registry/repo:tag@sha256:...`."""

    def __init__(
        self, name: str, args: PlatformImagesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mlops:images:PlatformImages", name, None, opts)
        if args.registry is None and args.ecr_region is None:
            raise ValueError("PlatformImages: give a registry, or the ECR region of this account")
        registry: pulumi.Input[str]
        if args.registry is not None:
            registry, registries = args.registry, None
        else:
            account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
            registry = ecr_registry(account, str(args.ecr_region))
            registries = self._ecr_login(registry)
        self.refs: dict[str, pulumi.Output[str]] = {}
        for build in args.builds:
            tag = content_tag(build)
            target = pulumi.Output.concat(registry, "/", build.repository)
            cache = pulumi.Output.concat(target, ":", BUILD_CACHE_TAG)
            image = docker_build.Image(
                f"{name}-{build.name}",
                context=docker_build.BuildContextArgs(location=str(REPO_ROOT / build.context)),
                dockerfile=docker_build.DockerfileArgs(location=str(REPO_ROOT / build.dockerfile)),
                platforms=[docker_build.Platform(p) for p in args.platforms],
                # The image records its content tag (MLOPS_GIT_REV in lineage): no rebuild per commit.
                build_args={**build.build_args, "GIT_REV": tag},
                tags=[pulumi.Output.concat(target, ":", tag)],
                push=True,
                registries=registries,
                # Reuse layers across CI runs through the registry instead of the runner's disk.
                cache_from=[
                    docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=cache))
                ],
                cache_to=[
                    docker_build.CacheToArgs(
                        registry=docker_build.CacheToRegistryArgs(ref=cache, mode=docker_build.CacheMode.MAX)
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.refs[build.name] = image.ref
        self.register_outputs({"refs": self.refs})

    def _ecr_login(self, registry: pulumi.Input[str]) -> list[docker_build.RegistryArgs]:
        token = aws.ecr.get_authorization_token_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return [
            docker_build.RegistryArgs(
                address=registry,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            )
        ]


def ecr_registry(account_id: pulumi.Input[str], region: str) -> pulumi.Output[str]:
    """The account's private ECR registry host."""
    return pulumi.Output.concat(account_id, ".dkr.ecr.", region, ".amazonaws.com")
