"""Running the pipeline on a laptop: kfp.local, MLflow on SQLite, a local DVC remote, all under `.state/`.

Layout of the state folder (git-ignored):
  mlflow/mlflow.db, mlflow/artifacts/   tracking store and model artifacts
  drift-reports/<run>.html             each run's Evidently report (also logged to MLflow)
  dvc-remote/                          the DVC remote the demo pushes to and Ingest reads from
  kfp/                                 kfp.local pipeline root (every task's output artifacts)
  metrics/                             Prometheus text files, one per stage and one for the run
  runs/<timestamp>/                    each stage's record of this run, for the summary
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from monitoring.metrics import STAGES
from pipelines import dataset
from pipelines.params import REPO_ROOT, load_params
from pipelines.stage import PIPELINE_NAME, RUN_RECORD_DIR_ENV
from pipelines.telemetry import METRICS_DIR_ENV
from pipelines.tracking import TRACKING_URI_ENV, local_tracking_env

DEFAULT_STATE_DIR = REPO_ROOT / ".state"
STATE_DIR_ENV = "MLOPS_STATE_DIR"
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


def state_layout(explicit: str | None = None) -> StateLayout:
    chosen = explicit or os.environ.get(STATE_DIR_ENV) or str(DEFAULT_STATE_DIR)
    return StateLayout(Path(chosen).resolve())


def prepare_data(repo_root: Path = REPO_ROOT) -> str:
    """Make the DVC-tracked dataset present and pushed to the local remote; return its md5.

    A fresh clone has neither the file nor a cache: regenerate it deterministically, check it against the
    committed `.dvc` hash, store it in the DVC cache and push it to the local remote (under the state
    folder, which `.dvc/config` names as the default remote).
    """
    from dvc.repo import Repo

    params = load_params()
    data_path = repo_root / params.data.path
    dvc_file = data_path.with_name(data_path.name + ".dvc")
    if not dvc_file.exists():
        raise LocalRunError(f"{dvc_file} is missing: the dataset is not tracked by DVC in {repo_root}")
    md5 = dataset.materialize_sample_dataset(data_path, dvc_file)
    repo = Repo(str(repo_root))
    try:
        repo.commit(str(dvc_file.relative_to(repo_root)), force=True)
        repo.push(remote=LOCAL_DVC_REMOTE)
    finally:
        repo.close()
    return md5


def _local_environment(layout: StateLayout, record_dir: Path) -> dict[str, str]:
    env = {
        METRICS_DIR_ENV: str(layout.metrics),
        RUN_RECORD_DIR_ENV: str(record_dir),
        # The tasks run `python -m kfp.dsl.executor_main` in subprocesses that must import `pipelines`.
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    if not os.environ.get(TRACKING_URI_ENV):
        env.update(local_tracking_env(layout.root))
    return env


def read_records(record_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(record_dir.glob("*.json"))
    }


class _TaskOutputFilter(io.TextIOBase):
    """Passes kfp.local's task headers and our stages' progress; drops the executors' JSON dumps.

    kfp.local prints each task's streamed log indented by four spaces; most of it is the executor input
    and output as pretty-printed JSON. A newcomer needs the stages, their outcomes and any error.
    """

    KEEP = (f"[{PIPELINE_NAME}]", "Traceback", "Error", "error:", "WARNING", "Warning")

    def __init__(self, target: TextIO) -> None:
        self._target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if not line.startswith("    ") or any(marker in line for marker in self.KEEP):
                self._target.write(line.strip() + "\n" if line.startswith("    ") else line + "\n")
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
    data_csv: Path | None, drifted: bool, layout: StateLayout, *, verbose: bool = False
) -> dict[str, dict[str, Any]]:
    """Run the pipeline through kfp.local; return each stage's record. Raises LocalRunError on failure."""
    import kfp.local

    from pipelines.pipeline import build_pipeline

    if data_csv is not None and drifted:
        raise LocalRunError("--data and --drifted exclude each other: --drifted simulates a drifted batch")
    if data_csv is not None and not data_csv.is_file():
        raise LocalRunError(f"--data {data_csv}: no such file")
    prepare_data()
    record_dir = layout.runs / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    if record_dir.exists():
        shutil.rmtree(record_dir)
    layout.kfp_root.mkdir(parents=True, exist_ok=True)
    os.environ.update(_local_environment(layout, record_dir))

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
            data_csv=str(data_csv.resolve()) if data_csv else "",
            drifted=drifted,
            dvc_repo=str(REPO_ROOT),
            dvc_remote=LOCAL_DVC_REMOTE,
        )
    records = read_records(record_dir)
    failed = [records[s] for s in STAGES if s in records and not records[s]["succeeded"]]
    if failed:
        first = failed[0]
        raise LocalRunError(f"stage {first['stage']} failed: {first['error']}")
    if not records.get("run", {}).get("succeeded"):
        raise LocalRunError(f"the pipeline did not finish successfully; stage records are in {record_dir}")
    _keep_drift_report(records, layout.drift_reports / f"{record_dir.name}.html")
    return records


def _keep_drift_report(records: dict[str, dict[str, Any]], target: Path) -> None:
    """Copy the report out of the kfp.local artifact tree to a stable name a browser opens as HTML."""
    drift = records["drift"]["result"]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(drift["report_path"], target)
    drift["report_path"] = str(target)


def summary_lines(records: dict[str, dict[str, Any]], layout: StateLayout) -> list[str]:
    """The end-of-run summary a user reads: what was trained, whether it became champion, drift."""
    train = records["train"]["result"]
    register = records["register"]["result"]
    drift = records["drift"]["result"]
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
    tracking_uri = os.environ.get(TRACKING_URI_ENV, "")
    ui = f"{Path(sys.executable).parent / 'mlflow'} ui --backend-store-uri {tracking_uri} --port 5000"
    return [
        "",
        "Training flow finished",
        f"  MLflow run:      {train['run_id']}",
        f"  Model:           {register['model_name']} version {register['version']}",
        f"  Champion:        {champion}",
        f"  Metrics:         {metrics}",
        f"  Drift:           {drift_line}",
        f"  Drift report:    {drift['report_path']}",
        f"  Metrics files:   {layout.metrics}",
        f"  MLflow UI:       {ui}",
    ]
