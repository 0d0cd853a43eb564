"""A throwaway PostgreSQL server (Debian's, or Ubuntu's on GitHub runners) on loopback for one test.

`initdb` into a temp folder, `pg_ctl start` on a free port with trust authentication for loopback, stopped
and removed afterwards, also when the test failed. Client tools (createdb, pg_dump, pg_restore) connect over
TCP as the `postgres` role.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port
from tests.support.tools import require_tool

# Debian 12 ships PostgreSQL 15, Ubuntu 24.04 (GitHub runners) 16: take the newest installed.
_PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
PG_BIN = str(_PG_BINS[-1]) if _PG_BINS else "/usr/lib/postgresql/15/bin"


def as_postgres_user(command: list[str]) -> list[str]:
    # initdb refuses to run as root; CI containers run as root, laptops usually do not.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, start_new_session=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


@dataclass(frozen=True)
class PostgresServer:
    port: int

    def tool(self, name: str) -> list[str]:
        """A client tool's command line, connected to this server as `postgres`."""
        return [require_tool(name, PG_BIN), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]

    def createdb(self, name: str) -> str:
        run([*self.tool("createdb"), name])
        return self.uri(name)

    def dropdb(self, name: str) -> None:
        run([*self.tool("dropdb"), name])

    def uri(self, database: str) -> str:
        # psycopg2 explicitly: plain postgresql:// makes SQLAlchemy 2.1 look for psycopg 3.
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    require_tool("initdb", PG_BIN)
    pg_ctl = require_tool("pg_ctl", PG_BIN)
    # Not under pytest's tmp_path: as root, that is private to root and the postgres user cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if os.geteuid() == 0:
        for path in (root, sockets):
            shutil.chown(path, "postgres")
    port = free_port()
    try:
        run(
            as_postgres_user(
                [f"{PG_BIN}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
            )
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
        run(
            as_postgres_user(
                [pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "pg.log"), "-w", "start"]
            )
        )
        try:
            yield PostgresServer(port)
        finally:
            subprocess.run(
                as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
                check=False,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
