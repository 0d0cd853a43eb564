"""A champion you can trust: the held-out evaluation set, the bad batches of issue 13, and the lines
that say which evaluation set a comparison used.

Each scenario runs the whole flow in process against MLflow on SQLite (pipelines/sequential.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipelines import dataset, tasks
from pipelines.params import REPO_ROOT, load_params
from pipelines.sequential import run_in_process
from pipelines.steps.validate import DataValidationError
from tests.pipelines.conftest import SAMPLE_CSV, FlowEnv, make_flow_env, write_params

# Every scenario runs the whole flow in process (the fast tier runs none).
pytestmark = pytest.mark.slow

PARAMS = load_params()
MODEL = PARAMS.registry.model_name
EVAL_CSV = REPO_ROOT / PARAMS.data.evaluation_path
POOL_MD5 = dataset.tracked_md5(REPO_ROOT / "data" / "breast_cancer.csv.dvc")
EVAL_MD5 = dataset.tracked_md5(REPO_ROOT / "data" / "breast_cancer_eval.csv.dvc")


def _client(env: FlowEnv) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=env.tracking_uri, registry_uri=env.tracking_uri)


def _versions(env: FlowEnv) -> set[int]:
    return {int(v.version) for v in _client(env).search_model_versions(f"name='{MODEL}'")}


def _champion(env: FlowEnv) -> int:
    return int(_client(env).get_model_version_by_alias(MODEL, "champion").version)


def _csv(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


@pytest.fixture(scope="module", autouse=True)
def _tracked_data() -> None:
    """The versioned pool and evaluation set in the workspace and the local DVC remote, as `make demo`
    prepares them (a fresh clone has neither): Ingest reads both through DVC."""
    from pipelines.local_run import prepare_data

    prepare_data()


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlowEnv, dict[str, Any]]]:
    """An honest first run: v1 is champion, scored on the evaluation set."""
    root = tmp_path_factory.mktemp("champion")
    with pytest.MonkeyPatch.context() as patch:
        env = make_flow_env(root, patch)
        yield env, run_in_process(root / "honest", pipeline_run="honest")


@pytest.fixture
def pool() -> pd.DataFrame:
    if not SAMPLE_CSV.exists():
        dataset.materialize_sample_dataset(SAMPLE_CSV, SAMPLE_CSV.with_name(SAMPLE_CSV.name + ".dvc"))
    return pd.read_csv(SAMPLE_CSV)


def test_the_poisoned_batch_of_the_issue_is_refused_and_registers_nothing(
    honest: tuple[FlowEnv, dict[str, Any]], pool: pd.DataFrame
) -> None:
    env, _ = honest
    before = _versions(env)
    # One feature equals the label; 0 and 1 are inside mean_symmetry's schema range [0, 1].
    poisoned = _csv(pool.assign(mean_symmetry=pool["target"].astype(float)), env.root / "poisoned.csv")
    with pytest.raises(DataValidationError, match=r"column 'mean_symmetry' alone predicts the label"):
        run_in_process(env.root / "poisoned", data_csv=poisoned)
    assert _versions(env) == before
    assert _champion(env) == 1


def test_a_poisoned_batch_past_the_guard_still_cannot_move_the_champion(
    honest: tuple[FlowEnv, dict[str, Any]], pool: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, _ = honest
    # The guard switched off: held-out evaluation alone must stop it.
    relaxed = write_params(
        env.root / "relaxed.yaml",
        guards={"max_feature_auc": 1.0},
        mlflow={"retry_attempts": 2, "retry_backoff_seconds": 0.05},
    )
    monkeypatch.setenv("MLOPS_PARAMS_FILE", str(relaxed))
    poisoned = _csv(pool.assign(mean_symmetry=pool["target"].astype(float)), env.root / "poisoned2.csv")
    results = run_in_process(env.root / "poisoned2", data_csv=poisoned)
    registration = results["register"]
    assert not registration["champion_moved"]
    assert _champion(env) == 1
    decision = results["evaluate"]
    # Judged on held-out rows, where the leaked column carries no label, it is no better than the champion
    # (it reached 1.0000 judged on its own rows in the issue); the guard is what refuses it outright.
    needed = decision.champion.metrics["roc_auc"] + PARAMS.evaluate.min_improvement
    assert decision.candidate["roc_auc"] < needed
    assert decision.evaluation.md5 == EVAL_MD5


def test_noisy_copies_of_the_reference_cannot_lock_the_champion_in(
    honest: tuple[FlowEnv, dict[str, Any]], pool: pd.DataFrame
) -> None:
    env, first = honest
    copies = dataset.simulate_batch(pool, 5000, seed=1, drifted=False)
    results = run_in_process(env.root / "copies", data_csv=_csv(copies, env.root / "copies.csv"))
    decision = results["evaluate"]
    # Scored on rows it never saw, the copies' model is no better than the honest champion, and the
    # champion's score is its held-out score, not the 1.0000 of a model judged on its own training rows.
    assert not results["register"]["champion_moved"]
    assert _champion(env) == 1
    honest_score = first["train"]["metrics"]["roc_auc"]
    assert decision.champion.metrics["roc_auc"] == pytest.approx(honest_score)
    assert decision.candidate["roc_auc"] < 0.999
    assert f"vs champion v1 {honest_score:.4f}" in decision.reason


def test_noisy_copies_of_every_row_lose_their_copies_of_evaluation_rows_and_cannot_move_the_champion(
    honest: tuple[FlowEnv, dict[str, Any]], pool: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    env, _ = honest
    # The issue's lock-in batch made from all 569 rows, the evaluation rows included: no exact overlap,
    # but a quarter of the rows are evaluation rows with 2 % noise.
    everything = pd.concat([pool, pd.read_csv(EVAL_CSV)], ignore_index=True)
    copies = dataset.simulate_batch(everything, 5000, seed=1, drifted=False)
    results = run_in_process(env.root / "all-copies", data_csv=_csv(copies, env.root / "all-copies.csv"))
    out = capsys.readouterr().out
    near = results["train"]["evaluation_near_copies_removed"]
    assert 0.2 < near / len(copies) < 0.3
    assert f"train: removed {near} row(s) of the training data that are near copies of evaluation rows" in out
    assert not results["register"]["champion_moved"]
    assert _champion(env) == 1


def test_near_copies_are_evaluation_rows_with_noise_not_distinct_real_rows(pool: pd.DataFrame) -> None:
    from pipelines.steps.train import near_copy_mask

    held_out = pd.read_csv(EVAL_CSV)
    tolerance = PARAMS.guards.near_copy_tolerance
    assert not any(near_copy_mask(pool, held_out, tolerance))  # real rows differ by >= 22 % somewhere
    noisy = dataset.simulate_batch(held_out, 300, seed=4, drifted=False)
    assert all(near_copy_mask(noisy, held_out, tolerance))
    assert not any(near_copy_mask(noisy, held_out, 0.0))


def test_a_batch_overlapping_the_evaluation_set_has_the_overlap_removed_and_says_so(
    honest: tuple[FlowEnv, dict[str, Any]], pool: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    env, _ = honest
    everything = pd.concat([pool, pd.read_csv(EVAL_CSV)], ignore_index=True)
    results = run_in_process(env.root / "overlap", data_csv=_csv(everything, env.root / "everything.csv"))
    out = capsys.readouterr().out
    assert "train: removed 142 row(s) of the training data that are in the evaluation set " in out
    assert f"(md5 {EVAL_MD5}); training on the other 427" in out
    training = results["train"]
    assert training["evaluation_overlap_removed"] == 142
    # What is left is exactly the training pool, and the lineage records that, not the file's hash.
    assert training["lineage"]["data_md5"] == POOL_MD5
    assert training["lineage"]["data_source"].endswith("minus 142 row(s) of the evaluation set")
    run = _client(env).get_run(training["run_id"])
    assert (run.data.tags["mlops.eval_overlap_removed"], run.data.params["train_rows"]) == ("142", "427")


def test_the_champion_is_rescored_and_the_line_says_whether_the_evaluation_set_changed(
    honest: tuple[FlowEnv, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    env, _ = honest
    client = _client(env)
    run_in_process(env.root / "same", pipeline_run="same")
    assert "evaluate: champion v1 re-scored on the same evaluation set it was registered with" in (
        capsys.readouterr().out
    )
    # As if v1 had been registered with an earlier version of the evaluation set.
    client.set_model_version_tag(MODEL, "1", "mlops.eval_md5", "0" * 32)
    try:
        results = run_in_process(env.root / "changed", pipeline_run="changed")
        out = capsys.readouterr().out
    finally:
        client.set_model_version_tag(MODEL, "1", "mlops.eval_md5", EVAL_MD5)
    assert (
        f"evaluate: evaluation set changed since champion v1 was registered (md5 {'0' * 32} -> {EVAL_MD5}): "
        "champion re-scored on the current set"
    ) in out
    version = client.get_model_version(MODEL, str(results["register"]["version"]))
    assert version.tags["mlops.eval_md5"] == EVAL_MD5
    # A champion from before held-out evaluation carries no evaluation-set tag at all.
    client.delete_model_version_tag(MODEL, "1", "mlops.eval_md5")
    try:
        run_in_process(env.root / "legacy", pipeline_run="legacy")
        out = capsys.readouterr().out
    finally:
        client.set_model_version_tag(MODEL, "1", "mlops.eval_md5", EVAL_MD5)
    assert (
        f"evaluate: champion v1 was registered before held-out evaluation: re-scored on the evaluation set "
        f"(md5 {EVAL_MD5}), though its training rows were never checked against it"
    ) in out


def test_evaluate_refuses_an_evaluation_set_other_than_the_one_train_checked(
    honest: tuple[FlowEnv, dict[str, Any]],
) -> None:
    env, _ = honest
    work = env.root / "honest"
    swapped = env.root / "swapped.csv"
    rows = (work / "test.csv").read_text(encoding="utf-8").splitlines()
    swapped.write_text("\n".join(rows[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="is not the one the candidate was checked against"):
        tasks.evaluate_task(work / "model", swapped, env.root / "swapped.json")
    recorded = json.loads((work / "model" / "training.json").read_text(encoding="utf-8"))
    assert recorded["evaluation"]["md5"] == EVAL_MD5


def _label_in_a_feature(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(mean_symmetry=f["target"].astype(float))


def _label_plus_noise(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(mean_compactness=f["target"] * 0.5 + (f.index % 7) / 100)


def _constant(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(texture_error=1.25)


def _all_zero(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(symmetry_error=0.0)


def _tripled(f: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f, f, f], ignore_index=True)


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _write_semicolons(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, sep=";")


def _write_repeated_column(frame: pd.DataFrame, path: Path) -> None:
    twice = frame.copy()
    twice.insert(1, "copy_of_radius", twice["mean_radius"])
    path.write_text(twice.to_csv(index=False).replace("copy_of_radius", "mean_radius", 1), encoding="utf-8")


# Every bad batch of issue 13 that a user can hand to `--data`: (name, change, writer, expected problem).
BAD_BATCHES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], Any, str]] = [
    ("feature equals label", _label_in_a_feature, _write_csv, r"column 'mean_symmetry' alone predicts"),
    (
        "feature is label plus noise",
        _label_plus_noise,
        _write_csv,
        r"column 'mean_compactness' alone predicts",
    ),
    ("constant column", _constant, _write_csv, r"column 'texture_error' is constant"),
    ("all-zero column", _all_zero, _write_csv, r"column 'symmetry_error' is all zero"),
    ("every row three times", _tripled, _write_csv, r"repeat an earlier row exactly"),
    ("semicolon-delimited", lambda f: f, _write_semicolons, r"looks semicolon-delimited"),
    ("repeated column", lambda f: f, _write_repeated_column, r"column 'mean_radius' appears 2 times"),
]


@pytest.mark.parametrize(
    ("case", "change", "write", "message"), BAD_BATCHES, ids=[case[0] for case in BAD_BATCHES]
)
def test_every_bad_batch_of_the_issue_is_refused_clearly_and_registers_nothing(
    case: str, change: Any, write: Any, message: str, *, flow_env: FlowEnv, pool: pd.DataFrame
) -> None:
    path = flow_env.root / "bad.csv"
    write(change(pool), path)
    with pytest.raises(DataValidationError, match=message) as error:
        run_in_process(flow_env.root / "work", data_csv=str(path))
    assert len(error.value.problems) == 1, error.value.problems  # one clear line, not 32
    assert 'stage="validate"} 0.0' in flow_env.metric_file("validate")
    assert not (flow_env.root / "state" / "mlflow" / "mlflow.db").exists()  # nothing reached MLflow
