"""Restore drills from docs/registry.md, run for real where they can run here (seconds each).

(a) The backend store: `pg_dump -Fc`, the database dropped, `pg_restore` into a fresh one; every run,
    version and the champion alias are back. The commands are the ones the document gives.
(b) Artifacts and DVC data: a versioned bucket on the moto S3 server; an artifact overwritten and then
    deleted is restored from its previous version by version id, byte for byte.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import registry_store
from tests.support.postgres import PostgresServer, postgres_server, run
from tests.support.processes import moto_s3_server
from tests.support.tools import REPO_ROOT

pytestmark = [pytest.mark.integration]

PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
STORE_SCRIPT = Path(registry_store.__file__)


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def store(command: str, uri: str, tmp_path: Path) -> dict[str, Any]:
    """registry_store.py in its own process: no pooled connection keeps the database from being dropped."""
    out = tmp_path / f"{command}.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    result = subprocess.run(
        [str(PYTHON), str(STORE_SCRIPT), command, uri, str(out)],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "HOME": str(tmp_path), "MLFLOW_DISABLE_TELEMETRY": "true"},
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_backend_store_restored_from_pg_dump(pg: PostgresServer, tmp_path: Path) -> None:
    uri = pg.createdb("mlflow")
    written = store("write", uri, tmp_path)
    assert written["model"]["champion"] == "2"
    backup = tmp_path / "mlflow.dump"
    # docs/registry.md, "Portable copy": custom format, no owner or privileges (RDS master user differs).
    run(
        [
            *pg.tool("pg_dump"),
            "--format=custom",
            "--no-owner",
            "--no-privileges",
            f"--file={backup}",
            "mlflow",
        ]
    )

    pg.dropdb("mlflow")
    databases = run([*pg.tool("psql"), "--list", "--tuples-only", "--no-align"]).stdout.splitlines()
    assert not [d for d in databases if d.split("|")[0] == "mlflow"]

    pg.createdb("mlflow")
    run(
        [
            *pg.tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--dbname=mlflow",
            str(backup),
        ]
    )
    assert store("snapshot", uri, tmp_path) == written


def test_artifact_restored_from_a_previous_s3_version(tmp_path: Path) -> None:
    import boto3

    with moto_s3_server(tmp_path / "moto.log") as endpoint:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        bucket, key = "mlops-dvc-drill", "mlflow/1/models/m-0123/artifacts/model.pkl"
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        original, overwritten = os.urandom(4096), os.urandom(4096)
        first = s3.put_object(Bucket=bucket, Key=key, Body=original)["VersionId"]
        s3.put_object(Bucket=bucket, Key=key, Body=overwritten)
        s3.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket=bucket, Key=key)

        # docs/registry.md, "Restore an artifact": list the versions, copy the wanted one over the key.
        listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
        assert [m["IsLatest"] for m in listing["DeleteMarkers"]] == [True]
        assert first in {v["VersionId"] for v in listing["Versions"]} and len(listing["Versions"]) == 2
        s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key, "VersionId": first})
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == original
        # The overwritten and the deleted states stay recoverable too (until noncurrentVersionDays).
        assert len(s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]) == 3
