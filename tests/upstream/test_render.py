"""Rendering upstream parts: Helm charts through helm-python-sdk, KFP overlays through `kubectl kustomize`
with local checkouts standing in for the network, and the facts diff the `check` command fails on."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.charts import ChartRelease
from tests.support.stacks import record
from tests.support.tools import require_tool
from upstream import checks
from upstream.facts import load_facts
from upstream.render import (
    KFP_RELEASE,
    RenderError,
    Sources,
    kubernetes_version,
    kustomize_directories,
    render_helm_release,
    render_kustomize,
)

TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-info
data:
  kube: "{{ .Capabilities.KubeVersion.Version }}"
  namespace: "{{ .Release.Namespace }}"
  install: "{{ .Release.IsInstall }}"
  greeting: "{{ .Values.greeting }}"
"""


def _chart(root: Path, version: str = "1.2.3") -> Path:
    chart = root / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "crds").mkdir()
    (chart / "Chart.yaml").write_text(f"apiVersion: v2\nname: demo\nversion: {version}\n")
    (chart / "values.yaml").write_text("greeting: hello\n")
    (chart / "templates" / "info.yaml").write_text(TEMPLATE)
    (chart / "templates" / "NOTES.txt").write_text("installed\n")
    (chart / "crds" / "crd.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
        "metadata:\n  name: demos.example.org\n"
        "spec:\n  names:\n    kind: Demo\n    enum: [=, '!=']\n"
    )
    return chart


def _release(version: str = "1.2.3") -> ChartRelease:
    return ChartRelease(
        repo="https://charts.example.invalid",
        chart="demo",
        version=version,
        values={"greeting": "hi"},
        namespace="obs",
    )


def test_a_chart_renders_as_an_install_into_the_release_namespace_at_the_stack_kubernetes_version(
    tmp_path: Path,
) -> None:
    sources = Sources(charts={"demo": _chart(tmp_path)})
    rendered = render_helm_release("demo-release", _release(), sources, "1.35")
    info, crd = rendered.objects
    assert crd["kind"] == "CustomResourceDefinition" and crd["spec"]["names"]["enum"] == ["=", "!="]
    assert info["metadata"]["name"] == "demo-release-info"
    assert info["data"] == {"kube": "v1.35.0", "namespace": "obs", "install": "true", "greeting": "hi"}
    assert (rendered.source.kind, rendered.source.version, rendered.namespace) == ("helm", "1.2.3", "obs")


def test_a_local_chart_at_another_version_is_refused(tmp_path: Path) -> None:
    sources = Sources(charts={"demo": _chart(tmp_path, version="1.2.4")})
    with pytest.raises(RenderError, match=r"holds demo 1\.2\.4, but the program installs demo 1\.2\.3"):
        render_helm_release("demo-release", _release(), sources, "1.35")


def test_stack_kubernetes_versions_come_from_the_validated_settings() -> None:
    assert kubernetes_version("dev") == "1.35"


def test_the_overlays_rendered_are_the_directories_the_program_declares() -> None:
    directories = kustomize_directories(record("dev"))
    assert [d.name for d in directories] == ["cluster-scoped", "platform"]
    assert all(d.parts[:2] == ("build", "kustomize") for d in directories)


def _checkouts(tmp_path: Path, tag: str) -> tuple[Path, Path, Path]:
    """A fake KFP checkout whose env/platform-agnostic takes an Argo remote base, a fake Argo checkout,
    and an overlay like the program's (remote KFP target plus a patch)."""
    kfp = tmp_path / "kfp"
    env = kfp / "manifests" / "kustomize" / "env" / "platform-agnostic"
    env.mkdir(parents=True)
    (env / "kustomization.yaml").write_text(
        "resources:\n- api.yaml\n"
        "- https://github.com/argoproj/argo-workflows/manifests/base/workflow-controller?ref=v4.0.5&timeout=60s\n"
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "ml-pipeline", "namespace": "kubeflow"},
        "spec": {
            "selector": {"matchLabels": {"app": "ml-pipeline"}},
            "template": {
                "metadata": {"labels": {"app": "ml-pipeline"}},
                "spec": {"containers": [{"name": "api", "image": "ghcr.io/kubeflow/kfp-api-server:2.17.0"}]},
            },
        },
    }
    (env / "api.yaml").write_text(yaml.safe_dump(deployment))
    argo = tmp_path / "argo"
    controller = argo / "manifests" / "base" / "workflow-controller"
    controller.mkdir(parents=True)
    (controller / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (controller / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\n"
        "metadata:\n  name: workflow-controller-configmap\n  namespace: kubeflow\n"
    )
    overlay = tmp_path / "repo" / "build" / "platform"
    overlay.mkdir(parents=True)
    patch = '[{"op": "add", "path": "/metadata/labels", "value": {"patched": "yes"}}]'
    overlay_doc = {
        "resources": [
            f"https://github.com/kubeflow/pipelines//manifests/kustomize/env/platform-agnostic?ref={tag}"
        ],
        "patches": [{"target": {"kind": "Deployment", "name": "ml-pipeline"}, "patch": patch}],
    }
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(overlay_doc))
    return kfp, argo, overlay


def test_kfp_overlays_build_from_local_checkouts_with_argo_rewritten_in_a_copy(tmp_path: Path) -> None:
    require_tool("kubectl")
    kfp, argo, overlay = _checkouts(tmp_path, "2.17.0")
    before = (kfp / "manifests/kustomize/env/platform-agnostic/kustomization.yaml").read_text()
    rendered = render_kustomize([Path("build/platform")], Sources(kfp=kfp, argo=argo), base=tmp_path / "repo")
    assert rendered is not None and rendered.release == KFP_RELEASE
    assert rendered.source.version == "2.17.0" and rendered.source.location.endswith("?ref=2.17.0")
    kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    assert kinds == {("ConfigMap", "workflow-controller-configmap"), ("Deployment", "ml-pipeline")}
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    assert deployment["metadata"]["labels"] == {"patched": "yes"}
    assert (kfp / "manifests/kustomize/env/platform-agnostic/kustomization.yaml").read_text() == before
    assert "https://" in (overlay / "kustomization.yaml").read_text()


def test_a_kfp_checkout_at_another_tag_is_refused(tmp_path: Path) -> None:
    require_tool("kubectl")
    kfp, argo, _ = _checkouts(tmp_path, "2.16.0")
    with pytest.raises(RenderError, match=r"is not Kubeflow Pipelines 2\.16\.0"):
        render_kustomize([Path("build/platform")], Sources(kfp=kfp, argo=argo), base=tmp_path / "repo")


def test_argo_source_without_kfp_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="--argo-source needs --kfp-source"):
        render_kustomize([Path("x")], Sources(argo=tmp_path))


def test_committed_facts_diff_is_empty_and_a_change_shows_as_a_diff(tmp_path: Path) -> None:
    derived = load_facts("dev")
    checks.write_facts("dev", derived, tmp_path)
    assert checks.diff_facts("dev", derived, tmp_path) == []
    changed = dict(derived)
    changed.pop("pushgateway")
    (diff,) = checks.diff_facts("dev", changed, tmp_path)
    assert diff.startswith("---") and '-  "release": "pushgateway",' in diff
    checks.write_facts("dev", changed, tmp_path)
    assert not (tmp_path / "dev" / "pushgateway.json").exists()


def test_the_command_refuses_a_malformed_chart_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from upstream.__main__ import main

    with pytest.raises(SystemExit):
        main(["derive", "--stack", "dev", "--chart-source", "kube-prometheus-stack"])
    assert "expected NAME=DIR" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["derive", "--stack", "dev", "--chart-source", f"grafana={tmp_path}"])
    assert "has no Chart.yaml" in capsys.readouterr().err
