"""MlflowUsers: the pipeline steps' own MLflow user, created by a Job; the sync script's contract."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from components import mlflow_users
from components import mlflow_users_sync as sync
from harness.mocks import Record, run_program
from pipelines.env import PIPELINES_PASSWORD
from pipelines.params import load_params
from tests.support.rendered_stacks import STACKS, children, env_of, k8s_object, record

USERS = "mlops:mlflow:MlflowUsers"


def job_container(stack: str) -> dict:
    job = k8s_object(stack, "Job", "mlflow-users", "mlflow")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("stack", STACKS)
def test_job_runs_the_sync_script_in_the_mlflow_image_as_the_admin(stack: str) -> None:
    container = job_container(stack)
    mlflow = k8s_object(stack, "Deployment", "mlflow", "mlflow")
    assert container["image"] == mlflow["spec"]["template"]["spec"]["containers"][0]["image"]
    assert "@sha256:" in container["image"]
    assert container["command"] == ["python", "/scripts/mlflow_users_sync.py"]
    env = env_of(container)
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.mlflow.svc.cluster.local:5000"
    admin = {"name": "mlflow-auth"}
    assert env["MLFLOW_TRACKING_USERNAME"] == {"secretKeyRef": {**admin, "key": "admin-username"}}
    assert env["MLFLOW_TRACKING_PASSWORD"] == {"secretKeyRef": {**admin, "key": "admin-password"}}
    assert env[PIPELINES_PASSWORD.name] == {
        "secretKeyRef": {"name": mlflow_users.CREDENTIALS_SECRET, "key": mlflow_users.PIPELINE_PASSWORD_KEY}
    }
    script = k8s_object(stack, "ConfigMap", "mlflow-users", "mlflow")["data"]["mlflow_users_sync.py"]
    assert script == mlflow_users.SYNC_SCRIPT.read_text(encoding="utf-8")


@pytest.mark.parametrize("stack", STACKS)
def test_pipeline_user_manages_the_training_experiment_and_model_from_params(stack: str) -> None:
    users = {u.username: u for u in sync.parse_users(env_of(job_container(stack))[sync.USERS_ENV])}
    registry = load_params().registry
    user = users["mlops-pipelines"]
    assert user.experiments == (registry.experiment,)
    assert user.registered_models == (registry.model_name,)
    assert user.permission == "MANAGE"
    # Every committed stack serves the champion: its server reads the model (and the runs it came from).
    reader = users[mlflow_users.MODEL_SERVER_USER]
    assert (reader.experiments, reader.registered_models, reader.permission) == (
        (registry.experiment,),
        (registry.model_name,),
        "READ",
    )
    assert set(users) == {"mlops-pipelines", mlflow_users.MODEL_SERVER_USER}


@pytest.mark.parametrize("stack", STACKS)
def test_no_password_in_the_job_and_its_fingerprint_follows_the_password(stack: str) -> None:
    rec = record(stack)
    passwords = [
        rec.one("random:index/randomPassword:RandomPassword", name).outputs["result"]
        for name in ("mlflow-users-pipelines-password", "mlflow-users-model-server-password")
    ]
    job = k8s_object(stack, "Job", "mlflow-users", "mlflow")
    assert not any(password in json.dumps(job) for password in passwords)
    fingerprint = job["spec"]["template"]["metadata"]["annotations"]["mlops.platform/sync-fingerprint"]
    users = sync.parse_users(env_of(job_container(stack))[sync.USERS_ENV])
    script = mlflow_users.SYNC_SCRIPT.read_text(encoding="utf-8")
    assert fingerprint == mlflow_users.sync_fingerprint(script, users, "\n".join(passwords))


def test_fingerprint_changes_with_the_password_the_grants_and_the_script() -> None:
    users = [sync.UserSpec("u", "U_PW", ("exp",), ("model",))]
    base = mlflow_users.sync_fingerprint("script", users, "pw")
    assert mlflow_users.sync_fingerprint("script", users, "pw") == base
    assert mlflow_users.sync_fingerprint("script", users, "other") != base
    assert mlflow_users.sync_fingerprint("script v2", users, "pw") != base
    assert mlflow_users.sync_fingerprint("script", [replace(users[0], experiments=("x",))], "pw") != base


@pytest.mark.parametrize("stack", STACKS)
def test_job_may_reach_only_dns_and_the_mlflow_server(stack: str) -> None:
    policy = k8s_object(stack, "NetworkPolicy", "mlflow-users", "mlflow")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mlflow-users",
        "app.kubernetes.io/component": "setup",
    }
    assert policy["spec"]["policyTypes"] == ["Egress"]  # nothing may connect to it: the default deny holds
    (dns, server) = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert server["to"][0]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mlflow",
        "app.kubernetes.io/component": "tracking-server",
    }
    assert server["ports"] == [{"protocol": "TCP", "port": 5000}]


@pytest.mark.parametrize("stack", STACKS)
def test_children_named_after_the_component_and_parented(stack: str) -> None:
    (component,) = record(stack).of_type(USERS)
    kids = record(stack).children_of(component)  # direct children: parented to the component itself
    assert {k.name for k in kids} == {
        "mlflow-users-pipelines-password",
        "mlflow-users-model-server-password",
        "mlflow-users-credentials",
        "mlflow-users-service-account",
        "mlflow-users-script",
        "mlflow-users-netpol",
        "mlflow-users-sync",
    }
    assert {k.name for k in children(stack, USERS)} == {k.name for k in kids}


@pytest.mark.parametrize("stack", STACKS)
def test_job_starts_after_what_it_needs_and_the_steps_get_the_password_after_it(stack: str) -> None:
    rec = record(stack)
    job = rec.one("kubernetes:batch/v1:Job", "mlflow-users-sync")
    for needed in ("mlflow-users-credentials", "mlflow-users-service-account", "mlflow-users-script"):
        assert next(r.urn for r in rec.resources if r.name == needed) in job.dependencies, needed
    # Depending on the MlflowServer component means on its children: the Deployment must be up first.
    assert rec.one("kubernetes:apps/v1:Deployment", "mlflow-deployment").urn in job.dependencies
    # The steps' Secret names the user only once the Job has created it.
    steps = rec.one("kubernetes:core/v1:Secret", "kubeflow-mlflow-tracking")
    assert job.urn in steps.dependencies


# --- the sync script's contract (the integration test runs it against a real server) ----------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "is not JSON"),
        ("{}", "expected a non-empty JSON list"),
        ("[]", "expected a non-empty JSON list"),
        ('[{"username": "u"}]', "[0]: expected an object with 'username' and 'password_env'"),
    ],
)
def test_bad_user_list_is_refused_naming_the_variable(text: str, fragment: str) -> None:
    with pytest.raises(sync.SyncError, match=sync.USERS_ENV) as caught:
        sync.parse_users(text)
    assert fragment in str(caught.value)


def test_missing_password_fails_before_any_request_naming_the_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    users = json.dumps([sync.UserSpec("u", "U_PASSWORD").to_json()])
    # Port 9 (discard) on loopback, no waiting: had it asked the server, the error would say "not healthy".
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", sync.USERS_ENV: users, sync.READY_TIMEOUT_ENV: "0"}
    with pytest.raises(sync.SyncError, match="no password in U_PASSWORD"):
        sync.sync_users(env["MLFLOW_TRACKING_URI"], sync.parse_users(users), env)
    assert sync.main(env) == 1
    assert "no password in U_PASSWORD" in capsys.readouterr().err
    assert sync.main({**env, "U_PASSWORD": "x" * 16}) == 1
    assert "not healthy after 0 s" in capsys.readouterr().err


def test_without_a_tracking_uri_the_job_fails_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert sync.main({sync.USERS_ENV: "[]"}) == 1
    assert "MLFLOW_TRACKING_URI" in capsys.readouterr().err


# --- the model server's READ user (issue 14) --------------------------------------------------------------

READER_PROGRAM = """
import pulumi
from components.mlflow_users import MlflowUsers, MlflowUsersArgs

users = MlflowUsers(
    "mlflow-users",
    MlflowUsersArgs(
        namespace="mlflow",
        image="registry.example/mlops-mlflow:3.17.2-abc@sha256:{digest}",
        tracking_uri="http://mlflow.mlflow.svc.cluster.local:5000",
        admin_secret="mlflow-auth",
        experiments=["breast-cancer-training"],
        registered_models=["breast-cancer-classifier"],
        server_labels={{"app.kubernetes.io/name": "mlflow"}},
        model_server_user={enabled},
    ),
)
pulumi.export("model_server_username", users.model_server_username)
pulumi.export("model_server_password", users.model_server_password)
"""


def _reader_record(tmp_path: Path, enabled: bool) -> Record:
    program = tmp_path / "__main__.py"
    program.write_text(READER_PROGRAM.format(digest="e" * 64, enabled=enabled))
    return run_program("dev", {}, program_file=program)


def test_model_server_user_reads_the_same_experiment_and_model_and_nothing_more(tmp_path: Path) -> None:
    rec = _reader_record(tmp_path, enabled=True)
    job = rec.one("kubernetes:batch/v1:Job", "mlflow-users-sync").inputs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = env_of(container)
    pipelines, reader = sync.parse_users(env[sync.USERS_ENV])
    assert (pipelines.username, pipelines.permission) == (mlflow_users.PIPELINE_USER, sync.MANAGE)
    assert reader == sync.UserSpec(
        mlflow_users.MODEL_SERVER_USER,
        mlflow_users.MODEL_SERVER_PASSWORD_ENV,
        ("breast-cancer-training",),
        ("breast-cancer-classifier",),
        sync.READ,
    )
    assert env[mlflow_users.MODEL_SERVER_PASSWORD_ENV] == {
        "secretKeyRef": {
            "name": mlflow_users.CREDENTIALS_SECRET,
            "key": mlflow_users.MODEL_SERVER_PASSWORD_KEY,
        }
    }
    password = rec.one("random:index/randomPassword:RandomPassword", "mlflow-users-model-server-password")
    secret = rec.one("kubernetes:core/v1:Secret", "mlflow-users-credentials").inputs["stringData"]
    assert secret[mlflow_users.MODEL_SERVER_PASSWORD_KEY] == password.outputs["result"]
    assert password.outputs["result"] not in json.dumps(job)
    assert rec.exports["model_server_username"] == mlflow_users.MODEL_SERVER_USER
    assert rec.exports["model_server_password"] == password.outputs["result"]
    assert "model_server_password" in rec.secret_exports


def test_without_serving_there_is_no_model_server_user(tmp_path: Path) -> None:
    rec = _reader_record(tmp_path, enabled=False)
    job = rec.one("kubernetes:batch/v1:Job", "mlflow-users-sync").inputs
    (container,) = job["spec"]["template"]["spec"]["containers"]
    (user,) = sync.parse_users(env_of(container)[sync.USERS_ENV])
    assert user.username == mlflow_users.PIPELINE_USER
    assert not [
        r for r in rec.of_type("random:index/randomPassword:RandomPassword") if "model-server" in r.name
    ]


def test_fingerprint_follows_the_readers_password_too() -> None:
    users = [sync.UserSpec("u", "U_PW", ("exp",), ("model",), sync.READ)]
    assert mlflow_users.sync_fingerprint("s", users, "a\nb") != mlflow_users.sync_fingerprint(
        "s", users, "a\nc"
    )
    as_manager = [replace(users[0], permission=sync.MANAGE)]
    assert mlflow_users.sync_fingerprint("s", users, "a") != mlflow_users.sync_fingerprint(
        "s", as_manager, "a"
    )


def test_an_unknown_permission_is_refused_naming_the_entry() -> None:
    text = json.dumps([{"username": "u", "password_env": "P", "permission": "OWNER"}])
    with pytest.raises(sync.SyncError, match=r"\[0\]\.permission = 'OWNER': expected one of"):
        sync.parse_users(text)
    (user,) = sync.parse_users(json.dumps([{"username": "u", "password_env": "P"}]))
    assert user.permission == sync.MANAGE, "entries written before permissions existed keep MANAGE"
