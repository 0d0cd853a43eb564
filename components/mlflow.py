"""MLflow tracking server and model registry, hardened, with its backend store and artifact store.

Backend store: SQLite on a PersistentVolume (one replica) or RDS PostgreSQL (production: Multi-AZ,
encrypted, SSL forced, backups, deletion protection, final snapshot). Artifacts are proxied by the
server (`--serve-artifacts`) into S3 under `mlflow/` (the DVC remote bucket, reached through EKS Pod
Identity, no static keys) or into MinIO on the local stack. Basic auth is on; the admin password and the
Flask secret key are generated and reach the pod only through a Kubernetes Secret.

`container_server_args` (over `mlflow_server_args`) is the one place the server's command line is built:
the container gets it and the integration test starts a real server with it.

Schema migrations are an explicit step (components/mlflow_db_upgrade.py): a Job before the Deployment on
PostgreSQL, an init container inside the Recreate rollout on SQLite; server pods never migrate themselves.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kb
from components import mlflow_db_upgrade as db_upgrade
from components.artifact_store import ArtifactStore, MinioArtifactStore, S3ArtifactStore
from components.cluster_handle import ClusterHandle, EksClusterHandle
from components.dvc_remote import ARTIFACT_PREFIX, read_write_policy_document
from components.mlflow_database import declare_postgres_database, postgres_uri
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from versions import MLFLOW_VERSION

PORT = 5000
APP = "mlflow"
AUTH_CONFIG_DIR = "/etc/mlflow/auth"
AUTH_CONFIG_FILE = "basic_auth.ini"
DATA_DIR = "/mlflow/data"
PROMETHEUS_DIR = "/tmp/prometheus"
ADMIN_USER = "admin"
AUTH_SECRET = "mlflow-auth"
ARTIFACT_SECRET = "mlflow-artifact-store"
SERVER_RESOURCES = kb.Resources(cpu_request="250m", memory_request="768Mi", cpu_limit="1", memory_limit="2Gi")


@dataclass(frozen=True)
class SqliteBackend:
    """The store in a SQLite file on a PersistentVolume: one replica (ReadWriteOnce, one writer)."""

    storage_size_gib: int
    """Size of the volume."""


@dataclass(frozen=True)
class PostgresBackend:
    """The store in RDS PostgreSQL inside the cluster's VPC (components/mlflow_database.py)."""

    instance_class: str
    """RDS instance class, e.g. db.t4g.small."""
    allocated_storage_gib: int
    """Initial storage; autoscaling may grow it to five times this."""
    backup_retention_days: int
    """Automated backups kept this long."""
    multi_az: bool
    """A standby in a second AZ."""


@dataclass(frozen=True)
class MlflowServerOptions:
    """What a stack chooses for its server (settings.py resolves these from `mlflow.*`)."""

    backend: SqliteBackend | PostgresBackend
    """Where runs, models and users are stored."""
    replicas: int
    """Server pods (one with SQLite)."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra host names the server answers to (an ingress host); the Service's own are always allowed."""
    protect: bool = False
    """protect + retain_on_delete + deletion protection for the stateful parts (RDS, the SQLite volume)."""


@dataclass(frozen=True)
class MlflowServerArgs:
    options: MlflowServerOptions
    """Backend, replicas, host names, protection."""
    image: pulumi.Input[str]
    """Server image with mlflow, psycopg2 and boto3, pinned by digest (PlatformImages builds it from
    docker/mlflow/Dockerfile)."""
    artifacts: ArtifactStore
    """Where artifacts are stored: S3 through Pod Identity, or MinIO with its keys."""
    cluster: ClusterHandle
    """The cluster: Pod Identity (S3 artifacts) and the VPC (PostgreSQL) need an EKS handle."""
    namespace: str = "mlflow"
    """Namespace created for the server."""
    client_namespaces: Sequence[str] = ("kubeflow", "monitoring")
    """Namespaces whose pods may call MLflow (pipeline steps, Prometheus)."""
    storage_class: str | None = None
    """StorageClass of the SQLite volume (cluster default when None)."""


# --- pure planning -------------------------------------------------------------------------------------


def service_hosts(namespace: str, service: str = APP, port: int = PORT) -> list[str]:
    """Every Host header a client inside the cluster (or a port-forward) sends to the Service."""
    names = [
        service,
        f"{service}.{namespace}",
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
    ]
    return [*names, *(f"{n}:{port}" for n in names), "localhost:*", "127.0.0.1:*"]


def cors_origins(extra_hosts: Sequence[str], port: int = PORT) -> list[str]:
    """Browsers may call the API from the port-forwarded UI and from the configured ingress hosts."""
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}", *(f"https://{h}" for h in extra_hosts)]


def mlflow_server_args(
    *,
    host: str,
    port: int,
    artifacts_destination: str,
    allowed_hosts: Sequence[str],
    cors_allowed_origins: Sequence[str],
    backend_store_uri: str | None,
    workers: int = 2,
    prometheus_dir: str = PROMETHEUS_DIR,
) -> list[str]:
    """`mlflow` CLI arguments of the tracking server.

    `backend_store_uri=None` leaves the store to `MLFLOW_BACKEND_STORE_URI` (a Secret-backed env var),
    so a database password never appears in the pod spec.
    """
    if not allowed_hosts or "*" in allowed_hosts:
        raise ValueError("mlflow --allowed-hosts: expected explicit host names, not empty and not '*'")
    if not cors_allowed_origins or "*" in cors_allowed_origins:
        raise ValueError("mlflow --cors-allowed-origins: expected explicit origins, not empty and not '*'")
    args = [
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts_destination,
        "--allowed-hosts",
        ",".join(allowed_hosts),
        "--cors-allowed-origins",
        ",".join(cors_allowed_origins),
        "--expose-prometheus",
        prometheus_dir,
    ]
    if backend_store_uri is not None:
        args += ["--backend-store-uri", backend_store_uri]
    return args


def container_server_args(
    *,
    namespace: str,
    bucket: str,
    postgres: bool,
    extra_allowed_hosts: Sequence[str] = (),
    host: str = "0.0.0.0",
    port: int = PORT,
    prometheus_dir: str = PROMETHEUS_DIR,
) -> list[str]:
    """The server container's arguments; the integration test changes only where it listens and writes."""
    return mlflow_server_args(
        host=host,
        port=port,
        artifacts_destination=f"s3://{bucket}/{ARTIFACT_PREFIX}",
        allowed_hosts=[*service_hosts(namespace, port=port), *extra_allowed_hosts],
        cors_allowed_origins=cors_origins(extra_allowed_hosts, port=port),
        backend_store_uri=None if postgres else sqlite_uri("mlflow.db"),
        prometheus_dir=prometheus_dir,
    )


def auth_config_ini(database_uri: str) -> str:
    """Basic-auth config. Admin name/password come from MLFLOW_AUTH_ADMIN_* env vars, not this file."""
    return (
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {database_uri}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "grant_default_workspace_access = false\n"
        # Every request would otherwise re-derive the password hash (scrypt/PBKDF2): that dominates the
        # cost of a model upload's many small requests. A changed password reaches all workers within 60 s.
        "auth_cache_ttl_seconds = 60\n"
    )


def sqlite_uri(file_name: str) -> str:
    return f"sqlite:///{DATA_DIR}/{file_name}"


def store_env(postgres: bool) -> list[dict[str, Any]]:
    """What both the server and the migration step need to find the stores: one definition for both."""
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": f"{AUTH_CONFIG_DIR}/{AUTH_CONFIG_FILE}"},
    ]
    if postgres:
        env.append(kb.secret_env("MLFLOW_BACKEND_STORE_URI", AUTH_SECRET, "backend-store-uri"))
    else:
        env.append({"name": "MLFLOW_BACKEND_STORE_URI", "value": sqlite_uri("mlflow.db")})
    return env


def auth_config_volume() -> dict[str, Any]:
    return {
        "name": "auth-config",
        "secret": {
            "secretName": AUTH_SECRET,
            "items": [{"key": AUTH_CONFIG_FILE, "path": AUTH_CONFIG_FILE}],
            "defaultMode": 0o440,
        },
    }


STORE_MOUNTS: list[dict[str, Any]] = [
    {"name": "tmp", "mountPath": "/tmp"},
    {"name": "auth-config", "mountPath": AUTH_CONFIG_DIR, "readOnly": True},
]
DATA_MOUNT: dict[str, Any] = {"name": "data", "mountPath": DATA_DIR}


def migration_job_manifest(
    *, namespace: str, image: str, script: str, mlflow_version: str = MLFLOW_VERSION
) -> dict[str, Any]:
    """PostgreSQL: the Job that migrates the store before the Deployment rolls out (the server's env)."""
    container = db_upgrade.migration_container(
        "upgrade", image=image, env=store_env(postgres=True), volume_mounts=STORE_MOUNTS
    )
    return db_upgrade.job_manifest(
        namespace=namespace,
        mlflow_version=mlflow_version,
        script=script,
        container=container,
        volumes=[kb.temp_volume("tmp", "256Mi"), auth_config_volume()],
    )


def deployment_manifest(
    *,
    namespace: str,
    image: str,
    replicas: int,
    server_args: Sequence[str],
    postgres: bool,
    minio: bool,
    region: str | None,
    s3_endpoint_url: str | None,
    data_claim: str | None,
    migration_script: str,
    mlflow_version: str = MLFLOW_VERSION,
) -> dict[str, Any]:
    """The server Deployment: hardened pod, probes on /health, spread across zones with >1 replica.

    Its first (init) container is the schema step: `upgrade` on SQLite (the Recreate strategy has stopped
    the old pod, so nothing else holds the file), `check` on PostgreSQL (the Job has migrated it).
    """
    if postgres == bool(data_claim):
        raise ValueError("MLflow Deployment: expected a data claim for SQLite and none for PostgreSQL")
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "MLFLOW_AUTH_CONFIG_PATH", "value": f"{AUTH_CONFIG_DIR}/{AUTH_CONFIG_FILE}"},
        kb.secret_env("MLFLOW_AUTH_ADMIN_USERNAME", AUTH_SECRET, "admin-username"),
        kb.secret_env("MLFLOW_AUTH_ADMIN_PASSWORD", AUTH_SECRET, "admin-password"),
        kb.secret_env("MLFLOW_FLASK_SERVER_SECRET_KEY", AUTH_SECRET, "flask-secret-key"),
    ]
    if postgres:
        env.append(kb.secret_env("MLFLOW_BACKEND_STORE_URI", AUTH_SECRET, "backend-store-uri"))
    if region:
        env.append({"name": "AWS_DEFAULT_REGION", "value": region})
    if minio:
        if s3_endpoint_url is None:
            raise ValueError("MLflow on MinIO needs the MinIO S3 endpoint URL")
        env += [
            {"name": "MLFLOW_S3_ENDPOINT_URL", "value": s3_endpoint_url},
            kb.secret_env("AWS_ACCESS_KEY_ID", ARTIFACT_SECRET, "access-key"),
            kb.secret_env("AWS_SECRET_ACCESS_KEY", ARTIFACT_SECRET, "secret-key"),
        ]
    mounts: list[dict[str, Any]] = list(STORE_MOUNTS)
    volumes: list[dict[str, Any]] = [
        kb.temp_volume("tmp", "1Gi"),
        auth_config_volume(),
        db_upgrade.script_volume(),
    ]
    if data_claim:
        mounts.append(DATA_MOUNT)
        volumes.append({"name": "data", "persistentVolumeClaim": {"claimName": data_claim}})
    schema_step = db_upgrade.migration_container(
        "check" if postgres else "upgrade", image=image, env=store_env(postgres), volume_mounts=mounts
    )
    container = kb.ContainerSpec(
        name=APP,
        image=image,
        command=["mlflow"],
        args=server_args,
        env=env,
        ports=[{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        volume_mounts=mounts,
        resources=SERVER_RESOURCES,
        # The schema is current before this container starts (the init container), but the first start
        # still creates the auth admin and imports a lot: give liveness room.
        liveness=kb.Probe(
            "/health", "http", initial_delay_seconds=60, period_seconds=20, failure_threshold=5
        ),
        readiness=kb.Probe("/health", "http", initial_delay_seconds=10, period_seconds=10),
    )
    selector = kb.selector_labels(APP, "tracking-server")
    pod = kb.PodSpec(
        service_account=APP,
        init_containers=[schema_step],
        containers=[container],
        volumes=volumes,
        topology_spread=kb.zone_spread(selector) if replicas > 1 else (),
    )
    strategy: dict[str, Any] = (
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
        if replicas > 1
        # One ReadWriteOnce volume: the old pod must let go of it before the new one starts.
        else {"type": "Recreate"}
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP, "namespace": namespace, "labels": kb.labels(APP, "tracking-server")},
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "strategy": strategy,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": kb.labels(APP, "tracking-server"),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/path": "/metrics",
                        "prometheus.io/port": str(PORT),
                        # A new script rolls the pods even when the image is the same.
                        **db_upgrade.pod_annotations(mlflow_version, migration_script),
                    },
                },
                "spec": pod.manifest(),
            },
        },
    }


def network_policies(
    namespace: str,
    client_namespaces: Sequence[str],
    artifacts: ArtifactStore,
    postgres_cidr: str | None,
) -> list[dict[str, Any]]:
    """Default deny, then: clients -> MLflow:5000; MLflow -> DNS, its artifact store and its database."""
    egress = [kb.dns_egress_rule()]
    if isinstance(artifacts, MinioArtifactStore):
        egress.append(kb.to_namespace_rule(artifacts.namespace, artifacts.pod_labels, [artifacts.port]))
    else:
        # S3 has no fixed addresses: HTTPS anywhere except the node's instance metadata (node credentials).
        egress.append(kb.to_cidrs_rule(["0.0.0.0/0"], [443], except_cidrs=[kb.INSTANCE_METADATA_CIDR]))
        egress.append(kb.to_cidrs_rule([kb.POD_IDENTITY_AGENT_CIDR], [80]))
    if postgres_cidr:
        egress.append(kb.to_cidrs_rule([postgres_cidr], [5432]))
    return [
        kb.default_deny_policy(namespace),
        kb.allow_policy(
            "mlflow-server",
            namespace,
            kb.selector_labels(APP, "tracking-server"),
            ingress=[kb.from_namespaces_rule([namespace, *client_namespaces], [PORT])],
            egress=egress,
        ),
    ]


# --- the component -------------------------------------------------------------------------------------


class MlflowServer(pulumi.ComponentResource):
    db_address: pulumi.Output[str] | None = None
    tracking_uri: pulumi.Output[str]
    namespace: str
    service_name: str
    auth_secret_name: str
    admin_username: str
    admin_password: pulumi.Output[str]
    port_forward: str

    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        eks_handle = _eks_handle(args)
        super().__init__("mlops:mlflow:MlflowServer", name, None, opts)
        self._name = name
        self._args = args
        self._postgres = isinstance(args.options.backend, PostgresBackend)
        if eks_handle is not None:
            self._eks = eks_handle
            self._vpc = eks_handle.vpc
        self.namespace = args.namespace
        self.service_name = APP
        self.auth_secret_name = AUTH_SECRET
        self.admin_username = ADMIN_USER
        child = pulumi.ResourceOptions(parent=self)

        ns = kb.declare_namespace(f"{name}-namespace", args.namespace, child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self._service_account(in_ns)
        if isinstance(args.artifacts, S3ArtifactStore):
            self._pod_identity(args.artifacts)
        database_uri, backend_uri = self._backend_store()
        secrets = [self._auth_secret(database_uri, backend_uri, in_ns)]
        artifact_secret = self._artifact_secret(in_ns)
        if artifact_secret is not None:
            secrets.append(artifact_secret)
        data_claim = self._data_volume(in_ns)
        script = db_upgrade.SCRIPT.read_text(encoding="utf-8")
        schema_step = self._schema_migration(script, secrets, in_ns)
        # On PostgreSQL the Job is among these: no new server pod starts before the store is migrated.
        after_migration = pulumi.ResourceOptions(parent=self, depends_on=[ns, *secrets, *schema_step])
        self.deployment = self._deployment(data_claim, artifact_secret is not None, script, after_migration)
        self._service(in_ns)
        if args.options.replicas > 1:
            self._disruption_budget(in_ns)
        for policy in network_policies(
            args.namespace,
            args.client_namespaces,
            args.artifacts,
            self._vpc.cidr if self._postgres else None,
        ):
            kb.declare_network_policy(f"{name}-netpol-{policy['metadata']['name']}", policy, in_ns)

        self.tracking_uri = pulumi.Output.from_input(
            f"http://{APP}.{args.namespace}.svc.cluster.local:{PORT}"
        )
        self.port_forward = f"kubectl -n {args.namespace} port-forward svc/{APP} {PORT}:{PORT}"
        self.register_outputs(
            {
                "tracking_uri": self.tracking_uri,
                "namespace": self.namespace,
                "auth_secret_name": self.auth_secret_name,
                "admin_password": self.admin_password,
            }
        )

    # --- children ---

    def _service_account(self, opts: pulumi.ResourceOptions) -> None:
        kb.declare_service_account(f"{self._name}-service-account", APP, self._args.namespace, opts)

    def _pod_identity(self, s3: S3ArtifactStore) -> None:
        policy = pulumi.Output.all(s3.bucket_arn, s3.kms_key_arn).apply(
            lambda v: json.dumps(read_write_policy_document(v[0], ARTIFACT_PREFIX, v[1]))
        )
        PodIdentityRole(
            f"{self._name}-pod-identity",
            PodIdentityRoleArgs(
                cluster_name=self._eks.cluster_name,
                namespace=self._args.namespace,
                service_account=APP,
                policy_document=policy,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _backend_store(self) -> tuple[pulumi.Output[str], pulumi.Output[str] | None]:
        """(auth database URI, backend store URI for the env var, or None when it sits in the args)."""
        backend = self._args.options.backend
        if isinstance(backend, SqliteBackend):
            return pulumi.Output.from_input(sqlite_uri("basic_auth.db")), None
        artifacts = self._args.artifacts
        database = declare_postgres_database(
            self._name,
            backend,
            self._vpc,
            # The bucket's customer key encrypts the database too: one key to rotate and audit.
            kms_key_arn=artifacts.kms_key_arn if isinstance(artifacts, S3ArtifactStore) else None,
            protect=self._args.options.protect,
            parent=self,
        )
        self.db_address = database.address
        address, password = database.address, database.password
        uri = pulumi.Output.all(password, address).apply(lambda v: postgres_uri(v[0], v[1]))
        # Auth tables (users, permissions, alembic_version_auth) do not collide with the tracking tables.
        return uri, uri

    def _auth_secret(
        self,
        database_uri: pulumi.Output[str],
        backend_uri: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions,
    ) -> k8s.core.v1.Secret:
        child = pulumi.ResourceOptions(parent=self)
        admin = random.RandomPassword(f"{self._name}-admin-password", length=32, special=False, opts=child)
        flask_key = random.RandomPassword(
            f"{self._name}-flask-secret-key", length=64, special=False, opts=child
        )
        self.admin_password = pulumi.Output.secret(admin.result)
        data: dict[str, pulumi.Input[str]] = {
            "admin-username": ADMIN_USER,
            "admin-password": admin.result,
            "flask-secret-key": flask_key.result,
            AUTH_CONFIG_FILE: database_uri.apply(auth_config_ini),
        }
        if backend_uri is not None:
            data["backend-store-uri"] = backend_uri
        return k8s.core.v1.Secret(
            f"{self._name}-auth",
            metadata={"name": AUTH_SECRET, "namespace": self._args.namespace, "labels": kb.labels(APP)},
            type="Opaque",
            string_data={k: pulumi.Output.secret(v) for k, v in data.items()},
            opts=opts,
        )

    def _artifact_secret(self, opts: pulumi.ResourceOptions) -> k8s.core.v1.Secret | None:
        store = self._args.artifacts
        if not isinstance(store, MinioArtifactStore):
            return None
        return k8s.core.v1.Secret(
            f"{self._name}-artifact-store",
            metadata={"name": ARTIFACT_SECRET, "namespace": self._args.namespace, "labels": kb.labels(APP)},
            type="Opaque",
            string_data={
                "access-key": pulumi.Output.secret(store.access_key),
                "secret-key": pulumi.Output.secret(store.secret_key),
            },
            opts=opts,
        )

    def _data_volume(self, opts: pulumi.ResourceOptions) -> str | None:
        backend = self._args.options.backend
        if not isinstance(backend, SqliteBackend):
            return None
        claim = kb.volume_claim_manifest(
            "mlflow-data",
            self._args.namespace,
            backend.storage_size_gib,
            self._args.storage_class,
            APP,
        )
        k8s.core.v1.PersistentVolumeClaim(
            f"{self._name}-data",
            metadata=claim["metadata"],
            spec=claim["spec"],
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    protect=self._args.options.protect, retain_on_delete=self._args.options.protect
                ),
            ),
        )
        return str(claim["metadata"]["name"])

    def _schema_migration(
        self, script: str, secrets: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions
    ) -> list[pulumi.Resource]:
        """The migration script for the pods' init containers; on PostgreSQL also the migration Job."""
        a = self._args
        config_map = k8s.core.v1.ConfigMap(
            f"{self._name}-db-upgrade-script",
            metadata={"name": db_upgrade.CONFIG_MAP, "namespace": a.namespace, "labels": kb.labels(APP)},
            data={db_upgrade.SCRIPT.name: script},
            opts=opts,
        )
        if not self._postgres:
            return [config_map]
        service_account = kb.declare_service_account(
            f"{self._name}-db-upgrade-service-account", db_upgrade.APP, a.namespace, opts
        )
        policy = kb.declare_network_policy(
            f"{self._name}-netpol-{db_upgrade.APP}",
            db_upgrade.network_policy(a.namespace, self._vpc.cidr),
            opts,
        )
        manifest = pulumi.Output.from_input(a.image).apply(
            lambda image: migration_job_manifest(namespace=a.namespace, image=image, script=script)
        )
        job = k8s.batch.v1.Job(
            f"{self._name}-db-upgrade",
            metadata=manifest.apply(lambda m: m["metadata"]),
            spec=manifest.apply(lambda m: m["spec"]),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*secrets, config_map, service_account, policy],
                # A large store's migration outlasts the provider's 10-minute Job await.
                custom_timeouts=pulumi.CustomTimeouts(create="30m", update="30m"),
            ),
        )
        return [config_map, job]

    def _deployment(
        self, data_claim: str | None, minio: bool, script: str, opts: pulumi.ResourceOptions
    ) -> k8s.apps.v1.Deployment:
        a = self._args
        s = a.options
        artifacts = a.artifacts
        region = artifacts.region if isinstance(artifacts, S3ArtifactStore) else None
        endpoint = artifacts.endpoint_url if isinstance(artifacts, MinioArtifactStore) else None

        def build(bucket: str, image: str) -> dict[str, Any]:
            server_args = container_server_args(
                namespace=a.namespace,
                bucket=bucket,
                postgres=self._postgres,
                extra_allowed_hosts=s.allowed_hosts,
            )
            return deployment_manifest(
                namespace=a.namespace,
                image=image,
                replicas=s.replicas,
                server_args=server_args,
                postgres=self._postgres,
                minio=minio,
                region=region,
                s3_endpoint_url=endpoint,
                data_claim=data_claim,
                migration_script=script,
            )

        manifest = pulumi.Output.all(artifacts.bucket_name, a.image).apply(lambda v: build(v[0], v[1]))
        return k8s.apps.v1.Deployment(
            f"{self._name}-deployment",
            metadata=manifest.apply(lambda m: m["metadata"]),
            spec=manifest.apply(lambda m: m["spec"]),
            opts=opts,
        )

    def _service(self, opts: pulumi.ResourceOptions) -> None:
        selector = kb.selector_labels(APP, "tracking-server")
        service = kb.service_manifest(APP, self._args.namespace, selector, {"http": PORT}, "tracking-server")
        k8s.core.v1.Service(
            f"{self._name}-service", metadata=service["metadata"], spec=service["spec"], opts=opts
        )

    def _disruption_budget(self, opts: pulumi.ResourceOptions) -> None:
        budget = kb.disruption_budget_manifest(
            APP, self._args.namespace, kb.selector_labels(APP, "tracking-server")
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb", metadata=budget["metadata"], spec=budget["spec"], opts=opts
        )


def _eks_handle(args: MlflowServerArgs) -> EksClusterHandle | None:
    """Type-level invariants: S3 artifacts (Pod Identity) and PostgreSQL (a VPC) need an EKS cluster."""
    needs_eks = [
        what
        for what, needed in (
            ("S3 artifacts (Pod Identity)", isinstance(args.artifacts, S3ArtifactStore)),
            ("the PostgreSQL backend (RDS in the VPC)", isinstance(args.options.backend, PostgresBackend)),
        )
        if needed
    ]
    if needs_eks and not isinstance(args.cluster, EksClusterHandle):
        raise TypeError(f"MlflowServer: {' and '.join(needs_eks)} need an EksClusterHandle")
    if isinstance(args.options.backend, SqliteBackend) and args.options.replicas != 1:
        raise TypeError("MlflowServer: a SqliteBackend has one writer: expected replicas == 1")
    return args.cluster if isinstance(args.cluster, EksClusterHandle) else None
