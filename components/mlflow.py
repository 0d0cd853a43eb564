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
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kb
from components import mlflow_db_upgrade as db_upgrade
from components.dvc_remote import ARTIFACT_PREFIX, read_write_policy_document
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from components.versions import MLFLOW_VERSION, POSTGRES_ENGINE_VERSION, POSTGRES_PARAMETER_FAMILY
from settings import MlflowSettings

if TYPE_CHECKING:
    from components.cluster import PlatformCluster
    from components.dvc_remote import DvcRemote
    from components.minio import Minio

PORT = 5000
APP = "mlflow"
AUTH_CONFIG_DIR = "/etc/mlflow/auth"
AUTH_CONFIG_FILE = "basic_auth.ini"
DATA_DIR = "/mlflow/data"
PROMETHEUS_DIR = "/tmp/prometheus"
DB_NAME = "mlflow"
DB_USER = "mlflow"
ADMIN_USER = "admin"
AUTH_SECRET = "mlflow-auth"
ARTIFACT_SECRET = "mlflow-artifact-store"
SERVER_RESOURCES = kb.Resources(cpu_request="250m", memory_request="768Mi", cpu_limit="1", memory_limit="2Gi")


@dataclass(frozen=True)
class S3Artifacts:
    """Artifacts in an S3 bucket (the DVC remote), reached through EKS Pod Identity."""

    bucket_name: pulumi.Input[str]
    """Bucket name; artifacts go under `mlflow/`."""
    bucket_arn: pulumi.Input[str]
    """Bucket ARN, for the Pod Identity policy."""
    cluster_name: pulumi.Input[str]
    """EKS cluster the Pod Identity association is made in."""
    region: str
    """AWS region of the bucket."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Customer KMS key of the bucket, if any (uploads need kms:GenerateDataKey)."""

    @classmethod
    def from_dvc_remote(cls, remote: DvcRemote, cluster: PlatformCluster, region: str | None) -> S3Artifacts:
        if cluster.cluster_name is None or not region:
            raise ValueError("S3Artifacts: the DVC remote bucket needs an EKS cluster and an AWS region")
        return cls(remote.bucket_name, remote.bucket_arn, cluster.cluster_name, region, remote.kms_key_arn)


@dataclass(frozen=True)
class MinioArtifacts:
    """Artifacts in the in-cluster MinIO (local stack)."""

    bucket_name: str
    """Bucket created by the Minio component's job."""
    endpoint_url: str
    """In-cluster S3 endpoint, e.g. http://minio.minio.svc.cluster.local:9000."""
    namespace: str
    """MinIO's namespace, for the egress NetworkPolicy."""
    pod_labels: dict[str, str]
    """MinIO pods' labels, for the egress NetworkPolicy."""
    port: int
    """MinIO's S3 port."""
    access_key: pulumi.Input[str]
    """Access key MLflow uses."""
    secret_key: pulumi.Input[str]
    """Secret key MLflow uses."""

    @classmethod
    def from_minio(cls, minio: Minio, bucket: str) -> MinioArtifacts:
        if bucket not in minio.buckets:
            raise ValueError(
                f"MinioArtifacts: bucket {bucket!r} is not one MinIO creates {list(minio.buckets)}"
            )
        return cls(
            bucket,
            minio.endpoint_url,
            minio.namespace,
            minio.pod_labels,
            minio.port,
            minio.access_key,
            minio.secret_key,
        )


@dataclass(frozen=True)
class PostgresNetwork:
    """Where the RDS instance lives and who may reach it."""

    vpc_id: pulumi.Input[str]
    """The cluster's VPC."""
    vpc_cidr: str
    """The VPC's range: MLflow pods may open 5432 only inside it."""
    private_subnet_ids: pulumi.Input[Sequence[str]]
    """Private subnets for the DB subnet group (one per AZ)."""
    node_security_group_id: pulumi.Input[str]
    """Only the cluster nodes' security group may connect."""
    kms_key_arn: pulumi.Input[str] | None = None
    """Customer KMS key for storage encryption (AWS-managed key when None)."""

    @classmethod
    def from_cluster(
        cls, cluster: PlatformCluster, vpc_cidr: str, remote: DvcRemote | None
    ) -> PostgresNetwork:
        if (
            cluster.vpc_id is None
            or cluster.private_subnet_ids is None
            or cluster.node_security_group_id is None
        ):
            raise ValueError(
                "PostgresNetwork: mlflow.backend 'postgres' needs the EKS cluster's VPC (target 'aws')"
            )
        return cls(
            cluster.vpc_id,
            vpc_cidr,
            cluster.private_subnet_ids,
            cluster.node_security_group_id,
            remote.kms_key_arn if remote is not None else None,
        )


@dataclass(frozen=True)
class MlflowServerArgs:
    settings: MlflowSettings
    """The stack's `mlflow` settings (backend, replicas, sizes, RDS options, extra allowed hosts)."""
    image: pulumi.Input[str]
    """Server image with mlflow, psycopg2 and boto3, pinned by digest (PlatformImages builds it from
    docker/mlflow/Dockerfile)."""
    artifacts: S3Artifacts | MinioArtifacts
    """Where artifacts are stored."""
    protect: bool
    """protect + retain_on_delete + deletion protection for the stateful parts (RDS, the SQLite volume)."""
    postgres: PostgresNetwork | None = None
    """Required when settings.backend is 'postgres'."""
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
    backend: str,
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
        backend_store_uri=None if backend == "postgres" else sqlite_uri("mlflow.db"),
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


def postgres_uri(password: str, host: str, port: int = 5432) -> str:
    # psycopg2 explicitly: plain postgresql:// makes SQLAlchemy 2.1 look for psycopg 3.
    return f"postgresql+psycopg2://{DB_USER}:{password}@{host}:{port}/{DB_NAME}?sslmode=require"


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
    artifacts: S3Artifacts | MinioArtifacts,
    postgres_cidr: str | None,
) -> list[dict[str, Any]]:
    """Default deny, then: clients -> MLflow:5000; MLflow -> DNS, its artifact store and its database."""
    egress = [kb.dns_egress_rule()]
    if isinstance(artifacts, MinioArtifacts):
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
        super().__init__("mlops:mlflow:MlflowServer", name, None, opts)
        _validate(args)
        self._name = name
        self._args = args
        self.namespace = args.namespace
        self.service_name = APP
        self.auth_secret_name = AUTH_SECRET
        self.admin_username = ADMIN_USER
        child = pulumi.ResourceOptions(parent=self)

        ns = kb.declare_namespace(f"{name}-namespace", args.namespace, child)
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        self._service_account(in_ns)
        if isinstance(args.artifacts, S3Artifacts):
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
        if args.settings.replicas > 1:
            self._disruption_budget(in_ns)
        for policy in network_policies(
            args.namespace,
            args.client_namespaces,
            args.artifacts,
            args.postgres.vpc_cidr if args.postgres else None,
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

    def _pod_identity(self, s3: S3Artifacts) -> None:
        policy = pulumi.Output.all(s3.bucket_arn, s3.kms_key_arn).apply(
            lambda v: json.dumps(read_write_policy_document(v[0], ARTIFACT_PREFIX, v[1]))
        )
        PodIdentityRole(
            f"{self._name}-pod-identity",
            PodIdentityRoleArgs(
                cluster_name=s3.cluster_name,
                namespace=self._args.namespace,
                service_account=APP,
                policy_document=policy,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _backend_store(self) -> tuple[pulumi.Output[str], pulumi.Output[str] | None]:
        """(auth database URI, backend store URI for the env var, or None when it sits in the args)."""
        if self._args.settings.backend == "sqlite":
            return pulumi.Output.from_input(sqlite_uri("basic_auth.db")), None
        assert self._args.postgres is not None  # _validate
        address, password = self._rds(self._args.postgres)
        uri = pulumi.Output.all(password, address).apply(lambda v: postgres_uri(v[0], v[1]))
        # Auth tables (users, permissions, alembic_version_auth) do not collide with the tracking tables.
        return uri, uri

    def _rds(self, network: PostgresNetwork) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        s = self._args.settings
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        stateful = pulumi.ResourceOptions(
            parent=self, protect=self._args.protect, retain_on_delete=self._args.protect
        )
        password = random.RandomPassword(
            f"{name}-db-password",
            length=32,
            # RDS refuses / @ " and space; alphanumeric also needs no URL-escaping in the store URI.
            special=False,
            opts=child,
        )
        subnets = aws.rds.SubnetGroup(
            f"{name}-db-subnets",
            subnet_ids=network.private_subnet_ids,
            description="MLflow backend store: private subnets only",
            opts=child,
        )
        security_group = aws.ec2.SecurityGroup(
            f"{name}-db",
            vpc_id=network.vpc_id,
            description="MLflow backend store: PostgreSQL from the cluster nodes only",
            ingress=[
                aws.ec2.SecurityGroupIngressArgs(
                    protocol="tcp",
                    from_port=5432,
                    to_port=5432,
                    security_groups=[network.node_security_group_id],
                    description="PostgreSQL from EKS nodes (MLflow pods)",
                )
            ],
            opts=child,
        )
        parameters = aws.rds.ParameterGroup(
            f"{name}-db-params",
            family=POSTGRES_PARAMETER_FAMILY,
            description="MLflow backend store: TLS required",
            parameters=[aws.rds.ParameterGroupParameterArgs(name="rds.force_ssl", value="1")],
            opts=child,
        )
        instance = aws.rds.Instance(
            f"{name}-db",
            engine="postgres",
            engine_version=POSTGRES_ENGINE_VERSION,
            instance_class=s.db_instance_class,
            allocated_storage=s.db_allocated_storage_gib,
            max_allocated_storage=s.db_allocated_storage_gib * 5,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=network.kms_key_arn,
            db_name=DB_NAME,
            username=DB_USER,
            password=password.result,
            db_subnet_group_name=subnets.name,
            vpc_security_group_ids=[security_group.id],
            parameter_group_name=parameters.name,
            publicly_accessible=False,
            multi_az=bool(s.db_multi_az),
            backup_retention_period=s.db_backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=self._args.protect,
            skip_final_snapshot=False,
            final_snapshot_identifier=f"{name}-db-final",
            auto_minor_version_upgrade=True,
            iam_database_authentication_enabled=True,
            enabled_cloudwatch_logs_exports=["postgresql", "upgrade"],
            performance_insights_enabled=True,
            apply_immediately=False,
            opts=stateful,
        )
        self.db_address = instance.address
        return instance.address, password.result

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
        if not isinstance(store, MinioArtifacts):
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
        if self._args.settings.backend != "sqlite":
            return None
        claim = kb.volume_claim_manifest(
            "mlflow-data",
            self._args.namespace,
            self._args.settings.storage_size_gib,
            self._args.storage_class,
            APP,
        )
        k8s.core.v1.PersistentVolumeClaim(
            f"{self._name}-data",
            metadata=claim["metadata"],
            spec=claim["spec"],
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(protect=self._args.protect, retain_on_delete=self._args.protect)
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
        if a.postgres is None:
            return [config_map]
        service_account = kb.declare_service_account(
            f"{self._name}-db-upgrade-service-account", db_upgrade.APP, a.namespace, opts
        )
        policy = kb.declare_network_policy(
            f"{self._name}-netpol-{db_upgrade.APP}",
            db_upgrade.network_policy(a.namespace, a.postgres.vpc_cidr),
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
        s = a.settings
        artifacts = a.artifacts
        region = artifacts.region if isinstance(artifacts, S3Artifacts) else None
        endpoint = artifacts.endpoint_url if isinstance(artifacts, MinioArtifacts) else None

        def build(bucket: str, image: str) -> dict[str, Any]:
            server_args = container_server_args(
                namespace=a.namespace, bucket=bucket, backend=s.backend, extra_allowed_hosts=s.allowed_hosts
            )
            return deployment_manifest(
                namespace=a.namespace,
                image=image,
                replicas=s.replicas,
                server_args=server_args,
                postgres=s.backend == "postgres",
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


def _validate(args: MlflowServerArgs) -> None:
    s = args.settings
    if s.backend == "postgres" and args.postgres is None:
        raise ValueError("MlflowServer: mlflow.backend = 'postgres' needs PostgresNetwork (target 'aws')")
    if s.backend == "sqlite" and s.replicas != 1:
        raise ValueError(f"MlflowServer: mlflow.replicas = {s.replicas} with the sqlite backend: expected 1")
    if s.backend == "postgres" and not s.db_instance_class:
        raise ValueError("MlflowServer: mlflow.dbInstanceClass is required for the postgres backend")
