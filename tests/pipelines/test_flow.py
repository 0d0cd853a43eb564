"""The whole flow in one process against MLflow on SQLite: registration, lineage, champion gating,
metrics, bad data, and faults (MLflow unreachable, alias move failing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines import dataset, tasks
from pipelines.params import REPO_ROOT, load_params
from pipelines.sequential import run_in_process
from pipelines.steps.evaluate import ChampionScores, Decision
from pipelines.steps.validate import DataValidationError
from pipelines.tracking import TrackingUnavailableError
from tests.pipelines.conftest import FlowEnv
from tests.support.processes import free_port

# The flow end to end, in process: whole-pipeline runs are not the fast tier.
pytestmark = pytest.mark.slow

PARAMS = load_params()
MODEL = PARAMS.registry.model_name
COMMITTED_MD5 = dataset.tracked_md5(REPO_ROOT / "data" / "breast_cancer.csv.dvc")
EVAL_MD5 = dataset.tracked_md5(REPO_ROOT / "data" / "breast_cancer_eval.csv.dvc")


def _client(env: FlowEnv) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=env.tracking_uri, registry_uri=env.tracking_uri)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlowEnv, dict[str, Any]]]:
    """One successful run, shared by the tests that inspect its results (MLflow runs take seconds)."""
    from tests.pipelines.conftest import make_flow_env

    root = tmp_path_factory.mktemp("flow")
    with pytest.MonkeyPatch.context() as patch:
        env = make_flow_env(root, patch)
        results = run_in_process(root / "run1", pipeline_run="run-1")
        yield env, results


def test_first_run_registers_version_1_as_champion_with_lineage(
    first_run: tuple[FlowEnv, dict[str, Any]],
) -> None:
    env, results = first_run
    registration = results["register"]
    assert (registration["version"], registration["champion_moved"]) == (1, True)
    version = _client(env).get_model_version_by_alias(MODEL, "champion")
    assert int(version.version) == 1
    assert version.tags["mlops.data_md5"] == COMMITTED_MD5
    assert version.tags["mlops.git_rev"] == "0123abcd"
    assert version.tags["mlops.run_id"] == results["train"]["run_id"] == version.run_id
    assert version.tags["mlops.pipeline_run"] == "run-1"
    assert version.tags["mlops.state"] == "done"
    assert version.tags["mlops.eval_md5"] == EVAL_MD5 == results["train"]["evaluation"]["md5"]
    assert version.tags["mlops.eval_source"] == f"dvc:{REPO_ROOT}:data/breast_cancer_eval.csv"
    assert results["evaluate"].evaluation.md5 == EVAL_MD5
    assert f"on evaluation set md5 {EVAL_MD5[:8]}" in registration["reason"]


def test_training_run_logs_params_metrics_signature_and_example(
    first_run: tuple[FlowEnv, dict[str, Any]],
) -> None:
    import mlflow

    env, results = first_run
    run = _client(env).get_run(results["train"]["run_id"])
    assert run.data.params["C"] == str(PARAMS.train.C)
    assert (run.data.params["train_rows"], run.data.params["evaluation_rows"]) == ("427", "142")
    assert run.data.tags["mlops.eval_md5"] == EVAL_MD5
    assert run.data.tags["mlops.eval_overlap_removed"] == "0"
    assert run.data.metrics["roc_auc"] >= PARAMS.evaluate.thresholds["roc_auc"]
    info = mlflow.models.get_model_info(results["train"]["model_uri"])
    assert info.signature is not None
    assert info.saved_input_example_info is not None


def test_training_run_logs_the_frame_it_fitted_on_as_the_training_reference(
    first_run: tuple[FlowEnv, dict[str, Any]],
) -> None:
    """Live drift compares the champion's traffic with this artifact (serving/live_drift.py)."""
    import mlflow

    from pipelines import schema
    from pipelines.steps.train import TRAINING_REFERENCE_ARTIFACT

    env, results = first_run
    path = mlflow.artifacts.download_artifacts(
        run_id=results["train"]["run_id"],
        artifact_path=TRAINING_REFERENCE_ARTIFACT,
        tracking_uri=env.tracking_uri,
    )
    reference = pd.read_parquet(path)
    assert list(reference.columns) == list(schema.COLUMNS)
    assert len(reference) == 427  # the training rows, as the run's train_rows param says


def test_every_stage_and_the_run_report_success_metrics(first_run: tuple[FlowEnv, dict[str, Any]]) -> None:
    env, _ = first_run
    for stage in ("ingest", "validate", "train", "evaluate", "register", "drift"):
        assert f'stage="{stage}"}} 1.0' in env.metric_file(stage)
    assert 'mlops_pipeline_run_success{pipeline="breast-cancer-training"} 1.0' in env.metric_file()
    register = env.metric_file("register")
    labels = 'model_name="breast-cancer-classifier",pipeline="breast-cancer-training"'
    assert f"mlops_model_champion_version{{{labels}}} 1.0" in register
    assert 'metric="roc_auc",model_name="breast-cancer-classifier",model_version="1"' in register
    drift = env.metric_file("drift")
    assert (
        'mlops_drift_detected{dataset="breast_cancer",pipeline="breast-cancer-training",source="batch"} 0.0'
        in drift
    )
    assert drift.count("mlops_drift_feature_score{") == 30


def test_drift_report_is_saved_and_logged_to_mlflow(first_run: tuple[FlowEnv, dict[str, Any]]) -> None:
    env, results = first_run
    drift = results["drift"]
    assert (
        Path(drift["report_path"]).read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    )
    artifacts = [a.path for a in _client(env).list_artifacts(drift["mlflow_run_id"], "drift")]
    assert artifacts == ["drift/drift-report.html"]


def test_second_run_on_drifted_batch_keeps_champion_and_detects_drift(
    first_run: tuple[FlowEnv, dict[str, Any]],
) -> None:
    env, _ = first_run
    results = run_in_process(env.root / "run2", drifted=True, pipeline_run="run-2")
    registration = results["register"]
    assert registration["version"] == 2
    assert not registration["champion_moved"]
    assert registration["champion_version"] == 1
    assert "not better than the champion" in registration["reason"]
    assert int(_client(env).get_model_version_by_alias(MODEL, "champion").version) == 1
    assert results["drift"]["drifted"]
    assert (
        'mlops_drift_detected{dataset="breast_cancer",pipeline="breast-cancer-training",source="batch"} 1.0'
        in env.metric_file("drift")
    )


def _candidate(env: FlowEnv, name: str) -> tuple[Path, dict[str, Any]]:
    """A freshly trained and logged candidate (model folder and its `training.json`)."""
    work = env.root / name
    ingested = tasks.ingest_task(work / "t.csv", work / "r.csv", work / "b.csv", work / "e.csv")
    training = tasks.train_task(
        work / "t.csv",
        work / "e.csv",
        work / "model",
        work / "test.csv",
        data_md5="",
        data_source="test",
        evaluation_source=ingested.evaluation_source,
        pipeline_run=name,
    )
    return work, training


def _write_decision(work: Path, promote: bool, champion_version: int | None) -> Path:
    metrics = {"accuracy": 1.0, "f1": 1.0, "roc_auc": 1.0}
    champion = ChampionScores(champion_version, metrics) if champion_version else None
    decision = Decision(metrics, champion, {}, promote, promote, "test decision")
    path = work / "evaluation.json"
    import json

    path.write_text(json.dumps(decision.to_dict()), encoding="utf-8")
    return path


def test_better_candidate_moves_champion(first_run: tuple[FlowEnv, dict[str, Any]]) -> None:
    env, _ = first_run
    client = _client(env)
    before = int(client.get_model_version_by_alias(MODEL, "champion").version)
    work, _ = _candidate(env, "better")
    result = tasks.register_task(work / "model", _write_decision(work, True, before))
    assert result["champion_moved"]
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == result["version"] > before


def test_stale_comparison_does_not_move_champion(first_run: tuple[FlowEnv, dict[str, Any]]) -> None:
    env, _ = first_run
    client = _client(env)
    before = int(client.get_model_version_by_alias(MODEL, "champion").version)
    work, _ = _candidate(env, "stale")
    # Evaluated against a champion that is no longer the champion.
    result = tasks.register_task(work / "model", _write_decision(work, True, before + 100))
    assert not result["champion_moved"]
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == before


def test_failed_alias_move_leaves_no_new_version_and_no_champion_change(
    first_run: tuple[FlowEnv, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    env, _ = first_run
    client = _client(env)
    before = int(client.get_model_version_by_alias(MODEL, "champion").version)
    versions_before = {v.version for v in client.search_model_versions(f"name='{MODEL}'")}
    work, _ = _candidate(env, "alias-fails")

    def refuse(*_: object, **__: object) -> None:
        raise ConnectionRefusedError("registry went away")

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", refuse)
    with pytest.raises(TrackingUnavailableError, match="moving champion to version"):
        tasks.register_task(work / "model", _write_decision(work, True, before))
    monkeypatch.undo()
    assert {v.version for v in client.search_model_versions(f"name='{MODEL}'")} == versions_before
    assert int(client.get_model_version_by_alias(MODEL, "champion").version) == before
    assert 'stage="register"} 0.0' in env.metric_file("register")


def test_bad_data_stops_the_run_registers_nothing_and_emits_failure(
    flow_env: FlowEnv, sample_frame: pd.DataFrame
) -> None:
    bad = flow_env.root / "bad.csv"
    sample_frame.drop(columns=["mean_radius"]).to_csv(bad, index=False)
    with pytest.raises(DataValidationError, match="column 'mean_radius' is missing"):
        run_in_process(flow_env.root / "work", data_csv=str(bad))
    assert 'stage="validate"} 0.0' in flow_env.metric_file("validate")
    assert 'mlops_pipeline_run_success{pipeline="breast-cancer-training"} 0.0' in flow_env.metric_file()
    assert not (flow_env.metrics_dir / "breast-cancer-training-train.prom").exists()
    assert not (flow_env.root / "state" / "mlflow" / "mlflow.db").exists()  # nothing ever reached MLflow


def test_mlflow_unreachable_fails_train_after_bounded_retries(flow_env: FlowEnv) -> None:
    work = flow_env.root / "work"
    tasks.ingest_task(work / "t.csv", work / "r.csv", work / "b.csv", work / "e.csv")
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        TrackingUnavailableError, match=rf"MLflow at {uri} did not answer: a health check failed 2 time"
    ):
        tasks.train_task(
            work / "t.csv",
            work / "e.csv",
            work / "model",
            work / "test.csv",
            data_md5="",
            data_source="x",
            evaluation_source="x",
            pipeline_run="x",
            mlflow_tracking_uri=uri,
        )
    assert not (work / "model").exists()
    assert 'stage="train"} 0.0' in flow_env.metric_file("train")


def test_mlflow_unreachable_fails_register_and_registers_nothing(
    first_run: tuple[FlowEnv, dict[str, Any]],
) -> None:
    env, _ = first_run
    client = _client(env)
    versions_before = {v.version for v in client.search_model_versions(f"name='{MODEL}'")}
    work = env.root / "run1"
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingUnavailableError, match=rf"MLflow at {uri} did not answer"):
        tasks.register_task(work / "model", work / "evaluation.json", mlflow_tracking_uri=uri)
    assert {v.version for v in client.search_model_versions(f"name='{MODEL}'")} == versions_before
