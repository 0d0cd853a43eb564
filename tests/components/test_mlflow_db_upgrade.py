"""The schema migration as an explicit step, on the mock record: what runs it, before what, and how hardened.

PostgreSQL (prod): the `mlflow-db-upgrade-<version>` Job, which the Deployment depends on, so Pulumi starts
no new server pod before the store is migrated; server pods `check` first. SQLite (local, dev): the
migration is the server pod's init container on the same claim, inside a Recreate rollout, so the old pod
has let go of the file before anything migrates it.
"""

from __future__ import annotations

import pytest

from components import mlflow_db_upgrade as db_upgrade
from components.mlflow import deployment_manifest, migration_job_manifest
from tests.support.rendered_stacks import containers, env_of, k8s_object, rendered
from tests.support.stacks import record
from versions import MLFLOW_VERSION

JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SCRIPT = db_upgrade.SCRIPT.read_text(encoding="utf-8")
IMAGE = "registry.example/mlops-mlflow:3.17.2@sha256:" + "a" * 64


def server_pod(stack: str) -> dict:
    return k8s_object(stack, "Deployment", "mlflow", "mlflow")["spec"]["template"]["spec"]


def migration_job(stack: str) -> dict:
    return k8s_object(stack, "Job", db_upgrade.job_name(MLFLOW_VERSION), "mlflow")


# --- pure --------------------------------------------------------------------------------------------


def test_job_name_carries_the_version_so_a_bump_replaces_the_job() -> None:
    assert db_upgrade.job_name("3.17.2") == "mlflow-db-upgrade-3-17-2"
    assert db_upgrade.job_name("3.18.0") != db_upgrade.job_name("3.17.2")
    with pytest.raises(ValueError, match="MLflow version 'bad/version'"):
        db_upgrade.job_name("bad/version")


def test_unchanged_version_and_script_give_the_same_job_so_it_does_not_run_again() -> None:
    same = [migration_job_manifest(namespace="mlflow", image=IMAGE, script=SCRIPT) for _ in range(2)]
    assert same[0] == same[1]
    bumped = migration_job_manifest(namespace="mlflow", image=IMAGE, script=SCRIPT, mlflow_version="3.18.0")
    assert bumped["metadata"]["name"] != same[0]["metadata"]["name"]
    new_script = migration_job_manifest(namespace="mlflow", image=IMAGE, script=SCRIPT + "\n# changed\n")
    # Pod templates are immutable: a new fingerprint makes Pulumi replace the Job, i.e. run it again.
    assert (
        new_script["spec"]["template"]["metadata"]["annotations"]
        != same[0]["spec"]["template"]["metadata"]["annotations"]
    )


def test_deployment_refuses_a_backend_without_its_store() -> None:
    common: dict = {
        "namespace": "mlflow",
        "image": IMAGE,
        "replicas": 1,
        "server_args": ["server"],
        "minio": False,
        "region": None,
        "s3_endpoint_url": None,
        "migration_script": SCRIPT,
    }
    with pytest.raises(ValueError, match="data claim for SQLite"):
        deployment_manifest(**common, postgres=False, data_claim=None)
    with pytest.raises(ValueError, match="none for PostgreSQL"):
        deployment_manifest(**common, postgres=True, data_claim="mlflow-data")


def test_migration_command_is_upgrade_or_check() -> None:
    with pytest.raises(ValueError, match="'downgrade'"):
        db_upgrade.migration_container("downgrade", image=IMAGE, env=[], volume_mounts=[])


# --- PostgreSQL (prod) ---------------------------------------------------------------------------------


def test_prod_deployment_depends_on_the_migration_job() -> None:
    rec = record("prod")
    job = rec.one(JOB, "mlflow-db-upgrade")
    assert job.urn in rec.one(DEPLOYMENT, "mlflow-deployment").dependencies
    # The Job needs the store URI and its own script before it can start.
    assert rec.one("kubernetes:core/v1:Secret", "mlflow-auth").urn in job.dependencies
    assert rec.one("kubernetes:core/v1:ConfigMap", "mlflow-db-upgrade-script").urn in job.dependencies


def test_prod_job_rerun_on_failure_and_named_after_the_version() -> None:
    job = migration_job("prod")
    assert job["metadata"]["annotations"][db_upgrade.REPLACE_UNREADY_ANNOTATION] == "true"
    assert job["metadata"]["annotations"][db_upgrade.VERSION_ANNOTATION] == MLFLOW_VERSION
    assert job["spec"]["parallelism"] == 1 and job["spec"]["completions"] == 1
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_prod_job_migrates_the_store_the_server_uses_with_the_server_image() -> None:
    (container,) = migration_job("prod")["spec"]["template"]["spec"]["containers"]
    server = server_pod("prod")["containers"][0]
    assert container["image"] == server["image"]
    assert container["command"] == ["python", f"{db_upgrade.SCRIPT_DIR}/mlflow_migration.py", "upgrade"]
    env, server_env = env_of(container), env_of(server)
    for name in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_AUTH_CONFIG_PATH"):
        assert env[name] == server_env[name], name
    assert env["MLFLOW_BACKEND_STORE_URI"] == {
        "secretKeyRef": {"name": "mlflow-auth", "key": "backend-store-uri"}
    }
    script = k8s_object("prod", "ConfigMap", db_upgrade.CONFIG_MAP, "mlflow")
    assert script["data"]["mlflow_migration.py"] == SCRIPT


def test_prod_job_egress_is_the_database_and_dns_only() -> None:
    policy = k8s_object("prod", "NetworkPolicy", db_upgrade.APP, "mlflow")["spec"]
    job_labels = migration_job("prod")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= job_labels.items()
    assert policy["policyTypes"] == ["Egress"] and "ingress" not in policy
    ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
    assert ports == {53, 5432}
    (database,) = [r for r in policy["egress"] if any(p["port"] == 5432 for p in r["ports"])]
    assert [peer["ipBlock"]["cidr"] for peer in database["to"]] == ["10.30.0.0/16"]


def test_prod_server_pods_check_the_schema_and_never_migrate() -> None:
    (check,) = server_pod("prod")["initContainers"]
    assert check["name"] == db_upgrade.CHECK_CONTAINER
    assert check["command"][-1] == "check"
    assert (
        env_of(check)["MLFLOW_BACKEND_STORE_URI"]
        == env_of(server_pod("prod")["containers"][0])["MLFLOW_BACKEND_STORE_URI"]
    )


# --- SQLite (local, dev) -------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_sqlite_migrates_inside_the_recreate_rollout_on_the_same_claim(stack: str) -> None:
    deployment = k8s_object(stack, "Deployment", "mlflow", "mlflow")
    # Recreate: the old pod is gone before the new one (and so its init container) starts.
    assert deployment["spec"]["strategy"] == {"type": "Recreate"} and deployment["spec"]["replicas"] == 1
    pod = deployment["spec"]["template"]["spec"]
    (upgrade,) = pod["initContainers"]
    assert upgrade["name"] == db_upgrade.UPGRADE_CONTAINER and upgrade["command"][-1] == "upgrade"
    server = pod["containers"][0]
    data = next(v for v in pod["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == "mlflow-data"
    for container in (upgrade, server):
        assert {"name": "data", "mountPath": "/mlflow/data"} in container["volumeMounts"], container["name"]
    assert env_of(upgrade)["MLFLOW_BACKEND_STORE_URI"] == "sqlite:////mlflow/data/mlflow.db"
    assert "--backend-store-uri" in server["args"]
    assert (
        server["args"][server["args"].index("--backend-store-uri") + 1] == "sqlite:////mlflow/data/mlflow.db"
    )
    assert deployment["spec"]["template"]["metadata"]["annotations"][db_upgrade.VERSION_ANNOTATION] == (
        MLFLOW_VERSION
    )


@pytest.mark.parametrize("stack", ["local", "dev"])
def test_sqlite_nothing_else_mounts_the_store_claim(stack: str) -> None:
    """No Job could race the init container for the file: only the server pod mounts the claim."""
    users = [
        f"{o['kind']}/{o['metadata']['name']}"
        for o in rendered(stack).objects
        if o["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")
        for v in o["spec"]["template"]["spec"].get("volumes", [])
        if v.get("persistentVolumeClaim", {}).get("claimName") == "mlflow-data"
    ]
    assert users == ["Deployment/mlflow"]
    assert not [r for r in record(stack).of_type(JOB) if r.name == "mlflow-db-upgrade"]


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_a_new_migration_script_rolls_the_server_pods(stack: str) -> None:
    annotations = k8s_object(stack, "Deployment", "mlflow", "mlflow")["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations[db_upgrade.FINGERPRINT_ANNOTATION] == db_upgrade.fingerprint(MLFLOW_VERSION, SCRIPT)
    for container in containers(server_pod(stack)):
        if container["name"] != "mlflow":
            assert {
                "name": db_upgrade.SCRIPT_VOLUME,
                "mountPath": db_upgrade.SCRIPT_DIR,
                "readOnly": True,
            } in (container["volumeMounts"])


def test_the_version_in_the_job_name_is_the_one_the_server_image_installs() -> None:
    from tests.support.tools import REPO_ROOT

    for requirements in (
        REPO_ROOT / "docker" / "mlflow" / "requirements.txt",
        REPO_ROOT / "requirements.txt",
    ):
        pins = [
            line.split("==")[1] for line in requirements.read_text().splitlines() if line.startswith("mlflow")
        ]
        assert pins == [MLFLOW_VERSION], requirements
