"""One list of every third-party image the platform runs, and the check that each pin is still pullable.

The list (`upstream/images.json`) is every image of our own Kubernetes objects in each stack's mock record,
every image in the committed upstream facts, and the Python base both our images are built FROM. The two
images `pulumi up` builds are left out: they are deployed by the digest the build returns.
`.github/workflows/image-pins.yml` resolves each entry weekly (`python -m upstream pins`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

IMAGES_FILE = Path(__file__).resolve().parent / "images.json"
STACKS = ("local", "dev", "prod")
BUILT_IMAGE = "docker-build:index:Image"
RESOLVE_TIMEOUT_S = 120
# What registries answer for a tag or digest that does not exist (OCI distribution spec error codes).
GONE = re.compile(r"not found|manifest unknown|MANIFEST_UNKNOWN|NAME_UNKNOWN|404", re.IGNORECASE)
# This module imports only the standard library at the top: the image-pins workflow runs
# `python -m upstream pins` with the runner's Python, without the project's venv.


def image_repository(image: str) -> str:
    """`registry/path` without tag or digest; Docker Hub's implicit `docker.io/` and `library/` dropped."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "library/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def image_tag(image: str) -> str | None:
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def _images_in(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "image" and isinstance(item, str):
                yield item
            else:
                yield from _images_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from _images_in(item)


def our_images(stack: str) -> set[str]:
    """Images of the Kubernetes objects the program declares for `stack`, without the ones it builds."""
    from harness.mocks import committed_record
    from harness.render import render_record

    record = committed_record(stack)
    built = {
        image_repository(str(tag)) for r in record.of_type(BUILT_IMAGE) for tag in r.inputs.get("tags") or []
    }
    return {i for i in _images_in(render_record(record).objects) if image_repository(i) not in built}


def image_list() -> list[dict[str, Any]]:
    """[{image, used_by}] sorted by image; used_by names `stack: release` (or `stack: ours`, `build`)."""
    from pipelines.images import PYTHON_BASE
    from upstream.facts import load_facts

    used_by: dict[str, set[str]] = {PYTHON_BASE.reference: {"build: FROM of docker/mlflow and pipelines"}}
    for stack in STACKS:
        for image in our_images(stack):
            used_by.setdefault(image, set()).add(f"{stack}: ours")
        for release, facts in load_facts(stack).items():
            for image in facts.images:
                used_by.setdefault(image, set()).add(f"{stack}: {release}")
    return [{"image": image, "used_by": sorted(used_by[image])} for image in sorted(used_by)]


def image_list_text() -> str:
    return json.dumps(image_list(), indent=2, sort_keys=True) + "\n"


def load_image_list(path: Path = IMAGES_FILE) -> list[str]:
    return [str(entry["image"]) for entry in json.loads(path.read_text())]


# --- resolving pins --------------------------------------------------------------------------------------

Resolver = Callable[[str], "str | None"]
"""Reference -> its manifest (list) digest, or None when the registry does not have it."""


def pin_problems(images: Iterable[str], resolve: Resolver) -> list[str]:
    """Every pin whose tag or digest is gone, or whose tag now points at another digest."""
    problems = []
    for image in images:
        name, _, digest = image.partition("@")
        tag = image_tag(image)
        tag_ref = name if tag is not None else None
        current = resolve(tag_ref) if tag_ref else None
        if tag_ref and current is None:
            problems.append(f"{image}: tag {tag} is gone")
        if digest:
            repository = name[: len(name) - len(tag) - 1] if tag is not None else name
            if resolve(f"{repository}@{digest}") is None:
                problems.append(f"{image}: digest {digest} is gone")
            elif current is not None and current != digest:
                problems.append(f"{image}: tag {tag} now points at {current}, not the pinned digest")
    return problems


def buildx_resolver(reference: str) -> str | None:
    """The digest a registry returns for `reference`, via `docker buildx imagetools inspect` (no pull)."""
    docker = shutil.which("docker")
    if docker is None:
        raise RuntimeError("docker is not installed: `docker buildx imagetools inspect` resolves the pins")
    result = subprocess.run(
        [docker, "buildx", "imagetools", "inspect", reference, "--format", "{{json .Manifest}}"],
        capture_output=True,
        text=True,
        timeout=RESOLVE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        if GONE.search(result.stderr):
            return None
        # Anything else (no buildx, no network, a rate limit) says nothing about the pin: stop, do not report
        # every image as gone.
        raise RuntimeError(f"could not resolve {reference}: {result.stderr.strip()[-500:]}")
    digest = json.loads(result.stdout).get("digest")
    return str(digest) if digest else None
