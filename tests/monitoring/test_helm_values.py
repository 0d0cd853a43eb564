"""Helm values for kube-prometheus-stack and the Pushgateway, per stack shape."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from monitoring import helm_values as hv
from monitoring import metrics as m

LOCAL = hv.StackValuesArgs(
    grafana_admin_secret="grafana-admin",
    alertmanager_config_secret="alertmanager-mlops",
    storage_size=None,
    alertmanager_storage_size=None,
)
PROD = hv.StackValuesArgs(
    grafana_admin_secret="grafana-admin",
    alertmanager_config_secret="alertmanager-mlops",
    retention="30d",
    retention_size="45GB",
    storage_size="50Gi",
    storage_class="gp3",
    prometheus_replicas=2,
    alertmanager_replicas=2,
)
# Bound to 127.0.0.1 or hidden by AWS on EKS, kind, k3d and minikube alike.
UNSCRAPABLE = ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy")


def _image_blocks(values: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "image" and isinstance(value, dict):
                yield f"{path}.image", value
            else:
                yield from _image_blocks(value, f"{path}.{key}")


@pytest.mark.parametrize("args", [LOCAL, PROD], ids=["kind", "eks"])
def test_no_cluster_scrapes_control_plane_components_it_cannot_reach(args: hv.StackValuesArgs) -> None:
    """Their targets would stay down and KubeControllerManagerDown & co. would fire forever."""
    values = hv.kube_prometheus_stack_values(args)
    for component in UNSCRAPABLE:
        assert values[component] == {"enabled": False}
    assert values["defaultRules"]["rules"] == {
        "kubeControllerManager": False,
        "kubeSchedulerAlerting": False,
        "kubeSchedulerRecording": False,
        "etcd": False,
        "kubeProxy": False,
    }


def test_retention_and_persistent_storage_come_from_the_arguments() -> None:
    spec = hv.kube_prometheus_stack_values(PROD)["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    assert spec["retentionSize"] == "45GB"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "50Gi"}},
        "storageClassName": "gp3",
    }
    am_claim = hv.kube_prometheus_stack_values(PROD)["alertmanager"]["alertmanagerSpec"]["storage"]
    assert am_claim["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "2Gi"


def test_without_storage_size_no_volume_claim_is_requested() -> None:
    values = hv.kube_prometheus_stack_values(LOCAL)
    assert "storageSpec" not in values["prometheus"]["prometheusSpec"]
    assert "storage" not in values["alertmanager"]["alertmanagerSpec"]


def test_replicas_and_disruption_budgets() -> None:
    prod, local = hv.kube_prometheus_stack_values(PROD), hv.kube_prometheus_stack_values(LOCAL)
    assert prod["prometheus"]["prometheusSpec"]["replicas"] == 2
    assert prod["alertmanager"]["alertmanagerSpec"]["replicas"] == 2
    assert prod["prometheus"]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    assert prod["alertmanager"]["podDisruptionBudget"]["enabled"] is True
    assert local["prometheus"]["podDisruptionBudget"]["enabled"] is False


def test_grafana_admin_comes_from_an_existing_secret() -> None:
    grafana = hv.kube_prometheus_stack_values(PROD)["grafana"]
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in grafana


def test_alertmanager_config_comes_from_an_existing_secret() -> None:
    spec = hv.kube_prometheus_stack_values(PROD)["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    assert spec["configSecret"] == "alertmanager-mlops"
    assert "config" not in hv.kube_prometheus_stack_values(PROD)["alertmanager"]


def test_grafana_sidecar_loads_labelled_dashboards_and_lists_alertmanager() -> None:
    sidecar = hv.kube_prometheus_stack_values(PROD)["grafana"]["sidecar"]
    assert sidecar["dashboards"] == {
        "enabled": True,
        "label": "grafana_dashboard",
        "labelValue": "1",
        "searchNamespace": "ALL",
    }
    assert sidecar["datasources"]["alertmanager"]["enabled"] is True


def test_our_rules_and_service_monitors_are_selected_without_the_release_label() -> None:
    spec = hv.kube_prometheus_stack_values(LOCAL)["prometheus"]["prometheusSpec"]
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False


@pytest.mark.parametrize("args", [LOCAL, PROD], ids=["local", "prod"])
def test_every_overridden_image_is_pinned_by_tag_and_digest(args: hv.StackValuesArgs) -> None:
    blocks = list(_image_blocks(hv.kube_prometheus_stack_values(args)))
    assert {path for path, _ in blocks} == {
        ".prometheus.prometheusSpec.image",
        ".alertmanager.alertmanagerSpec.image",
        ".grafana.image",
        ".prometheus-node-exporter.image",
    }
    for path, image in blocks:
        assert image["tag"], path
        digest = image.get("sha") or image.get("digest", "")
        assert re.fullmatch(r"(sha256:)?[0-9a-f]{64}", digest), f"{path} has no digest"
    assert hv.kube_prometheus_stack_values(args)["prometheus-node-exporter"]["image"]["digest"].startswith(
        "sha256:"
    ), "the node-exporter chart appends the digest verbatim"


def test_images_pinned_only_by_chart_version_are_a_short_explicit_list() -> None:
    # Shrink this list as digests are verified; it must never grow unnoticed.
    assert len(hv.IMAGES_PINNED_BY_CHART_VERSION_ONLY) <= 4


def test_resources_have_requests_and_limits_everywhere() -> None:
    values = hv.kube_prometheus_stack_values(PROD)
    for block in (
        values["prometheus"]["prometheusSpec"]["resources"],
        values["alertmanager"]["alertmanagerSpec"]["resources"],
        values["grafana"]["resources"],
        values["grafana"]["sidecar"]["resources"],
        values["prometheusOperator"]["resources"],
        values["kube-state-metrics"]["resources"],
        values["prometheus-node-exporter"]["resources"],
    ):
        assert set(block) == {"requests", "limits"}
        assert set(block["requests"]) == set(block["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retention": "15 days"}, "retention"),
        ({"retention_size": "45G"}, "retention_size"),
        ({"storage_size": "50GB"}, "storage_size"),
        ({"prometheus_replicas": 0}, "prometheus_replicas"),
        ({"grafana_admin_secret": "Grafana_Admin"}, "grafana_admin_secret"),
        ({"dashboards_label": "bad label"}, "dashboards_label"),
    ],
)
def test_bad_arguments_name_the_field(change: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "grafana_admin_secret": "grafana-admin",
        "alertmanager_config_secret": "alertmanager-mlops",
    }
    with pytest.raises(ValueError, match=message):
        hv.StackValuesArgs(**{**base, **change})
    with pytest.raises(ValueError, match="cpu_limit"):
        hv.Resources("100m", "128Mi", "one", "256Mi")


def test_pushgateway_service_is_named_after_the_scrape_job_the_alert_watches() -> None:
    values = hv.pushgateway_values(hv.PushgatewayValuesArgs(service_monitor_namespace="monitoring"))
    assert values["fullnameOverride"] == m.PUSHGATEWAY_SCRAPE_JOB


def test_pushgateway_keeps_pushed_labels_and_persists_its_data() -> None:
    values = hv.pushgateway_values(
        hv.PushgatewayValuesArgs(service_monitor_namespace="monitoring", storage_class="gp3")
    )
    assert values["serviceMonitor"]["enabled"] is True
    assert values["serviceMonitor"]["honorLabels"] is True
    assert values["serviceMonitor"]["namespace"] == "monitoring"
    assert values["persistentVolume"] == {
        "enabled": True,
        "mountPath": "/data",
        "size": "2Gi",
        "storageClass": "gp3",
    }
    assert "--persistence.file=/data/pushgateway.data" in values["extraArgs"]


def test_pushgateway_without_storage_has_no_persistence_flag() -> None:
    values = hv.pushgateway_values(
        hv.PushgatewayValuesArgs(service_monitor_namespace="mon", storage_size=None)
    )
    assert values["persistentVolume"]["enabled"] is False
    assert values["extraArgs"] == []


def test_pushgateway_image_is_pinned_and_container_restricted() -> None:
    values = hv.pushgateway_values(hv.PushgatewayValuesArgs(service_monitor_namespace="monitoring"))
    reference = f"{values['image']['repository']}:{values['image']['tag']}"
    assert re.fullmatch(r"docker\.io/prom/pushgateway:v[\d.]+@sha256:[0-9a-f]{64}", reference)
    assert reference == hv.PUSHGATEWAY_IMAGE.reference
    container = values["containerSecurityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert values["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert values["automountServiceAccountToken"] is False


def test_chart_versions_are_exact() -> None:
    for version in (hv.KUBE_PROMETHEUS_STACK_VERSION, hv.PUSHGATEWAY_CHART_VERSION):
        assert re.fullmatch(r"\d+\.\d+\.\d+", version)


def test_alertmanager_mounts_the_relay_token_secret_only_when_asked() -> None:
    from dataclasses import replace

    with_relay = hv.kube_prometheus_stack_values(
        replace(LOCAL, alertmanager_secrets=("retrain-relay-token",))
    )
    assert with_relay["alertmanager"]["alertmanagerSpec"]["secrets"] == ["retrain-relay-token"]
    assert "secrets" not in hv.kube_prometheus_stack_values(LOCAL)["alertmanager"]["alertmanagerSpec"]


def test_the_relay_route_needs_its_token_secret_and_file() -> None:
    import pytest

    from components.monitoring import LoopAlerts, relay_receiver
    from components.retrain_relay import alertmanager_credentials_file, webhook_url

    assert relay_receiver(None) is None
    assert relay_receiver(LoopAlerts(no_success_hours=26)) is None
    loop = LoopAlerts(
        no_success_hours=26,
        relay_url=webhook_url("retrain-relay"),
        relay_token_secret="retrain-relay-token",
        relay_credentials_file=alertmanager_credentials_file(),
    )
    receiver = relay_receiver(loop)
    assert receiver is not None and receiver.credentials_file.endswith("/retrain-relay-token/token")
    with pytest.raises(ValueError, match="relay_token_secret"):
        relay_receiver(LoopAlerts(no_success_hours=26, relay_url=webhook_url("retrain-relay")))
