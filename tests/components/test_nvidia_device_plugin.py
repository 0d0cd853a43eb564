"""NvidiaDevicePlugin: pinned, and only on GPU nodes (the chart's NFD-label affinity replaced)."""

from __future__ import annotations

from components.nvidia_device_plugin import NAMESPACE, NvidiaDevicePluginArgs, nvidia_device_plugin_values
from harness.mocks import integral_numbers
from pipelines.scheduling import GPU_TAINT_KEY, NODE_ROLE_LABEL
from tests.support.stack_records import committed, provider_ref
from tests.support.stacks import gpu_record
from versions import NVIDIA_DEVICE_PLUGIN_CHART, NVIDIA_DEVICE_PLUGIN_IMAGE

RELEASE = "kubernetes:helm.sh/v3:Release"


def test_runs_only_on_gpu_nodes_and_tolerates_only_the_gpu_taint() -> None:
    values = nvidia_device_plugin_values(NvidiaDevicePluginArgs())
    assert values["nodeSelector"] == {NODE_ROLE_LABEL: "gpu"}
    terms = values["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [{"matchExpressions": [{"key": NODE_ROLE_LABEL, "operator": "In", "values": ["gpu"]}]}]
    assert values["tolerations"] == [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}]
    assert values["image"]["tag"] == f"{NVIDIA_DEVICE_PLUGIN_IMAGE.tag}@{NVIDIA_DEVICE_PLUGIN_IMAGE.digest}"
    assert set(values["resources"]) == {"requests", "limits"}


def test_installed_only_with_a_gpu_group() -> None:
    for stack in ("dev", "prod"):
        assert not [r for r in committed(stack).of_type(RELEASE) if "nvidia" in r.name], stack
    record = gpu_record()
    release = record.one(RELEASE, "platform-nvidia-device-plugin-release")
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"]["repo"]) == (
        NVIDIA_DEVICE_PLUGIN_CHART.chart,
        NVIDIA_DEVICE_PLUGIN_CHART.version,
        NVIDIA_DEVICE_PLUGIN_CHART.repository,
    )
    assert release.inputs["namespace"] == NAMESPACE
    assert integral_numbers(release.inputs["values"]) == nvidia_device_plugin_values(NvidiaDevicePluginArgs())
    assert release.provider == provider_ref(record.one("pulumi:providers:kubernetes"))
