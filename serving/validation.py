"""Turning a prediction request into the model's input frame, or a 4xx that names the field.

Two protocols reach the model: MLflow's scoring protocol on `POST /invocations` (`dataframe_split` or
`dataframe_records` JSON) and the Open Inference Protocol on `POST /v2/models/<name>/infer` (one input per
feature). Both are checked against the served model's signature, whose columns are the features of
`pipelines/schema.py` (the runtime refuses to serve a model whose signature differs): every feature must be
present, none other may be, and each value must be a number or null (a null is an empty cell, which the
model's imputer fills, as in training). Booleans and numeric strings are refused: a client that sends them
has a bug worth hearing about. A refused request is never captured as traffic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# One request scores at most this many rows: a bounded request keeps one client from starving the others
# (the server answers on one event loop) and bounds the memory one request takes.
MAX_ROWS_PER_REQUEST: Final = 10_000

SPLIT: Final = "dataframe_split"
RECORDS: Final = "dataframe_records"
# Open Inference Protocol datatypes a feature value may arrive as.
NUMERIC_DATATYPES: Final = frozenset(
    {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
)


@dataclass(frozen=True)
class RequestValidationError(ValueError):
    """The request does not match the model's inputs; `field` names the offending field, if one does."""

    message: str
    field: str | None = None
    status: int = 400

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            detail["field"] = self.field
        return detail


def _shown(value: Any) -> str:
    return json.dumps(value, default=repr)[:60]


def _number(value: Any, feature: str, row: int) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestValidationError(
            f"field '{feature}' (row {row}): expected a number or null, got {_shown(value)}",
            feature,
        )
    number = float(value)
    if math.isinf(number):
        raise RequestValidationError(f"field '{feature}' (row {row}): expected a finite number", feature)
    return number


def _check_columns(given: Sequence[Any], features: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in given:
        if not isinstance(name, str):
            raise RequestValidationError(f"{where}: column names must be strings, got {json.dumps(name)}")
        if name in seen:
            raise RequestValidationError(f"field '{name}' appears twice in {where}", name)
        seen.add(name)
    known = set(features)
    extra = [name for name in given if name not in known]
    if extra:
        raise RequestValidationError(
            f"unknown field '{extra[0]}' in {where}; the model takes exactly: {', '.join(features)}", extra[0]
        )
    missing = [name for name in features if name not in seen]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise RequestValidationError(f"missing field '{missing[0]}'{more} in {where}", missing[0])


def _row_count(rows: int) -> None:
    if rows == 0:
        raise RequestValidationError("the request has no rows")
    if rows > MAX_ROWS_PER_REQUEST:
        raise RequestValidationError(
            f"the request has {rows} rows; send at most {MAX_ROWS_PER_REQUEST} per request", status=413
        )


def _frame(matrix: np.ndarray, features: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(matrix, columns=list(features))


def _split_matrix(split: Any, features: Sequence[str]) -> np.ndarray:
    import numpy as np

    if not isinstance(split, Mapping):
        raise RequestValidationError(f"'{SPLIT}' must be an object with 'columns' and 'data'", SPLIT)
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if unknown:
        raise RequestValidationError(
            f"unknown field '{SPLIT}.{unknown[0]}'; expected columns, data (and optionally index)",
            f"{SPLIT}.{unknown[0]}",
        )
    columns, data = split.get("columns"), split.get("data")
    if not isinstance(columns, list):
        raise RequestValidationError(f"'{SPLIT}.columns' must be a list of feature names", f"{SPLIT}.columns")
    if not isinstance(data, list):
        raise RequestValidationError(f"'{SPLIT}.data' must be a list of rows", f"{SPLIT}.data")
    _check_columns(columns, features, f"{SPLIT}.columns")
    _row_count(len(data))
    position = {name: index for index, name in enumerate(columns)}
    order = [position[name] for name in features]
    matrix = np.empty((len(data), len(features)), dtype=np.float64)
    for row, values in enumerate(data):
        if not isinstance(values, list) or len(values) != len(columns):
            raise RequestValidationError(
                f"'{SPLIT}.data' row {row}: expected a list of {len(columns)} values (one per column)",
                f"{SPLIT}.data",
            )
        for target, source in enumerate(order):
            matrix[row, target] = _number(values[source], features[target], row)
    return matrix


def _records_matrix(records: Any, features: Sequence[str]) -> np.ndarray:
    import numpy as np

    if not isinstance(records, list):
        raise RequestValidationError(f"'{RECORDS}' must be a list of objects (one per row)", RECORDS)
    _row_count(len(records))
    matrix = np.empty((len(records), len(features)), dtype=np.float64)
    for row, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise RequestValidationError(f"'{RECORDS}' row {row}: expected an object", RECORDS)
        if len(record) != len(features) or any(name not in record for name in features):
            _check_columns(list(record), features, f"{RECORDS} row {row}")
        for column, name in enumerate(features):
            matrix[row, column] = _number(record[name], name, row)
    return matrix


def frame_from_scoring_json(body: bytes, features: Sequence[str]) -> pd.DataFrame:
    """MLflow's scoring protocol: `{"dataframe_split": {...}}` or `{"dataframe_records": [...]}`."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestValidationError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise RequestValidationError(f"the body must be a JSON object with '{SPLIT}' or '{RECORDS}'")
    formats = [key for key in (SPLIT, RECORDS) if key in payload]
    unknown = sorted(set(payload) - {SPLIT, RECORDS})
    if unknown:
        raise RequestValidationError(
            f"unknown field '{unknown[0]}'; this model takes '{SPLIT}' or '{RECORDS}' (and no params)",
            unknown[0],
        )
    if len(formats) != 1:
        raise RequestValidationError(f"the body must have exactly one of '{SPLIT}' and '{RECORDS}'")
    if formats[0] == SPLIT:
        return _frame(_split_matrix(payload[SPLIT], features), features)
    return _frame(_records_matrix(payload[RECORDS], features), features)


@dataclass(frozen=True)
class TensorInput:
    """One Open Inference Protocol input, as the request carried it."""

    name: str
    shape: Sequence[int]
    datatype: str
    data: Any


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list):
        flat: list[Any] = []
        for item in data:
            flat.extend(_flatten(item) if isinstance(item, list) else [item])
        return flat
    return [data]


def frame_from_tensor_inputs(inputs: Iterable[TensorInput], features: Sequence[str]) -> pd.DataFrame:
    """The Open Inference Protocol with one input per feature (shape [rows] or [rows, 1], numeric)."""
    import numpy as np

    given = list(inputs)
    _check_columns([item.name for item in given], features, "inputs")
    rows: int | None = None
    columns: dict[str, list[float]] = {}
    for item in given:
        if item.datatype not in NUMERIC_DATATYPES:
            raise RequestValidationError(
                f"input '{item.name}': datatype {item.datatype} is not numeric; expected FP64 (or another "
                "numeric datatype)",
                item.name,
            )
        shape = list(item.shape)
        if not shape or len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise RequestValidationError(
                f"input '{item.name}': shape {shape}; expected [rows] or [rows, 1]", item.name
            )
        values = _flatten(item.data)
        if len(values) != shape[0]:
            raise RequestValidationError(
                f"input '{item.name}': shape says {shape[0]} rows but data has {len(values)} values",
                item.name,
            )
        if rows is None:
            rows = shape[0]
            _row_count(rows)
        elif shape[0] != rows:
            raise RequestValidationError(
                f"input '{item.name}' has {shape[0]} rows, the others {rows}; expected one value per row",
                item.name,
            )
        columns[item.name] = [_number(value, item.name, row) for row, value in enumerate(values)]
    assert rows is not None  # _check_columns guarantees every feature, so at least one input
    matrix = np.empty((rows, len(features)), dtype=np.float64)
    for index, name in enumerate(features):
        matrix[:, index] = columns[name]
    return _frame(matrix, features)
