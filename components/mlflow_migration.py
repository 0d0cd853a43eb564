"""Bring MLflow's database schema to the revision the installed MLflow expects, as one explicit step.

MLflow 3.17's tracking store migrates a database by itself whenever a table it defines is missing (a
minor version that adds a table, as 3.17 does over 3.16): every server worker and replica that starts on
an old store runs Alembic at once, with no backup step in between. The platform runs this script instead,
before any new server starts: the `mlflow-db-upgrade` Job (PostgreSQL) or the server pod's `db-upgrade`
init container (SQLite on its ReadWriteOnce volume, after the Recreate strategy has stopped the old pod).
The server pods then `check` the schema first and refuse to start on one that is not at the expected
revision, so this script stays the one path that changes it. Locally the training flow calls
`migrate_store` on its first run.

Standalone on purpose (the standard library and mlflow only): the Job mounts this file from a ConfigMap and
runs it in the MLflow server image, where the project is not installed. Idempotent: a store already at the
expected revision is left untouched.

Usage (the URI is read from the environment so a database password never appears in a process list):
  python mlflow_migration.py upgrade   create or migrate the tracking store; migrate the auth store
  python mlflow_migration.py check     exit 1, naming both revisions, unless the stores are up to date
Environment:
  MLFLOW_BACKEND_STORE_URI   the tracking store (sqlite:///... or postgresql+psycopg2://...)
  MLFLOW_AUTH_CONFIG_PATH    optional: the basic-auth ini; its `database_uri` store is migrated too
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BACKEND_URI_ENV = "MLFLOW_BACKEND_STORE_URI"
AUTH_CONFIG_ENV = "MLFLOW_AUTH_CONFIG_PATH"
AUTH_VERSION_TABLE = "alembic_version_auth"
COMMANDS = ("upgrade", "check")


class MigrationError(RuntimeError):
    """The store cannot be opened or migrated, or is not at the expected revision; the message says which."""


@dataclass(frozen=True)
class StoreState:
    """One store's schema revision before and after, and the revision this MLflow expects."""

    store: str
    """What was migrated and where, password hidden (e.g. `tracking store sqlite:////data/mlflow.db`)."""
    before: str | None
    """Revision found (None: an empty database)."""
    after: str | None
    """Revision left behind."""
    head: str
    """Revision the installed MLflow expects."""

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if not self.changed:
            return f"{self.store}: already at revision {self.head}, nothing to do"
        found = "an empty database" if self.before is None else f"revision {self.before}"
        return f"{self.store}: migrated from {found} to {self.after}"


def mlflow_version() -> str:
    import mlflow

    return str(mlflow.__version__)


def redact(uri: str) -> str:
    """The URI as messages may show it: the password replaced by ***."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(uri).render_as_string(hide_password=True)
    except Exception:  # an unparsable URI: show its scheme only, it may still hold a password
        return uri.split(":", 1)[0] + ":<unparsable URI>"


def _engine(uri: str, what: str) -> Any:
    from mlflow.store.db.utils import create_sqlalchemy_engine_with_retry

    if not uri.strip():
        raise MigrationError(f"{what}: no database URI (set {BACKEND_URI_ENV})")
    try:
        return create_sqlalchemy_engine_with_retry(uri)
    except Exception as exc:
        raise MigrationError(f"{what} {redact(uri)}: cannot open the database: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    # SQLAlchemy wraps the driver's error; the driver's message is the useful part ("file is not a
    # database", "password authentication failed", "could not connect to server").
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _revision(engine: Any, version_table: str = "alembic_version") -> str | None:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        revision = context.get_current_revision()
        return None if revision is None else str(revision)


def tracking_head() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return str(_get_latest_schema_revision())


def auth_head() -> str:
    from alembic.script import ScriptDirectory
    from mlflow.server.auth.db.utils import _get_alembic_config

    head = ScriptDirectory.from_config(_get_alembic_config("")).get_current_head()
    if head is None:
        raise MigrationError("the installed MLflow ships no auth migrations")
    return str(head)


@contextlib.contextmanager
def _sqlite_lock(uri: str) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (two first runs at once); PostgreSQL has
    one migrating Job. The lock file sits beside the database, so every process that can open it sees it."""
    import fcntl
    from pathlib import Path

    from sqlalchemy.engine import make_url

    try:
        url = make_url(uri)
    except Exception:  # _engine reports the bad URI
        yield
        return
    if not url.drivername.startswith("sqlite") or not url.database or url.database == ":memory:":
        yield
        return
    lock = Path(url.database).with_name(Path(url.database).name + ".migration-lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = lock.open("a")
    except OSError as exc:
        raise MigrationError(f"tracking store {uri}: cannot create {lock}: {exc.strerror}") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate_store(uri: str) -> StoreState:
    """Create the tracking schema in an empty database, or migrate it to this MLflow's revision.

    Does nothing to a store already at that revision. Concurrent calls on one SQLite file take turns; no
    MLflow server or client may use the store meanwhile (the Job runs before the new server; locally the
    training flow calls this before any step opens the store).
    """
    with _sqlite_lock(uri):
        return _migrate_tracking(uri)


def _migrate_tracking(uri: str) -> StoreState:
    from mlflow.store.db import utils

    what = "tracking store"
    engine = _engine(uri, what)
    try:
        head = tracking_head()
        try:
            before = _revision(engine)
            if before != head:
                if utils._is_empty_database(engine):
                    utils._initialize_tables(engine)
                else:
                    utils._upgrade_db(engine)
            after = _revision(engine)
        except MigrationError:
            raise
        except Exception as exc:
            raise MigrationError(
                f"{what} {redact(uri)}: migration to revision {head} failed: {_reason(exc)}. "
                "Restore the pre-upgrade backup before retrying (docs/registry.md)"
            ) from exc
        if after != head:
            raise MigrationError(
                f"{what} {redact(uri)}: at revision {after} after migrating, expected {head}"
            )
        return StoreState(f"{what} {redact(uri)}", before, after, head)
    finally:
        engine.dispose()


def migrate_auth_store(uri: str) -> StoreState:
    """The basic-auth app's users and permissions tables (their own Alembic history)."""
    from mlflow.server.auth.db import utils as auth_utils

    what = "auth store"
    engine = _engine(uri, what)
    try:
        head = auth_head()
        try:
            before = _revision(engine, AUTH_VERSION_TABLE)
            if before != head:
                auth_utils.migrate_if_needed(engine, "head")
            after = _revision(engine, AUTH_VERSION_TABLE)
        except Exception as exc:
            raise MigrationError(
                f"{what} {redact(uri)}: migration to revision {head} failed: {_reason(exc)}"
            ) from exc
        return StoreState(f"{what} {redact(uri)}", before, after, head)
    finally:
        engine.dispose()


def check_store(uri: str) -> StoreState:
    """The tracking store's state; raises MigrationError unless it is at this MLflow's revision."""
    what = "tracking store"
    engine = _engine(uri, what)
    try:
        head = tracking_head()
        try:
            found = _revision(engine)
        except Exception as exc:
            raise MigrationError(f"{what} {redact(uri)}: cannot read its revision: {_reason(exc)}") from exc
    finally:
        engine.dispose()
    if found != head:
        state = "is empty" if found is None else f"is at revision {found}"
        raise MigrationError(
            f"{what} {redact(uri)} {state}; MLflow {mlflow_version()} expects {head}. The server does not "
            "migrate it itself: run the migration step first (`python mlflow_migration.py upgrade`, the "
            "mlflow-db-upgrade Job; docs/registry.md)"
        )
    return StoreState(f"{what} {redact(uri)}", found, found, head)


def auth_database_uri(env: Mapping[str, str]) -> str | None:
    """The auth store the server would use: `database_uri` of the ini MLFLOW_AUTH_CONFIG_PATH names."""
    import configparser

    path = env.get(AUTH_CONFIG_ENV)
    if not path:
        return None
    config = configparser.ConfigParser()
    try:
        with open(path, encoding="utf-8") as handle:
            config.read_file(handle)
        return config["mlflow"]["database_uri"]
    except (OSError, KeyError, configparser.Error) as exc:
        raise MigrationError(
            f"{AUTH_CONFIG_ENV}={path}: expected a readable ini with [mlflow] database_uri ({exc})"
        ) from exc


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    if len(argv) != 1 or argv[0] not in COMMANDS:
        print(f"usage: mlflow_migration.py {{{'|'.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    uri = env.get(BACKEND_URI_ENV, "")
    try:
        auth_uri = auth_database_uri(env)
        if argv[0] == "check":
            print(f"MLflow {mlflow_version()}: {check_store(uri).describe()}")
            return 0
        print(f"MLflow {mlflow_version()}: {migrate_store(uri).describe()}")
        if auth_uri is not None:
            print(f"MLflow {mlflow_version()}: {migrate_auth_store(auth_uri).describe()}")
        return 0
    except MigrationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover - run by the Job and the init containers
    import os

    # Run from the repository, this file's folder holds components/mlflow.py, which would shadow the
    # mlflow package; in the pod the folder is the ConfigMap mount and holds nothing else.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.exit(main(sys.argv[1:], os.environ))
