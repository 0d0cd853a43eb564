"""`dvc repro` stages (dvc.yaml): the same step functions as the pipeline, without KFP or MLflow.

  prepare   validate data/breast_cancer.csv (schema and leakage guards), drop any row (or near copy of
            a row) of the held-out evaluation set data/breast_cancer_eval.csv -> build/training/train.csv
  train     fit the classifier on it                               -> build/training/model.pkl
  evaluate  score it on the evaluation set against the thresholds  -> build/training/metrics.json

Outputs are written in stable formats so that the same inputs give the same hashes in dvc.lock.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path

from pipelines import dataset
from pipelines.params import load_params

OUT_DIR = Path("build/training")
TRAIN_CSV = OUT_DIR / "train.csv"
MODEL_PKL = OUT_DIR / "model.pkl"
METRICS_JSON = OUT_DIR / "metrics.json"


class ThresholdError(RuntimeError):
    """The model is below a configured threshold."""


def prepare(root: Path) -> None:
    from pipelines.steps.train import near_copy_mask, without_evaluation_rows
    from pipelines.steps.validate import validate_batch

    params = load_params(root / "params.yaml")
    frame = validate_batch(root / params.data.path, params.data, params.guards)
    evaluation = validate_batch(root / params.data.evaluation_path, params.data)
    train, _ = without_evaluation_rows(frame, evaluation)
    near = near_copy_mask(train, evaluation, params.guards.near_copy_tolerance)
    train = train.loc[[not n for n in near]]
    (root / OUT_DIR).mkdir(parents=True, exist_ok=True)
    (root / TRAIN_CSV).write_bytes(dataset.frame_csv_bytes(train))


def train(root: Path) -> None:
    from pipelines.steps.train import fit
    from pipelines.steps.validate import read_typed

    params = load_params(root / "params.yaml")
    model = fit(read_typed(root / TRAIN_CSV), params.train)
    with (root / MODEL_PKL).open("wb") as handle:
        pickle.dump(model, handle, protocol=5)


def evaluate(root: Path) -> None:
    from pipelines.steps.evaluate import decide
    from pipelines.steps.train import score
    from pipelines.steps.validate import read_typed

    params = load_params(root / "params.yaml")
    with (root / MODEL_PKL).open("rb") as handle:
        # Written by the train stage above from the same code.
        model = pickle.load(handle)
    evaluation = read_typed(root / params.data.evaluation_path)
    metrics = {name: round(value, 6) for name, value in score(model, evaluation).items()}
    decision = decide(metrics, None, params.evaluate)
    report = {**metrics, "passes_thresholds": not decision.failed_thresholds}
    (root / METRICS_JSON).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if decision.failed_thresholds:
        raise ThresholdError(decision.reason)


STAGES = {"prepare": prepare, "train": train, "evaluate": evaluate}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.dvc_stages")
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root (default: cwd)")
    args = parser.parse_args(argv)
    try:
        STAGES[args.stage](args.root)
    except Exception as exc:
        print(f"dvc stage {args.stage} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
