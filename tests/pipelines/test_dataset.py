"""The sample dataset is byte-for-byte reproducible, so the committed DVC hash holds on a fresh clone."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import dataset, schema
from pipelines.params import REPO_ROOT

DVC_FILE = REPO_ROOT / "data" / "breast_cancer.csv.dvc"
EVAL_DVC_FILE = REPO_ROOT / "data" / "breast_cancer_eval.csv.dvc"


@pytest.mark.slow  # regenerates the dataset with scikit-learn
def test_regenerated_dataset_matches_the_committed_dvc_hash(tmp_path: Path) -> None:
    target = tmp_path / "breast_cancer.csv"
    md5 = dataset.materialize_sample_dataset(target, DVC_FILE)
    assert md5 == dataset.tracked_md5(DVC_FILE)
    assert dataset.md5_of_file(target) == md5


def test_regenerated_evaluation_set_matches_its_committed_dvc_hash(tmp_path: Path) -> None:
    target = tmp_path / "breast_cancer_eval.csv"
    md5 = dataset.materialize_sample_dataset(target, EVAL_DVC_FILE, dataset.evaluation_dataset_bytes)
    assert md5 == dataset.tracked_md5(EVAL_DVC_FILE) != dataset.tracked_md5(DVC_FILE)


def test_dataset_format_is_stable() -> None:
    data = dataset.sample_dataset_bytes()
    assert b"\r" not in data
    lines = data.decode().splitlines()
    assert lines[0].split(",") == list(schema.COLUMNS)
    assert len(lines) == 1 + 427
    assert lines[1].startswith("17.99,10.38,122.8,1001.0,")


def test_evaluation_set_is_a_stratified_quarter_disjoint_from_the_training_pool() -> None:
    import io

    import pandas as pd

    pool = pd.read_csv(io.BytesIO(dataset.sample_dataset_bytes()))
    held_out = pd.read_csv(io.BytesIO(dataset.evaluation_dataset_bytes()))
    assert len(pool) + len(held_out) == 569
    assert held_out[schema.TARGET].value_counts().to_dict() == {1: 89, 0: 53}
    assert not set(dataset.row_hashes(pool)) & set(dataset.row_hashes(held_out))


def test_row_hash_is_of_the_values_not_their_spelling(sample_frame) -> None:
    import pandas as pd

    respelled = pd.read_csv(io_of(sample_frame.head(3).to_csv(index=False, float_format="%.8f")))
    assert dataset.row_hashes(respelled) == dataset.row_hashes(sample_frame.head(3))
    changed = sample_frame.head(3).copy()
    changed.loc[0, "mean_radius"] += 0.001
    assert dataset.row_hashes(changed)[0] != dataset.row_hashes(sample_frame.head(3))[0]


def io_of(text: str):
    import io

    return io.StringIO(text)


def test_hash_mismatch_writes_nothing(tmp_path: Path) -> None:
    wrong = tmp_path / "x.csv.dvc"
    wrong.write_text("outs:\n- md5: ffffffffffffffffffffffffffffffff\n  path: x.csv\n", encoding="utf-8")
    target = tmp_path / "x.csv"
    with pytest.raises(dataset.DatasetHashMismatchError, match="records ffffffffffffffffffffffffffffffff"):
        dataset.materialize_sample_dataset(target, wrong)
    assert not target.exists()


def test_simulated_batches_are_deterministic_and_drift_only_when_asked(sample_frame) -> None:
    plain = dataset.simulate_batch(sample_frame, 200, seed=3, drifted=False)
    again = dataset.simulate_batch(sample_frame, 200, seed=3, drifted=False)
    drifted = dataset.simulate_batch(sample_frame, 200, seed=3, drifted=True)
    assert dataset.frame_csv_bytes(plain) == dataset.frame_csv_bytes(again)
    ratio = drifted["mean_radius"].mean() / plain["mean_radius"].mean()
    assert ratio == pytest.approx(dataset.DRIFT_SCALE, rel=0.01)
    assert drifted["radius_error"].equals(plain["radius_error"])


def test_a_file_already_matching_the_dvc_hash_is_not_regenerated(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "breast_cancer.csv"
    md5 = dataset.materialize_sample_dataset(target, DVC_FILE)

    def must_not_regenerate() -> bytes:
        raise AssertionError("regenerated a dataset that already matched its DVC hash")

    monkeypatch.setattr(dataset, "sample_dataset_bytes", must_not_regenerate)
    assert dataset.materialize_sample_dataset(target, DVC_FILE) == md5


def test_a_file_differing_from_the_dvc_hash_is_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "breast_cancer.csv"
    target.write_bytes(b"edited by hand\n")
    md5 = dataset.materialize_sample_dataset(target, DVC_FILE)
    assert dataset.md5_of_file(target) == md5 == dataset.tracked_md5(DVC_FILE)
