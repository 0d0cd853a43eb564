"""The pipeline's tasks in one process, in pipeline order, without KFP.

The benchmark compares the kfp.local run against this (the cost of one subprocess per task), and
tests use it to exercise the whole flow quickly. The exit handler's work runs in a `finally`, like KFP's.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pipelines import tasks


def run_in_process(
    workdir: Path,
    data_csv: str = "",
    drifted: bool = False,
    pipeline_run: str = "in-process",
    capture_uri: str = "",
) -> dict[str, Any]:
    """Run ingest -> validate -> train -> evaluate -> drift -> register; files go under `workdir`.

    Register is last, as in the pipeline: the registry changes only after every artifact is written."""
    files = {
        name: workdir / name
        for name in (
            "training.csv",
            "reference.csv",
            "batch.csv",
            "evaluation.csv",
            "valid-training.csv",
            "valid-batch.csv",
            "model",
            "test.csv",
            "evaluation.json",
            "drift-report.html",
            "drift.json",
        )
    }
    results: dict[str, Any] = {}
    state = "FAILED"
    try:
        ingested = tasks.ingest_task(
            files["training.csv"],
            files["reference.csv"],
            files["batch.csv"],
            files["evaluation.csv"],
            data_csv=data_csv,
            drifted=drifted,
            capture_uri=capture_uri,
        )
        results["validate"] = tasks.validate_task(
            files["training.csv"], files["batch.csv"], files["valid-training.csv"], files["valid-batch.csv"]
        )
        results["train"] = tasks.train_task(
            files["valid-training.csv"],
            files["evaluation.csv"],
            files["model"],
            files["test.csv"],
            data_md5=ingested.training_md5,
            data_source=ingested.training_source,
            evaluation_source=ingested.evaluation_source,
            pipeline_run=pipeline_run,
        )
        results["evaluate"] = tasks.evaluate_task(files["model"], files["test.csv"], files["evaluation.json"])
        results["drift"] = tasks.drift_task(
            files["reference.csv"],
            files["valid-batch.csv"],
            files["drift-report.html"],
            files["drift.json"],
            pipeline_run=pipeline_run,
        )
        results["register"] = tasks.register_task(files["model"], files["evaluation.json"])
        state = "SUCCEEDED"
    finally:
        tasks.report_run_task(state, time.time())
    return results
