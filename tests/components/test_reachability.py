"""The NetworkPolicy evaluator on small hand-made policies: each rule of the Kubernetes semantics once."""

from __future__ import annotations

from typing import Any

import pytest

from components import k8s as kb
from components.reachability import Address, Pod, allowed, selector_matches

A = Pod("team", {"app": "a"})
B = Pod("team", {"app": "b"}, ip="10.0.64.20")
OTHER_NS = Pod("elsewhere", {"app": "a"})


def ingress_to_b(*peers: dict[str, Any], ports: tuple[int, ...] = (80,)) -> dict[str, Any]:
    return kb.allow_policy(
        "b-in",
        "team",
        {"app": "b"},
        ingress=[{"from": list(peers), "ports": [{"protocol": "TCP", "port": p} for p in ports]}],
    )


def test_no_policy_means_open_and_default_deny_closes_both_directions() -> None:
    assert allowed([], A, B, 80)
    deny = kb.default_deny_policy("team")
    assert not allowed([deny], A, B, 80)
    assert not allowed([deny], A, Address("1.1.1.1"), 443), "egress denied too"
    assert allowed([deny], OTHER_NS, Address("1.1.1.1"), 443), "another namespace is not selected"


def test_pod_selector_alone_means_the_policys_own_namespace() -> None:
    policy = ingress_to_b({"podSelector": {"matchLabels": {"app": "a"}}})
    assert allowed([policy], A, B, 80)
    assert not allowed([policy], OTHER_NS, B, 80)
    assert not allowed([policy], A, B, 81), "only the listed port"
    assert not allowed([policy], A, B, 80, "UDP"), "only the listed protocol"


def test_namespace_selector_with_and_without_pod_selector() -> None:
    by_namespace = ingress_to_b(
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}}}
    )
    assert allowed([by_namespace], OTHER_NS, B, 80)
    assert not allowed([by_namespace], A, B, 80)
    both = ingress_to_b(
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "elsewhere"}},
            "podSelector": {"matchLabels": {"app": "z"}},
        }
    )
    assert not allowed([both], OTHER_NS, B, 80)


def test_policies_add_up_and_both_sides_must_agree() -> None:
    deny = kb.default_deny_policy("team")
    ingress = ingress_to_b({"podSelector": {"matchLabels": {"app": "a"}}})
    assert not allowed([deny, ingress], A, B, 80), "A's egress is still denied"
    egress = kb.allow_policy(
        "a-out", "team", {"app": "a"}, egress=[{"to": [{"podSelector": {"matchLabels": {"app": "b"}}}]}]
    )
    assert allowed([deny, ingress, egress], A, B, 80)


def test_ip_blocks_honour_except_and_match_pod_addresses() -> None:
    egress = kb.allow_policy(
        "a-out", "team", {"app": "a"}, egress=[kb.to_cidrs_rule(["0.0.0.0/0"], [443], ["169.254.169.254/32"])]
    )
    assert allowed([egress], A, Address("52.1.2.3"), 443)
    assert not allowed([egress], A, Address("169.254.169.254"), 443)
    assert allowed([egress], A, B, 443), "0.0.0.0/0 includes pod addresses: assumed reachable"


def test_end_port_ranges_and_named_ports_refused() -> None:
    policy = kb.allow_policy(
        "b-in",
        "team",
        {"app": "b"},
        ingress=[{"ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}],
    )
    assert allowed([policy], A, B, 8050) and not allowed([policy], A, B, 8101)
    named = kb.allow_policy("b-in", "team", {"app": "b"}, ingress=[{"ports": [{"port": "http"}]}])
    with pytest.raises(ValueError, match="named ports"):
        allowed([named], A, B, 80)


def test_policy_types_default_to_ingress_only_without_egress_rules() -> None:
    policy = {
        "kind": "NetworkPolicy",
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"podSelector": {}, "ingress": []},
    }
    assert not allowed([policy], A, B, 80)
    assert allowed([policy], A, Address("1.1.1.1"), 443)


def test_match_expressions() -> None:
    labels = {"workflows.argoproj.io/workflow": "run-1", "tier": "x"}
    assert selector_matches(
        {"matchExpressions": [{"key": "workflows.argoproj.io/workflow", "operator": "Exists"}]}, labels
    )
    assert not selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, labels
    )
    assert selector_matches(
        {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}, labels
    )
    assert selector_matches({"matchExpressions": [{"key": "gone", "operator": "DoesNotExist"}]}, labels)
    with pytest.raises(ValueError, match="operator"):
        selector_matches({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}, labels)
