"""A local run creates (or upgrades) its MLflow schema explicitly, under the state lock, before any step."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pipelines.local_run import LocalRunError, StateLayout, migrate_local_store
from pipelines.tracking import TRACKING_URI_ENV


def _revision(db: Path) -> str:
    connection = sqlite3.connect(db)
    try:
        return str(connection.execute("SELECT version_num FROM alembic_version").fetchone()[0])
    finally:
        connection.close()


@pytest.mark.slow  # MLflow's full schema migration, twice
def test_first_run_creates_the_schema_and_the_second_changes_nothing(tmp_path: Path) -> None:
    os.environ.pop(TRACKING_URI_ENV, None)
    layout = StateLayout(tmp_path / "state")
    line = migrate_local_store(layout)
    assert line is not None and "migrated from an empty database" in line
    head = _revision(layout.mlflow_db)
    assert head in line
    assert migrate_local_store(layout) is None
    assert _revision(layout.mlflow_db) == head


def test_a_shared_tracking_server_is_left_to_its_own_migration_step(tmp_path: Path) -> None:
    os.environ[TRACKING_URI_ENV] = "http://mlflow.example:5000"
    layout = StateLayout(tmp_path / "state")
    assert migrate_local_store(layout) is None
    assert not layout.mlflow_db.exists()


def test_a_corrupted_store_is_named_before_anything_migrates_it(tmp_path: Path) -> None:
    os.environ.pop(TRACKING_URI_ENV, None)
    layout = StateLayout(tmp_path / "state")
    layout.mlflow_db.parent.mkdir(parents=True)
    layout.mlflow_db.write_bytes(b"not a database" * 100)
    with pytest.raises(LocalRunError, match=str(layout.mlflow_db)):
        migrate_local_store(layout)
