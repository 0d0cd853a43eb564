"""Rehearse an MLflow upgrade for real: a PostgreSQL store written by the previous minor release, migrated
by our step (the command the mlflow-db-upgrade Job runs), read back by MLflow 3.17.2 and by its server.

Also pins down the upstream behaviour the step exists for: MLflow 3.17.2's tracking store, opened on a
3.16 store, migrates it by itself (3.17 adds tables, and a missing table makes the store run every
migration), so each server worker would do that at once on an upgrade without our step.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.mlflow_migration import BACKEND_URI_ENV, tracking_head
from tests.support import registry_store
from tests.support.migration import migration_step
from tests.support.mlflow_previous import MLFLOW_PREVIOUS_VERSION, previous_mlflow_python
from tests.support.postgres import PostgresServer, postgres_server, run
from tests.support.processes import free_port, stop_group, wait_for
from tests.support.tools import REPO_ROOT
from versions import MLFLOW_VERSION

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VENV_BIN = REPO_ROOT / ".venv" / "bin"
STORE_SCRIPT = Path(registry_store.__file__)


@pytest.fixture(scope="module")
def previous_python() -> Path:
    return previous_mlflow_python()


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PYTHON"))}
    return {**env, "HOME": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


def write_with_previous(python: Path, uri: str, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "written.json"
    result = subprocess.run(
        [str(python), str(STORE_SCRIPT), "write", uri, str(out)],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(tmp_path),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    written: dict[str, Any] = json.loads(out.read_text())
    return written


def previous_version(python: Path) -> str:
    result = run([str(python), "-c", "import mlflow; print(mlflow.__version__)"])
    return result.stdout.strip()


def migration(command: str, uri: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The Job's command, on this store."""
    return migration_step(command, clean_env(tmp_path, **{BACKEND_URI_ENV: uri}), tmp_path)


def revision(uri: str) -> str | None:
    from components.mlflow_migration import _engine, _revision

    engine = _engine(uri, "store")
    try:
        return _revision(engine)
    finally:
        engine.dispose()


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(data, sort_keys=True))
    return result


def dump(pg: PostgresServer, database: str) -> str:
    """The whole database as SQL, minus the random key PostgreSQL 15.14+ puts in `\\restrict` lines."""
    text = run([*pg.tool("pg_dump"), "--no-owner", database]).stdout
    return "\n".join(
        line for line in text.splitlines() if not line.startswith(("\\restrict", "\\unrestrict"))
    )


def test_store_written_by_the_previous_minor_survives_our_migration(
    pg: PostgresServer, previous_python: Path, tmp_path: Path
) -> None:
    assert previous_version(previous_python) == MLFLOW_PREVIOUS_VERSION
    assert MLFLOW_PREVIOUS_VERSION.split(".")[:2] != MLFLOW_VERSION.split(".")[:2]
    uri = pg.createdb("mlflow")
    written = write_with_previous(previous_python, uri, tmp_path)
    assert len(written["runs"]) == 3 and set(written["model"]["versions"]) == {"1", "2"}
    assert written["model"]["aliases"] == {"champion": "2", "previous-champion": "1"}
    old, head = revision(uri), tracking_head()
    assert old is not None and old != head

    refused = migration("check", uri, tmp_path)
    assert refused.returncode == 1
    assert f"is at revision {old}; MLflow {MLFLOW_VERSION} expects {head}" in refused.stderr
    assert revision(uri) == old  # checking changes nothing

    first = migration("upgrade", uri, tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"migrated from revision {old} to {head}" in first.stdout
    assert revision(uri) == head
    assert as_json(registry_store.snapshot(uri)) == written

    before_second = dump(pg, "mlflow")
    second = migration("upgrade", uri, tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"already at revision {head}, nothing to do" in second.stdout
    assert dump(pg, "mlflow") == before_second
    assert migration("check", uri, tmp_path).returncode == 0

    check_through_server(uri, written, tmp_path)


def check_through_server(uri: str, written: dict[str, Any], tmp_path: Path) -> None:
    """A real MLflow 3.17.2 server on the migrated store serves the same runs, versions and aliases."""
    port = free_port()
    log = tmp_path / "server.log"
    command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", "1", "--backend-store-uri", uri, "--default-artifact-root", str(tmp_path / "a")]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=clean_env(tmp_path),
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", process, log)
        assert as_json(registry_store.snapshot(f"http://127.0.0.1:{port}")) == written
    finally:
        stop_group(process)


def test_mlflow_itself_would_migrate_an_old_store_on_open(
    pg: PostgresServer, previous_python: Path, tmp_path: Path
) -> None:
    """Why server pods `check` instead of starting: opening the store is enough for MLflow to migrate it."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    uri = pg.createdb("unmigrated")
    write_with_previous(previous_python, uri, tmp_path)
    old = revision(uri)
    store = SqlAlchemyStore(uri, str(tmp_path / "artifacts"))
    try:
        assert old != tracking_head()
        assert revision(uri) == tracking_head()
    finally:
        store.engine.dispose()
