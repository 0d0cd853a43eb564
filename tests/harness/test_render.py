"""The rendered Kubernetes objects of every stack, checked by real tools: kubernetes-validate and checkov."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harness import checkov
from harness.__main__ import main as harness_main
from harness.checkov import findings
from harness.render import UNEXPANDED_FILE, write
from tests.support.rendered_stacks import STACKS, record, rendered
from tests.support.tools import REPO_ROOT, missing_tool

SKIPS_FILE = REPO_ROOT / "checkov" / "skips.yaml"


def kubernetes_version(stack: str) -> str:
    config = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str((config.get("mlops-infra:cluster") or {}).get("kubernetesVersion", "1.35"))


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_validates_strictly(stack: str) -> None:
    objects = rendered(stack).objects
    assert len(objects) >= 10
    version = kubernetes_version(stack)
    for obj in objects:
        _validate_once(json.dumps(obj, sort_keys=True), version)


@functools.cache
def _validate_once(text: str, version: str) -> None:
    """Validation is a function of the object and the version: an object two stacks share is checked once."""
    obj = json.loads(text)
    if is_custom_resource(obj):
        # Custom resources (e.g. PrometheusRule) have no schema in kubernetes-validate's built-in set.
        with pytest.raises(kubernetes_validate.SchemaNotFoundError):
            kubernetes_validate.validate(obj, version, strict=True)
        return
    kubernetes_validate.validate(obj, version, strict=True)


def is_custom_resource(obj: dict[str, Any]) -> bool:
    group = obj["apiVersion"].rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def test_strict_validation_catches_an_unknown_field() -> None:
    deployment = next(o for o in rendered("dev").objects if o["kind"] == "Deployment")
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["securityContext"]["runAsNonroot"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.35", strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_secret_values_never_rendered(stack: str) -> None:
    text = json.dumps(rendered(stack).objects)
    for password in record(stack).of_type("random:index/randomPassword:RandomPassword"):
        assert password.outputs["result"] not in text, password.name


@pytest.mark.parametrize("stack", STACKS)
def test_provider_expanded_components_listed_not_invented(stack: str) -> None:
    listed = {(u["type"], u["name"]) for u in rendered(stack).unexpanded}
    assert ("kubernetes:kustomize/v2:Directory", "kubeflow-platform") in listed
    assert not [
        o
        for o in rendered(stack).objects
        if o["kind"] == "Deployment" and o["metadata"]["name"] == "ml-pipeline"
    ]


def test_render_command_writes_one_file_per_object(tmp_path: Path) -> None:
    out = tmp_path / "manifests"
    assert harness_main(["render", "--stack", "local", "--out", str(out)]) == 0
    files = sorted(p for p in out.glob("*.yaml") if p.name != UNEXPANDED_FILE)
    assert len(files) == len(rendered("local").objects)
    assert (out / "mlflow--deployment--mlflow.yaml").exists()
    assert yaml.safe_load((out / UNEXPANDED_FILE).read_text())


def load_skips() -> list[dict[str, str]]:
    skips = yaml.safe_load(SKIPS_FILE.read_text())["skips"]
    for skip in skips:
        assert skip.get("id") and skip.get("reason"), f"{SKIPS_FILE}: every skip needs an id and a reason"
    return skips


def run_checkov(directory: Path) -> dict[str, Any]:
    try:
        return checkov.run_checkov(directory)
    except checkov.CheckovMissingError as exc:
        missing_tool(str(exc))
        raise  # missing_tool skips or fails; this line is never reached


def is_skipped(finding: tuple[str, str], skip: dict[str, str]) -> bool:
    return finding[0] == skip["id"] and skip.get("resource", finding[1]) == finding[1]


@pytest.mark.slow
@pytest.mark.checkov
@pytest.mark.parametrize("stack", STACKS)
def test_checkov_finds_nothing_outside_the_skips_file(stack: str, tmp_path: Path) -> None:
    write(rendered(stack), tmp_path)
    report = run_checkov(tmp_path)
    assert report["summary"]["passed"] > 0 and report["summary"]["parsing_errors"] == 0
    skips = load_skips()
    unexplained = [f for f in findings(report) if not any(is_skipped(f, s) for s in skips)]
    assert not unexplained, f"{stack}: checkov findings without a skip in {SKIPS_FILE.name}: {unexplained}"


@pytest.mark.slow
@pytest.mark.checkov
def test_checkov_skips_are_all_still_needed(tmp_path: Path) -> None:
    seen: list[tuple[str, str]] = []
    for stack in STACKS:
        write(rendered(stack), tmp_path / stack)
        seen += findings(run_checkov(tmp_path / stack))
    stale = [s for s in load_skips() if not any(is_skipped(f, s) for f in seen)]
    assert not stale, f"remove these skips from {SKIPS_FILE.name}, nothing needs them any more: {stale}"


@pytest.mark.slow
@pytest.mark.checkov
def test_checkov_catches_pods_without_network_policy(tmp_path: Path) -> None:
    # Checkov links pods to policies by labels only (an empty podSelector in any namespace counts), so
    # drop every policy to see CKV2_K8S_6 fire; the per-namespace rule is checked on the record below.
    objects = [o for o in rendered("dev").objects if o["kind"] != "NetworkPolicy"]
    write(type(rendered("dev"))(objects=objects, unexpanded=[]), tmp_path)
    assert any(
        check == "CKV2_K8S_6" and resource.startswith("Pod.mlflow.mlflow")
        for check, resource in findings(run_checkov(tmp_path))
    )


@pytest.mark.parametrize("stack", STACKS)
def test_ckv2_k8s_6_every_namespace_with_pods_has_a_default_deny_policy(stack: str) -> None:
    objects = rendered(stack).objects
    workload_namespaces = {
        o["metadata"]["namespace"]
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")
    }
    assert workload_namespaces
    for namespace in workload_namespaces:
        denies = [
            o
            for o in objects
            if o["kind"] == "NetworkPolicy"
            and o["metadata"]["namespace"] == namespace
            and o["spec"]["podSelector"] == {}
            and set(o["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not o["spec"].get("ingress")
            and not o["spec"].get("egress")
        ]
        assert denies, f"{stack}: namespace {namespace} runs pods but has no default-deny NetworkPolicy"
