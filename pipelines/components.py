"""The KFP components: thin shells that unpack artifacts and call one function of `pipelines.tasks`.

KFP copies each function's source into the compiled YAML and runs it in the steps image, where the
project is importable, so every import happens inside the body. The functions are plain here and turned
into components by `make_components(image)`, so the pinned image is chosen in one place at compile time.
Each ends with `freeze_heap_for_exit()`: its process exits right after, and teardown should not cost a second.
"""

# No `from __future__ import annotations`: KFP reads the annotations as real types.

from dataclasses import dataclass
from typing import Any, NamedTuple

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output


def ingest(
    *,
    data_csv: str,
    drifted: bool,
    dvc_repo: str,
    dvc_rev: str,
    dvc_remote: str,
    pushgateway_url: str,
    capture_uri: str,
    training_data: Output[Dataset],
    reference_data: Output[Dataset],
    new_batch: Output[Dataset],
    evaluation_data: Output[Dataset],
) -> NamedTuple(  # type: ignore[valid-type]
    "IngestOutputs", [("data_md5", str), ("data_source", str), ("evaluation_source", str)]
):
    from pathlib import Path

    from pipelines.tasks import freeze_heap_for_exit, ingest_task

    result = ingest_task(
        Path(training_data.path),
        Path(reference_data.path),
        Path(new_batch.path),
        Path(evaluation_data.path),
        data_csv=data_csv,
        drifted=drifted,
        dvc_repo=dvc_repo,
        dvc_rev=dvc_rev,
        dvc_remote=dvc_remote,
        pushgateway_url=pushgateway_url,
        capture_uri=capture_uri,
    )
    training_data.metadata.update({"md5": result.training_md5, "source": result.training_source})
    reference_data.metadata.update({"md5": result.reference_md5})
    new_batch.metadata.update({"source": result.batch_source})
    evaluation_data.metadata.update({"md5": result.evaluation_md5, "source": result.evaluation_source})
    freeze_heap_for_exit()
    return (result.training_md5, result.training_source, result.evaluation_source)


def validate(
    *,
    training_data: Input[Dataset],
    new_batch: Input[Dataset],
    pushgateway_url: str,
    valid_training_data: Output[Dataset],
    valid_batch: Output[Dataset],
):
    from pathlib import Path

    from pipelines.tasks import freeze_heap_for_exit, validate_task

    summaries = validate_task(
        Path(training_data.path),
        Path(new_batch.path),
        Path(valid_training_data.path),
        Path(valid_batch.path),
        pushgateway_url=pushgateway_url,
    )
    valid_training_data.metadata.update({"rows": summaries["training data"]["rows"]})
    valid_batch.metadata.update({"rows": summaries["newest batch"]["rows"]})
    freeze_heap_for_exit()


def train(
    *,
    training_data: Input[Dataset],
    evaluation_data: Input[Dataset],
    data_md5: str,
    data_source: str,
    evaluation_source: str,
    pipeline_run: str,
    mlflow_tracking_uri: str,
    pushgateway_url: str,
    model: Output[Model],
    test_data: Output[Dataset],
    metrics: Output[Metrics],
):
    from pathlib import Path

    from pipelines.tasks import freeze_heap_for_exit, train_task

    training = train_task(
        Path(training_data.path),
        Path(evaluation_data.path),
        Path(model.path),
        Path(test_data.path),
        data_md5=data_md5,
        data_source=data_source,
        evaluation_source=evaluation_source,
        pipeline_run=pipeline_run,
        mlflow_tracking_uri=mlflow_tracking_uri,
        pushgateway_url=pushgateway_url,
    )
    model.metadata.update({"mlflow_run_id": training["run_id"], "mlflow_model_uri": training["model_uri"]})
    for name, value in training["metrics"].items():
        metrics.log_metric(name, value)
    freeze_heap_for_exit()


def evaluate(
    *,
    model: Input[Model],
    test_data: Input[Dataset],
    mlflow_tracking_uri: str,
    pushgateway_url: str,
    evaluation: Output[Artifact],
    metrics: Output[Metrics],
):
    from pathlib import Path

    from pipelines.tasks import evaluate_task, freeze_heap_for_exit

    decision = evaluate_task(
        Path(model.path),
        Path(test_data.path),
        Path(evaluation.path),
        mlflow_tracking_uri=mlflow_tracking_uri,
        pushgateway_url=pushgateway_url,
    )
    evaluation.metadata.update({"promote": decision.promote, "reason": decision.reason})
    for name, value in decision.candidate.items():
        metrics.log_metric(name, value)
    if decision.champion is not None:
        for name, value in decision.champion.metrics.items():
            metrics.log_metric(f"champion_{name}", value)
    freeze_heap_for_exit()


def register(
    *,
    model: Input[Model],
    evaluation: Input[Artifact],
    mlflow_tracking_uri: str,
    pushgateway_url: str,
) -> NamedTuple("RegisterOutputs", [("model_version", int), ("champion_moved", bool)]):  # type: ignore[valid-type]
    from pathlib import Path

    from pipelines.tasks import freeze_heap_for_exit, register_task

    registration = register_task(
        Path(model.path),
        Path(evaluation.path),
        mlflow_tracking_uri=mlflow_tracking_uri,
        pushgateway_url=pushgateway_url,
    )
    freeze_heap_for_exit()
    return (registration["version"], registration["champion_moved"])


def drift(
    *,
    reference_data: Input[Dataset],
    new_batch: Input[Dataset],
    pipeline_run: str,
    mlflow_tracking_uri: str,
    pushgateway_url: str,
    report: Output[HTML],
    drift_result: Output[Artifact],
    metrics: Output[Metrics],
):
    from pathlib import Path

    from pipelines.tasks import drift_task, freeze_heap_for_exit

    result = drift_task(
        Path(reference_data.path),
        Path(new_batch.path),
        Path(report.path),
        Path(drift_result.path),
        pipeline_run=pipeline_run,
        mlflow_tracking_uri=mlflow_tracking_uri,
        pushgateway_url=pushgateway_url,
    )
    metrics.log_metric("drift_detected", 1.0 if result["drifted"] else 0.0)
    metrics.log_metric("drift_share", result["share"])
    metrics.log_metric("drifted_features", result["drifted_count"])
    freeze_heap_for_exit()


def report_run_status(*, status: dsl.PipelineTaskFinalStatus, pushgateway_url: str):
    import time

    from pipelines.tasks import freeze_heap_for_exit, report_run_task

    report_run_task(status.state, time.time(), pushgateway_url=pushgateway_url)
    freeze_heap_for_exit()


@dataclass(frozen=True)
class Components:
    ingest: Any
    validate: Any
    train: Any
    evaluate: Any
    register: Any
    drift: Any
    report_run_status: Any


def make_components(image: str) -> Components:
    """The components, each pinned to `image`. The image already holds the project and its pinned
    requirements, so nothing is pip-installed at run time (not even kfp)."""

    def component(func: Any) -> Any:
        return dsl.component(func, base_image=image, install_kfp_package=False, packages_to_install=[])

    return Components(
        ingest=component(ingest),
        validate=component(validate),
        train=component(train),
        evaluate=component(evaluate),
        register=component(register),
        drift=component(drift),
        report_run_status=component(report_run_status),
    )
