"""Render every upstream part a stack installs, at its pinned version, with what the program passes it.

Two kinds of upstream part exist, both read from a run of the program under the recording mocks:

- every `kubernetes:helm.sh/v3:Release` (chart, repository, exact version, namespace, values), rendered
  with helm-python-sdk (Helm v4 as a library, no helm binary) as an install into the release namespace, with
  the stack's Kubernetes version as `.Capabilities.KubeVersion`;
- every `kubernetes:kustomize/v2:Directory` (the Kubeflow Pipelines overlays the program writes), built with
  `kubectl kustomize`, together as the release `kubeflow-pipelines`.

With network, charts are pulled from their repository at the exact version and kustomize fetches its remote
bases itself. Offline, `Sources.charts` maps a chart name to an unpacked chart directory (its dependencies
under `charts/`) and `Sources.kfp` / `Sources.argo` point at plain checkouts: the remote URLs are rewritten
to those directories in a temporary copy, never in the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml
from helm_python import _native

from harness.charts import ChartRelease, releases_in
from harness.mocks import REPO_ROOT, Record, committed_record, load_stack_config
from settings import settings_from_stack_config
from upstream.facts import Source, workloads_of

KFP_RELEASE = "kubeflow-pipelines"
KFP_SOURCE_NAME = "kubeflow/pipelines"
KUSTOMIZE_DIRECTORIES = ("kubernetes:kustomize/v2:Directory", "kubernetes:kustomize:Directory")
# `https://github.com/kubeflow/pipelines//manifests/kustomize/<path>?ref=<tag>`, as versions.py
# writes it; group 1 is the path below manifests/kustomize, group 2 the tag.
KFP_REMOTE = re.compile(r"^https://github\.com/kubeflow/pipelines//manifests/kustomize/([^?]+)\?ref=([^&]+)")
# KFP >= 2.6 takes Argo Workflows as remote bases: `https://github.com/argoproj/argo-workflows/<path>?ref=<tag>`.
ARGO_REMOTE = re.compile(r"https://github\.com/argoproj/argo-workflows/([^?\s]+)\?ref=[^\s&]+(?:&[^\s]*)?")
KUSTOMIZE_TIMEOUT_S = 600


class RenderError(Exception):
    """An upstream part could not be rendered; the message names the release and what to provide."""


@dataclass(frozen=True)
class RenderedRelease:
    release: str
    """Helm release name, or `kubeflow-pipelines`."""
    namespace: str
    """Namespace objects without one are installed into."""
    source: Source
    """Where the objects came from."""
    objects: list[dict[str, Any]] = field(default_factory=list)
    """Every rendered object, CRDs included, in a stable order."""


@dataclass(frozen=True)
class Sources:
    """Local stand-ins for the network, for machines without it."""

    charts: Mapping[str, Path] = field(default_factory=dict)
    """Chart name -> unpacked chart directory at the pinned version (dependencies under `charts/`)."""
    kfp: Path | None = None
    """A Kubeflow Pipelines checkout (it has `manifests/kustomize/`) at the pinned tag."""
    argo: Path | None = None
    """An Argo Workflows checkout (it has `manifests/`) at the tag KFP's manifests reference."""


def kubernetes_version(stack: str) -> str:
    """The stack's `cluster.kubernetesVersion`, through the same validation `pulumi up` applies."""
    config, _ = load_stack_config(stack)
    return settings_from_stack_config(stack, config).kubernetes_version


def stable_order(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
        metadata = obj.get("metadata") or {}
        return (str(obj.get("kind")), str(metadata.get("namespace", "")), str(metadata.get("name", "")), "")

    return sorted(objects, key=key)


class _Loader(yaml.SafeLoader):
    """SafeLoader without YAML 1.1's `=` value tag: CRD enums list a plain `=` (kube-prometheus-stack's)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:value"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def yaml_objects(text: str) -> list[dict[str, Any]]:
    """Kubernetes objects of a multi-document YAML text; `List` kinds flattened, empty documents dropped."""
    found: list[dict[str, Any]] = []
    for document in yaml.load_all(text, Loader=_Loader):
        if not isinstance(document, dict) or "kind" not in document:
            continue
        if str(document["kind"]).endswith("List") and isinstance(document.get("items"), list):
            found.extend(item for item in document["items"] if isinstance(item, dict))
        else:
            found.append(document)
    return found


# --- Helm ------------------------------------------------------------------------------------------------


def _load_chart(release_name: str, release: ChartRelease, sources: Sources, workdir: Path) -> Any:
    local = sources.charts.get(release.chart)
    if local is not None:
        chart = helm_python.Chart.load(local)
    else:
        try:
            pulled = helm_python.pull(
                release.chart, version=release.version, repo_url=release.repo, destination=workdir
            )
        except helm_python.HelmError as exc:
            raise RenderError(
                f"Helm release {release_name}: could not pull {release.chart} {release.version} from "
                f"{release.repo} ({exc}); offline, pass --chart-source {release.chart}=DIR"
            ) from exc
        archive = next(workdir.glob(f"{release.chart}-{release.version}.tgz"), None)
        if archive is None:
            raise RenderError(f"Helm release {release_name}: pull reported {pulled} but wrote no archive")
        chart = helm_python.Chart.load(archive)
    if chart.version != release.version or chart.name != release.chart:
        where = local if local is not None else release.repo
        raise RenderError(
            f"Helm release {release_name}: {where} holds {chart.name} {chart.version}, but the program "
            f"installs {release.chart} {release.version}"
        )
    return chart


def render_chart(chart: Any, name: str, namespace: str, values: dict[str, Any], kube_version: str) -> str:
    """The chart's templates rendered as `helm install` would, hooks included, NOTES.txt excluded.

    helm-python-sdk 0.2.2's `Chart.render` does not expose `kube_version`, which its native render call
    accepts; without it `.Capabilities.KubeVersion` is 1.36 whatever the stack runs. The call is the one
    `Chart.render` makes, with that one option added (the package is pinned exactly).
    """
    options = {"name": name, "namespace": namespace, "is_install": True, "kube_version": f"v{kube_version}.0"}
    rendered: dict[str, str] = json.loads(
        _native.call_string("helm_render", chart._raw(), json.dumps(values), json.dumps(options))
    )
    return "\n---\n".join(
        text for path, text in sorted(rendered.items()) if path.endswith((".yaml", ".yml", ".tpl")) and text
    )


def render_helm_release(
    release_name: str, release: ChartRelease, sources: Sources, kube_version: str
) -> RenderedRelease:
    with tempfile.TemporaryDirectory(prefix="upstream-chart-") as tmp:
        chart = _load_chart(release_name, release, sources, Path(tmp))
        try:
            text = render_chart(chart, release_name, release.namespace, release.values, kube_version)
            crds = [obj for crd in chart.crds for obj in yaml_objects(crd["data"])]
        finally:
            chart.close()
    return RenderedRelease(
        release=release_name,
        namespace=release.namespace,
        source=Source(kind="helm", name=release.chart, version=release.version, location=release.repo),
        objects=stable_order(crds + yaml_objects(text)),
    )


# --- Kustomize (Kubeflow Pipelines) ----------------------------------------------------------------------


def kustomize_directories(record: Record) -> list[Path]:
    """The overlay folders the program hands the Kubernetes provider, in declaration order."""
    directories = []
    for resource in record.resources:
        if resource.type in KUSTOMIZE_DIRECTORIES:
            directory = resource.inputs.get("directory")
            if not isinstance(directory, str) or "://" in directory:
                raise RenderError(
                    f"kustomize Directory {resource.name}: directory {directory!r} is not a local overlay "
                    "folder written by the program"
                )
            directories.append(Path(directory))
    return directories


def remote_targets(kustomization: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(url, path below manifests/kustomize, tag) of each KFP remote resource of an overlay."""
    found = []
    for resource in kustomization.get("resources") or []:
        match = KFP_REMOTE.match(str(resource))
        if match:
            found.append((str(resource), match.group(1), match.group(2)))
    return found


def rewrite_argo_remotes(kfp_manifests: Path, argo: Path) -> int:
    """Point every Argo Workflows remote base under `kfp_manifests` at `argo`; returns how many."""
    rewritten = 0
    for path in sorted(kfp_manifests.rglob("kustomization.yaml")):
        here = path.parent

        def local(match: re.Match[str], here: Path = here) -> str:
            # kustomize refuses absolute resource paths: each becomes relative to its kustomization
            return os.path.relpath((argo / match.group(1)).resolve(), here)

        new, count = ARGO_REMOTE.subn(local, path.read_text())
        if count:
            path.write_text(new)
            rewritten += count
    return rewritten


def _kustomize(directory: Path) -> str:
    if shutil.which("kubectl") is None:
        raise RenderError(
            "kubectl is not installed: `kubectl kustomize` builds the Kubeflow Pipelines overlays"
        )
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=KUSTOMIZE_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def render_kustomize(
    directories: list[Path], sources: Sources, base: Path = REPO_ROOT
) -> RenderedRelease | None:
    """Build the overlays (in a temporary copy) into one release; None when the stack declares none."""
    if not directories:
        return None
    with tempfile.TemporaryDirectory(prefix="upstream-kfp-") as tmp:
        work = Path(tmp)
        kfp_manifests: Path | None = None
        if sources.kfp is not None:
            if not (sources.kfp / "manifests" / "kustomize").is_dir():
                raise RenderError(f"--kfp-source {sources.kfp}: no manifests/kustomize folder in it")
            kfp_manifests = work / "kfp" / "manifests"
            shutil.copytree(sources.kfp / "manifests", kfp_manifests, symlinks=False)
            if sources.argo is not None:
                if not (sources.argo / "manifests").is_dir():
                    raise RenderError(f"--argo-source {sources.argo}: no manifests folder in it")
                rewrite_argo_remotes(kfp_manifests, sources.argo)
        elif sources.argo is not None:
            raise RenderError("--argo-source needs --kfp-source: it rewrites the Argo bases of that checkout")
        objects: list[dict[str, Any]] = []
        versions: set[str] = set()
        location = ""
        for index, directory in enumerate(directories):
            overlay = work / "overlays" / f"{index}-{directory.name}"
            shutil.copytree(base / directory, overlay)
            kustomization_file = overlay / "kustomization.yaml"
            kustomization = yaml.safe_load(kustomization_file.read_text())
            targets = remote_targets(kustomization)
            for url, path, version in targets:
                versions.add(version)
                location = url
                if kfp_manifests is not None:
                    local = kfp_manifests / "kustomize" / path
                    if not local.is_dir():
                        raise RenderError(f"--kfp-source {sources.kfp}: no manifests/kustomize/{path} in it")
                    kustomization["resources"] = [
                        os.path.relpath(local, overlay) if r == url else r for r in kustomization["resources"]
                    ]
            kustomization_file.write_text(yaml.safe_dump(kustomization, sort_keys=False))
            objects.extend(yaml_objects(_kustomize(overlay)))
    if len(versions) != 1:
        raise RenderError(
            f"the Kubeflow Pipelines overlays {[str(d) for d in directories]} reference versions "
            f"{sorted(versions)}; expected exactly one upstream tag"
        )
    (version,) = versions
    if sources.kfp is not None:
        _check_checkout_version(objects, version, sources.kfp)
    return RenderedRelease(
        release=KFP_RELEASE,
        namespace="default",
        source=Source(kind="kustomize", name=KFP_SOURCE_NAME, version=version, location=location),
        objects=stable_order(objects),
    )


def _check_checkout_version(objects: list[dict[str, Any]], version: str, checkout: Path) -> None:
    """A checkout at another tag would silently record the wrong release: its API server tag must match."""
    api_images = [
        c.image
        for w in workloads_of(objects, "default")
        for c in w.containers
        if c.image.rsplit(":", 1)[0].endswith("api-server")
    ]
    if not any(image.rsplit(":", 1)[-1].split("@")[0] == version for image in api_images):
        raise RenderError(
            f"--kfp-source {checkout} is not Kubeflow Pipelines {version}: its API server images are "
            f"{api_images or 'missing'}"
        )


# --- The whole stack -------------------------------------------------------------------------------------


def render_stack(stack: str, sources: Sources, record: Record | None = None) -> dict[str, RenderedRelease]:
    """Release name -> its rendered objects, for every upstream part `stack` installs."""
    record = record if record is not None else committed_record(stack)
    version = kubernetes_version(stack)
    rendered = {
        name: render_helm_release(name, release, sources, version)
        for name, release in sorted(releases_in(record).items())
    }
    kfp = render_kustomize(kustomize_directories(record), sources)
    if kfp is not None:
        if KFP_RELEASE in rendered:
            raise RenderError(f"a Helm release is named {KFP_RELEASE!r}, the name of the KFP manifests")
        rendered[KFP_RELEASE] = kfp
    return rendered
