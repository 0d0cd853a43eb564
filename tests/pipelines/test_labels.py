"""Labelled captured traffic: labels joined to the capture by request id, and a retraining Ingest adding
them to the training data (the held-out evaluation set untouched)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import dataset, labels, schema
from pipelines.params import load_params
from pipelines.steps import ingest as ingest_step
from serving import capture

MODEL = "breast-cancer-classifier"
END = dt.datetime(2026, 12, 1, 23, 0, tzinfo=dt.UTC)


def _reference() -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(dataset.sample_dataset_bytes()))


def _capture(
    root: Path, frame: pd.DataFrame, at: dt.datetime, prefix: str, rows_per_request: int = 1
) -> list[str]:
    """Write `frame` as the model server would: one part, `rows_per_request` rows per request id."""
    requests = []
    for start in range(0, len(frame), rows_per_request):
        chunk = frame.iloc[start : start + rows_per_request]
        requests.append(
            capture.CapturedRequest(
                request_id=f"{prefix}-{start}",
                timestamp_ms=int(at.timestamp() * 1000) + start,
                model_version=1,
                features=chunk.loc[:, list(schema.FEATURE_NAMES)].to_numpy(dtype=float),
                predictions=np.zeros(len(chunk), dtype=np.int64),
            )
        )
    table = capture.to_table(MODEL, requests)
    capture.LocalStore(root).put(
        capture.part_key(MODEL, requests[0].timestamp_ms, prefix), capture.table_bytes(table)
    )
    return [r.request_id for r in requests]


def test_only_labelled_single_row_requests_in_the_window_are_joined_newest_label_wins(tmp_path: Path) -> None:
    reference = _reference()
    ids = _capture(tmp_path, reference.iloc[:10], END - dt.timedelta(hours=2), "recent")
    _capture(tmp_path, reference.iloc[10:14], END - dt.timedelta(hours=1), "multi", rows_per_request=2)
    old = _capture(tmp_path, reference.iloc[20:25], END - dt.timedelta(days=40), "old")
    labels.write_labels(
        str(tmp_path), MODEL, pd.DataFrame({"request_id": ids[:6] + old, schema.TARGET: [1] * 11}), END
    )
    # A later correction of the first label.
    labels.write_labels(
        str(tmp_path),
        MODEL,
        pd.DataFrame({"request_id": ids[:1], schema.TARGET: [0]}),
        END + dt.timedelta(minutes=5),
    )
    found = labels.labelled_capture(str(tmp_path), MODEL, window_days=30, end=END)
    assert list(found.frame.columns) == list(schema.COLUMNS)
    assert len(found.frame) == 6
    assert found.frame[schema.TARGET].tolist() == [0, 1, 1, 1, 1, 1]
    np.testing.assert_allclose(
        found.frame.loc[:, list(schema.FEATURE_NAMES)].to_numpy(),
        reference.iloc[:6][list(schema.FEATURE_NAMES)].to_numpy(),
    )
    assert (found.captured_rows, found.unlabelled_rows, found.multi_row_requests) == (14, 4, 2)


def test_labels_must_be_classes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not classes"):
        labels.write_labels(
            str(tmp_path), MODEL, pd.DataFrame({"request_id": ["a"], schema.TARGET: [7]}), END
        )


def _ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capture_root: Path, min_batch_rows: int
) -> tuple[ingest_step.IngestResult, dict[str, pd.DataFrame]]:
    evaluation = dataset.evaluation_dataset_bytes()
    sources = {
        "data/breast_cancer.csv": dataset.sample_dataset_bytes(),
        "data/breast_cancer_eval.csv": evaluation,
    }
    # DVC is not what is tested here: the versioned files are the bytes DVC would return.
    monkeypatch.setattr(ingest_step, "read_dvc_file", lambda source: sources[source.path])
    out = {name: tmp_path / f"{name}.csv" for name in ("training", "reference", "batch", "evaluation")}
    result = ingest_step.ingest(
        reference=ingest_step.DvcSource("data/breast_cancer.csv"),
        evaluation=ingest_step.DvcSource("data/breast_cancer_eval.csv"),
        user_csv=None,
        drifted=False,
        drift_params=load_params().drift,
        training_out=out["training"],
        reference_out=out["reference"],
        batch_out=out["batch"],
        evaluation_out=out["evaluation"],
        capture=ingest_step.CaptureSource(str(capture_root), MODEL, 30, END),
        min_batch_rows=min_batch_rows,
    )
    return result, {name: pd.read_csv(path) for name, path in out.items()}


def test_retraining_ingest_adds_labelled_traffic_and_checks_it_as_the_newest_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = dataset.simulate_batch(_reference(), 60, seed=3, drifted=True)
    ids = _capture(tmp_path / "capture", drifted, END - dt.timedelta(hours=3), "drifted")
    labels.write_labels(
        str(tmp_path / "capture"),
        MODEL,
        pd.DataFrame({"request_id": ids, schema.TARGET: drifted[schema.TARGET]}),
        END,
    )
    result, frames = _ingest(tmp_path, monkeypatch, tmp_path / "capture", min_batch_rows=50)
    assert result.labelled_rows == 60
    assert len(frames["training"]) == len(frames["reference"]) + 60
    assert len(frames["batch"]) == 60 and "labelled captured rows" in result.batch_source
    assert "+ 60 labelled rows of capture:" in result.training_source
    assert result.training_md5 == dataset.md5_of_file(tmp_path / "training.csv")
    assert frames["evaluation"].equals(pd.read_csv(io.BytesIO(dataset.evaluation_dataset_bytes())))


def test_too_few_labels_still_train_but_the_batch_stays_the_simulated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drifted = dataset.simulate_batch(_reference(), 10, seed=3, drifted=True)
    ids = _capture(tmp_path / "capture", drifted, END - dt.timedelta(hours=3), "few")
    labels.write_labels(
        str(tmp_path / "capture"),
        MODEL,
        pd.DataFrame({"request_id": ids, schema.TARGET: drifted[schema.TARGET]}),
        END,
    )
    result, frames = _ingest(tmp_path, monkeypatch, tmp_path / "capture", min_batch_rows=50)
    assert result.labelled_rows == 10
    assert len(frames["training"]) == len(frames["reference"]) + 10
    assert result.batch_source.startswith("simulated batch")


def test_no_capture_yet_means_the_usual_training_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result, _ = _ingest(tmp_path, monkeypatch, tmp_path / "empty", min_batch_rows=50)
    assert result.labelled_rows == 0
    assert result.training_md5 == dataset.md5_of_bytes(dataset.sample_dataset_bytes())
