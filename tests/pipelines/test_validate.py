"""Each kind of bad data is rejected with a message that names the column and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from pipelines.params import load_params
from pipelines.steps.validate import DataValidationError, validate_batch

RULES = load_params().data
GUARDS = load_params().guards


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
        r"column 'worst_symmetry' has 20\.1% empty values; expected at most 5\.0%",
    ),
    ("one class only", _one_class, r"column 'target' has only one class \(1\)"),
    (
        "out of range",
        _out_of_range,
        r"column 'mean_smoothness' has 1 value\(s\) out of range \[0, 0\.5\], e\.g\. -0\.2",
    ),
    ("unknown label", _unknown_label, r"column 'target' has 1 value\(s\) that are not a class"),
    ("imbalanced", _imbalanced, r"column 'target' is imbalanced: class 0 is 3\.6% of rows"),
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
    assert len(typed) == 427
    assert typed["target"].dtype.kind == "i"
    assert typed["mean_radius"].dtype.kind == "f"


def _label_in_a_feature(f: pd.DataFrame) -> pd.DataFrame:
    # The poisoned batch of the issue: a feature equal to the label, inside the schema's range [0, 1].
    return f.assign(mean_symmetry=f["target"].astype(float))


def _label_plus_noise(f: pd.DataFrame) -> pd.DataFrame:
    noise = pd.Series(range(len(f)), index=f.index) % 7 / 100
    return f.assign(mean_compactness=f["target"] * 0.5 + noise)


def _constant(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(texture_error=1.25)


def _all_zero(f: pd.DataFrame) -> pd.DataFrame:
    return f.assign(symmetry_error=0.0)


def _tripled(f: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([f, f, f], ignore_index=True)


# Each refused by the leakage guards although every value is inside the schema.
GUARD_CASES: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str]] = [
    (
        "feature equals label",
        _label_in_a_feature,
        r"column 'mean_symmetry' alone predicts the label \(single-feature ROC AUC 1\.0000 > "
        r"guards\.max_feature_auc 0\.99\)",
    ),
    ("feature is label plus noise", _label_plus_noise, r"column 'mean_compactness' alone predicts the label"),
    ("constant column", _constant, r"column 'texture_error' is constant \(every value is 1\.25\)"),
    ("all-zero column", _all_zero, r"column 'symmetry_error' is all zero"),
    (
        "every row three times",
        _tripled,
        r"854 of 1281 rows \(66\.7%\) repeat an earlier row exactly, e\.g\. line 429 repeats line 2; "
        r"expected at most 5\.0% \(guards\.max_duplicate_share\)",
    ),
]


@pytest.mark.parametrize(("case", "corrupt", "message"), GUARD_CASES, ids=[c[0] for c in GUARD_CASES])
def test_leaky_batch_is_refused_naming_the_column(
    case: str,
    corrupt: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
    sample_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    path = _write(corrupt(sample_frame), tmp_path / "batch.csv")
    validate_batch(path, RULES)  # the schema alone accepts it
    with pytest.raises(DataValidationError, match=message) as error:
        validate_batch(path, RULES, GUARDS)
    assert len(error.value.problems) == 1


def test_the_real_data_passes_the_guards_with_margin(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    validate_batch(_write(sample_frame, tmp_path / "ok.csv"), RULES, GUARDS)
    best = max(
        max(auc, 1 - auc)
        for auc in (roc_auc_score(sample_frame["target"], sample_frame[c]) for c in sample_frame.columns[:-1])
    )
    assert 0.95 < best < GUARDS.max_feature_auc - 0.01


def test_semicolon_delimited_file_gets_one_delimiter_hint(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    sample_frame.to_csv(path, index=False, sep=";")
    with pytest.raises(DataValidationError) as error:
        validate_batch(path, RULES)
    assert len(error.value.problems) == 1
    assert "looks semicolon-delimited; expected a comma-separated CSV" in error.value.problems[0]


def test_repeated_header_column_is_named_as_such(sample_frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    twice = sample_frame.copy()
    twice.insert(1, "mean_radius_copy", twice["mean_radius"])
    text = twice.to_csv(index=False).replace("mean_radius_copy", "mean_radius", 1)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataValidationError) as error:
        validate_batch(path, RULES)
    assert error.value.problems == ["column 'mean_radius' appears 2 times in the header; expected once"]
