"""ExistingCluster: a kube context as the platform's cluster, with metrics-server and nothing on AWS."""

from __future__ import annotations

from components.cluster_handle import ExistingClusterHandle
from components.existing_cluster import ExistingCluster, ExistingClusterArgs
from components.metrics_server import KUBELET_INSECURE_TLS
from harness.mocks import Record, run_components
from tests.support.stack_records import committed, provider_ref

EXISTING = "mlops:cluster:ExistingCluster"
# Deployed stacks hold the type both cluster kinds had before the split.
FORMER = [{"spec": {"type": "mlops:cluster:PlatformCluster"}}]
K8S_PROVIDER = "pulumi:providers:kubernetes"
METRICS_SERVER = "mlops:metrics_server:MetricsServer"


def _aws_resources(record: Record) -> list[str]:
    return [r.type for r in record.resources if r.type.startswith(("aws:", "eks:", "pulumi:providers:aws"))]


def test_component_from_its_own_args_registers_only_a_provider_and_metrics_server() -> None:
    built: list[ExistingCluster] = []

    def build() -> None:
        built.append(ExistingCluster("kind", ExistingClusterArgs("kind-mlops")))

    record = run_components(build)
    component = record.one(EXISTING, "kind")
    assert sorted((r.type, r.name) for r in record.children_of(component)) == [
        (METRICS_SERVER, "kind-metrics-server"),
        (K8S_PROVIDER, "kind-k8s"),
    ]
    assert _aws_resources(record) == []
    provider = record.one(K8S_PROVIDER, "kind-k8s")
    assert provider.inputs["context"] == "kind-mlops"
    assert "kubeconfig" not in provider.inputs
    # kind's kubelets serve self-signed certificates.
    release = record.one("kubernetes:helm.sh/v3:Release", "kind-metrics-server-release")
    assert KUBELET_INSECURE_TLS in release.inputs["values"]["args"]
    assert release.provider == provider_ref(provider)

    [cluster] = built
    assert isinstance(cluster.handle, ExistingClusterHandle)
    assert cluster.handle.provider is cluster.provider
    assert cluster.handle.pod_identity_cluster is None
    assert cluster.stack_outputs == {}


def test_a_cluster_that_runs_its_own_metrics_server_gets_only_the_provider() -> None:
    record = run_components(
        lambda: ExistingCluster("k3d", ExistingClusterArgs("k3d-mlops", install_metrics_server=False))
    )
    component = record.one(EXISTING, "k3d")
    assert [(r.type, r.name) for r in record.children_of(component)] == [(K8S_PROVIDER, "k3d-k8s")]
    assert record.of_type("kubernetes:helm.sh/v3:Release") == []


def test_component_answers_to_the_former_platform_cluster_type() -> None:
    record = run_components(lambda: ExistingCluster("kind", ExistingClusterArgs("kind-mlops")))
    assert record.one(EXISTING, "kind").aliases == FORMER


def test_local_stack_runs_on_the_kube_context_with_the_names_it_was_deployed_with() -> None:
    record = committed("local")
    assert _aws_resources(record) == []
    component = record.one(EXISTING, "platform")
    assert component.aliases == FORMER
    assert sorted((r.type, r.name) for r in record.children_of(component)) == [
        (METRICS_SERVER, "platform-metrics-server"),
        (K8S_PROVIDER, "platform-k8s"),
    ]
    provider = record.one(K8S_PROVIDER)
    assert provider.inputs["context"] == "kind-mlops"
    assert "kubeconfig" not in provider.inputs
