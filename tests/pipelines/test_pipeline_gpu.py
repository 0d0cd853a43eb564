"""A GPU step: with train_gpus > 0 only Train requests GPUs, selects gpu nodes and tolerates their taint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines import scheduling
from pipelines.pipeline import compile_pipeline


def _compiled(tmp_path: Path, gpus: int) -> tuple[dict, dict]:
    spec, platform = yaml.safe_load_all(compile_pipeline(tmp_path / "p.yaml", train_gpus=gpus).read_text())
    return spec, platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


def test_only_the_train_step_asks_for_gpus_and_tolerates_the_gpu_taint(tmp_path: Path) -> None:
    spec, platform = _compiled(tmp_path, 2)
    executors = spec["deploymentSpec"]["executors"]
    with_gpus = {n for n, e in executors.items() if "accelerator" in e["container"].get("resources", {})}
    assert with_gpus == {"exec-train"}
    accelerator = executors["exec-train"]["container"]["resources"]["accelerator"]
    assert (accelerator["resourceType"], accelerator["resourceCount"]) == (scheduling.GPU_RESOURCE, "2")
    tolerating = {n for n, e in platform.items() if e.get("tolerations")}
    assert tolerating == {"exec-train"}
    assert platform["exec-train"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
    ]
    assert platform["exec-train"]["nodeSelector"] == {"labels": {"mlops.platform/node-role": "gpu"}}
    assert {n for n, e in platform.items() if e.get("nodeSelector")} == {"exec-train"}


def test_without_gpus_no_step_tolerates_the_gpu_taint(tmp_path: Path) -> None:
    spec, platform = _compiled(tmp_path, 0)
    assert not any(e.get("tolerations") or e.get("nodeSelector") for e in platform.values())
    assert not any(
        "accelerator" in e["container"].get("resources", {})
        for e in spec["deploymentSpec"]["executors"].values()
    )


def test_gpu_count_is_bounded() -> None:
    from pipelines.pipeline import build_pipeline

    with pytest.raises(ValueError, match="train_gpus = -1"):
        build_pipeline(train_gpus=-1)


def test_compile_command_takes_the_gpu_count(tmp_path: Path) -> None:
    from pipelines.cli import main

    output = tmp_path / "gpu.yaml"
    assert main(["compile", "--output", str(output), "--train-gpus", "1"]) == 0
    spec, platform = yaml.safe_load_all(output.read_text())
    train = spec["deploymentSpec"]["executors"]["exec-train"]["container"]["resources"]["accelerator"]
    assert train["resourceCount"] == "1"
    assert "tolerations" in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]["exec-train"]
