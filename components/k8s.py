"""Kubernetes building blocks every platform service shares: pure functions returning manifest data.

Components hand these dicts to `pulumi_kubernetes` resources (camelCase keys, exactly as in a manifest),
so what the mocks record is what `harness render` writes and what kubernetes-validate and checkov check.

The defaults implement the Pod Security Standard `restricted` profile plus the checks in SECURITY.md:
non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, seccomp
RuntimeDefault, requests and limits, no service-account token unless the pod talks to the API server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from resources import Resources  # components write kb.Resources(...): the one type, resources.Resources
from versions import ChartPin

PSS_LEVELS = ("privileged", "baseline", "restricted")
# Nobody on the usual distro images; any non-zero UID satisfies `runAsNonRoot`.
DEFAULT_UID = 10001
MANAGED_BY = {"app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "mlops-platform"}

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Probe:
    """An HTTP probe on a named container port."""

    path: str
    port: str
    initial_delay_seconds: int = 10
    period_seconds: int = 10
    timeout_seconds: int = 5
    failure_threshold: int = 3

    def manifest(self) -> Manifest:
        return {
            "httpGet": {"path": self.path, "port": self.port},
            "initialDelaySeconds": self.initial_delay_seconds,
            "periodSeconds": self.period_seconds,
            "timeoutSeconds": self.timeout_seconds,
            "failureThreshold": self.failure_threshold,
        }


def labels(app: str, component: str | None = None) -> dict[str, str]:
    """Recommended labels; `selector_labels` is the stable subset used in selectors."""
    result = {**selector_labels(app, component), **MANAGED_BY}
    return result


def selector_labels(app: str, component: str | None = None) -> dict[str, str]:
    result = {"app.kubernetes.io/name": app}
    if component:
        result["app.kubernetes.io/component"] = component
    return result


def pod_security_labels(enforce: str = "restricted", warn: str = "restricted") -> dict[str, str]:
    """Pod Security Admission labels; `warn` and `audit` report what `enforce` lets through."""
    for level in (enforce, warn):
        if level not in PSS_LEVELS:
            raise ValueError(f"Pod Security level {level!r}: expected one of {PSS_LEVELS}")
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": warn,
        "pod-security.kubernetes.io/audit": warn,
    }


def namespace_manifest(
    name: str, extra_labels: Mapping[str, str] | None = None, pod_security: str = "restricted"
) -> Manifest:
    labels = {**MANAGED_BY, **(extra_labels or {}), **pod_security_labels(pod_security, pod_security)}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def container_security_context(uid: int = DEFAULT_UID) -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int = DEFAULT_UID) -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


@dataclass(frozen=True)
class ContainerSpec:
    """One hardened container. Everything a restricted container needs is required or defaulted safely."""

    name: str
    image: str
    resources: Resources
    args: Sequence[str] = ()
    command: Sequence[str] = ()
    env: Sequence[Manifest] = ()
    ports: Sequence[Manifest] = ()
    volume_mounts: Sequence[Manifest] = ()
    liveness: Probe | None = None
    readiness: Probe | None = None
    uid: int = DEFAULT_UID

    def manifest(self) -> Manifest:
        if "@sha256:" not in self.image and ":" not in self.image.rsplit("/", 1)[-1]:
            raise ValueError(f"container {self.name}: image {self.image!r} has neither a tag nor a digest")
        container: Manifest = {
            "name": self.name,
            "image": self.image,
            "imagePullPolicy": "IfNotPresent" if "@sha256:" in self.image else "Always",
            "securityContext": container_security_context(self.uid),
            "resources": self.resources.manifest(),
        }
        if self.command:
            container["command"] = list(self.command)
        if self.args:
            container["args"] = list(self.args)
        if self.env:
            container["env"] = [dict(e) for e in self.env]
        if self.ports:
            container["ports"] = [dict(p) for p in self.ports]
        if self.volume_mounts:
            container["volumeMounts"] = [dict(m) for m in self.volume_mounts]
        if self.liveness:
            container["livenessProbe"] = self.liveness.manifest()
        if self.readiness:
            container["readinessProbe"] = self.readiness.manifest()
        return container


@dataclass(frozen=True)
class PodSpec:
    """A restricted pod: hardened containers, a dedicated service account, no API token by default."""

    service_account: str
    containers: Sequence[ContainerSpec]
    init_containers: Sequence[ContainerSpec] = ()
    volumes: Sequence[Manifest] = ()
    automount_service_account_token: bool = False
    restart_policy: str | None = None
    topology_spread: Sequence[Manifest] = ()
    uid: int = DEFAULT_UID
    extra: Mapping[str, Any] = field(default_factory=dict)

    def manifest(self) -> Manifest:
        if self.service_account in ("", "default"):
            raise ValueError("a platform pod needs its own service account, not 'default' (CKV_K8S_38/41)")
        if not self.containers:
            raise ValueError("a pod needs at least one container")
        spec: Manifest = {
            "serviceAccountName": self.service_account,
            "automountServiceAccountToken": self.automount_service_account_token,
            "securityContext": pod_security_context(self.uid),
            "containers": [c.manifest() for c in self.containers],
        }
        if self.init_containers:
            spec["initContainers"] = [c.manifest() for c in self.init_containers]
        if self.volumes:
            spec["volumes"] = [dict(v) for v in self.volumes]
        if self.restart_policy:
            spec["restartPolicy"] = self.restart_policy
        if self.topology_spread:
            spec["topologySpreadConstraints"] = [dict(t) for t in self.topology_spread]
        spec.update(self.extra)
        return spec


def temp_volume(name: str = "tmp", size_limit: str = "256Mi") -> Manifest:
    """A writable scratch directory for a read-only root filesystem."""
    return {"name": name, "emptyDir": {"sizeLimit": size_limit}}


def secret_env(name: str, secret: str, key: str) -> Manifest:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def zone_spread(selector: Mapping[str, str], max_skew: int = 1) -> list[Manifest]:
    """Spread replicas over zones, then nodes; `ScheduleAnyway` on nodes keeps small clusters usable."""
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": dict(selector)},
        },
        {
            "maxSkew": max_skew,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(selector)},
        },
    ]


# --- NetworkPolicy -------------------------------------------------------------------------------------


def default_deny_policy(namespace: str) -> Manifest:
    """Deny all ingress and egress in a namespace; allow rules are added next to it."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-all", "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def dns_egress_rule() -> Manifest:
    """Egress to the cluster DNS (kube-dns / CoreDNS in kube-system)."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def from_namespaces_rule(namespaces: Sequence[str], ports: Sequence[int]) -> Manifest:
    """Ingress from every pod of the named namespaces, on the given TCP ports."""
    return {
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in namespaces
        ],
        "ports": [{"protocol": "TCP", "port": p} for p in ports],
    }


def to_namespace_rule(namespace: str, pod_labels: Mapping[str, str], ports: Sequence[int]) -> Manifest:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "podSelector": {"matchLabels": dict(pod_labels)},
            }
        ],
        "ports": [{"protocol": "TCP", "port": p} for p in ports],
    }


def to_cidrs_rule(cidrs: Sequence[str], ports: Sequence[int], except_cidrs: Sequence[str] = ()) -> Manifest:
    peers: list[Manifest] = []
    for cidr in cidrs:
        block: Manifest = {"cidr": cidr}
        if except_cidrs:
            block["except"] = list(except_cidrs)
        peers.append({"ipBlock": block})
    return {"to": peers, "ports": [{"protocol": "TCP", "port": p} for p in ports]}


# The link-local metadata endpoints pods must not reach (node credentials); EKS Pod Identity's agent
# listens on 169.254.170.23 and is allowed explicitly where a workload needs AWS.
INSTANCE_METADATA_CIDR = "169.254.169.254/32"
POD_IDENTITY_AGENT_CIDR = "169.254.170.23/32"


def allow_policy(
    name: str,
    namespace: str,
    pod_selector: Mapping[str, str],
    *,
    ingress: Sequence[Manifest] = (),
    egress: Sequence[Manifest] = (),
) -> Manifest:
    """An allow rule next to `default_deny_policy`: only the listed ingress/egress for the selected pods."""
    policy_types = []
    spec: Manifest = {"podSelector": {"matchLabels": dict(pod_selector)}}
    if ingress:
        policy_types.append("Ingress")
        spec["ingress"] = [dict(r) for r in ingress]
    if egress:
        policy_types.append("Egress")
        spec["egress"] = [dict(r) for r in egress]
    if not policy_types:
        raise ValueError(f"NetworkPolicy {namespace}/{name}: an allow policy needs ingress or egress rules")
    spec["policyTypes"] = policy_types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
        "spec": spec,
    }


# --- declaring -----------------------------------------------------------------------------------------


def declare_namespace(
    resource_name: str,
    name: str,
    opts: pulumi.ResourceOptions,
    extra_labels: Mapping[str, str] | None = None,
    pod_security: str = "restricted",
) -> k8s.core.v1.Namespace:
    manifest = namespace_manifest(name, extra_labels, pod_security)
    return k8s.core.v1.Namespace(resource_name, metadata=manifest["metadata"], opts=opts)


def declare_service_account(
    resource_name: str, app: str, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.ServiceAccount:
    """A workload's own service account, named after its app, with no API token mounted by default."""
    return k8s.core.v1.ServiceAccount(
        resource_name,
        metadata={"name": app, "namespace": namespace, "labels": labels(app)},
        automount_service_account_token=False,
        opts=opts,
    )


def declare_network_policy(resource_name: str, manifest: Manifest, opts: pulumi.ResourceOptions) -> Any:
    return k8s.networking.v1.NetworkPolicy(
        resource_name, metadata=manifest["metadata"], spec=manifest["spec"], opts=opts
    )


def declare_chart_release(
    resource_name: str,
    chart: ChartPin,
    *,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.helm.v3.Release:
    """A Helm release of a pinned chart: exact version, its repository, rolled back if it fails."""
    return k8s.helm.v3.Release(
        resource_name,
        name=release,
        namespace=namespace,
        chart=chart.chart,
        version=chart.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
        values=dict(values),
        cleanup_on_fail=True,
        max_history=5,
        opts=opts,
    )


def service_manifest(
    name: str,
    namespace: str,
    selector: Mapping[str, str],
    ports: Mapping[str, int],
    component: str | None = None,
) -> Manifest:
    """A ClusterIP Service; `ports` maps the container port name to the port number."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(name, component)},
        "spec": {
            "type": "ClusterIP",
            "selector": dict(selector),
            "ports": [
                {"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}
                for port_name, port in ports.items()
            ],
        },
    }


def volume_claim_manifest(
    name: str, namespace: str, size_gib: int, storage_class: str | None, app: str
) -> Manifest:
    spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": f"{size_gib}Gi"}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(app)},
        "spec": spec,
    }


def disruption_budget_manifest(
    name: str, namespace: str, selector: Mapping[str, str], min_available: int = 1
) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(name)},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": dict(selector)}},
    }
