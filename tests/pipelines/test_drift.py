"""Drift verdicts from Evidently on planted drift and on no drift; large inputs are sampled."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.steps.drift import detect_drift, sample

FEATURES = [f"f{i}" for i in range(6)]


def _frame(rows: int, seed: int, shifted: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    for name in FEATURES[:shifted]:
        frame[name] += 1.5
    return frame


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return _frame(3000, seed=1)


@pytest.mark.slow  # Evidently on the sample data (its import alone takes 6 s)
def test_planted_drift_is_detected_with_per_feature_scores(reference: pd.DataFrame, tmp_path) -> None:
    report = tmp_path / "report.html"
    result = detect_drift(
        reference,
        _frame(3000, seed=2, shifted=4),
        FEATURES,
        share_threshold=0.5,
        max_rows=10_000,
        seed=0,
        report_path=report,
    )
    assert result.drifted
    assert result.drifted_count == 4
    assert result.share == pytest.approx(4 / 6)
    assert result.feature_drifted == {f: f in FEATURES[:4] for f in FEATURES}
    assert set(result.feature_scores) == set(FEATURES)
    assert not result.sampled
    assert report.stat().st_size > 1000


@pytest.mark.slow  # Evidently on the sample data
def test_no_drift_is_not_flagged(reference: pd.DataFrame) -> None:
    result = detect_drift(
        reference, _frame(3000, seed=3), FEATURES, share_threshold=0.5, max_rows=10_000, seed=0
    )
    assert not result.drifted
    assert result.drifted_count == 0


@pytest.mark.slow  # Evidently on the sample data
def test_drift_below_the_share_threshold_is_not_a_dataset_verdict(reference: pd.DataFrame) -> None:
    result = detect_drift(
        reference, _frame(3000, seed=4, shifted=2), FEATURES, share_threshold=0.5, max_rows=10_000, seed=0
    )
    assert result.drifted_count == 2
    assert not result.drifted


@pytest.mark.slow  # Evidently on 100k rows, sampled
def test_large_inputs_are_sampled_with_the_same_verdict(reference: pd.DataFrame) -> None:
    current = _frame(3000, seed=2, shifted=4)
    result = detect_drift(reference, current, FEATURES, share_threshold=0.5, max_rows=1000, seed=0)
    assert result.sampled
    assert (result.reference_rows, result.current_rows) == (3000, 3000)
    assert result.drifted and result.drifted_count == 4


def test_sampling_is_seeded() -> None:
    frame = _frame(500, seed=9)
    assert sample(frame, 100, seed=5).equals(sample(frame, 100, seed=5))
    assert sample(frame, 1000, seed=5) is frame
