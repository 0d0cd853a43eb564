"""A real `mlflow server` with the container's arguments, on PostgreSQL 15 and an S3 endpoint (moto).

The arguments come from `container_server_args`, the function the MlflowServer component gives the pod;
only the listen address, port and the Prometheus scratch folder differ. The backend store URI reaches the
server through MLFLOW_BACKEND_STORE_URI as in production (a Secret-backed variable there).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.mlflow import auth_config_ini, container_server_args
from tests.support.migration import migration_step
from tests.support.postgres import postgres_server
from tests.support.processes import free_port, moto_s3_server, stop_group, wait_for
from tests.support.tools import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VENV_BIN = REPO_ROOT / ".venv" / "bin"
BUCKET = "mlops-dvc-it"
MODEL = "platform-integration"
EXPERIMENT = "platform-integration"


@dataclass
class Postgres:
    uri: str


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    with postgres_server() as server:
        yield Postgres(uri=server.createdb("mlflow"))


@pytest.fixture
def s3_endpoint(tmp_path: Path) -> Iterator[str]:
    with moto_s3_server(tmp_path / "moto.log") as url:
        yield url


@dataclass
class Server:
    url: str
    username: str
    password: str


def test_mlflow_server_on_postgres_and_s3_with_basic_auth(
    postgres: Postgres, s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    import requests

    aws_env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        **{k.lower(): v for k, v in aws_env.items() if k != "AWS_DEFAULT_REGION"},
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)

    port = free_port()
    args = container_server_args(
        namespace="mlflow",
        bucket=BUCKET,
        postgres=True,
        host="127.0.0.1",
        port=port,
        prometheus_dir=str(tmp_path / "prometheus"),
    )
    auth_ini = tmp_path / "basic_auth.ini"
    auth_ini.write_text(auth_config_ini(postgres.uri))
    server = Server(url=f"http://127.0.0.1:{port}", username="admin", password=secrets.token_urlsafe(24))
    env = {
        **os.environ,
        **aws_env,
        "HOME": str(tmp_path),
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "MLFLOW_BACKEND_STORE_URI": postgres.uri,
        "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
        "MLFLOW_AUTH_ADMIN_USERNAME": server.username,
        "MLFLOW_AUTH_ADMIN_PASSWORD": server.password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # As on prod: the mlflow-db-upgrade Job creates both stores, the pod's schema-check passes, then the
    # server starts on a current store and migrates nothing itself.
    for command, expected in [
        ("upgrade", "migrated from an empty database"),
        ("check", "already at revision"),
    ]:
        step = migration_step(command, env, tmp_path)
        assert step.returncode == 0 and expected in step.stdout, step.stderr[-3000:]
    log = tmp_path / "mlflow.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "mlflow"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    try:
        wait_for(f"{server.url}/health", process, log)
        refused = requests.get(
            f"{server.url}/api/2.0/mlflow/experiments/search", params={"max_results": 1}, timeout=10
        )
        assert refused.status_code == 401, refused.text
        wrong = requests.get(
            f"{server.url}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=(server.username, "not-the-password"),
            timeout=10,
        )
        assert wrong.status_code == 401
        rebinding = requests.get(f"{server.url}/", headers={"Host": "attacker.example"}, timeout=10)
        assert rebinding.status_code == 403

        for name in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name, raising=False)  # the client uploads through the server's proxy
        # The MlflowUsers Job's script, as the admin: the steps then log as their own user.
        pipelines = create_pipeline_user(server, monkeypatch)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", pipelines.username)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", pipelines.password)
        try:
            run_id, version = log_train_and_register(server.url)
        except Exception as exc:
            # Say why the server stopped answering instead of only "connection refused".
            state = "exited" if process.poll() is not None else "still running"
            raise AssertionError(
                f"MLflow client failed ({exc}); server {state}:\n{log.read_text()[-4000:]}"
            ) from exc

        check_read_back(server.url, run_id, version)
        check_model_server_user_reads_and_cannot_move_the_alias(server, version, monkeypatch)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="mlflow/").get("Contents", [])]
        assert any(k.endswith("/MLmodel") for k in keys), keys
        assert all(k.startswith("mlflow/") for k in keys)
        metrics = requests.get(f"{server.url}/metrics", auth=(server.username, server.password), timeout=10)
        assert metrics.status_code == 200 and "mlflow_http_request" in metrics.text
        check_pipeline_user_is_not_an_admin(server, pipelines)
    finally:
        stop_group(process)


def _sync_users(server: Server, users: list, passwords: dict[str, str]) -> int:
    from components import mlflow_users_sync as sync

    env = {
        "MLFLOW_TRACKING_URI": server.url,
        sync.USERS_ENV: json.dumps([u.to_json() for u in users]),
        sync.READY_TIMEOUT_ENV: "30",
        **passwords,
    }
    return sync.main(env)


def create_pipeline_user(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    """Run the sync three times, as the Job would on successive `pulumi up`s: create, repair, new password."""
    import requests
    from mlflow.server import get_app_client

    from components.mlflow_users import PIPELINE_USER
    from components.mlflow_users_sync import UserSpec
    from pipelines.env import PIPELINES_PASSWORD

    password_env = PIPELINES_PASSWORD.name

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", server.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", server.password)
    users = [UserSpec(PIPELINE_USER, password_env, (EXPERIMENT,), (MODEL,))]
    first, second = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    assert _sync_users(server, users, {password_env: first}) == 0
    auth = get_app_client("basic-auth", tracking_uri=server.url)
    auth.update_user_admin(PIPELINE_USER, True)  # someone promotes it in the UI
    assert _sync_users(server, users, {password_env: first}) == 0
    assert auth.get_user(PIPELINE_USER).is_admin is False
    assert _sync_users(server, users, {password_env: second}) == 0
    # The server caches credentials for auth_cache_ttl_seconds; the old password may linger that long.
    search = f"{server.url}/api/2.0/mlflow/experiments/search"
    answer = requests.get(search, params={"max_results": 1}, auth=(PIPELINE_USER, second), timeout=10)
    assert answer.status_code == 200, answer.text
    return Server(url=server.url, username=PIPELINE_USER, password=second)


def check_model_server_user_reads_and_cannot_move_the_alias(
    admin: Server, version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The MlflowUsers Job's READ user (the model server's): finds the champion, may not move it."""
    import requests

    from components.mlflow_users import (
        MODEL_SERVER_PASSWORD_ENV,
        MODEL_SERVER_USER,
        MlflowUsersArgs,
        model_server_user_spec,
    )

    reader = model_server_user_spec(
        MlflowUsersArgs("mlflow", "image", admin.url, "mlflow-auth", [EXPERIMENT], [MODEL], {})
    )
    password = secrets.token_urlsafe(24)
    with monkeypatch.context() as as_admin:
        as_admin.setenv("MLFLOW_TRACKING_USERNAME", admin.username)
        as_admin.setenv("MLFLOW_TRACKING_PASSWORD", admin.password)
        assert _sync_users(admin, [reader], {MODEL_SERVER_PASSWORD_ENV: password}) == 0
    alias = f"{admin.url}/api/2.0/mlflow/registered-models/alias"
    found = requests.get(
        alias, params={"name": MODEL, "alias": "champion"}, auth=(MODEL_SERVER_USER, password), timeout=10
    )
    assert found.status_code == 200 and found.json()["model_version"]["version"] == version, found.text
    moved = requests.post(
        alias,
        json={"name": MODEL, "alias": "champion", "version": version},
        auth=(MODEL_SERVER_USER, password),
        timeout=10,
    )
    assert moved.status_code == 403, moved.text


def check_pipeline_user_is_not_an_admin(admin: Server, pipelines: Server) -> None:
    import requests

    as_pipelines = (pipelines.username, pipelines.password)
    create_user = requests.post(
        f"{admin.url}/api/2.0/mlflow/users/create",
        json={"username": "intruder", "password": secrets.token_urlsafe(12)},
        auth=as_pipelines,
        timeout=10,
    )
    assert create_user.status_code == 403, create_user.text
    admins_experiment = requests.post(
        f"{admin.url}/api/2.0/mlflow/experiments/create",
        json={"name": "admins-only"},
        auth=(admin.username, admin.password),
        timeout=10,
    ).json()["experiment_id"]
    delete = requests.post(
        f"{admin.url}/api/2.0/mlflow/experiments/delete",
        json={"experiment_id": admins_experiment},
        auth=as_pipelines,
        timeout=10,
    )
    assert delete.status_code == 403, delete.text


def log_train_and_register(tracking_uri: str) -> tuple[str, str]:
    import mlflow
    from mlflow import MlflowClient
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)  # a process-wide setting: never inherit another test's
    mlflow.set_experiment(EXPERIMENT)
    features, target = load_iris(return_X_y=True, as_frame=True)
    with mlflow.start_run() as run:
        model = LogisticRegression(max_iter=300).fit(features, target)
        mlflow.log_params({"max_iter": 300, "model": "logistic_regression"})
        mlflow.log_metric("train_accuracy", float(model.score(features, target)))
        # Explicit requirements: inferring them imports the model in a subprocess (minutes on a busy machine).
        info = mlflow.sklearn.log_model(
            model, name="model", registered_model_name=MODEL, pip_requirements=["scikit-learn", "mlflow"]
        )
    version = str(info.registered_model_version)
    MlflowClient().set_registered_model_alias(MODEL, "champion", version)
    return run.info.run_id, version


def check_read_back(tracking_uri: str, run_id: str, version: str) -> None:
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    assert run.data.params["max_iter"] == "300"
    assert run.data.metrics["train_accuracy"] > 0.9
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert str(champion.version) == version
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    assert (
        len(loaded.predict(__import__("sklearn.datasets").datasets.load_iris(as_frame=True).data.head(3)))
        == 3
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
