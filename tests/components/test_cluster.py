"""platform_cluster: the cluster component follows the type of the Args, never a mode string."""

from __future__ import annotations

import pytest

from components.cluster import platform_cluster
from components.existing_cluster import ExistingCluster, ExistingClusterArgs
from harness.mocks import run_components
from tests.support.stack_records import committed

EKS = "mlops:cluster:EksCluster"
EXISTING = "mlops:cluster:ExistingCluster"


def _cluster_types(stack: str) -> list[str]:
    return [r.type for r in committed(stack).resources if r.type.startswith("mlops:cluster:")]


def test_existing_cluster_args_build_an_existing_cluster() -> None:
    built: list[object] = []
    record = run_components(lambda: built.append(platform_cluster("kind", ExistingClusterArgs("kind-mlops"))))
    [cluster] = built
    assert isinstance(cluster, ExistingCluster)
    assert [r.type for r in record.resources if r.type.startswith("mlops:cluster:")] == [EXISTING]


@pytest.mark.parametrize(("stack", "expected"), [("local", EXISTING), ("dev", EKS), ("prod", EKS)])
def test_each_stack_gets_the_cluster_its_settings_resolve_to(stack: str, expected: str) -> None:
    assert _cluster_types(stack) == [expected]


def test_other_args_are_refused_before_anything_is_declared() -> None:
    with pytest.raises(TypeError, match="expected EksClusterArgs or ExistingClusterArgs, got <class 'str'>"):
        platform_cluster("platform", "kind-mlops")  # type: ignore[arg-type]
