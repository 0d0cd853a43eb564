"""Checks on upstream parts: the same rules our own objects meet, on the facts and on the full render.

Pure rules over facts (run in our CI on the committed facts, tests/upstream/):
- Pod Security Standards (baseline, restricted) per workload against the level its namespace enforces.
  No maintained Python package checks PSS offline (the reference is Go, k8s.io/pod-security-admission), so
  the rules we need are written here from https://kubernetes.io/docs/concepts/security/pod-security-standards/
  (AppArmor annotations and Windows fields are not recorded in the facts and not checked).
- No default credentials: known upstream-default Secrets, credential env literals, images known to ship them.
- Images tagged (no `:latest`, no untagged); which lack a digest is reported, not failed.

On the full render (the `check` command, where it is available): strict kubernetes-validate of every object,
checkov with the project's check list against upstream/checkov-baseline.json (may only shrink), and Secret
values compared with known upstream defaults.
"""

from __future__ import annotations

import base64
import difflib
import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from harness.checkov import findings, run_checkov
from harness.mocks import Record
from harness.render import kubernetes_object
from upstream.facts import (
    FACTS_DIR,
    Container,
    ReleaseFacts,
    Workload,
    facts_path,
    load_facts,
    release_facts,
    to_json,
)
from upstream.images import image_repository, image_tag
from upstream.render import RenderedRelease, kubernetes_version

BASELINE_FILE = Path(__file__).resolve().parent / "checkov-baseline.json"
PSS_LEVELS = ("privileged", "baseline", "restricted")
ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"

# --- Pod Security Standards ------------------------------------------------------------------------------

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)


def _selinux_problems(where: str, context: Mapping[str, Any]) -> list[str]:
    options = context.get("seLinuxOptions") or {}
    problems = []
    if options.get("type", "") not in SELINUX_TYPES:
        problems.append(f"{where}: seLinuxOptions.type {options['type']!r} is not allowed")
    problems += [
        f"{where}: seLinuxOptions.{key} must not be set" for key in ("user", "role") if options.get(key)
    ]
    return problems


def baseline_violations(workload: Workload) -> list[str]:
    """Pod Security Standards `baseline` rules the workload breaks (empty when it meets the level)."""
    pod = workload.pod
    problems = [
        f"pod: {field} is true" for field in ("host_network", "host_pid", "host_ipc") if getattr(pod, field)
    ]
    problems += [f"pod: volume {v.name} is a hostPath" for v in pod.volumes if v.type == "hostPath"]
    problems += _selinux_problems("pod", pod.security_context)
    if (pod.security_context.get("seccompProfile") or {}).get("type") == "Unconfined":
        problems.append("pod: seccompProfile Unconfined")
    problems += [
        f"pod: sysctl {s.get('name')} is not a safe sysctl"
        for s in pod.security_context.get("sysctls") or []
        if s.get("name") not in SAFE_SYSCTLS
    ]
    for container in workload.containers:
        where = f"container {container.name}"
        context = container.security_context
        if context.get("privileged"):
            problems.append(f"{where}: privileged")
        added = set((context.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            problems.append(f"{where}: adds capabilities {sorted(added)}")
        problems += [f"{where}: hostPort {port}" for port in container.host_ports]
        problems += _selinux_problems(where, context)
        if context.get("procMount", "Default") != "Default":
            problems.append(f"{where}: procMount {context['procMount']}")
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{where}: seccompProfile Unconfined")
    return problems


def _effective(container: Container, pod: Mapping[str, Any], key: str) -> Any:
    return container.security_context.get(key, pod.get(key))


def restricted_violations(workload: Workload) -> list[str]:
    """Pod Security Standards `restricted` rules the workload breaks, baseline's included.

    For operator-managed workloads only the pod-level rules apply: the operator writes the containers'
    security contexts, which the render does not hold.
    """
    pod = workload.pod.security_context
    problems = baseline_violations(workload)
    problems += [
        f"pod: volume {v.name} of type {v.type} is not allowed"
        for v in workload.pod.volumes
        if v.type not in RESTRICTED_VOLUMES
    ]
    if pod.get("runAsUser") == 0:
        problems.append("pod: runAsUser 0")
    for container in workload.containers if workload.managed_by is None else ():
        where = f"container {container.name}"
        context = container.security_context
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if _effective(container, pod, "runAsNonRoot") is not True:
            problems.append(f"{where}: runAsNonRoot is not true (pod or container)")
        if context.get("runAsUser") == 0:
            problems.append(f"{where}: runAsUser 0")
        seccomp = (context.get("seccompProfile") or pod.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{where}: seccompProfile is not RuntimeDefault or Localhost (pod or container)")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}: capabilities do not drop ALL")
        extra = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            problems.append(f"{where}: restricted allows adding only NET_BIND_SERVICE, not {sorted(extra)}")
    return problems


def pod_security_violations(workload: Workload, level: str) -> list[str]:
    if level not in PSS_LEVELS:
        raise ValueError(
            f"namespace {workload.namespace}: Pod Security level {level!r}, expected {PSS_LEVELS}"
        )
    if level == "restricted":
        return restricted_violations(workload)
    if level == "baseline":
        return baseline_violations(workload)
    return []


# Namespaces every cluster has, which the program does not create and does not label: they enforce the
# cluster's default level, `privileged` on EKS and kind (no PodSecurity admission configuration is set).
CLUSTER_NAMESPACES: Mapping[str, str] = {"kube-system": "privileged", "default": "privileged"}


def namespace_levels(record: Record, facts: Iterable[ReleaseFacts] = ()) -> dict[str, str]:
    """Namespace -> the Pod Security level it enforces, as the program sets it.

    From the Namespace objects the program declares, then those the upstream renders create with our overlays
    (Kubeflow Pipelines' `kubeflow` namespace); a namespace without the label enforces `privileged`, as do
    the cluster's own namespaces.
    """
    levels: dict[str, str] = dict(CLUSTER_NAMESPACES)
    for release in facts:
        for namespace in release.namespaces:
            levels[namespace.name] = namespace.labels.get(ENFORCE_LABEL, "privileged")
    for resource in record.of_type("kubernetes:core/v1:Namespace"):
        metadata = resource.inputs.get("metadata") or {}
        levels[str(metadata.get("name"))] = (metadata.get("labels") or {}).get(ENFORCE_LABEL, "privileged")
    return levels


def pod_security_problems(name: str, facts: ReleaseFacts, levels: Mapping[str, str]) -> list[str]:
    """Every workload of a release against its namespace's level; an unknown namespace is a failure."""
    problems = []
    for workload in facts.workloads:
        where = f"{name}: {workload.kind} {workload.namespace}/{workload.name}"
        level = levels.get(workload.namespace)
        if level is None:
            problems.append(
                f"{where}: namespace {workload.namespace} is not one the program or the render creates, "
                "so its Pod Security level is unknown"
            )
            continue
        problems += [
            f"{where} breaks Pod Security {level}: {p}" for p in pod_security_violations(workload, level)
        ]
    return problems


# --- default credentials and images ----------------------------------------------------------------------

# Secrets upstream ships with known default values, which stay in force unless our program owns the object.
KNOWN_DEFAULT_SECRETS: Mapping[tuple[str, str], str] = {
    ("kubeflow", "mlpipeline-minio-artifact"): "KFP's manifests set accesskey/secretkey to minio/minio123",
    ("kubeflow", "mysql-secret"): "KFP's manifests set username root with an empty password",
}
# Images whose only credentials are built-in defaults (kubeflow/community-distribution#3270 for the first).
DEFAULT_CREDENTIAL_IMAGES: Mapping[str, str] = {
    "gcr.io/ml-pipeline/minio": "KFP's MinIO fork: default keys minio/minio123, image no longer published",
    "minio/minio": "MinIO's image defaults to minioadmin/minioadmin unless credentials are supplied",
}
# Secret values upstream charts and manifests are known to default to, for credential-looking keys.
KNOWN_DEFAULT_VALUES = frozenset(
    {"", "minio", "minio123", "minioadmin", "prom-operator", "admin", "password"}
)
CREDENTIAL_KEY_WORDS = ("password", "secret", "token", "secretkey", "accesskey")


def declared_secrets(record: Record) -> set[tuple[str, str]]:
    found = set()
    for resource in record.of_type("kubernetes:core/v1:Secret"):
        metadata = resource.inputs.get("metadata") or {}
        found.add((str(metadata.get("namespace") or "default"), str(metadata.get("name"))))
    return found


def default_credential_problems(facts: ReleaseFacts, ours: set[tuple[str, str]]) -> list[str]:
    problems = [
        f"Secret {s.namespace}/{s.name}: {KNOWN_DEFAULT_SECRETS[(s.namespace, s.name)]}"
        for s in facts.secrets
        if (s.namespace, s.name) in KNOWN_DEFAULT_SECRETS and (s.namespace, s.name) not in ours
    ]
    for workload in facts.workloads:
        for container in workload.containers:
            where = f"{workload.kind} {workload.namespace}/{workload.name} container {container.name}"
            problems += [
                f"{where}: credential env {name}={value!r} is a literal in the manifest"
                for name, value in sorted(container.env_literals.items())
            ]
            repository = image_repository(container.image)
            if repository in DEFAULT_CREDENTIAL_IMAGES:
                problems.append(f"{where}: image {container.image}: {DEFAULT_CREDENTIAL_IMAGES[repository]}")
    return problems


def image_problems(images: Iterable[str]) -> list[str]:
    problems = []
    for image in images:
        tag = image_tag(image)
        if tag is None:
            problems.append(f"image {image}: no tag")
        elif tag == "latest":
            problems.append(f"image {image}: tag latest")
    return problems


def images_without_digest(images: Iterable[str]) -> list[str]:
    return sorted(i for i in images if "@sha256:" not in i)


def containers_without_requests(facts: ReleaseFacts) -> list[str]:
    """Containers of long-running workloads without CPU and memory requests (the capacity plan needs them)."""
    return [
        f"{w.kind} {w.namespace}/{w.name} container {c.name}"
        for w in facts.workloads
        if not w.hook
        for c in w.containers
        if not {"cpu", "memory"} <= set(c.requests)
    ]


def check_facts(stack: str, derived: Mapping[str, ReleaseFacts], record: Record) -> list[str]:
    """Every failure of the pure rules, for all releases of a stack (empty when all pass)."""
    levels = namespace_levels(record, derived.values())
    ours = declared_secrets(record)
    failures = []
    for name, facts in sorted(derived.items()):
        failures += pod_security_problems(name, facts, levels)
        failures += [f"{name}: {p}" for p in default_credential_problems(facts, ours)]
        failures += [f"{name}: {p}" for p in image_problems(facts.images)]
    return failures


# --- facts files -----------------------------------------------------------------------------------------


def derive_facts(stack: str, rendered: Mapping[str, RenderedRelease]) -> dict[str, ReleaseFacts]:
    return {
        name: release_facts(
            stack=stack, release=name, source=r.source, objects=r.objects, default_namespace=r.namespace
        )
        for name, r in sorted(rendered.items())
    }


def write_facts(stack: str, derived: Mapping[str, ReleaseFacts], root: Path = FACTS_DIR) -> list[Path]:
    """Replace the stack's facts folder with one file per release."""
    folder = root / stack
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.json"):
        if stale.stem not in derived:
            stale.unlink()
    written = []
    for name, facts in sorted(derived.items()):
        path = facts_path(stack, name, root)
        path.write_text(to_json(facts))
        written.append(path)
    return written


def diff_facts(stack: str, derived: Mapping[str, ReleaseFacts], root: Path = FACTS_DIR) -> list[str]:
    """A unified diff per release whose committed facts differ from `derived` (missing and extra included)."""
    folder = root / stack
    committed = {p.stem: p.read_text() for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    if committed:
        load_facts(stack, root)  # a committed file that breaks the schema is an error, not a diff
    diffs = []
    for name in sorted(set(committed) | set(derived)):
        old = committed.get(name, "")
        new = to_json(derived[name]) if name in derived else ""
        if old != new:
            path = str(facts_path(stack, name, root))
            diffs.append(
                "".join(
                    difflib.unified_diff(
                        old.splitlines(keepends=True),
                        new.splitlines(keepends=True),
                        path,
                        f"{path} (derived)",
                    )
                )
            )
    return diffs


# --- the full render: strict schemas, secret values, checkov ---------------------------------------------


def with_namespace(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The object as installed: namespaced kinds without a namespace land in the release namespace."""
    if obj.get("kind") in CLUSTER_SCOPED_KINDS or (obj.get("metadata") or {}).get("namespace"):
        return obj
    return {**obj, "metadata": {**(obj.get("metadata") or {}), "namespace": namespace}}


CLUSTER_SCOPED_KINDS = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ClusterRole",
        "ClusterRoleBinding",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "PriorityClass",
        "StorageClass",
        "PersistentVolume",
        "APIService",
    }
)


def schema_problems(release: RenderedRelease, version: str) -> list[str]:
    problems = []
    for obj in release.objects:
        where = f"{release.release}: {obj.get('kind')} {(obj.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            continue  # a custom resource: its CRD is in the render, kubernetes-validate has no schema for it
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {'/'.join(str(p) for p in exc.path)}: {exc.message}")
    return problems


def secret_value_problems(release: RenderedRelease, ours: set[tuple[str, str]]) -> list[str]:
    problems = []
    for obj in release.objects:
        if obj.get("kind") != "Secret":
            continue
        metadata = obj.get("metadata") or {}
        key = (str(metadata.get("namespace") or release.namespace), str(metadata.get("name")))
        if key in ours:
            continue
        values = {
            k: base64.b64decode(str(v)).decode(errors="replace") for k, v in (obj.get("data") or {}).items()
        }
        values |= {k: str(v) for k, v in (obj.get("stringData") or {}).items()}
        problems += [
            f"{release.release}: Secret {key[0]}/{key[1]} key {k}: a known upstream default value"
            for k, v in sorted(values.items())
            if any(word in k.lower() for word in CREDENTIAL_KEY_WORDS) and v in KNOWN_DEFAULT_VALUES
        ]
    return problems


def network_policies(record: Record) -> list[dict[str, Any]]:
    """Our NetworkPolicies: CKV2_K8S_6 asks whether a policy selects each pod, and ours select upstream's."""
    return [kubernetes_object(r) for r in record.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")]


def checkov_findings(rendered: Mapping[str, RenderedRelease], record: Record) -> list[tuple[str, str, str]]:
    """(release, resource, check id) of every checkov failure on upstream objects, one run per release."""
    ours = network_policies(record)
    found = []
    with tempfile.TemporaryDirectory(prefix="upstream-checkov-") as tmp:
        for name, release in sorted(rendered.items()):
            folder = Path(tmp) / name
            folder.mkdir()
            objects = [with_namespace(o, release.namespace) for o in release.objects]
            (folder / "render.yaml").write_text(yaml.safe_dump_all(objects, sort_keys=False))
            (folder / "ours.yaml").write_text(yaml.safe_dump_all(ours, sort_keys=False))
            upstream = {
                f"{o['kind']}.{o['metadata'].get('namespace', 'default')}.{o['metadata']['name']}"
                for o in objects
            }
            found += [
                (name, resource, check)
                for check, resource in findings(run_checkov(folder))
                if resource in upstream
            ]
    return sorted(set(found))


def load_baseline(path: Path = BASELINE_FILE) -> list[dict[str, str]]:
    if not path.exists():
        return []
    entries: list[dict[str, str]] = json.loads(path.read_text())["findings"]
    for entry in entries:
        if set(entry) != {"stack", "release", "resource", "check_id"}:
            raise ValueError(f"{path}: entry {entry} needs exactly stack, release, resource, check_id")
    return entries


def baseline_problems(
    stack: str, found: Iterable[tuple[str, str, str]], baseline: list[dict[str, str]]
) -> list[str]:
    accepted = {(e["release"], e["resource"], e["check_id"]) for e in baseline if e["stack"] == stack}
    found = set(found)
    problems = [
        f"checkov {check} on {release} {resource}: a new finding, not in {BASELINE_FILE.name}"
        for release, resource, check in sorted(found - accepted)
    ]
    problems += [
        f"checkov {check} on {release} {resource} no longer fires: remove it from {BASELINE_FILE.name}"
        for release, resource, check in sorted(accepted - found)
    ]
    return problems


def write_baseline(
    stack: str, rendered: Mapping[str, RenderedRelease], record: Record, path: Path = BASELINE_FILE
) -> tuple[Path, int]:
    found = checkov_findings(rendered, record)
    kept = [e for e in load_baseline(path) if e["stack"] != stack]
    new = [{"stack": stack, "release": r, "resource": res, "check_id": c} for r, res, c in found]
    entries = sorted(kept + new, key=lambda e: (e["stack"], e["release"], e["resource"], e["check_id"]))
    path.write_text(json.dumps({"findings": entries}, indent=2, sort_keys=True) + "\n")
    return path, len(new)


def check_rendered(
    stack: str, rendered: Mapping[str, RenderedRelease], record: Record, *, run_checkov: bool = True
) -> list[str]:
    """Failures only the full render shows: schema errors, default Secret values, checkov findings outside
    the baseline and baseline entries that no longer fire."""
    version = kubernetes_version(stack)
    ours = declared_secrets(record)
    problems = []
    for release in rendered.values():
        problems += schema_problems(release, version)
        problems += secret_value_problems(release, ours)
    if run_checkov:
        problems += baseline_problems(stack, checkov_findings(rendered, record), load_baseline())
    return problems
