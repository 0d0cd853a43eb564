"""The migration step on SQLite with our MLflow: create, no-op, check, auth store, and its error messages.

The upgrade from the previous minor release on PostgreSQL is rehearsed in
test_mlflow_upgrade_integration.py; these run in seconds and need no services.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from components.mlflow_migration import (
    AUTH_CONFIG_ENV,
    BACKEND_URI_ENV,
    MigrationError,
    auth_head,
    check_store,
    main,
    migrate_auth_store,
    migrate_store,
    redact,
    tracking_head,
)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store created from empty by the step, copied by the tests that change it."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    state = migrate_store(f"sqlite:///{path}")
    assert state.before is None and state.after == tracking_head() and state.changed
    assert state.describe().endswith(f"migrated from an empty database to {tracking_head()}")
    return path


@pytest.mark.slow  # MLflow's full schema migration (module fixture)
def test_a_current_store_is_left_untouched(migrated: Path, tmp_path: Path) -> None:
    copy = tmp_path / "mlflow.db"
    shutil.copy(migrated, copy)
    before = copy.read_bytes()
    state = migrate_store(f"sqlite:///{copy}")
    assert not state.changed and "nothing to do" in state.describe()
    assert copy.read_bytes() == before
    assert check_store(f"sqlite:///{copy}").after == tracking_head()


@pytest.mark.slow  # MLflow's schema check on a real SQLite file (imports MLflow, 3 s)
def test_check_refuses_an_empty_store_and_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match=r"is empty; MLflow .* expects .*mlflow_migration.py upgrade"):
        check_store(f"sqlite:///{tmp_path / 'new.db'}")


def test_a_corrupted_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "mlflow.db"
    broken.write_bytes(b"not a database" * 100)
    with pytest.raises(MigrationError, match=f"{broken}.*file is not a database"):
        migrate_store(f"sqlite:///{broken}")


def test_messages_never_show_the_database_password() -> None:
    shown = redact("postgresql+psycopg2://mlflow:s3cr3t-pw@db.example:5432/mlflow?sslmode=require")
    assert "s3cr3t-pw" not in shown and "mlflow:***@db.example:5432/mlflow" in shown
    assert "s3cr3t" not in redact("postgresql://mlflow:s3cr3t@[bad")


@pytest.mark.slow  # MLflow's auth-store migration
def test_auth_store_migrated_from_empty_then_left_alone(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'basic_auth.db'}"
    first = migrate_auth_store(uri)
    assert first.before is None and first.after == auth_head()
    assert not migrate_auth_store(uri).changed


@pytest.mark.slow  # both MLflow store migrations
def test_main_migrates_both_stores_the_server_would_use(
    migrated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "mlflow.db"
    shutil.copy(migrated, copy)
    ini = tmp_path / "basic_auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{tmp_path / 'auth.db'}\n")
    env = {BACKEND_URI_ENV: f"sqlite:///{copy}", AUTH_CONFIG_ENV: str(ini)}
    assert main(["upgrade"], env) == 0
    out = capsys.readouterr().out
    assert "tracking store" in out and "nothing to do" in out
    assert f"auth store sqlite:///{tmp_path / 'auth.db'}: migrated from an empty database" in out
    assert main(["check"], env) == 0


@pytest.mark.parametrize(
    ("argv", "env", "code", "message"),
    [
        ([], {}, 2, "usage: mlflow_migration.py {upgrade|check}"),
        (["downgrade"], {}, 2, "usage"),
        (["upgrade"], {}, 1, f"no database URI (set {BACKEND_URI_ENV})"),
        (
            ["upgrade"],
            {BACKEND_URI_ENV: "sqlite:///x.db", AUTH_CONFIG_ENV: "/nonexistent/basic_auth.ini"},
            1,
            f"{AUTH_CONFIG_ENV}=/nonexistent/basic_auth.ini: expected a readable ini",
        ),
    ],
)
def test_main_refuses_bad_input_with_a_named_reason(
    argv: list[str], env: dict[str, str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, env) == code
    assert message in capsys.readouterr().err


@pytest.mark.integration  # two real migration processes at once (about 14 s)
def test_two_first_runs_at_once_take_turns(tmp_path: Path) -> None:
    """Both succeed: one creates the schema, the other then finds it current (the SQLite file lock)."""
    import os
    import subprocess

    from tests.support.migration import PYTHON, install_script

    script = install_script(tmp_path)
    env = {**os.environ, BACKEND_URI_ENV: f"sqlite:///{tmp_path / 'state' / 'mlflow.db'}"}
    processes = [
        subprocess.Popen(
            [str(PYTHON), str(script), "upgrade"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        for _ in range(2)
    ]
    try:
        results = [(p.wait(timeout=180), p.communicate()) for p in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [code for code, _ in results] == [0, 0], [err[-2000:] for _, (_, err) in results]
    outputs = sorted(out for _, (out, _) in results)
    assert "nothing to do" in outputs[0] and "migrated from an empty database" in outputs[1], outputs
