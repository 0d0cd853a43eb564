"""Run the Pulumi program offline, under recording mocks, and query what it registered.

`run_stack("dev")` loads the committed `Pulumi.dev.yaml`, hands its config to the program the way the
Pulumi language host does (the `PULUMI_CONFIG` and `PULUMI_CONFIG_SECRET_KEYS` environment variables),
runs `__main__.py`, and returns a `Record`: every registered resource with its type, name, inputs,
parent, provider, resource options and aliases, plus the stack exports. Tests assert on the record in
plain code.

Mocks answer like the cloud would (ARNs, IDs, a real-shaped kubeconfig for `eks:index:Cluster`) and
raise on any invoke they do not know, so a new data-source call cannot pass silently with an empty answer.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import runpy
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings

PROJECT = "mlops-infra"
REPO_ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_ID = "123456789012"
MAIN_PROGRAM = REPO_ROOT / "__main__.py"


class UnmockedInvokeError(AssertionError):
    """The program called a data source the mocks do not answer: add a realistic answer to INVOKES."""


@dataclass
class Recorded:
    """One registered resource, as the engine saw it."""

    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    custom: bool
    remote: bool
    parent: str
    provider: str
    providers: dict[str, str]
    """Package -> provider reference, as a component (remote ones included) received them."""
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    dependencies: list[str]
    ignore_changes: list[str]
    additional_secret_outputs: list[str]
    aliases: list[dict[str, Any]]
    """Former identities the engine maps onto this resource, as sent: `{"urn": ...}` or `{"spec": {...}}`."""

    @property
    def id(self) -> str:
        return str(self.outputs.get("id", ""))


@dataclass
class Record:
    """Everything one program run registered, with query helpers."""

    stack: str
    resources: list[Recorded] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)
    secret_exports: set[str] = field(default_factory=set)
    invokes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Every invoke the program made: (token, arguments)."""
    error: BaseException | None = None

    def of_type(self, type_token: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        if len(found) != 1:
            names = [r.name for r in self.of_type(type_token)]
            raise AssertionError(
                f"expected one {type_token} named {name!r}, found {len(found)} among {names}"
            )
        return found[0]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one resource named {name!r}, found {len(found)}")
        return found[0]

    def children_of(self, parent: Recorded) -> list[Recorded]:
        return [r for r in self.resources if r.parent == parent.urn]

    def types(self) -> set[str]:
        return {r.type for r in self.resources}

    def where(self, predicate: Callable[[Recorded], bool]) -> list[Recorded]:
        return [r for r in self.resources if predicate(r)]


# --- realistic answers ---------------------------------------------------------------------------------

REGION = "us-east-1"


def fake_kubeconfig(cluster_name: str, endpoint: str) -> dict[str, Any]:
    """The shape pulumi-eks returns: exec-based auth through the AWS CLI, no static token."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "kubernetes",
                "cluster": {
                    "server": endpoint,
                    "certificate-authority-data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
                },
            }
        ],
        "contexts": [{"name": "aws", "context": {"cluster": "kubernetes", "user": "aws"}}],
        "current-context": "aws",
        "users": [
            {
                "name": "aws",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--output", "json"],
                    }
                },
            }
        ],
    }


def _stable(*parts: object) -> int:
    """A deterministic number for fake IDs (hash() is salted per process; rendered output must not be)."""
    return zlib.crc32(repr(parts).encode())


def _arn(service: str, resource: str, *, region: bool = True) -> str:
    return f"arn:aws:{service}:{REGION if region else ''}:{ACCOUNT_ID}:{resource}"


def _outputs_for(type_token: str, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(id, outputs) a real provider would return for this resource type."""
    outputs = dict(inputs)
    physical = f"{name}-{_stable((type_token, name)) % 10**7:07d}"
    resource_id = f"{physical}_id"
    match type_token:
        case "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{inputs.get('bucketPrefix', name)}{_stable(name) % 10**8:08d}"
            resource_id = bucket
            outputs |= {"bucket": bucket, "arn": f"arn:aws:s3:::{bucket}", "region": REGION}
        case "aws:kms/key:Key":
            resource_id = f"0f1e2d3c-{_stable(name) % 10**4:04d}-4b5a-9c8d-7e6f5a4b3c2d"
            outputs |= {"arn": _arn("kms", f"key/{resource_id}"), "keyId": resource_id}
        case "aws:iam/role:Role":
            role = inputs.get("name") or physical
            outputs |= {
                "arn": _arn("iam", f"role/{role}", region=False),
                "name": role,
                "uniqueId": "AROA" + "X" * 17,
            }
        case "aws:iam/policy:Policy":
            outputs |= {"arn": _arn("iam", f"policy/{physical}", region=False), "name": physical}
        case "aws:ec2/vpc:Vpc":
            resource_id = f"vpc-{_stable(name) % 16**8:08x}"
            outputs |= {"arn": _arn("ec2", f"vpc/{resource_id}"), "defaultSecurityGroupId": "sg-0a1b2c3d"}
        case "aws:ec2/subnet:Subnet":
            resource_id = f"subnet-{_stable(name) % 16**8:08x}"
            outputs |= {"arn": _arn("ec2", f"subnet/{resource_id}")}
        case "aws:ec2/securityGroup:SecurityGroup":
            resource_id = f"sg-{_stable(name) % 16**8:08x}"
            outputs |= {"arn": _arn("ec2", f"security-group/{resource_id}")}
        case "aws:ec2/launchTemplate:LaunchTemplate":
            resource_id = f"lt-{_stable(name) % 16**8:08x}"
            outputs |= {"arn": _arn("ec2", f"launch-template/{resource_id}"), "latestVersion": 1}
        case "aws:rds/instance:Instance":
            host = f"{physical}.c9akciq32.{REGION}.rds.amazonaws.com"
            outputs |= {
                "address": host,
                "endpoint": f"{host}:5432",
                "port": 5432,
                "arn": _arn("rds", f"db:{physical}"),
            }
        case "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(inputs.get("url", "")).removeprefix("https://")
            outputs |= {"arn": _arn("iam", f"oidc-provider/{host}", region=False)}
        case "aws:ecr/repository:Repository":
            repo = inputs.get("name") or physical
            outputs |= {
                "arn": _arn("ecr", f"repository/{repo}"),
                "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{repo}",
                "registryId": ACCOUNT_ID,
            }
        case "docker-build:index:Image":
            # What BuildKit reports after a push: the first tag pinned by the manifest digest.
            digest = "sha256:" + hashlib.sha256(repr(sorted(inputs.items())).encode()).hexdigest()
            tags = inputs.get("tags") or [f"registry.invalid/{name}:latest"]
            outputs |= {"digest": digest, "ref": f"{tags[0]}@{digest}"}
        case "aws:cloudwatch/logGroup:LogGroup":
            outputs |= {"arn": _arn("logs", f"log-group:{inputs.get('name', physical)}")}
        case "aws:ec2/eip:Eip":
            resource_id = f"eipalloc-{_stable(name) % 16**8:08x}"
            octet = _stable(name) % 250 + 1
            outputs |= {"allocationId": resource_id, "publicIp": f"198.51.100.{octet}", "domain": "vpc"}
        case "aws:ec2/internetGateway:InternetGateway":
            resource_id = f"igw-{_stable(name) % 16**8:08x}"
            outputs |= {"arn": _arn("ec2", f"internet-gateway/{resource_id}")}
        case "aws:ec2/natGateway:NatGateway":
            resource_id = f"nat-{_stable(name) % 16**8:08x}"
            outputs |= {"publicIp": "198.51.100.10", "privateIp": "10.0.224.10"}
        case "aws:ec2/routeTable:RouteTable":
            resource_id = f"rtb-{_stable(name) % 16**8:08x}"
            outputs |= {"arn": _arn("ec2", f"route-table/{resource_id}")}
        case "aws:eks/nodeGroup:NodeGroup":
            cluster = inputs.get("clusterName", "cluster")
            resource_id = f"{cluster}:{physical}"
            uuid = f"{_stable(name) % 16**8:08x}-0a1b-2c3d-4e5f-{_stable(name, 'asg') % 16**12:012x}"
            outputs |= {
                "arn": _arn("eks", f"nodegroup/{cluster}/{physical}/{uuid}"),
                "nodeGroupName": physical,
                "status": "ACTIVE",
                # EKS names the group's Auto Scaling group eks-<node group>-<uuid>.
                "resources": [{"autoscalingGroups": [{"name": f"eks-{physical}-{uuid}"}]}],
            }
        case "aws:eks/addon:Addon":
            cluster, addon = inputs.get("clusterName", "cluster"), inputs.get("addonName", name)
            resource_id = f"{cluster}:{addon}"
            outputs |= {"arn": _arn("eks", f"addon/{cluster}/{addon}/{_stable(name) % 16**8:08x}")}
        case "aws:eks/podIdentityAssociation:PodIdentityAssociation":
            association = f"a-{_stable(name) % 36**17:017d}"[:19]
            cluster = inputs.get("clusterName", "cluster")
            resource_id = f"{cluster},{association}"
            outputs |= {
                "associationId": association,
                "associationArn": _arn("eks", f"podidentityassociation/{cluster}/{association}"),
            }
        case "eks:index:Cluster":
            cluster_name = inputs.get("name") or physical
            endpoint = f"https://{_stable(name) % 16**12:012X}.gr7.{REGION}.eks.amazonaws.com"
            outputs |= {
                "kubeconfig": fake_kubeconfig(cluster_name, endpoint),
                "kubeconfigJson": json.dumps(fake_kubeconfig(cluster_name, endpoint)),
                "clusterSecurityGroupId": "sg-0c1u5t3r",
                "nodeSecurityGroupId": "sg-0n0d3s",
                "oidcIssuer": f"oidc.eks.{REGION}.amazonaws.com/id/{_stable(name) % 16**12:012X}",
                "eksClusterName": cluster_name,
                "endpoint": endpoint,
            }
        case "random:index/randomPassword:RandomPassword":
            # Deterministic per name; hex digits fit every character-class choice of the inputs.
            length = int(inputs.get("length", 16))
            digest = hashlib.sha256(f"password:{name}".encode()).hexdigest() * (1 + length // 64)
            outputs |= {"result": digest[:length]}
        case "aws:rds/parameterGroup:ParameterGroup" | "aws:rds/subnetGroup:SubnetGroup":
            # Auto-named by Pulumi (name + random suffix) when no name is given.
            resource_id = inputs.get("name") or physical
            outputs |= {"name": resource_id}
        case "kubernetes:kustomize/v2:Directory":
            # A remote component: the provider expands the kustomization, mocks cannot. No children.
            outputs |= {"resources": []}
        case _ if type_token.startswith("kubernetes:"):
            metadata = dict(inputs.get("metadata") or {})
            metadata.setdefault("name", name)
            outputs["metadata"] = metadata
            resource_id = f"{metadata.get('namespace', '')}/{metadata['name']}".lstrip("/")
    if "arn" not in outputs and type_token.startswith("aws:"):
        service = type_token.split(":")[1].split("/", maxsplit=1)[0]
        outputs["arn"] = _arn(service, physical)
    return resource_id, outputs


INVOKES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": lambda _args: {
        "names": [f"{REGION}{s}" for s in "abcdef"],
        "zoneIds": [f"use1-az{i}" for i in range(1, 7)],
        "id": REGION,
        "groupNames": [REGION],
    },
    "aws:index/getCallerIdentity:getCallerIdentity": lambda _args: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/ci",
        "userId": "AIDAEXAMPLE",
        "id": ACCOUNT_ID,
    },
    "aws:index/getPartition:getPartition": lambda _args: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "reverseDnsPrefix": "com.amazonaws",
        "id": "aws",
    },
    "aws:ecr/getAuthorizationToken:getAuthorizationToken": lambda _args: {
        "authorizationToken": "QVdTOmV4YW1wbGUtdG9rZW4=",
        "expiresAt": "2026-11-27T08:00:00Z",
        "id": REGION,
        "password": "example-token",
        "proxyEndpoint": f"https://{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com",
        "region": REGION,
        "registryId": ACCOUNT_ID,
        "userName": "AWS",
    },
    "aws:index/getRegion:getRegion": lambda _args: {
        "name": REGION,
        "region": REGION,
        "endpoint": f"ec2.{REGION}.amazonaws.com",
        "description": "US East (N. Virginia)",
        "id": REGION,
    },
}


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self, record: Record) -> None:
        self.record = record

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return _outputs_for(args.typ, args.name, args.inputs)

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.record.invokes.append((args.token, args.args))
        answer = INVOKES.get(args.token)
        if answer is None:
            raise UnmockedInvokeError(f"unmocked invoke {args.token} with {args.args}")
        return answer(args.args), []


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that also keeps what MockResourceArgs drops: options, parent, remote."""

    def __init__(self, mocks: RecordingMocks, record: Record) -> None:
        super().__init__(mocks)
        self.record = record

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        registration = self.resources[response.urn]
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        self.record.resources.append(
            Recorded(
                type=request.type,
                name=request.name,
                urn=response.urn,
                inputs=_plain(inputs),
                outputs=_plain({**registration.state, "id": registration.id}),
                custom=request.custom,
                remote=request.remote,
                parent=request.parent,
                provider=request.provider,
                providers=dict(request.providers),
                protect=request.protect,
                retain_on_delete=request.retainOnDelete,
                delete_before_replace=request.deleteBeforeReplace,
                dependencies=list(request.dependencies),
                ignore_changes=list(request.ignoreChanges),
                additional_secret_outputs=list(request.additionalSecretOutputs),
                aliases=[_alias(a) for a in request.aliases],
            )
        )
        return response


def _alias(alias: Any) -> dict[str, Any]:
    """An alias as the SDK sent it, unset fields left out: `{"urn": ...}` or `{"spec": {"type": ...}}`."""
    if alias.HasField("urn"):
        return {"urn": alias.urn}
    return {"spec": {k: v for k, v in json_format.MessageToDict(alias.spec).items() if v}}


def integral_numbers(value: Any) -> Any:
    """The Pulumi wire format turns integers into floats; manifests and Helm want them back."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral_numbers(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Strip Pulumi's secret wrappers so tests compare plain data."""
    if isinstance(value, dict):
        if value.get(pulumi.runtime.rpc._special_sig_key) == pulumi.runtime.rpc._special_secret_sig:
            return _plain(value["value"])
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --- stack files -> config -------------------------------------------------------------------------------


def stack_file(stack: str) -> Path:
    return REPO_ROOT / f"Pulumi.{stack}.yaml"


def load_stack_config(stack: str, path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """The committed stack file as the language host hands it over: key -> text, plus secret keys.

    Structured values become JSON text and scalars plain strings; a `secure:` value (ciphertext we
    cannot decrypt without the Pulumi CLI) is handed over as a placeholder marked secret.
    """
    document = yaml.safe_load((path or stack_file(stack)).read_text()) or {}
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[key] = "https://hooks.example.invalid/decrypted-by-pulumi"
            secret_keys.append(key)
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(value)
    return config, secret_keys


@contextmanager
def _config_environment(config: Mapping[str, str], secret_keys: list[str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("PULUMI_CONFIG", "PULUMI_CONFIG_SECRET_KEYS")}
    os.environ["PULUMI_CONFIG"] = json.dumps(dict(config))
    os.environ["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(secret_keys)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --- running the program ------------------------------------------------------------------------------


def run_program(
    stack: str,
    config: Mapping[str, str],
    secret_keys: list[str] | None = None,
    *,
    expect_error: bool = False,
    program_file: Path = MAIN_PROGRAM,
    project: str = PROJECT,
    build: Callable[[], object] | None = None,
) -> Record:
    """Run a Pulumi program (by default `__main__.py`; or `build`, e.g. one component from its Args) for
    `stack` with `config`.

    With expect_error, a raised error is kept in the record instead of propagating."""
    record = Record(stack=stack)
    mocks = RecordingMocks(record)
    monitor = RecordingMonitor(mocks, record)
    pulumi_settings.ROOT.set(None)

    with _config_environment(config, list(secret_keys or [])):
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor)

        async def collect_exports(outputs: dict[str, Any]) -> None:
            for key, value in outputs.items():
                output = pulumi.Output.from_input(value)
                record.exports[key] = _plain(await output.future())
                if await output.is_secret():
                    record.secret_exports.add(key)

        @pulumi.runtime.test
        def program() -> Any:
            if build is not None:
                build()
            else:
                runpy.run_path(str(program_file), run_name="__main__")
            root = pulumi_settings.get_root_resource()
            outputs = dict(getattr(root, "outputs", {}) or {})
            return pulumi.Output.from_input(asyncio.ensure_future(collect_exports(outputs)))

        try:
            program()
        except Exception as exc:
            if not expect_error:
                raise
            record.error = exc
    if expect_error and record.error is None:
        raise AssertionError(
            f"stack {stack}: expected the program to fail, it registered {len(record.resources)}"
        )
    return record


@functools.cache
def _recorded_run(stack: str, handed_over: str) -> Record:
    config, secret_keys = json.loads(handed_over)
    return run_program(stack, config, secret_keys)


def recorded_run(stack: str, path: Path) -> Record:
    """The program run from a stack file, once per process for each distinct config (two files that differ
    only in comments or layout share a run). Treat the record as read-only."""
    config, secret_keys = load_stack_config(stack, path)
    return _recorded_run(stack, json.dumps([config, sorted(secret_keys)], sort_keys=True))


def committed_record(stack: str) -> Record:
    """The program run once per process from the committed `Pulumi.<stack>.yaml`: the renderers, the
    capacity plan, the cost and image reports share it. Treat it as read-only."""
    return recorded_run(stack, stack_file(stack))


def run_components(build: Callable[[], object], *, expect_error: bool = False) -> Record:
    """Register what `build` declares (components built from their own Args), with no stack config: the
    way component tests run without settings.py or a whole stack."""
    return run_program("components", {}, [], expect_error=expect_error, build=build)


def run_stack(
    stack: str,
    *,
    set_values: Mapping[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    expect_error: bool = False,
    stack_file: Path | None = None,
) -> Record:
    """Run the program from the committed `Pulumi.<stack>.yaml` (or `stack_file`, e.g. a test's own copy),
    optionally changed for one test.

    `set_values` keys are full config keys (`mlops-infra:mlflow`); values are YAML-like Python data.
    """
    config, secret_keys = load_stack_config(stack, stack_file)
    return run_program(stack, changed(config, set_values, remove), secret_keys, expect_error=expect_error)


def changed(
    config: Mapping[str, str], set_values: Mapping[str, Any] | None = None, remove: tuple[str, ...] = ()
) -> dict[str, str]:
    """`config` (key -> text, as handed over) with `remove` left out and `set_values` (full keys, YAML-like
    Python data) set, the way `pulumi config set` would hand them over."""
    result = {k: v for k, v in config.items() if k not in remove}
    for key, value in (set_values or {}).items():
        result[key] = value if isinstance(value, str) else json.dumps(value)
    return result
