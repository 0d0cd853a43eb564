"""Faults during a local run leave the registry consistent, and each ends with a clear line, no traceback.

The kill tests run the real CLI (`run --local --in-process`) in a subprocess with a pause planted at the
fault point (tests/pipelines/fault_driver.py), SIGKILL its process group there, run again, and check the
recovery line and the registry. Every process started here is stopped, also when a test fails.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.params import REPO_ROOT, load_params
from tests.pipelines.conftest import write_params
from tests.support.processes import stop_group
from tests.support.tools import missing_tool

PARAMS = load_params()
MODEL = PARAMS.registry.model_name
RUN_TIMEOUT = 420


class Flow:
    """One driver process: its output read by a thread, so the test can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, marker: str, timeout: float = RUN_TIMEOUT) -> None:
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(
                    f"no {marker!r} after {timeout}s:\n{''.join(self.lines)[-4000:]}"
                ) from None
            if line is None:
                raise AssertionError(f"exited before {marker!r}:\n{''.join(self.lines)[-4000:]}")
            self.lines.append(line)
            if marker in line:
                return

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.fixture
def driver_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"MLFLOW_TRACKING_URI", "MLOPS_PUSHGATEWAY_URL", "MLOPS_STATE_DIR", "MLOPS_STAGE_SUMMARY_DIR"}
    }
    params = write_params(
        tmp_path / "params.yaml", mlflow={"retry_attempts": 2, "retry_backoff_seconds": 0.05}
    )
    env.update(
        {
            "MLOPS_PARAMS_FILE": str(params),
            "MLOPS_GIT_REV": "0123abcd",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@pytest.fixture
def flows(driver_env: dict[str, str]) -> Iterator[Any]:
    started: list[subprocess.Popen[str]] = []

    def start(fault: str, state: Path, *extra: str, **popen: Any) -> Flow:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.pipelines.fault_driver",
                fault,
                "--",
                "run",
                "--local",
                "--in-process",
                "--state",
                str(state),
                *extra,
            ],
            cwd=REPO_ROOT,
            env=driver_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            **popen,
        )
        started.append(process)
        return Flow(process)

    try:
        yield start
    finally:
        for process in started:
            stop_group(process)


def _finish(flow: Flow) -> tuple[int, str]:
    try:
        flow.process.wait(timeout=RUN_TIMEOUT)
    finally:
        stop_group(flow.process)
    while True:
        line = flow._queue.get(timeout=30)
        if line is None:
            break
        flow.lines.append(line)
    return flow.process.returncode, "".join(flow.lines)


def _client(state: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _versions(state: Path) -> dict[int, dict[str, str]]:
    return {int(v.version): dict(v.tags) for v in _client(state).search_model_versions(f"name='{MODEL}'")}


def _champion(state: Path) -> int | None:
    try:
        return int(_client(state).get_model_version_by_alias(MODEL, "champion").version)
    except Exception:
        return None


def _runs(state: Path) -> dict[str, str]:
    client = _client(state)
    experiment = client.get_experiment_by_name(PARAMS.registry.experiment)
    return {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id])}


def _assert_consistent(state: Path) -> None:
    """No RUNNING run, no pending version, and no version newer than the champion claiming `promote`."""
    assert "RUNNING" not in _runs(state).values()
    versions = _versions(state)
    assert all(tags["mlops.state"] in {"done", "abandoned"} for tags in versions.values()), versions
    champion = _champion(state) or 0
    orphans = [n for n, tags in versions.items() if tags["mlops.decision"] == "promote" and n > champion]
    assert not orphans, versions


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output, output[-4000:]


@pytest.mark.slow
def test_sigkill_during_train_leaves_a_running_run_that_the_next_run_marks_killed(
    flows, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    killed = flows("pause-train", state)
    # The fresh store's schema is created explicitly, under the lock, before any stage opens it.
    killed.wait_for("migrated from an empty database")
    killed.wait_for("FAULT-POINT pause-train")
    killed.kill()
    [left_running] = [run_id for run_id, status in _runs(state).items() if status == "RUNNING"]

    code, output = _finish(flows("none", state))
    assert code == 0, output[-4000:]
    assert "migrated from" not in output, "a current store is left alone"
    assert f"recovered: MLflow run {left_running} (" in output
    assert "was left RUNNING by an interrupted run; marked KILLED" in output
    assert _runs(state)[left_running] == "KILLED"
    assert _champion(state) == 1
    _assert_consistent(state)


@pytest.mark.slow
def test_sigkill_during_register_before_the_alias_moves_leaves_no_promoted_orphan(
    flows, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    killed = flows("pause-alias", state)
    killed.wait_for("FAULT-POINT pause-alias")
    killed.kill()
    # What the issue found: a version claiming promote, without the alias.
    assert _versions(state)[1]["mlops.decision"] == "promote"
    assert _versions(state)[1]["mlops.state"] == "pending"
    assert _champion(state) is None

    code, output = _finish(flows("none", state))
    assert code == 0, output[-4000:]
    assert (
        f"recovered: {MODEL} v1 was left pending by an interrupted run and never became 'champion'; "
        "marked abandoned"
    ) in output
    tags = _versions(state)[1]
    assert (tags["mlops.state"], tags["mlops.decision"]) == ("abandoned", "abandoned")
    assert _champion(state) == 2
    _assert_consistent(state)


@pytest.mark.slow
def test_sigkill_after_the_alias_moved_is_recovered_as_committed(flows, tmp_path: Path) -> None:
    state = tmp_path / "state"
    killed = flows("pause-done", state)
    killed.wait_for("FAULT-POINT pause-done")
    killed.kill()
    assert _champion(state) == 1
    assert _versions(state)[1]["mlops.state"] == "pending"

    code, output = _finish(flows("none", state))
    assert code == 0, output[-4000:]
    assert (
        f"recovered: {MODEL} v1 holds 'champion' but its run was interrupted after the alias moved" in output
    )
    assert _versions(state)[1]["mlops.state"] == "done"
    assert _champion(state) == 1  # the same data again does not beat it
    _assert_consistent(state)


@pytest.mark.slow
def test_a_second_run_on_a_busy_state_folder_is_refused_naming_the_holder(flows, tmp_path: Path) -> None:
    # Two first runs at once on a fresh folder: the second never reaches MLflow's schema creation.
    state = tmp_path / "state"
    holder = flows("pause-train", state)
    holder.wait_for("FAULT-POINT pause-train")
    code, output = _finish(flows("none", state))
    assert code == 1
    assert f"another training run (PID {holder.process.pid}, started " in output
    assert f"is using the state folder {state} (lock {state / 'run.lock'})" in output
    _no_traceback(output)
    holder.kill()


@pytest.mark.slow
def test_disk_full_while_writing_the_drift_report_fails_before_the_registry_changes(
    flows, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    code, output = _finish(flows("disk-full-drift", state))
    assert code == 1
    assert "Training flow FAILED: stage drift failed: No space left on device (" in output
    assert "drift-reports/" in output and "free some space on that disk and run again" in output
    _no_traceback(output)
    assert _versions(state) == {}  # Register, the last stage, never ran
    assert "RUNNING" not in _runs(state).values()


@pytest.mark.slow  # runs the local flow against a damaged MLflow store
def test_corrupted_mlflow_db_is_named_with_what_to_do(flows, tmp_path: Path) -> None:
    state = tmp_path / "state"
    db = state / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(b"\x00garbage" * 512)
    code, output = _finish(flows("none", state))
    assert code == 1
    assert f"the MLflow store {db} is not an SQLite database (corrupted?)" in output
    assert f"mv {db} {db}.broken" in output
    _no_traceback(output)


@pytest.mark.slow  # runs MLflow's store migration on a damaged file
def test_truncated_mlflow_db_is_named_too(tmp_path: Path) -> None:
    import sqlite3

    from pipelines.local_run import LocalRunError, check_mlflow_store

    db = tmp_path / "mlflow.db"
    connection = sqlite3.connect(db)
    connection.executescript(
        "create table t (x text); " + "insert into t values (hex(randomblob(900)));" * 200
    )
    connection.close()
    db.write_bytes(db.read_bytes()[: 3 * 4096])
    with pytest.raises(LocalRunError, match=rf"the MLflow store {db} is corrupted"):
        check_mlflow_store(db)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder nobody can create files in, and the error text expected. root ignores permission bits,
    so as root the folder is made immutable (`chattr +i`, what a read-only mount gives) instead."""
    folder = tmp_path / "state"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield folder, "Permission denied"
        folder.chmod(stat.S_IRWXU)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False).returncode != 0:
        missing_tool("chattr +i is not available to make a folder read-only for root")
    try:
        yield folder, "Operation not permitted"
    finally:
        subprocess.run([str(chattr), "-i", str(folder)], check=True)


@pytest.mark.slow  # runs the local flow
def test_read_only_state_folder_is_named(flows, read_only_folder: tuple[Path, str]) -> None:
    state, reason = read_only_folder
    code, output = _finish(flows("none", state))
    assert code == 1
    assert f"cannot write to the state folder {state}: {reason} ({state / 'run.lock'}): " in output
    assert "pass --state with a writable folder" in output
    _no_traceback(output)


def test_a_malformed_pushgateway_url_is_a_warning_and_the_stage_summary_is_still_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    from pipelines.stage import run_stage

    env = {"MLOPS_PUSHGATEWAY_URL": "http://127.0.0.1:notaport", "MLOPS_STAGE_SUMMARY_DIR": str(tmp_path)}
    with run_stage("ingest", env=env) as report:
        report.result = {"rows": 3}
    summary = json.loads((tmp_path / "ingest.json").read_text(encoding="utf-8"))
    assert (summary["succeeded"], summary["result"]) == (True, {"rows": 3})
    assert "could not push metrics to http://127.0.0.1:notaport" in caplog.text


def test_a_failure_without_stage_summaries_does_not_point_at_a_missing_folder(tmp_path: Path) -> None:
    from pipelines.local_run import LocalRunError, _checked_summaries

    missing = tmp_path / "runs" / "never-written"
    with pytest.raises(LocalRunError) as error:
        _checked_summaries(missing)
    assert str(error.value) == "the pipeline did not finish successfully and left no stage summaries"


def test_the_summary_names_only_what_exists(tmp_path: Path) -> None:
    from pipelines.local_run import StateLayout, summary_lines

    summaries: dict[str, dict[str, Any]] = {
        "train": {"result": {"run_id": "r1", "evaluation": {"source": "s", "md5": "m", "rows": 142}}},
        "register": {
            "result": {
                "model_name": MODEL,
                "version": 1,
                "champion_moved": True,
                "champion_version": 1,
                "reason": "why",
                "metrics": {"roc_auc": 0.99},
            }
        },
        "drift": {
            "result": {
                "drifted": False,
                "drifted_count": 0,
                "feature_scores": {},
                "share": 0.0,
                "share_threshold": 0.5,
                "report_path": str(tmp_path / "gone.html"),
            }
        },
    }
    text = "\n".join(summary_lines(summaries, StateLayout(tmp_path / "state")))
    assert "Drift report" not in text and "Metrics files" not in text
    assert "Evaluation set:  s (md5 m, 142 rows)" in text
    (tmp_path / "gone.html").write_text("<!doctype html>", encoding="utf-8")
    (tmp_path / "state" / "metrics").mkdir(parents=True)
    text = "\n".join(summary_lines(summaries, StateLayout(tmp_path / "state")))
    assert f"Drift report:    {tmp_path / 'gone.html'}" in text
    assert f"Metrics files:   {tmp_path / 'state' / 'metrics'}" in text


def test_bad_params_end_the_run_with_the_key_named_and_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines import cli

    bad = write_params(tmp_path / "params.yaml", guards={"max_duplicate_share": 2.0})
    monkeypatch.setenv("MLOPS_PARAMS_FILE", str(bad))
    assert cli.main(["run", "--local", "--in-process", "--state", str(tmp_path / "state")]) == 1
    err = capsys.readouterr().err
    assert "Training flow FAILED: params key 'guards.max_duplicate_share' is 2.0, expected a value in" in err
    assert not (tmp_path / "state" / "mlflow").exists()
