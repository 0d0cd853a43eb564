"""Requests become the model's frame, or a 4xx naming the field (both protocols)."""

from __future__ import annotations

import json
import math

import pytest

from pipelines import schema
from serving import validation as v

FEATURES = schema.FEATURE_NAMES


def row(value: float = 1.0) -> dict[str, float]:
    return dict.fromkeys(FEATURES, value)


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_records_become_a_float_frame_in_schema_order():
    record = {name: float(i) for i, name in enumerate(reversed(FEATURES))}
    frame = v.frame_from_scoring_json(body({"dataframe_records": [record, row(2)]}), FEATURES)
    assert list(frame.columns) == list(FEATURES)
    assert frame.shape == (2, len(FEATURES))
    assert frame.loc[0, FEATURES[-1]] == 0.0
    assert str(frame.dtypes.iloc[0]) == "float64"


def test_split_columns_may_come_in_any_order_and_null_is_an_empty_cell():
    columns = list(reversed(FEATURES))
    data = [[None, *[3] * (len(FEATURES) - 1)]]
    frame = v.frame_from_scoring_json(body({"dataframe_split": {"columns": columns, "data": data}}), FEATURES)
    assert math.isnan(frame.loc[0, columns[0]])
    assert frame.loc[0, columns[1]] == 3.0


def refused(payload: object) -> v.RequestValidationError:
    with pytest.raises(v.RequestValidationError) as caught:
        v.frame_from_scoring_json(body(payload), FEATURES)
    return caught.value


def test_a_missing_feature_is_named():
    record = row()
    del record["mean_area"]
    error = refused({"dataframe_records": [record]})
    assert error.field == "mean_area"
    assert "missing field 'mean_area'" in str(error)
    assert error.status == 400


def test_an_extra_feature_is_named():
    error = refused({"dataframe_records": [{**row(), "patient_name": 1.0}]})
    assert error.field == "patient_name"
    assert "unknown field 'patient_name'" in str(error)


@pytest.mark.parametrize("bad", ["12.5", True, [1.0], {"v": 1}])
def test_a_wrongly_typed_value_is_named_with_its_row(bad):
    records = [row(), {**row(), "worst_area": bad}]
    error = refused({"dataframe_records": records})
    assert error.field == "worst_area"
    assert "(row 1)" in str(error)
    assert "expected a number" in str(error)


def test_split_rows_of_the_wrong_length_and_unknown_keys_are_refused():
    short = refused({"dataframe_split": {"columns": list(FEATURES), "data": [[1.0]]}})
    assert "row 0" in str(short)
    assert refused({"dataframe_split": {"columns": list(FEATURES), "data": [], "dtype": 1}}).field == (
        "dataframe_split.dtype"
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"instances": [[1.0]]}, "unknown field 'instances'"),
        ({}, "exactly one of"),
        ([1, 2], "must be a JSON object"),
        ({"dataframe_records": []}, "no rows"),
    ],
)
def test_bodies_of_the_wrong_shape(payload, expected):
    assert expected in str(refused(payload))


def test_not_json_at_all():
    with pytest.raises(v.RequestValidationError, match="not valid JSON"):
        v.frame_from_scoring_json(b"{mean_radius: 1", FEATURES)


def test_too_many_rows_is_a_413():
    error = refused({"dataframe_records": [row()] * (v.MAX_ROWS_PER_REQUEST + 1)})
    assert error.status == 413


def tensors(**overrides: v.TensorInput) -> list[v.TensorInput]:
    inputs = {name: v.TensorInput(name, [2], "FP64", [1.0, 2.0]) for name in FEATURES}
    inputs.update(overrides)
    return list(inputs.values())


def test_open_inference_inputs_become_the_frame():
    frame = v.frame_from_tensor_inputs(
        tensors(mean_radius=v.TensorInput("mean_radius", [2, 1], "INT64", [[5], [6]])), FEATURES
    )
    assert frame["mean_radius"].tolist() == [5.0, 6.0]
    assert frame.shape == (2, len(FEATURES))


def test_open_inference_errors_name_the_input():
    missing = [t for t in tensors() if t.name != "texture_error"]
    with pytest.raises(v.RequestValidationError, match="missing field 'texture_error'"):
        v.frame_from_tensor_inputs(missing, FEATURES)
    with pytest.raises(v.RequestValidationError, match="unknown field 'age'"):
        v.frame_from_tensor_inputs([*tensors(), v.TensorInput("age", [2], "FP64", [1, 2])], FEATURES)
    with pytest.raises(v.RequestValidationError, match="input 'mean_area': datatype BYTES is not numeric"):
        v.frame_from_tensor_inputs(
            tensors(mean_area=v.TensorInput("mean_area", [2], "BYTES", ["a", "b"])), FEATURES
        )
    with pytest.raises(v.RequestValidationError, match="input 'mean_area' has 3 rows"):
        v.frame_from_tensor_inputs(
            tensors(mean_area=v.TensorInput("mean_area", [3], "FP64", [1, 2, 3])), FEATURES
        )
