"""Running the pipeline on a laptop: kfp.local, MLflow on SQLite, a local DVC remote, all under `.state/`.

Layout of the state folder (git-ignored):
  mlflow/mlflow.db, mlflow/artifacts/   tracking store and model artifacts
  drift-reports/<run>.html             each run's Evidently report (also logged to MLflow)
  dvc-remote/                          the DVC remote the demo pushes to and Ingest reads from
  kfp/                                 kfp.local pipeline root (every task's output artifacts)
  metrics/                             Prometheus text files, one per stage and one for the run
  runs/<timestamp>/                    each stage's summary of this run, for the CLI's summary
  run.lock                             held by the run in progress (its PID and start time inside)

One run at a time per state folder: a second run is refused with the holder's PID (the lock is an
`flock`, released by the kernel when its holder dies, so a killed run never leaves a stale lock). Under the
lock, before anything else, the MLflow store is checked (a corrupted `mlflow.db` is named) and what an
interrupted earlier run left behind is recovered (pipelines/recovery.py), with one line per repair; the
store's schema is only ever created by the lock holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import sqlite3
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from monitoring.metrics import STAGES
from pipelines import dataset
from pipelines.env import DRIFT_REPORT_DIR, METRICS_DIR, STAGE_SUMMARY_DIR, STATE_DIR
from pipelines.params import REPO_ROOT, FlowParams, load_params
from pipelines.stage import PIPELINE_NAME, describe_error, progress
from pipelines.tasks import flow_params
from pipelines.tracking import TRACKING_URI_ENV, local_tracking_env, resolve_tracking

DEFAULT_STATE_DIR = REPO_ROOT / ".state"
LOCAL_DVC_REMOTE = "local"


class LocalRunError(RuntimeError):
    """The local run could not start, or a stage failed (the message says which and why)."""


@dataclass(frozen=True)
class StateLayout:
    root: Path

    @property
    def kfp_root(self) -> Path:
        return self.root / "kfp"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def drift_reports(self) -> Path:
        return self.root / "drift-reports"

    @property
    def lock_file(self) -> Path:
        return self.root / "run.lock"

    @property
    def mlflow_db(self) -> Path:
        return self.root / "mlflow" / "mlflow.db"


def state_layout(explicit: str | None = None) -> StateLayout:
    chosen = explicit or str(STATE_DIR.get() or DEFAULT_STATE_DIR)
    return StateLayout(Path(chosen).resolve())


def prepare_data(repo_root: Path = REPO_ROOT) -> str:
    """Make the DVC-tracked dataset and evaluation set present and pushed to the local remote; return the
    dataset's md5.

    A fresh clone has neither the files nor a cache: regenerate them deterministically, check them against
    the committed `.dvc` hashes, store them in the DVC cache and push them to the local remote (under the
    state folder, which `.dvc/config` names as the default remote).
    """
    from dvc.repo import Repo

    params = load_params()
    generators = {
        params.data.path: dataset.sample_dataset_bytes,
        params.data.evaluation_path: dataset.evaluation_dataset_bytes,
    }
    md5s: list[str] = []
    tracked: list[str] = []
    for relative, generate in generators.items():
        data_path = repo_root / relative
        dvc_file = data_path.with_name(data_path.name + ".dvc")
        if not dvc_file.exists():
            raise LocalRunError(f"{dvc_file} is missing: {relative} is not tracked by DVC in {repo_root}")
        md5s.append(dataset.materialize_sample_dataset(data_path, dvc_file, generate))
        tracked.append(str(dvc_file.relative_to(repo_root)))
    repo = Repo(str(repo_root))
    try:
        for target in tracked:
            repo.commit(target, force=True)
        repo.push(remote=LOCAL_DVC_REMOTE)
    finally:
        repo.close()
    return md5s[0]


@contextlib.contextmanager
def state_lock(layout: StateLayout) -> Iterator[None]:
    """Hold the state folder for one run; refuse clearly if another run holds it or it is not writable."""
    try:
        layout.root.mkdir(parents=True, exist_ok=True)
        # Not inherited by the task subprocesses (Python's default), so the lock dies with this process.
        fd = os.open(layout.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LocalRunError(
            f"cannot write to the state folder {layout.root}: {describe_error(exc)}; "
            "pass --state with a writable folder"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "a process"
            raise LocalRunError(
                f"another training run ({holder}) is using the state folder {layout.root} "
                f"(lock {layout.lock_file}): wait for it to finish, or pass --state with another folder"
            ) from None
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"PID {os.getpid()}, started {started}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


SQLITE_HEADER = b"SQLite format 3\x00"


def check_mlflow_store(db: Path) -> None:
    """A corrupted or foreign `mlflow.db` named before MLflow fails on it somewhere deep."""
    if not db.exists():
        return
    restore = (
        f"restore it from a backup, or move it aside to start an empty registry (mv {db} {db}.broken); "
        "the model artifacts next to it are kept"
    )
    try:
        with db.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise LocalRunError(f"cannot read the MLflow store {db}: {describe_error(exc)}") from exc
    if header != SQLITE_HEADER:
        raise LocalRunError(f"the MLflow store {db} is not an SQLite database (corrupted?): {restore}")
    try:
        connection = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise LocalRunError(f"the MLflow store {db} is corrupted ({exc}): {restore}") from exc
    if verdict != "ok":
        raise LocalRunError(f"the MLflow store {db} is corrupted ({verdict}): {restore}")


def migrate_local_store(layout: StateLayout) -> str | None:
    """Create or upgrade the state folder's own MLflow schema, explicitly and under the state lock, before
    any step opens it (MLflow would otherwise migrate on open, from each task at once). Returns the line
    saying what changed, or None. A shared tracking server has its own migration step (docs/registry.md).
    """
    if os.environ.get(TRACKING_URI_ENV):
        return None
    check_mlflow_store(layout.mlflow_db)
    # The CLI side only: the steps image carries pipelines/ and monitoring/, never components/.
    from components.mlflow_migration import MigrationError, migrate_store

    try:
        state = migrate_store(local_tracking_env(layout.root)[TRACKING_URI_ENV])
    except MigrationError as exc:
        raise LocalRunError(str(exc)) from exc
    return state.describe() if state.changed else None


def recover_local_store(layout: StateLayout, params: FlowParams) -> list[str]:
    """Repair what an interrupted run left in the state folder's own store (never a shared server)."""
    from pipelines import recovery

    check_mlflow_store(layout.mlflow_db)
    if os.environ.get(TRACKING_URI_ENV) or not layout.mlflow_db.exists():
        return []
    env = local_tracking_env(layout.root)
    tracking = resolve_tracking("", params.registry.experiment, params.mlflow, env)
    try:
        return recovery.recover(tracking, params.registry.model_name, params.registry.champion_alias)
    except Exception as exc:
        raise LocalRunError(
            f"could not check the MLflow store {layout.mlflow_db} for an interrupted run: "
            f"{describe_error(exc)}"
        ) from exc


def _local_environment(layout: StateLayout, summary_dir: Path) -> dict[str, str]:
    env = {
        METRICS_DIR.name: str(layout.metrics),
        STAGE_SUMMARY_DIR.name: str(summary_dir),
        DRIFT_REPORT_DIR.name: str(layout.drift_reports),
        # The tasks run `python -m kfp.dsl.executor_main` in subprocesses that must import `pipelines`.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    if not os.environ.get(TRACKING_URI_ENV):
        env.update(local_tracking_env(layout.root))
    return env


def read_stage_summaries(summary_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(summary_dir.glob("*.json"))
    }


class _TaskOutputFilter(io.TextIOBase):
    """Passes kfp.local's task headers and our stages' progress; drops the executors' JSON dumps.

    kfp.local prints each task's streamed log indented by four spaces; most of it is the executor input
    and output as pretty-printed JSON. A newcomer needs the stages, their outcomes and any error. Once a
    stage has printed its own FAILED line, the task's traceback of that same error is dropped (an expected
    fault ends with one clear line; `--verbose` shows everything); an error no stage reported still shows.
    """

    KEEP = (f"[{PIPELINE_NAME}]", "Traceback", "Error", "error:", "WARNING", "Warning")
    REPORTED_FAILURE = ": FAILED after "

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._pending = ""
        self._failure_reported = False

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            task_log = line.startswith("    ")
            ours = f"[{PIPELINE_NAME}]" in line
            if not task_log:
                self._failure_reported = False  # kfp.local's own line: the task's log has ended
            elif ours and self.REPORTED_FAILURE in line:
                self._failure_reported = True
            elif self._failure_reported and not ours:
                continue
            if not task_log or any(marker in line for marker in self.KEEP):
                self._target.write(line.strip() + "\n" if task_log else line + "\n")
        return len(text)

    def flush(self) -> None:
        self._target.flush()


@contextlib.contextmanager
def _quiet_task_output(verbose: bool) -> Iterator[None]:
    if verbose:
        yield
        return
    with contextlib.redirect_stdout(_TaskOutputFilter(sys.stdout)):
        yield


def run_local(
    data_csv: Path | None,
    drifted: bool,
    layout: StateLayout,
    *,
    verbose: bool = False,
    in_process: bool = False,
    capture_uri: str = "",
) -> dict[str, dict[str, Any]]:
    """Run the pipeline on the state folder, holding its lock; return each stage's summary.

    Through kfp.local (one subprocess per task), or with `in_process` through pipelines/sequential.py (the
    same tasks in this process: seconds instead of a minute). Raises LocalRunError on failure.
    """
    if data_csv is not None and drifted:
        raise LocalRunError("--data and --drifted exclude each other: --drifted simulates a drifted batch")
    if data_csv is not None and capture_uri:
        raise LocalRunError("--data and --capture-uri exclude each other: the capture is the newest batch")
    if data_csv is not None and not data_csv.is_file():
        raise LocalRunError(f"--data {data_csv}: no such file")
    with state_lock(layout):
        # Bad params end the run before anything is written to the store.
        params = flow_params()
        migrated = migrate_local_store(layout)
        if migrated:
            progress(migrated)
        for line in recover_local_store(layout, params):
            progress(line)
        prepare_data()
        summary_dir = layout.runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        if summary_dir.exists():
            shutil.rmtree(summary_dir)
        os.environ.update(_local_environment(layout, summary_dir))
        data = str(data_csv.resolve()) if data_csv else ""
        if in_process:
            _run_in_process(layout.root / "work" / summary_dir.name, summary_dir, data, drifted, capture_uri)
        else:
            _run_kfp_local(layout, data, drifted, verbose, capture_uri)
        return _checked_summaries(summary_dir)


def _run_in_process(workdir: Path, summary_dir: Path, data_csv: str, drifted: bool, capture_uri: str) -> None:
    from pipelines.sequential import run_in_process

    try:
        run_in_process(
            workdir, data_csv=data_csv, drifted=drifted, pipeline_run=workdir.name, capture_uri=capture_uri
        )
    except Exception as exc:
        # The failed stage's summary says what happened; an error outside every stage has none.
        if not any(summary_dir.glob("*.json")):
            raise LocalRunError(describe_error(exc)) from exc


def _run_kfp_local(
    layout: StateLayout, data_csv: str, drifted: bool, verbose: bool, capture_uri: str
) -> None:
    import kfp.local

    from pipelines.pipeline import build_pipeline

    layout.kfp_root.mkdir(parents=True, exist_ok=True)
    kfp.local.init(
        runner=kfp.local.SubprocessRunner(use_venv=False),
        pipeline_root=str(layout.kfp_root),
        raise_on_error=False,
    )
    pipeline = build_pipeline()
    with warnings.catch_warnings(), _quiet_task_output(verbose):
        # Display names and caching options matter on a cluster; kfp.local warns that it ignores them.
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")
        # It warns once per task that the steps image is not a Python image; that image is this project and
        # its pinned requirements, i.e. what this venv holds, so running its code here is the intent.
        warnings.filterwarnings("ignore", ".*custom or non-Python base image.*", RuntimeWarning)
        pipeline(
            data_csv=data_csv,
            drifted=drifted,
            dvc_repo=str(REPO_ROOT),
            dvc_remote=LOCAL_DVC_REMOTE,
            capture_uri=capture_uri,
        )


def _checked_summaries(summary_dir: Path) -> dict[str, dict[str, Any]]:
    summaries = read_stage_summaries(summary_dir) if summary_dir.is_dir() else {}
    failed = [summaries[s] for s in STAGES if s in summaries and not summaries[s]["succeeded"]]
    if failed:
        first = failed[0]
        raise LocalRunError(f"stage {first['stage']} failed: {first['error']}")
    missing = [s for s in STAGES if s not in summaries]
    if missing or not summaries.get("run", {}).get("succeeded"):
        where = f"; the stage summaries are in {summary_dir}" if summaries else " and left no stage summaries"
        raise LocalRunError(f"the pipeline did not finish successfully{where}")
    return summaries


def summary_lines(summaries: dict[str, dict[str, Any]], layout: StateLayout) -> list[str]:
    """The end-of-run summary a user reads: what was trained, whether it became champion, drift.

    It names only files and folders that exist."""
    train = summaries["train"]["result"]
    register = summaries["register"]["result"]
    drift = summaries["drift"]["result"]
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in sorted(register["metrics"].items()))
    if register["champion_moved"]:
        champion = f"champion moved to v{register['version']} ({register['reason']})"
    else:
        current = register["champion_version"]
        where = f"stays at v{current}" if current is not None else "not set"
        champion = f"champion {where} ({register['reason']})"
    verdict = "DRIFT DETECTED" if drift["drifted"] else "no drift"
    drift_line = (
        f"{verdict}: {drift['drifted_count']}/{len(drift['feature_scores'])} features drifted "
        f"(share {drift['share']:.2f}, threshold {drift['share_threshold']:.2f})"
    )
    evaluation = train.get("evaluation", {})
    tracking_uri = os.environ.get(TRACKING_URI_ENV, "")
    ui = f"{Path(sys.executable).parent / 'mlflow'} ui --backend-store-uri {tracking_uri} --port 5000"
    lines = [
        "",
        "Training flow finished",
        f"  MLflow run:      {train['run_id']}",
        f"  Model:           {register['model_name']} version {register['version']}",
        f"  Champion:        {champion}",
        f"  Metrics:         {metrics}",
        f"  Evaluation set:  {evaluation.get('source', '?')} (md5 {evaluation.get('md5', '?')}, "
        f"{evaluation.get('rows', '?')} rows)",
        f"  Drift:           {drift_line}",
    ]
    if Path(drift["report_path"]).is_file():
        lines.append(f"  Drift report:    {drift['report_path']}")
    if layout.metrics.is_dir():
        lines.append(f"  Metrics files:   {layout.metrics}")
    lines.append(f"  MLflow UI:       {ui}")
    return lines
