"""The sample dataset, its held-out evaluation set and the simulated newest batch, written reproducibly.

Both files come from scikit-learn's bundled breast cancer dataset (no download): the evaluation set is a
fixed quarter of each class, chosen by row content hash (no random generator whose implementation could
change), and the training pool is every other row, so no row of the evaluation set is ever trained on by
default. They are written with a fixed column order, shortest round-trip float formatting and LF line
endings, so the files, and with them the DVC hashes committed in `data/*.csv.dvc`, are the same on every
machine. A fresh clone regenerates them and checks them against those hashes instead of needing a remote.

A row's content hash is the md5 of its line in that stable format, computed from the typed values, so
`17.99` and `17.990` are the same row: that is how overlap with the evaluation set is detected.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from pipelines import schema

if TYPE_CHECKING:
    import pandas as pd

# Features the drifted demo batch shifts: the size and shape measurements (20 of 30), so the drifted share
# is well above the default 0.5 threshold, while the error columns stay as they were.
DRIFTED_PREFIXES = ("mean_", "worst_")
DRIFT_SCALE = 1.3
MEASUREMENT_NOISE = 0.02
# Share of each class held out as the evaluation set.
EVALUATION_SHARE = 0.25


class DatasetHashMismatchError(RuntimeError):
    """The regenerated dataset differs from the one DVC tracks."""


def _format_value(value: float | int, is_target: bool) -> str:
    return str(int(value)) if is_target else repr(float(value))


def csv_bytes(rows: Iterable[Sequence[float]], columns: Sequence[str] = schema.COLUMNS) -> bytes:
    """Rows as CSV with a header; the last column is the integer target."""
    out = io.StringIO(newline="")
    out.write(",".join(columns) + "\n")
    last = len(columns) - 1
    for row in rows:
        out.write(",".join(_format_value(v, i == last) for i, v in enumerate(row)) + "\n")
    return out.getvalue().encode("utf-8")


def frame_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame with the declared columns, in the same stable format as the sample dataset."""
    return csv_bytes(frame.loc[:, list(schema.COLUMNS)].itertuples(index=False, name=None))


def _format_row(row: Sequence[float]) -> str:
    last = len(row) - 1
    return ",".join(_format_value(v, i == last) for i, v in enumerate(row))


def row_hash(row: Sequence[float]) -> str:
    """The content hash of one row (features then target) in the stable CSV format."""
    return md5_of_bytes(_format_row(row).encode("utf-8"))


def row_hashes(frame: pd.DataFrame) -> list[str]:
    """Content hashes of a typed frame's rows, in order (declared columns only)."""
    return [row_hash(row) for row in frame.loc[:, list(schema.COLUMNS)].itertuples(index=False, name=None)]


def _sample_rows() -> list[list[float]]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = tuple(schema.column_name(n) for n in bunch.feature_names)
    if names != schema.FEATURE_NAMES:
        raise RuntimeError(f"scikit-learn's breast cancer features changed: {names}")
    return [[*features, label] for features, label in zip(bunch.data, bunch.target, strict=True)]


def _evaluation_hashes(rows: list[list[float]]) -> set[str]:
    """The first EVALUATION_SHARE of each class, ordered by content hash: fixed, stratified, seedless."""
    chosen: set[str] = set()
    for label in schema.TARGET_CLASSES:
        hashes = sorted(row_hash(r) for r in rows if int(r[-1]) == label)
        chosen.update(hashes[: round(len(hashes) * EVALUATION_SHARE)])
    return chosen


def sample_dataset_bytes() -> bytes:
    """The training pool: every sample row not in the evaluation set, in scikit-learn's order."""
    rows = _sample_rows()
    held_out = _evaluation_hashes(rows)
    return csv_bytes(r for r in rows if row_hash(r) not in held_out)


def evaluation_dataset_bytes() -> bytes:
    """The held-out evaluation set, in scikit-learn's order."""
    rows = _sample_rows()
    held_out = _evaluation_hashes(rows)
    return csv_bytes(r for r in rows if row_hash(r) in held_out)


def md5_of_bytes(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def md5_of_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tracked_md5(dvc_file: Path) -> str:
    """The md5 DVC recorded for the single output of a `.dvc` file."""
    try:
        meta = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))
        return str(meta["outs"][0]["md5"])
    except (OSError, KeyError, IndexError, TypeError) as exc:
        raise DatasetHashMismatchError(f"cannot read the tracked md5 from {dvc_file}: {exc}") from exc


def materialize_sample_dataset(
    path: Path, dvc_file: Path | None, generate: Callable[[], bytes] | None = None
) -> str:
    """Write a sample file (`generate`, default the training pool) to `path` if absent or different; return
    its md5.

    With a `.dvc` file, the bytes must hash to what it records, or nothing is written; a file that already
    hashes to that md5 is left alone without regenerating it (which imports scikit-learn: ~2 s per run).
    """
    expected = tracked_md5(dvc_file) if dvc_file is not None and dvc_file.exists() else None
    current = md5_of_file(path) if path.exists() else None
    if expected is not None and current == expected:
        return expected
    data = (generate or sample_dataset_bytes)()
    md5 = md5_of_bytes(data)
    if expected is not None and md5 != expected:
        raise DatasetHashMismatchError(
            f"regenerated {path.name} has md5 {md5} but {dvc_file} records {expected}: "
            "scikit-learn's bundled data or the writer changed; run `dvc add` deliberately"
        )
    if current != md5:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return md5


def simulate_batch(reference: pd.DataFrame, rows: int, seed: int, drifted: bool) -> pd.DataFrame:
    """A plausible newest batch: reference rows resampled with small measurement noise.

    `drifted` scales the size and shape features, as a recalibrated scanner would.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    picked = reference.iloc[rng.integers(0, len(reference), size=rows)].reset_index(drop=True)
    batch = picked.copy()
    for feature in schema.FEATURE_NAMES:
        values = picked[feature].to_numpy(dtype=float)
        noise = 1.0 + rng.normal(0.0, MEASUREMENT_NOISE, size=rows)
        scale = DRIFT_SCALE if drifted and feature.startswith(DRIFTED_PREFIXES) else 1.0
        # Rounded like the source data, so the batch file stays small and reads like a real export.
        batch[feature] = np.round(np.clip(values * noise * scale, 0.0, None), 6)
    return batch
