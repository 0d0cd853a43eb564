"""The declared schema of the training data: columns in order, their types and plausible ranges.

Validate checks every batch against this declaration, not against statistics of earlier data, so a
wrong unit or a broken export is caught even on the first batch. Bounds are physical plausibility limits
(every measurement is non-negative; upper bounds are roughly three times the largest value in the
reference data), wide enough for real drift to pass validation and reach the drift check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class FeatureSpec:
    name: str
    minimum: float
    maximum: float


TARGET: Final = "target"
# scikit-learn's encoding of the breast cancer dataset: 0 malignant, 1 benign.
TARGET_CLASSES: Final = (0, 1)

FEATURES: Final = (
    FeatureSpec("mean_radius", 0.0, 60.0),
    FeatureSpec("mean_texture", 0.0, 100.0),
    FeatureSpec("mean_perimeter", 0.0, 400.0),
    FeatureSpec("mean_area", 0.0, 8000.0),
    FeatureSpec("mean_smoothness", 0.0, 0.5),
    FeatureSpec("mean_compactness", 0.0, 1.0),
    FeatureSpec("mean_concavity", 0.0, 1.5),
    FeatureSpec("mean_concave_points", 0.0, 0.6),
    FeatureSpec("mean_symmetry", 0.0, 1.0),
    FeatureSpec("mean_fractal_dimension", 0.0, 0.3),
    FeatureSpec("radius_error", 0.0, 10.0),
    FeatureSpec("texture_error", 0.0, 15.0),
    FeatureSpec("perimeter_error", 0.0, 70.0),
    FeatureSpec("area_error", 0.0, 1600.0),
    FeatureSpec("smoothness_error", 0.0, 0.1),
    FeatureSpec("compactness_error", 0.0, 0.4),
    FeatureSpec("concavity_error", 0.0, 1.2),
    FeatureSpec("concave_points_error", 0.0, 0.16),
    FeatureSpec("symmetry_error", 0.0, 0.25),
    FeatureSpec("fractal_dimension_error", 0.0, 0.09),
    FeatureSpec("worst_radius", 0.0, 80.0),
    FeatureSpec("worst_texture", 0.0, 150.0),
    FeatureSpec("worst_perimeter", 0.0, 600.0),
    FeatureSpec("worst_area", 0.0, 13000.0),
    FeatureSpec("worst_smoothness", 0.0, 0.7),
    FeatureSpec("worst_compactness", 0.0, 3.0),
    FeatureSpec("worst_concavity", 0.0, 4.0),
    FeatureSpec("worst_concave_points", 0.0, 0.9),
    FeatureSpec("worst_symmetry", 0.0, 2.0),
    FeatureSpec("worst_fractal_dimension", 0.0, 0.6),
)

FEATURE_NAMES: Final = tuple(f.name for f in FEATURES)
COLUMNS: Final = (*FEATURE_NAMES, TARGET)


def column_name(sklearn_feature_name: str) -> str:
    """'mean concave points' -> 'mean_concave_points': CSV headers and Prometheus labels without spaces."""
    return sklearn_feature_name.strip().replace(" ", "_")
