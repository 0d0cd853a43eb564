"""One function per pipeline task: files and strings in, files and a result out.

The KFP components (pipelines/kfp_steps.py) only unpack their artifacts and call these; the in-process
runner and the tests call them directly. Each wraps its step in `run_stage`, which publishes the stage's
outcome whether it succeeds or fails. Parameters come from params.yaml (`MLOPS_PARAMS_FILE` overrides the
path, e.g. for tests with short retry settings).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from monitoring import metrics as m
from pipelines import schema
from pipelines.env import DRIFT_REPORT_DIR, GIT_REV, PARAMS_FILE, STAGE_SUMMARY_DIR
from pipelines.params import DEFAULT_PARAMS_FILE, REPO_ROOT, FlowParams, load_params
from pipelines.stage import progress, run_stage
from pipelines.steps.evaluate import Decision
from pipelines.steps.ingest import DvcSource, IngestResult
from pipelines.steps.train import Lineage
from pipelines.tracking import Tracking, resolve_tracking

log = logging.getLogger(__name__)
_progress = progress


MODEL_FILE = "model.pkl"
TRAINING_FILE = "training.json"


def flow_params(env: Mapping[str, str] | None = None) -> FlowParams:
    environment = os.environ if env is None else env
    return load_params(Path(PARAMS_FILE.get(environment) or DEFAULT_PARAMS_FILE))


def git_rev(env: Mapping[str, str] | None = None) -> str:
    """The source revision: `MLOPS_GIT_REV` (set when the steps image is built), else Git, else 'unknown'."""
    environment = os.environ if env is None else env
    if (rev := GIT_REV.get(environment)) is not None:
        return rev
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "diff", "--quiet", "HEAD"], check=False
        ).returncode
    except (OSError, subprocess.CalledProcessError):
        log.warning(
            "no Git revision found (no %s, no commit in %s): lineage records 'unknown'",
            GIT_REV.name,
            REPO_ROOT,
        )
        return "unknown"
    return f"{rev}-dirty" if dirty else rev


def dataset_label(params: FlowParams) -> str:
    return Path(params.data.path).stem


def _tracking(mlflow_tracking_uri: str, params: FlowParams) -> Tracking:
    return resolve_tracking(mlflow_tracking_uri, params.registry.experiment, params.mlflow, os.environ)


def ingest_task(
    training_out: Path,
    reference_out: Path,
    batch_out: Path,
    evaluation_out: Path,
    *,
    data_csv: str = "",
    drifted: bool = False,
    dvc_repo: str = "",
    dvc_rev: str = "",
    dvc_remote: str = "",
    pushgateway_url: str = "",
    capture_uri: str = "",
) -> IngestResult:
    import datetime as dt

    from pipelines.steps.ingest import CaptureSource, ingest

    with run_stage("ingest", pushgateway_url) as report:
        params = flow_params()
        where = {"repo": dvc_repo or str(REPO_ROOT), "rev": dvc_rev or None, "remote": dvc_remote or None}
        capture = (
            CaptureSource(
                uri=capture_uri,
                model_name=params.registry.model_name,
                window_days=params.capture.window_days,
                end=dt.datetime.now(dt.UTC),
            )
            if capture_uri
            else None
        )
        result = ingest(
            reference=DvcSource(path=params.data.path, **where),
            evaluation=DvcSource(path=params.data.evaluation_path, **where),
            user_csv=Path(data_csv) if data_csv else None,
            drifted=drifted,
            drift_params=params.drift,
            training_out=training_out,
            reference_out=reference_out,
            batch_out=batch_out,
            evaluation_out=evaluation_out,
            capture=capture,
            min_batch_rows=params.data.min_rows,
        )
        if capture is not None:
            _progress(
                f"ingest: {result.labelled_rows} labelled captured row(s) added ({result.training_source})"
            )
        report.result = asdict(result)
        return result


def validate_task(
    training_in: Path, batch_in: Path, training_out: Path, batch_out: Path, *, pushgateway_url: str = ""
) -> dict[str, Any]:
    """Both the training data and the newest batch must pass the schema, the training data also the leakage
    guards; valid files are passed on byte for byte, so the data hash recorded downstream is the hash DVC
    tracks."""
    from pipelines.steps.validate import DataValidationError, summarize, validate_batch

    with run_stage("validate", pushgateway_url) as report:
        params = flow_params()
        summaries = {}
        problems: list[str] = []
        inputs = [("training data", training_in), ("newest batch", batch_in)]
        if training_in.read_bytes() == batch_in.read_bytes():
            # A user batch (--data) is both: report its problems once.
            inputs = [("training data", training_in)]
        for role, path in inputs:
            guards = params.guards if role == "training data" else None
            try:
                summaries[role] = asdict(summarize(validate_batch(path, params.data, guards)))
            except DataValidationError as exc:
                problems += [f"{role}: {p}" for p in exc.problems]
        if problems:
            raise DataValidationError("the input data", problems)
        summaries.setdefault("newest batch", summaries["training data"])
        for source, target in ((training_in, training_out), (batch_in, batch_out)):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        report.result = summaries
        return summaries


def train_task(
    training_in: Path,
    evaluation_in: Path,
    model_out: Path,
    test_out: Path,
    *,
    data_md5: str,
    data_source: str,
    evaluation_source: str,
    pipeline_run: str,
    mlflow_tracking_uri: str = "",
    pushgateway_url: str = "",
) -> dict[str, Any]:
    """Fit on the training rows that are not in the evaluation set (the overlap is dropped, with a line),
    score on the evaluation set, log to MLflow; `test_out` receives the evaluation set Evaluate scores on."""
    from pipelines import dataset
    from pipelines.steps.train import (
        EvaluationSet,
        fit,
        log_training_run,
        near_copy_mask,
        score,
        without_evaluation_rows,
    )
    from pipelines.steps.validate import DataValidationError, check_frame, read_typed, validate_batch

    with run_stage("train", pushgateway_url) as report:
        params = flow_params()
        evaluation_bytes = evaluation_in.read_bytes()
        held_out = validate_batch(evaluation_in, params.data)
        evaluation = EvaluationSet(
            source=evaluation_source or params.data.evaluation_path,
            md5=dataset.md5_of_bytes(evaluation_bytes),
            rows=len(held_out),
        )
        frame, copies = without_evaluation_rows(read_typed(training_in), held_out)
        near = near_copy_mask(frame, held_out, params.guards.near_copy_tolerance)
        near_copies = sum(near)
        frame = frame.loc[[not n for n in near]].reset_index(drop=True)
        removed = copies + near_copies
        trained_md5 = data_md5 or dataset.md5_of_file(training_in)
        trained_source = data_source
        if copies:
            left = len(frame) + near_copies
            _progress(
                f"train: removed {copies} row(s) of the training data that are in the evaluation set "
                f"{evaluation.source} (md5 {evaluation.md5}); training on the other {left}"
            )
        if near_copies:
            tolerance = params.guards.near_copy_tolerance
            _progress(
                f"train: removed {near_copies} row(s) of the training data that are near copies of "
                f"evaluation rows (every feature within {tolerance:.0%}, guards.near_copy_tolerance); "
                f"training on the other {len(frame)}"
            )
        if removed:
            problems = check_frame(frame.astype(str), params.data)
            if problems:
                raise DataValidationError("the training data without the evaluation rows", problems)
            trained_md5 = dataset.md5_of_bytes(dataset.frame_csv_bytes(frame))
            trained_source = f"{data_source} minus {removed} row(s) of the evaluation set"
            if near_copies:
                trained_source += f" ({near_copies} of them near copies)"
        model = fit(frame, params.train)
        lineage = Lineage(
            data_md5=trained_md5,
            data_source=trained_source,
            git_rev=git_rev(),
            pipeline_run=pipeline_run,
        )
        run = log_training_run(
            model=model,
            train=frame,
            metrics=score(model, held_out),
            params=params.train,
            lineage=lineage,
            evaluation=evaluation,
            overlap_removed=removed,
            tracking=_tracking(mlflow_tracking_uri, params),
        )
        model_out.mkdir(parents=True, exist_ok=True)
        with (model_out / MODEL_FILE).open("wb") as handle:
            pickle.dump(model, handle)
        training = {
            "run_id": run.run_id,
            "model_uri": run.model_uri,
            "metrics": run.metrics,
            "lineage": asdict(lineage),
            "evaluation": asdict(evaluation),
            "evaluation_overlap_removed": removed,
            "evaluation_near_copies_removed": near_copies,
        }
        (model_out / TRAINING_FILE).write_text(
            json.dumps(training, indent=2, sort_keys=True), encoding="utf-8"
        )
        test_out.parent.mkdir(parents=True, exist_ok=True)
        test_out.write_bytes(evaluation_bytes)
        report.result = training
        return training


def _read_model(model_in: Path) -> Any:
    with (model_in / MODEL_FILE).open("rb") as handle:
        # Our own artifact, written by train_task of the same image in the same pipeline run.
        return pickle.load(handle)


def _read_training(model_in: Path) -> dict[str, Any]:
    """The run id, model URI, metrics and lineage train_task recorded; no unpickling (no sklearn import)."""
    training: dict[str, Any] = json.loads((model_in / TRAINING_FILE).read_text(encoding="utf-8"))
    return training


def evaluate_task(
    model_in: Path,
    test_in: Path,
    evaluation_out: Path,
    *,
    mlflow_tracking_uri: str = "",
    pushgateway_url: str = "",
) -> Decision:

    from pipelines import dataset
    from pipelines.steps.evaluate import champion_scores, evaluate
    from pipelines.steps.train import EvaluationSet
    from pipelines.steps.validate import read_typed

    with run_stage("evaluate", pushgateway_url) as report:
        params = flow_params()
        model = _read_model(model_in)
        evaluation = EvaluationSet(**_read_training(model_in)["evaluation"])
        if dataset.md5_of_file(test_in) != evaluation.md5:
            raise RuntimeError(
                f"the evaluation set {test_in} is not the one the candidate was checked against "
                f"(md5 {dataset.md5_of_file(test_in)}, expected {evaluation.md5} from {evaluation.source})"
            )
        test = read_typed(test_in)
        champion = champion_scores(
            _tracking(mlflow_tracking_uri, params),
            params.registry.model_name,
            params.registry.champion_alias,
            test,
        )
        where = f"evaluation set {evaluation.source} (md5 {evaluation.md5}, {evaluation.rows} rows)"
        _progress(f"evaluate: candidate scored on {where}")
        if champion is not None:
            _progress(f"evaluate: {champion.rescored_note(evaluation.md5)}")
        decision = evaluate(model, test, champion, params.evaluate, evaluation)
        evaluation_out.parent.mkdir(parents=True, exist_ok=True)
        evaluation_out.write_text(json.dumps(decision.to_dict(), indent=2, sort_keys=True), encoding="utf-8")
        for metric, minimum in params.evaluate.thresholds.items():
            report.set_metric(
                m.MODEL_METRIC_THRESHOLD, minimum, model_name=params.registry.model_name, metric=metric
            )
        report.result = decision.to_dict()
        return decision


def register_task(
    model_in: Path, evaluation_in: Path, *, mlflow_tracking_uri: str = "", pushgateway_url: str = ""
) -> dict[str, Any]:
    from pipelines.steps.register import register

    with run_stage("register", pushgateway_url) as report:
        params = flow_params()
        training = _read_training(model_in)
        decision = Decision.from_dict(json.loads(evaluation_in.read_text(encoding="utf-8")))
        registration = register(
            run_id=training["run_id"],
            model_uri=training["model_uri"],
            model_name=params.registry.model_name,
            alias=params.registry.champion_alias,
            decision=decision,
            lineage=Lineage(**training["lineage"]),
            tracking=_tracking(mlflow_tracking_uri, params),
        )
        name = registration.model_name
        for metric, value in decision.candidate.items():
            report.set_metric(
                m.MODEL_METRIC, value, model_name=name, model_version=str(registration.version), metric=metric
            )
        report.set_metric(m.MODEL_REGISTERED_VERSION, registration.version, model_name=name)
        if registration.champion_version is not None:
            report.set_metric(m.MODEL_CHAMPION_VERSION, registration.champion_version, model_name=name)
        result = {**asdict(registration), "run_id": training["run_id"], "metrics": decision.candidate}
        report.result = result
        return result


def drift_task(
    reference_in: Path,
    batch_in: Path,
    report_out: Path,
    result_out: Path,
    *,
    pipeline_run: str = "",
    mlflow_tracking_uri: str = "",
    pushgateway_url: str = "",
) -> dict[str, Any]:
    import pandas as pd

    from pipelines.steps.drift import detect_drift, log_drift_run

    with run_stage("drift", pushgateway_url) as report:
        params = flow_params()
        reference = pd.read_csv(reference_in)
        batch = pd.read_csv(batch_in)
        result = detect_drift(
            reference,
            batch,
            list(schema.FEATURE_NAMES),
            share_threshold=params.drift.share_threshold,
            max_rows=params.drift.max_rows,
            seed=params.drift.seed,
            report_path=report_out,
        )
        run_id = log_drift_run(result, report_out, pipeline_run, _tracking(mlflow_tracking_uri, params))
        # batch_path: the demo sends this very batch through the model server afterwards (serving/demo.py).
        summary = {**result.to_dict(), "mlflow_run_id": run_id, "batch_path": str(batch_in.resolve())}
        kept_dir = DRIFT_REPORT_DIR.get()
        if kept_dir:
            # Written here, before Register, so a full disk fails this stage and never follows a registry
            # change: the report is copied out of the kfp.local artifact tree to a name a browser opens,
            # the local run's (the name of its folder of stage summaries).
            name = Path(STAGE_SUMMARY_DIR.get() or pipeline_run or "drift-report").name
            kept = Path(kept_dir) / f"{name}.html"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(report_out, kept)
            summary["report_path"] = str(kept)
        result_out.parent.mkdir(parents=True, exist_ok=True)
        result_out.write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
        label = dataset_label(params)
        report.set_metric(
            m.DRIFT_DETECTED, 1.0 if result.drifted else 0.0, dataset=label, source=m.SOURCE_BATCH
        )
        report.set_metric(m.DRIFT_SHARE, result.share, dataset=label, source=m.SOURCE_BATCH)
        report.set_metric(
            m.DRIFT_SHARE_THRESHOLD, result.share_threshold, dataset=label, source=m.SOURCE_BATCH
        )
        report.set_metric(
            m.DRIFT_DRIFTED_FEATURES, result.drifted_count, dataset=label, source=m.SOURCE_BATCH
        )
        for feature, value in result.feature_scores.items():
            report.set_metric(
                m.DRIFT_FEATURE_SCORE, value, dataset=label, source=m.SOURCE_BATCH, feature=feature
            )
        report.result = summary
        return summary


def report_run_task(final_state: str, ended_at: float, *, pushgateway_url: str = "") -> bool:
    """The exit handler's work: the run-level outcome. Returns whether the run succeeded."""
    from pipelines import telemetry
    from pipelines.stage import PIPELINE_NAME, describe_error, metrics_target, write_stage_summary

    succeeded = final_state == "SUCCEEDED"
    batch = telemetry.run_outcome(PIPELINE_NAME, succeeded=succeeded, ended_at=ended_at)
    telemetry.publish(batch, metrics_target(os.environ, pushgateway_url))
    summary_dir = STAGE_SUMMARY_DIR.get()
    if summary_dir:
        try:
            write_stage_summary(
                Path(summary_dir), "run", {"state": final_state, "succeeded": succeeded, "ended_at": ended_at}
            )
        except OSError as exc:
            log.warning("the run's summary was not written: %s", describe_error(exc))
    print(f"[{PIPELINE_NAME}] run finished: {final_state}", flush=True)
    return succeeded


def freeze_heap_for_exit() -> None:
    """The last call of every KFP component, whose process exits as soon as KFP has written the outputs.

    Interpreter teardown runs the garbage collector over every object the libraries allocated: ~0.8 s per
    task after MLflow's SQL store, ~1.4 s after Evidently (measured; `make bench`). Frozen objects are out
    of the collector's reach, so the process exits in ~0.1 s; nothing else about the exit changes (atexit
    handlers and flushes still run, the exit code is the same). Never call it in a long-lived process:
    garbage frozen there is never collected.
    """
    gc.freeze()
