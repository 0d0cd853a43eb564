"""MetricsServer: the pinned chart and image, a hardened pod, and `--kubelet-insecure-tls` on kind only."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.metrics_server import (
    KUBELET_INSECURE_TLS,
    NAMESPACE,
    RELEASE,
    MetricsServerArgs,
    metrics_server_values,
)
from harness.mocks import Record, Recorded, integral_numbers
from tests.components.isolated import run_component
from tests.support.stack_records import committed, provider_ref
from upstream.facts import load_facts
from versions import METRICS_SERVER_CHART, METRICS_SERVER_IMAGE

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SYSTEM = {"mlops.platform/node-role": "system"}

PROGRAM = """
import pulumi
from components.metrics_server import MetricsServer, MetricsServerArgs

MetricsServer("ms", MetricsServerArgs(kubelet_insecure_tls=True, node_selector={"role": "system"}))
"""


def test_values_pin_the_image_and_harden_the_pod() -> None:
    values = metrics_server_values(MetricsServerArgs())
    assert values["image"] == {
        "repository": METRICS_SERVER_IMAGE.repository,
        "tag": f"{METRICS_SERVER_IMAGE.tag}@{METRICS_SERVER_IMAGE.digest}",
    }
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert container["runAsNonRoot"] is True and container["runAsUser"] != 0
    assert container["seccompProfile"] == {"type": "RuntimeDefault"}
    assert set(values["resources"]) == {"requests", "limits"}
    assert set(values["resources"]["requests"]) == set(values["resources"]["limits"]) == {"cpu", "memory"}


def test_kubelet_tls_is_verified_unless_asked_not_to() -> None:
    assert metrics_server_values(MetricsServerArgs())["args"] == []
    assert metrics_server_values(MetricsServerArgs(kubelet_insecure_tls=True))["args"] == [
        KUBELET_INSECURE_TLS
    ]


def test_node_selector_is_passed_through() -> None:
    assert metrics_server_values(MetricsServerArgs())["nodeSelector"] == {}
    assert metrics_server_values(MetricsServerArgs(node_selector=SYSTEM))["nodeSelector"] == SYSTEM


def test_component_from_its_own_args_declares_one_pinned_release(tmp_path: Path) -> None:
    record = run_component(PROGRAM, tmp_path, stack="local")
    component = record.one("mlops:metrics_server:MetricsServer", "ms")
    release = record.one(HELM_RELEASE, "ms-release")
    assert release.parent == component.urn
    inputs = release.inputs
    assert (inputs["name"], inputs["namespace"]) == (RELEASE, NAMESPACE)
    assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"]["repo"]) == (
        METRICS_SERVER_CHART.chart,
        METRICS_SERVER_CHART.version,
        METRICS_SERVER_CHART.repository,
    )
    expected = metrics_server_values(
        MetricsServerArgs(kubelet_insecure_tls=True, node_selector={"role": "system"})
    )
    assert integral_numbers(inputs["values"]) == expected


def _release(record: Record) -> Recorded:
    return record.one(HELM_RELEASE, "platform-metrics-server-release")


def test_kind_skips_kubelet_tls_verification() -> None:
    record = committed("local")
    release = _release(record)
    assert integral_numbers(release.inputs["values"]) == metrics_server_values(
        MetricsServerArgs(kubelet_insecure_tls=True)
    )
    assert release.provider == provider_ref(record.one("pulumi:providers:kubernetes"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_eks_verifies_kubelet_tls_and_runs_on_the_system_nodes(stack: str) -> None:
    record = committed(stack)
    release = _release(record)
    values = integral_numbers(release.inputs["values"])
    assert KUBELET_INSECURE_TLS not in values["args"]
    assert values == metrics_server_values(MetricsServerArgs(node_selector=SYSTEM))
    assert release.provider == provider_ref(record.one("pulumi:providers:kubernetes"))
    component = record.one("mlops:metrics_server:MetricsServer")
    # No nodes, nowhere to run: the release waits for the node groups.
    assert {g.urn for g in record.of_type("aws:eks/nodeGroup:NodeGroup")} <= set(component.dependencies)


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_facts_record_the_pinned_restricted_deployment(stack: str) -> None:
    facts = load_facts(stack)[RELEASE]
    assert (facts.source.name, facts.source.version) == (
        METRICS_SERVER_CHART.chart,
        METRICS_SERVER_CHART.version,
    )
    assert facts.images == [METRICS_SERVER_IMAGE.reference]
    [workload] = facts.workloads
    assert (workload.kind, workload.namespace, workload.replicas) == ("Deployment", NAMESPACE, 1)
    assert workload.node_selector == ({} if stack == "local" else SYSTEM)
    # The API server reaches it through the APIService: the chart must still render that.
    assert facts.kinds["APIService"] == 1
