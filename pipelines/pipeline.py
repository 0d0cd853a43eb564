"""The training pipeline (KFP v2) and its compilation to the committed YAML."""

# No `from __future__ import annotations`: KFP reads the pipeline's parameter annotations as real types.

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import compiler, dsl, kubernetes

from pipelines import cluster_env, images, scheduling
from pipelines.components import make_components
from pipelines.stage import PIPELINE_NAME

COMPILED_PIPELINE = Path(__file__).resolve().parent / "training_pipeline.yaml"
# EC2's largest GPU instances carry 8; a count above the gpu group's GPUs per node stays Pending.
MAX_TRAIN_GPUS = 8

DESCRIPTION = (
    "Ingest the DVC-versioned breast cancer data, validate it, train and evaluate a classifier, register it "
    "in MLflow (alias 'champion' moves only if better), and check the newest batch for drift with Evidently."
)


def build_pipeline(image: str = images.STEPS.reference, train_gpus: int = 0) -> Callable[..., Any]:
    """The @dsl.pipeline function with every component pinned to `image`; Train gets `train_gpus` GPUs."""
    if not 0 <= train_gpus <= MAX_TRAIN_GPUS:
        raise ValueError(f"train_gpus = {train_gpus}: expected 0..{MAX_TRAIN_GPUS} GPUs for the Train step")
    c = make_components(image)

    @dsl.pipeline(name=PIPELINE_NAME, description=DESCRIPTION)
    def training_pipeline(  # noqa: PLR0917 - KFP passes pipeline parameters positionally
        data_csv: str = "",
        drifted: bool = False,
        dvc_repo: str = "",
        dvc_rev: str = "",
        dvc_remote: str = "",
        mlflow_tracking_uri: str = "",
        pushgateway_url: str = "",
        capture_uri: str = "",
        trigger: str = "",
    ) -> None:
        # `trigger` is why a run started (the retraining relay's alert fingerprints, labels and time): a
        # run parameter, so the KFP UI and API show it on the run. No task needs it.
        run_name = dsl.PIPELINE_JOB_NAME_PLACEHOLDER
        exit_task = c.report_run_status(pushgateway_url=pushgateway_url).set_display_name("Report run status")
        with dsl.ExitHandler(exit_task, name="training-flow"):
            ingest = c.ingest(
                data_csv=data_csv,
                drifted=drifted,
                dvc_repo=dvc_repo,
                dvc_rev=dvc_rev,
                dvc_remote=dvc_remote,
                pushgateway_url=pushgateway_url,
                capture_uri=capture_uri,
            ).set_display_name("Ingest")
            validate = c.validate(
                training_data=ingest.outputs["training_data"],
                new_batch=ingest.outputs["new_batch"],
                pushgateway_url=pushgateway_url,
            ).set_display_name("Validate")
            train = c.train(
                training_data=validate.outputs["valid_training_data"],
                evaluation_data=ingest.outputs["evaluation_data"],
                data_md5=ingest.outputs["data_md5"],
                data_source=ingest.outputs["data_source"],
                evaluation_source=ingest.outputs["evaluation_source"],
                pipeline_run=run_name,
                mlflow_tracking_uri=mlflow_tracking_uri,
                pushgateway_url=pushgateway_url,
            ).set_display_name("Train")
            evaluate = c.evaluate(
                model=train.outputs["model"],
                test_data=train.outputs["test_data"],
                mlflow_tracking_uri=mlflow_tracking_uri,
                pushgateway_url=pushgateway_url,
            ).set_display_name("Evaluate")
            register = c.register(
                model=train.outputs["model"],
                evaluation=evaluate.outputs["evaluation"],
                mlflow_tracking_uri=mlflow_tracking_uri,
                pushgateway_url=pushgateway_url,
            ).set_display_name("Register")
            drift = c.drift(
                reference_data=ingest.outputs["reference_data"],
                new_batch=validate.outputs["valid_batch"],
                pipeline_run=run_name,
                mlflow_tracking_uri=mlflow_tracking_uri,
                pushgateway_url=pushgateway_url,
            ).set_display_name("Drift")
            # The registry change is the last thing a run does: after the drift report is written.
            register.after(drift)
            # Registry state and MLflow side effects make every run different: never reuse a cached result.
            for task in (ingest, validate, train, evaluate, register, drift):
                task.set_caching_options(False)
        exit_task.set_caching_options(False)
        for task in (ingest, validate, train, evaluate, register, drift, exit_task):
            _mount_cluster_env(task)
        if train_gpus:
            _run_on_gpus(train, train_gpus)

    return training_pipeline


def _run_on_gpus(task: Any, gpus: int) -> None:
    """Request GPUs and go where they are: only this task tolerates the GPU nodes' taint."""
    task.set_accelerator_type(scheduling.GPU_RESOURCE).set_accelerator_limit(gpus)
    kubernetes.add_node_selector(
        task, label_key=scheduling.NODE_ROLE_LABEL, label_value=scheduling.GPU_NODE_ROLE
    )
    kubernetes.add_toleration(
        task,
        key=scheduling.GPU_TAINT_KEY,
        operator="Equal",
        value=scheduling.GPU_TAINT_VALUE,
        effect=scheduling.GPU_TAINT_EFFECT,
    )


def _mount_cluster_env(task: Any) -> None:
    """MLflow and Pushgateway settings from the platform's Secret (kfp.local ignores this)."""
    kubernetes.use_secret_as_env(
        task, secret_name=cluster_env.SECRET_NAME, secret_key_to_env={k: k for k in cluster_env.REQUIRED_KEYS}
    )
    kubernetes.use_secret_as_env(
        task,
        secret_name=cluster_env.SECRET_NAME,
        secret_key_to_env={k: k for k in cluster_env.MINIO_KEYS},
        optional=True,
    )


def compile_pipeline(
    output: Path = COMPILED_PIPELINE, image: str = images.STEPS.reference, train_gpus: int = 0
) -> Path:
    compiler.Compiler().compile(build_pipeline(image, train_gpus), package_path=str(output))
    return output
