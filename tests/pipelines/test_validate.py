"""Each kind of bad data is rejected with a message that names the column and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.params import load_params
from pipelines.steps.validate import DataValidationError, validate_batch

RULES = load_params().data


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path


def _missing_column(f: pd.DataFrame) -> pd.DataFrame:
    return f.drop(columns=["mean_texture"])


def _extra_column(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(patient_id=range(len(f)))


def _wrong_dtype(f: pd.DataFrame) -> pd.DataFrame:
    f = f.astype({"mean_area": object})
    f.loc[7, "mean_area"] = "large"
    return f


def _too_many_nulls(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[: len(f) // 5, "worst_symmetry"] = None
    return f


def _one_class(f: pd.DataFrame) -> pd.DataFrame:
    return f[f["target"] == 1]


def _out_of_range(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[3, "mean_smoothness"] = -0.2
    return f


def _unknown_label(f: pd.DataFrame) -> pd.DataFrame:
    f = f.copy()
    f.loc[0, "target"] = 2
    return f


def _imbalanced(f: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f[f["target"] == 1], f[f["target"] == 0].head(10)])


def _too_few_rows(f: pd.DataFrame) -> pd.DataFrame:
    return f.head(20)


def _empty_label(f: pd.DataFrame) -> pd.DataFrame:
    f = f.astype({"target": object})
    f.loc[5, "target"] = None
    return f


CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str]] = [
    ("missing column", _missing_column, r"column 'mean_texture' is missing"),
    ("extra column", _extra_column, r"column 'patient_id' is not in the schema"),
    (
        "wrong dtype",
        _wrong_dtype,
        r"column 'mean_area' has 1 non-numeric value\(s\), e\.g\. 'large' on line 9",
    ),
    (
        "too many nulls",
        _too_many_nulls,
        r"column 'worst_symmetry' has 20\.0% empty values; expected at most 5\.0%",
    ),
    ("one class only", _one_class, r"column 'target' has only one class \(1\)"),
    (
        "out of range",
        _out_of_range,
        r"column 'mean_smoothness' has 1 value\(s\) out of range \[0, 0\.5\], e\.g\. -0\.2",
    ),
    ("unknown label", _unknown_label, r"column 'target' has 1 value\(s\) that are not a class"),
    ("imbalanced", _imbalanced, r"column 'target' is imbalanced: class 0 is 2\.7% of rows"),
    ("too few rows", _too_few_rows, r"the batch has 20 row\(s\); expected at least 50"),
    ("empty label", _empty_label, r"column 'target' has 1 empty value\(s\)"),
]


@pytest.mark.parametrize(("case", "corrupt", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_batch_is_rejected_naming_column_and_problem(
    case: str,
    corrupt: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
    sample_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    path = _write(corrupt(sample_frame), tmp_path / "batch.csv")
    with pytest.raises(DataValidationError, match=message):
        validate_batch(path, RULES)


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataValidationError, match="the file is empty"):
        validate_batch(path, RULES)


def test_header_only_file_is_rejected(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = _write(sample_frame.head(0), tmp_path / "header.csv")
    with pytest.raises(DataValidationError, match=r"the batch has 0 row\(s\)"):
        validate_batch(path, RULES)


def test_every_problem_is_reported_at_once(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = _write(_out_of_range(_missing_column(sample_frame)), tmp_path / "batch.csv")
    with pytest.raises(DataValidationError) as error:
        validate_batch(path, RULES)
    assert len(error.value.problems) == 2


def test_valid_batch_passes_typed(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    nulls = sample_frame.copy()
    nulls.loc[:5, "mean_radius"] = None  # 1% empty: allowed, imputed by the model
    typed = validate_batch(_write(nulls, tmp_path / "ok.csv"), RULES)
    assert len(typed) == 569
    assert typed["target"].dtype.kind == "i"
    assert typed["mean_radius"].dtype.kind == "f"
