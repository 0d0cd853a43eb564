"""Where a retraining run starts, and which runs the relay already started there.

Two launchers behind one interface:
- `KfpLauncher`: the Kubeflow Pipelines API in the cluster (`ml-pipeline:8888`). It starts a run of the
  newest version of the training pipeline in the retraining experiment, with the trigger (alert
  fingerprints, labels, time) as the run's `trigger` parameter and `capture_uri` pointing Ingest at the
  captured traffic. Its history is read back from the same API, so the guardrails survive a restart.
- `LocalLauncher`: the laptop's kfp.local flow (`python -m pipelines run --local`), one process group per
  run; each run's state (trigger, status, output) is a JSON file in the state folder, read back the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from relay.guardrails import StartedRun, Trigger

log = logging.getLogger(__name__)

RUN_NAME_PREFIX: Final = "retrain-"
TRIGGER_PARAMETER: Final = "trigger"
CAPTURE_PARAMETER: Final = "capture_uri"
DEFAULT_EXPERIMENT: Final = "mlops-retraining"
# How far back the history is read: well past the daily window, so a long-firing alert episode that
# already started a run is still recognised as a duplicate.
HISTORY_DAYS: Final = 30


class LaunchError(RuntimeError):
    """The launcher could not start the run (the message says where and why)."""


class Launcher(Protocol):
    def start(self, trigger: Trigger) -> StartedRun:
        """Start one run recording `trigger`; raise LaunchError if it cannot."""
        ...

    def history(self, since: float) -> list[StartedRun]:
        """Runs this relay started at or after `since` (Unix time), newest first."""
        ...


def run_name(trigger: Trigger) -> str:
    stamp = dt.datetime.fromtimestamp(trigger.decided_at, dt.UTC).strftime("%Y%m%d-%H%M%S")
    fingerprint = trigger.alerts[0].fingerprint[:8] if trigger.alerts else "manual"
    return f"{RUN_NAME_PREFIX}{stamp}-{fingerprint}"


# --- Kubeflow Pipelines ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KfpTarget:
    host: str
    """KFP API endpoint, e.g. http://ml-pipeline.kubeflow.svc:8888."""
    pipeline_name: str
    """The uploaded training pipeline; its newest version is run."""
    experiment: str = DEFAULT_EXPERIMENT
    """KFP experiment holding the runs the relay starts (and only those)."""
    capture_uri: str = ""
    """Where the model server captures traffic (Ingest joins its labelled rows); empty: not used."""


def _timestamp(value: Any) -> float:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.timestamp()
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class KfpLauncher:
    def __init__(self, target: KfpTarget, client_factory: Callable[[str], Any] | None = None) -> None:
        self._target = target
        self._client_factory = client_factory or _kfp_client

    def start(self, trigger: Trigger) -> StartedRun:
        t = self._target
        try:
            client = self._client_factory(t.host)
            pipeline_id = client.get_pipeline_id(t.pipeline_name)
            if pipeline_id is None:
                raise LaunchError(
                    f"no pipeline named {t.pipeline_name!r} at {t.host}: upload one first "
                    "(the training schedule's reconcile Job does, or `python -m pipelines upload`)"
                )
            versions = client.list_pipeline_versions(pipeline_id, page_size=1, sort_by="created_at desc")
            if not versions.pipeline_versions:
                raise LaunchError(f"pipeline {t.pipeline_name!r} at {t.host} has no version")
            version = versions.pipeline_versions[0]
            experiment = client.create_experiment(t.experiment)
            name = run_name(trigger)
            run = client.run_pipeline(
                experiment_id=experiment.experiment_id,
                job_name=name,
                params={TRIGGER_PARAMETER: trigger.to_json(), CAPTURE_PARAMETER: t.capture_uri},
                pipeline_id=pipeline_id,
                version_id=version.pipeline_version_id,
                enable_caching=False,
            )
        except LaunchError:
            raise
        except Exception as exc:
            raise LaunchError(f"Kubeflow Pipelines at {t.host} refused the run: {exc}") from exc
        started = _timestamp(run.created_at) if run.created_at else trigger.decided_at
        log.info(
            "started KFP run %s (%s) of %s version %s",
            run.run_id,
            name,
            t.pipeline_name,
            version.display_name,
        )
        return StartedRun(run.run_id, name, started, trigger)

    def history(self, since: float) -> list[StartedRun]:
        t = self._target
        client = self._client_factory(t.host)
        try:
            experiment = client.get_experiment(experiment_name=t.experiment)
        except ValueError:
            return []  # no experiment yet: the relay never started a run here
        runs: list[StartedRun] = []
        token = ""
        while True:
            page = client.list_runs(
                page_token=token,
                page_size=50,
                sort_by="created_at desc",
                experiment_id=experiment.experiment_id,
            )
            for run in page.runs or []:
                created = _timestamp(run.created_at)
                if created < since:
                    return runs
                parameters = (run.runtime_config.parameters or {}) if run.runtime_config else {}
                text = parameters.get(TRIGGER_PARAMETER)
                if not text:
                    continue  # started by hand in this experiment: not the relay's
                runs.append(StartedRun(run.run_id, run.display_name, created, Trigger.from_json(text)))
            token = page.next_page_token or ""
            if not token:
                return runs


def _kfp_client(host: str) -> Any:
    # kfp takes a second to import; the local launcher and the tests never need it.
    import kfp  # noqa: PLC0415

    return kfp.Client(host=host)


# --- the laptop ------------------------------------------------------------------------------------------


@dataclass
class LocalRun:
    """A local run the relay started, as its file holds it: written when it starts, rewritten when it ends."""

    run_id: str
    name: str
    started_at: float
    trigger: str
    pid: int
    """The run's process, also its process group id."""
    status: str = "running"
    finished_at: float | None = None
    exit_code: int | None = None
    output_tail: list[str] = field(default_factory=list)


def read_local_run(path: Path) -> LocalRun:
    return LocalRun(**json.loads(path.read_text(encoding="utf-8")))


def _write_local_run(path: Path, run: LocalRun) -> None:
    # Whole or not at all: a reader never sees half a file.
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(asdict(run), indent=2), encoding="utf-8")
    temporary.replace(path)


def finish_local_run(path: Path, exit_code: int, output: list[str]) -> LocalRun:
    run = read_local_run(path)
    run.status = "succeeded" if exit_code == 0 else "failed"
    run.exit_code = exit_code
    run.finished_at = time.time()
    run.output_tail = output[-40:]
    _write_local_run(path, run)
    return run


@dataclass(frozen=True)
class LocalTarget:
    state_dir: Path
    """The training flow's state folder (MLflow, DVC remote, metrics); the relay's runs live beneath it."""
    capture_uri: str = ""
    """The capture folder Ingest joins labelled traffic from; empty: not used."""
    python: str = sys.executable
    extra_env: Mapping[str, str] = field(default_factory=dict)
    """Environment for the run (e.g. MLOPS_PUSHGATEWAY_URL so its metrics reach the local Prometheus)."""


class LocalLauncher:
    """Runs `python -m pipelines run --local` in its own process group, one JSON file per run.

    A run outlives a restart of the relay, as a KFP run does in the cluster: the relay never stops it;
    whoever started the relay stops what is still running (`stop_running`, from those files)."""

    def __init__(self, target: LocalTarget) -> None:
        self._target = target
        self._runs_dir = target.state_dir / "relay-runs"

    @property
    def runs_dir(self) -> Path:
        return self._runs_dir

    def read(self, run_id: str) -> LocalRun:
        return read_local_run(self._runs_dir / f"{run_id}.json")

    def start(self, trigger: Trigger) -> StartedRun:
        t = self._target
        run_id = uuid.uuid4().hex
        name = run_name(trigger)
        command = [t.python, "-m", "pipelines", "run", "--local", "--state", str(t.state_dir)]
        if t.capture_uri:
            command += ["--capture-uri", t.capture_uri]
        self._runs_dir.mkdir(parents=True, exist_ok=True)
        path = self._runs_dir / f"{run_id}.json"
        # The file exists before the run does, so a history read at any moment sees it.
        run = LocalRun(run_id, name, time.time(), trigger.to_json(), pid=0)
        _write_local_run(path, run)
        supervisor = [
            sys.executable,
            "-m",
            "relay.local_run",
            str(path),
            str(path.with_suffix(".log")),
            "--",
            *command,
        ]
        try:
            process = subprocess.Popen(
                supervisor,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env={**os.environ, **t.extra_env},
                start_new_session=True,
            )
        except OSError as exc:
            path.unlink(missing_ok=True)
            raise LaunchError(f"could not start {' '.join(command)}: {exc}") from exc
        run.pid = process.pid
        _write_local_run(path, run)
        # Reap the supervisor when it ends (it writes the outcome itself), so no zombie is left behind.
        threading.Thread(target=process.wait, daemon=True).start()
        return StartedRun(run_id, name, run.started_at, trigger)

    def history(self, since: float) -> list[StartedRun]:
        runs = []
        for path in self._runs_dir.glob("*.json") if self._runs_dir.is_dir() else []:
            run = read_local_run(path)
            if run.started_at >= since:
                runs.append(StartedRun(run.run_id, run.name, run.started_at, Trigger.from_json(run.trigger)))
        return sorted(runs, key=lambda r: r.started_at, reverse=True)

    def wait(self, run_id: str, timeout: float) -> LocalRun:
        """Until the run's file says it ended; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.read(run_id)
            if run.status != "running":
                return run
            time.sleep(0.5)
        raise TimeoutError(f"local run {run_id} still running after {timeout:.0f} s")


def stop_running(runs_dir: Path, timeout: float = 15) -> list[str]:
    """Stop every local run whose file says it still runs (its whole process group); returns their ids."""
    stopped = []
    for path in sorted(runs_dir.glob("*.json")) if runs_dir.is_dir() else []:
        run = read_local_run(path)
        if run.status != "running" or run.pid <= 0:
            continue
        try:
            os.killpg(run.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(run.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
        stopped.append(run.run_id)
        if read_local_run(path).status == "running":
            run.status, run.finished_at = "stopped", time.time()
            _write_local_run(path, run)
    return stopped
