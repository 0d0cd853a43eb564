"""Validate: a batch against the declared schema (pipelines/schema.py) and the data rules in params.yaml.

Every problem found is reported, each naming its column and what was expected, so one run tells the
user everything to fix. Any problem stops the run before anything is trained or registered.

Training data also passes the leakage guards (`guards` in params.yaml): values inside the schema's ranges
can still make a batch that flatters whatever is trained on it, so a feature that alone predicts the label
(single-feature ROC AUC above `max_feature_auc`), a constant or all-zero column, and heavy exact
duplication (`max_duplicate_share`) are refused, each naming the column or the lines.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines import dataset, schema
from pipelines.params import DataParams, GuardParams

if TYPE_CHECKING:
    import pandas as pd


class DataValidationError(ValueError):
    """The batch breaks the declared schema; the message lists every problem."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} failed validation ({len(problems)} problem(s)):\n{listed}")


@dataclass(frozen=True)
class ValidationSummary:
    rows: int
    class_counts: dict[int, int]


def _example(values: pd.Series) -> str:
    index, value = values.index[0], values.iloc[0]
    shown = f"{float(value):g}" if isinstance(value, int | float) else repr(str(value))
    # +2: the header is line 1 and the index counts from 0, so this is the line in the file.
    return f"{shown} on line {int(index) + 2}"


def _numeric_problems(frame: pd.DataFrame, column: str) -> tuple[pd.Series | None, list[str]]:
    import pandas as pd

    raw = frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    not_numeric = raw[numbers.isna() & raw.notna()]
    if len(not_numeric):
        return None, [
            f"column '{column}' has {len(not_numeric)} non-numeric value(s), e.g. "
            f"{_example(not_numeric)}; expected numbers"
        ]
    return numbers.astype(float), []


def check_frame(frame: pd.DataFrame, rules: DataParams) -> list[str]:
    """All problems of a parsed batch, or an empty list."""
    problems: list[str] = []
    present = list(frame.columns)
    problems += [f"column '{c}' is missing" for c in schema.COLUMNS if c not in present]
    problems += [
        f"column '{c}' is not in the schema (unexpected column)" for c in present if c not in schema.COLUMNS
    ]
    duplicated = sorted({c for c in present if present.count(c) > 1})
    problems += [
        f"column '{c}' appears {present.count(c)} times in the header; expected once" for c in duplicated
    ]

    if len(frame) < rules.min_rows:
        problems.append(f"the batch has {len(frame)} row(s); expected at least {rules.min_rows}")

    for spec in schema.FEATURES:
        if spec.name not in present or spec.name in duplicated:
            continue
        numbers, dtype_problems = _numeric_problems(frame, spec.name)
        problems += dtype_problems
        if numbers is None or not len(numbers):
            continue
        null_share = float(numbers.isna().mean())
        if null_share > rules.max_null_fraction:
            problems.append(
                f"column '{spec.name}' has {null_share:.1%} empty values; "
                f"expected at most {rules.max_null_fraction:.1%}"
            )
        outside = numbers[(numbers < spec.minimum) | (numbers > spec.maximum)]
        if len(outside):
            problems.append(
                f"column '{spec.name}' has {len(outside)} value(s) out of range "
                f"[{spec.minimum:g}, {spec.maximum:g}], e.g. {_example(outside)}"
            )

    if schema.TARGET in present and schema.TARGET not in duplicated:
        problems += _target_problems(frame, rules)
    return problems


def _target_problems(frame: pd.DataFrame, rules: DataParams) -> list[str]:
    column = schema.TARGET
    numbers, problems = _numeric_problems(frame, column)
    if numbers is None:
        return problems
    empty = int(numbers.isna().sum())
    if empty:
        problems.append(f"column '{column}' has {empty} empty value(s); the label may not be empty")
    labels = numbers.dropna()
    unknown = labels[~labels.isin([float(c) for c in schema.TARGET_CLASSES])]
    if len(unknown):
        problems.append(
            f"column '{column}' has {len(unknown)} value(s) that are not a class "
            f"{list(schema.TARGET_CLASSES)}, e.g. {_example(unknown)}"
        )
        return problems
    if not len(labels):
        return problems
    counts = labels.astype(int).value_counts()
    if len(counts) < len(schema.TARGET_CLASSES):
        only = ", ".join(str(c) for c in counts.index)
        problems.append(
            f"column '{column}' has only one class ({only}); expected both of {list(schema.TARGET_CLASSES)}"
        )
        return problems
    minority_share = float(counts.min() / counts.sum())
    if minority_share < rules.min_class_share:
        problems.append(
            f"column '{column}' is imbalanced: class {int(counts.idxmin())} is {minority_share:.1%} of rows; "
            f"expected at least {rules.min_class_share:.1%}"
        )
    return problems


# Delimiters a spreadsheet export uses instead of commas, and how to name them.
_OTHER_DELIMITERS = ((";", "semicolon"), ("\t", "tab"), ("|", "pipe"))


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return next(csv.reader(handle, skipinitialspace=True), [])


def read_batch(path: Path) -> pd.DataFrame:
    """Parse a CSV batch without coercing anything, so type problems can be reported per column.

    The header is read as written: pandas would rename a repeated column to `name.1`, hiding the repeat.
    """
    import pandas as pd

    source = str(path)
    if not path.is_file():
        raise DataValidationError(source, [f"file {path} does not exist"])
    if path.stat().st_size == 0:
        raise DataValidationError(source, ["the file is empty; expected a CSV header and rows"])
    try:
        header = _header(path)
        frame = pd.read_csv(path, dtype=str, keep_default_na=True, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, csv.Error) as exc:
        raise DataValidationError(source, [f"the file is not a readable CSV: {exc}"]) from exc
    if len(header) == 1:
        for delimiter, name in _OTHER_DELIMITERS:
            if delimiter in header[0]:
                raise DataValidationError(
                    source,
                    [
                        f"the header is one column containing {name}s ({delimiter!r}): the file looks "
                        f"{name}-delimited; expected a comma-separated CSV (export it again with ',' "
                        "as the delimiter)"
                    ],
                )
    if len(header) == len(frame.columns):
        frame.columns = pd.Index([name.strip() for name in header])
    return frame


def read_typed(path: Path) -> pd.DataFrame:
    """A validated CSV (read as text so nothing is coerced before checking), typed by `to_typed`."""
    import pandas as pd

    return to_typed(pd.read_csv(path, dtype=str))


def to_typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A valid batch in the declared column order, features as float, target as int."""
    import pandas as pd

    typed = pd.DataFrame({name: pd.to_numeric(frame[name]).astype(float) for name in schema.FEATURE_NAMES})
    typed[schema.TARGET] = pd.to_numeric(frame[schema.TARGET]).astype(int)
    return typed


def leakage_problems(typed: pd.DataFrame, guards: GuardParams) -> list[str]:
    """The leakage guards' problems of a typed batch that passed the schema, or an empty list."""
    from sklearn.metrics import roc_auc_score

    problems: list[str] = []
    target = typed[schema.TARGET]
    for name in schema.FEATURE_NAMES:
        values = typed[name].dropna()
        if not len(values):
            continue
        if (values == 0).all():
            problems.append(f"column '{name}' is all zero; a feature must carry a measurement")
            continue
        if values.nunique() == 1:
            problems.append(
                f"column '{name}' is constant (every value is {float(values.iloc[0]):g}); "
                "a feature must carry a measurement"
            )
            continue
        labels = target.loc[values.index]
        if labels.nunique() < len(schema.TARGET_CLASSES):
            continue
        auc = float(roc_auc_score(labels, values))
        separation = max(auc, 1.0 - auc)
        if separation > guards.max_feature_auc:
            problems.append(
                f"column '{name}' alone predicts the label (single-feature ROC AUC {separation:.4f} > "
                f"guards.max_feature_auc {guards.max_feature_auc:g}): the label has leaked into it; "
                "remove or fix the column"
            )
    first_line: dict[str, int] = {}
    repeats: list[tuple[int, int]] = []
    for line, digest in enumerate(dataset.row_hashes(typed), start=2):
        if digest in first_line:
            repeats.append((line, first_line[digest]))
        else:
            first_line[digest] = line
    share = len(repeats) / len(typed) if len(typed) else 0.0
    if share > guards.max_duplicate_share:
        line, original = repeats[0]
        problems.append(
            f"{len(repeats)} of {len(typed)} rows ({share:.1%}) repeat an earlier row exactly, e.g. line "
            f"{line} repeats line {original}; expected at most {guards.max_duplicate_share:.1%} "
            "(guards.max_duplicate_share)"
        )
    return problems


def validate_batch(path: Path, rules: DataParams, guards: GuardParams | None = None) -> pd.DataFrame:
    """The typed batch, or DataValidationError listing every problem; with `guards`, the leakage guards
    run too (only on a batch the schema accepts: they need numbers)."""
    frame = read_batch(path)
    problems = check_frame(frame, rules)
    if problems:
        raise DataValidationError(str(path), problems)
    typed = to_typed(frame)
    if guards is not None:
        problems = leakage_problems(typed, guards)
        if problems:
            raise DataValidationError(str(path), problems)
    return typed


def summarize(frame: pd.DataFrame) -> ValidationSummary:
    counts = frame[schema.TARGET].value_counts()
    return ValidationSummary(rows=len(frame), class_counts={int(k): int(v) for k, v in counts.items()})
