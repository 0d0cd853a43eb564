"""The compiled pipeline: committed YAML up to date, every component pinned, nothing installed at run time."""

from __future__ import annotations

import ast
import dataclasses
import gc
import inspect
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from pipelines import cluster_env, components, images, tasks
from pipelines.pipeline import COMPILED_PIPELINE, compile_pipeline

DOCKERFILE = Path(images.__file__).with_name("Dockerfile")


@pytest.fixture(scope="module")
def documents() -> list[dict]:
    """The pipeline spec, then the Kubernetes platform config (kfp-kubernetes) as a second document."""
    return list(yaml.safe_load_all(COMPILED_PIPELINE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def spec(documents: list[dict]) -> dict:
    return documents[0]


def test_every_step_gets_mlflow_and_pushgateway_from_the_platform_secret(documents: list[dict]) -> None:
    platform = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(platform) == set(documents[0]["deploymentSpec"]["executors"]), "every executor, exit task too"
    for name, executor in platform.items():
        mounts = {m["optional"]: m for m in executor["secretAsEnv"]}
        required, optional = mounts[False], mounts[True]
        assert required["secretName"] == optional["secretName"] == cluster_env.SECRET_NAME, name
        assert [k["secretKey"] for k in required["keyToEnv"]] == list(cluster_env.REQUIRED_KEYS), name
        assert [k["secretKey"] for k in optional["keyToEnv"]] == list(cluster_env.MINIO_KEYS), name


def test_committed_yaml_is_up_to_date(tmp_path: Path) -> None:
    fresh = compile_pipeline(tmp_path / "pipeline.yaml")
    assert fresh.read_text(encoding="utf-8") == COMPILED_PIPELINE.read_text(encoding="utf-8"), (
        "pipelines/training_pipeline.yaml is out of date: run `python -m pipelines compile` and commit it"
    )


def test_every_component_runs_the_steps_image_without_installing_anything(spec: dict) -> None:
    executors = spec["deploymentSpec"]["executors"]
    assert len(executors) == 7
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == images.STEPS.reference, name
        assert "pip install" not in " ".join(container["command"]), name


def test_stages_run_inside_an_exit_handler_that_reports_the_final_status(spec: dict) -> None:
    root_tasks = spec["root"]["dag"]["tasks"]
    exit_task = root_tasks["report-run-status"]
    assert exit_task["triggerPolicy"]["strategy"] == "ALL_UPSTREAM_TASKS_COMPLETED"
    assert "taskFinalStatus" in exit_task["inputs"]["parameters"]["status"]
    inner = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert set(inner) == {"ingest", "validate", "train", "evaluate", "register", "drift"}
    assert all(task["cachingOptions"] == {} for task in inner.values())  # caching off


def test_register_is_the_last_stage_and_train_gets_the_held_out_set_from_ingest(spec: dict) -> None:
    inner = spec["components"]["comp-exit-handler-1"]["dag"]["tasks"]
    assert {"drift", "evaluate"} <= set(inner["register"]["dependentTasks"])
    artifacts = inner["train"]["inputs"]["artifacts"]
    assert artifacts["evaluation_data"]["taskOutputArtifact"] == {
        "outputArtifactKey": "evaluation_data",
        "producerTask": "ingest",
    }


def test_pipeline_parameters(spec: dict) -> None:
    parameters = spec["root"]["inputDefinitions"]["parameters"]
    assert set(parameters) == {
        "data_csv",
        "drifted",
        "dvc_repo",
        "dvc_rev",
        "dvc_remote",
        "mlflow_tracking_uri",
        "pushgateway_url",
        # Retraining runs the relay starts: the capture Ingest joins labels from, and why the run started.
        "capture_uri",
        "trigger",
    }


def test_dockerfile_builds_on_the_pinned_python_base() -> None:
    from_lines = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert from_lines == [images.PYTHON_BASE.reference]
    assert re.fullmatch(r".+:[\w.-]+@sha256:[0-9a-f]{64}", images.PYTHON_BASE.reference)


def test_a_digest_pins_the_steps_image() -> None:
    digest = "sha256:" + "ab" * 32
    assert (
        images.STEPS.with_digest(digest).reference == f"{images.STEPS.repository}:{images.STEPS.tag}@{digest}"
    )
    with pytest.raises(ValueError, match="is not sha256:<64 hex>"):
        images.STEPS.with_digest("latest")


def _statement_calls(statement: ast.stmt, name: str) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
        and statement.value.func.id == name
    )


@pytest.mark.parametrize("component", [f.name for f in dataclasses.fields(components.Components)])
def test_every_component_freezes_the_heap_as_its_last_work(component: str) -> None:
    # Its task process exits next; teardown would otherwise collect every object MLflow/Evidently made.
    function = ast.parse(textwrap.dedent(inspect.getsource(getattr(components, component)))).body[0]
    assert isinstance(function, ast.FunctionDef)
    body = function.body[:-1] if isinstance(function.body[-1], ast.Return) else function.body
    assert _statement_calls(body[-1], tasks.freeze_heap_for_exit.__name__), (
        f"{component} must end with freeze_heap_for_exit() (before its return)"
    )


def test_freezing_the_heap_moves_the_live_objects_out_of_the_collectors_reach() -> None:
    assert gc.get_freeze_count() == 0
    try:
        tasks.freeze_heap_for_exit()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
