from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.params import DEFAULT_PARAMS_FILE, ParamsError, load_params, parse_params


def _raw() -> dict:
    return yaml.safe_load(DEFAULT_PARAMS_FILE.read_text(encoding="utf-8"))


def test_committed_params_load() -> None:
    params = load_params()
    assert params.registry.champion_alias == "champion"
    assert params.evaluate.primary_metric in params.evaluate.thresholds


def test_unknown_key_is_named() -> None:
    raw = _raw()
    raw["train"]["learning_rate"] = 0.1
    with pytest.raises(ParamsError, match=r"unknown params key 'train\.learning_rate'"):
        parse_params(raw)


def test_missing_key_is_named() -> None:
    raw = _raw()
    del raw["drift"]["max_rows"]
    with pytest.raises(ParamsError, match=r"missing params key 'drift\.max_rows'"):
        parse_params(raw)


def test_out_of_range_value_names_key_and_range() -> None:
    raw = _raw()
    raw["guards"]["max_feature_auc"] = 1.5
    with pytest.raises(
        ParamsError, match=r"'guards\.max_feature_auc' is 1\.5, expected a value in \[0\.5, 1\.0\]"
    ):
        parse_params(raw)


def test_missing_guard_is_named() -> None:
    raw = _raw()
    del raw["guards"]["max_duplicate_share"]
    with pytest.raises(ParamsError, match=r"missing params key 'guards\.max_duplicate_share'"):
        parse_params(raw)


def test_evaluation_set_must_be_another_file_than_the_training_data() -> None:
    raw = _raw()
    raw["data"]["evaluation_path"] = raw["data"]["path"]
    with pytest.raises(ParamsError, match=r"'data\.evaluation_path' is 'data/breast_cancer\.csv', the same"):
        parse_params(raw)


def test_unknown_threshold_metric() -> None:
    raw = _raw()
    raw["evaluate"]["thresholds"]["precision"] = 0.9
    with pytest.raises(ParamsError, match=r"evaluate\.thresholds\.precision"):
        parse_params(raw)


def test_wrong_type_is_named() -> None:
    raw = _raw()
    raw["train"]["max_iter"] = "many"
    with pytest.raises(ParamsError, match=r"'train\.max_iter' must be an integer"):
        parse_params(raw)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="cannot read params file"):
        load_params(tmp_path / "nope.yaml")
