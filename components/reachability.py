"""Who may connect to whom under a set of NetworkPolicies: a small evaluator of the Kubernetes semantics.

Pure functions over NetworkPolicy manifests (as the components declare them), used by the tests to prove
reachability claims ("pipeline steps cannot reach MySQL") instead of asserting on policy text.

Semantics (networking.k8s.io/v1): a connection is allowed when the source's egress allows it and the
destination's ingress allows it. A side with no policy selecting the pod for that direction is open; once
one selects it, only what some rule of those policies lists is allowed (policies are additive). A peer
with `podSelector` only means pods of the policy's own namespace; `namespaceSelector` (with or without
`podSelector`) means pods of the matching namespaces; `ipBlock` matches addresses, pod addresses included
(which CNIs may or may not do: assuming it can only make a "denied" claim harder to prove).
Named ports are refused rather than guessed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Manifest = Mapping[str, Any]


@dataclass(frozen=True)
class Pod:
    """A pod as policies see it: its namespace (and that namespace's labels), its labels, its address."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = "10.0.64.10"
    namespace_labels: Mapping[str, str] | None = None
    """Defaults to the label Kubernetes sets on every namespace, `kubernetes.io/metadata.name`."""

    def ns_labels(self) -> Mapping[str, str]:
        if self.namespace_labels is not None:
            return self.namespace_labels
        return {"kubernetes.io/metadata.name": self.namespace}


@dataclass(frozen=True)
class Address:
    """Something outside the cluster's pods: the Kubernetes API, S3, the instance metadata service."""

    ip: str


Endpoint = Pod | Address


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (`matchLabels` and `matchExpressions`); an empty selector matches everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(
                f"label selector operator {operator!r}: expected In, NotIn, Exists or DoesNotExist"
            )
        if not ok:
            return False
    return True


def _policy_types(spec: Mapping[str, Any]) -> set[str]:
    if "policyTypes" in spec:
        return set(spec["policyTypes"])
    return {"Ingress", *(["Egress"] if "egress" in spec else [])}


def _selects(policy: Manifest, pod: Pod) -> bool:
    return policy["metadata"]["namespace"] == pod.namespace and selector_matches(
        policy["spec"].get("podSelector"), pod.labels
    )


def _in_block(ip: str, block: Mapping[str, Any]) -> bool:
    address = ipaddress.ip_address(ip)
    if address not in ipaddress.ip_network(block["cidr"]):
        return False
    return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        return _in_block(other.ip, peer["ipBlock"])
    if not isinstance(other, Pod):
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], other.ns_labels()):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selector_matches(peer.get("podSelector"), other.labels)


def _port_matches(entry: Mapping[str, Any], port: int, protocol: str) -> bool:
    if entry.get("protocol", "TCP") != protocol:
        return False
    if "port" not in entry:
        return True
    first = entry["port"]
    if not isinstance(first, int) or isinstance(first, bool):
        raise ValueError(f"NetworkPolicy port {first!r}: named ports are not evaluated; use the number")
    return first <= port <= int(entry.get("endPort", first))


def _rule_matches(
    rule: Mapping[str, Any],
    peers_key: str,
    policy_namespace: str,
    *,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    peers = rule.get(peers_key)
    if peers and not any(_peer_matches(p, policy_namespace, other) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(_port_matches(p, port, protocol) for p in ports)


def _side_allows(
    policies: Sequence[Manifest],
    pod: Pod,
    direction: str,
    *,
    other: Endpoint,
    port: int,
    protocol: str,
) -> bool:
    policy_type, rules_key, peers_key = (
        ("Egress", "egress", "to") if direction == "egress" else ("Ingress", "ingress", "from")
    )
    selecting = [p for p in policies if _selects(p, pod) and policy_type in _policy_types(p["spec"])]
    if not selecting:
        return True
    return any(
        _rule_matches(
            rule, peers_key, policy["metadata"]["namespace"], other=other, port=port, protocol=protocol
        )
        for policy in selecting
        for rule in policy["spec"].get(rules_key) or []
    )


def allowed(
    policies: Sequence[Manifest], source: Endpoint, destination: Endpoint, port: int, protocol: str = "TCP"
) -> bool:
    """May `source` open a connection to `destination` on `port`? Policies of kinds other than
    NetworkPolicy are ignored, so a list of every rendered object can be passed as is."""
    netpols = [p for p in policies if p.get("kind") == "NetworkPolicy"]
    if isinstance(source, Pod) and not _side_allows(
        netpols, source, "egress", other=destination, port=port, protocol=protocol
    ):
        return False
    if isinstance(destination, Pod):
        return _side_allows(netpols, destination, "ingress", other=source, port=port, protocol=protocol)
    return True
