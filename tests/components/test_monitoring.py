"""`MonitoringStack` under the recording mocks, for every committed stack (SECURITY.md rules in the names)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

import versions
from components import monitoring as mon
from components.retrain_relay import alertmanager_credentials_file, webhook_url
from harness.__main__ import main as harness_main
from harness.charts import RELEASES_FILE, chart_values, releases_in
from harness.mocks import PROJECT, Record, Recorded, run_program
from monitoring import helm_values as hv
from monitoring import metrics as m
from monitoring.alertmanager import (
    EmailReceiver,
    NotificationSettings,
    RelayReceiver,
    SlackReceiver,
    WebhookReceiver,
    render_alertmanager_config,
)
from monitoring.dashboards import DASHBOARD_DIR
from monitoring.rules import AlertSettings, render_prometheus_rule
from tests.support.stacks import fixture_config, record

STACKS = ("local", "dev", "prod")
K = f"{PROJECT}:"
RELEASE = "kubernetes:helm.sh/v3:Release"
CUSTOM = {"PrometheusRule", "ServiceMonitor"}


class Expected(NamedTuple):
    retention: str
    storage: str
    replicas: int


# What each committed stack file sets (Pulumi.<stack>.yaml `monitoring`), resolved by settings.py.
EXPECTED = {
    "local": Expected(retention="2d", storage="5Gi", replicas=1),
    "dev": Expected(retention="7d", storage="10Gi", replicas=1),
    "prod": Expected(retention="15d", storage="50Gi", replicas=2),
}


def component(r: Record) -> Recorded:
    return r.one("mlops:monitoring:MonitoringStack", "monitoring")


def stack_release(r: Record) -> Recorded:
    return r.one(RELEASE, "monitoring-kube-prometheus-stack")


def pushgateway_release(r: Record) -> Recorded:
    return r.one(RELEASE, "monitoring-pushgateway")


def custom_resource(r: Record, kind: str, name: str) -> Recorded:
    found = [x for x in r.resources if x.inputs.get("kind") == kind and x.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {[x.name for x in found]}"
    return found[0]


def k8s_named(r: Record, type_token: str, namespace: str, name: str) -> Recorded:
    found = [
        x
        for x in r.of_type(type_token)
        if x.inputs["metadata"]["name"] == name and x.inputs["metadata"].get("namespace") == namespace
    ]
    assert len(found) == 1, f"expected one {type_token} {namespace}/{name}, found {len(found)}"
    return found[0]


def image_blocks(values: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(values, dict):
        for key, value in values.items():
            if key == "image":
                yield f"{path}.image", value
            else:
                yield from image_blocks(value, f"{path}.{key}")
    elif isinstance(values, list):
        for index, value in enumerate(values):
            yield from image_blocks(value, f"{path}[{index}]")


# --- kube-prometheus-stack ----------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_kube_prometheus_stack_release_pinned_with_values_from_the_pure_function(stack: str) -> None:
    release = stack_release(record(stack))
    inputs = release.inputs
    expected = EXPECTED[stack]
    assert inputs["chart"] == "kube-prometheus-stack"
    assert inputs["version"] == "75.6.2"
    assert inputs["repositoryOpts"] == {"repo": "https://prometheus-community.github.io/helm-charts"}
    assert (inputs["name"], inputs["namespace"]) == ("kube-prometheus-stack", "monitoring")
    assert inputs["values"] == hv.kube_prometheus_stack_values(
        hv.StackValuesArgs(
            grafana_admin_secret="grafana-admin",
            alertmanager_config_secret="alertmanager-mlops",
            retention=expected.retention,
            storage_size=expected.storage,
            prometheus_replicas=expected.replicas,
            alertmanager_replicas=expected.replicas,
            node_exporter_namespace="monitoring-node-exporter",
            # Every committed stack checks live drift, so Alertmanager carries the relay's token.
            alertmanager_secrets=("retrain-relay-token",),
        )
    )


@pytest.mark.parametrize("stack", STACKS)
def test_helm_charts_4106_no_scraping_of_control_plane_components_the_cluster_hides(stack: str) -> None:
    """EKS hides them; kind binds them to 127.0.0.1: on no stack may their targets (and alerts) exist."""
    values = stack_release(record(stack)).inputs["values"]
    for hidden in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert values[hidden] == {"enabled": False}, hidden
    assert {"etcd", "kubeControllerManager", "kubeSchedulerAlerting", "kubeProxy"} <= {
        group for group, enabled in values["defaultRules"]["rules"].items() if not enabled
    }


@pytest.mark.parametrize("stack", STACKS)
def test_helm_charts_3368_persistent_storage_and_retention_from_settings(stack: str) -> None:
    spec = stack_release(record(stack)).inputs["values"]["prometheus"]["prometheusSpec"]
    assert spec["retention"] == EXPECTED[stack].retention
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == EXPECTED[stack].storage
    assert claim["accessModes"] == ["ReadWriteOnce"]


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_admin_from_a_generated_secret_never_a_default_password(stack: str) -> None:
    r = record(stack)
    grafana = stack_release(r).inputs["values"]["grafana"]
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in grafana
    secret = k8s_named(r, "kubernetes:core/v1:Secret", "monitoring", "grafana-admin")
    generated = r.one("random:index/randomPassword:RandomPassword", "monitoring-grafana-admin-password")
    assert generated.inputs["length"] >= 32
    assert secret.inputs["stringData"] == {
        "admin-user": "admin",
        "admin-password": generated.outputs["result"],
    }
    # The chart's own default password must not be reachable through any value we pass.
    assert "prom-operator" not in json.dumps([x.inputs for x in r.of_type(RELEASE)])
    assert secret.urn in stack_release(r).dependencies
    assert r.exports["grafana_admin_password"] == generated.outputs["result"]
    assert "grafana_admin_password" in r.secret_exports


@pytest.mark.parametrize("stack", STACKS)
def test_ckv_k8s_14_43_images_in_helm_values_pinned_by_tag_and_digest(stack: str) -> None:
    r = record(stack)
    blocks = [b for x in r.of_type(RELEASE) for b in image_blocks(x.inputs["values"])]
    assert len(blocks) >= 5
    for path, image in blocks:
        pinned = image.get("tag", "") and (
            image.get("sha") or image.get("digest", "").startswith("sha256:") or "@sha256:" in image["tag"]
        )
        assert pinned, f"{stack}: {path} = {image} is not pinned by tag and digest"


def test_prod_replicas_at_least_two_with_disruption_budgets() -> None:
    values = stack_release(record("prod")).inputs["values"]
    for component_name, spec in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec")):
        assert values[component_name][spec]["replicas"] >= 2, component_name
        assert values[component_name]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}


def test_non_production_stacks_run_single_replicas() -> None:
    values = stack_release(record("dev")).inputs["values"]
    assert values["prometheus"]["prometheusSpec"]["replicas"] == 1
    assert values["prometheus"]["podDisruptionBudget"]["enabled"] is False


@pytest.mark.parametrize("stack", STACKS)
def test_grafana_lists_alertmanager_as_a_data_source(stack: str) -> None:
    datasources = stack_release(record(stack)).inputs["values"]["grafana"]["sidecar"]["datasources"]
    assert datasources["enabled"] is True
    assert datasources["alertmanager"]["enabled"] is True


# --- our objects ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_rule_is_the_rendered_rule_set(stack: str) -> None:
    rule = custom_resource(record(stack), "PrometheusRule", "mlops-alerts")
    # The committed stacks' schedules: none on local (no stale-training alert), daily at 03:00 UTC on AWS
    # (24 h between runs + 2 h for a run); every stack serves, checks live drift and runs the relay.
    window = None if stack == "local" else 26.0
    expected = render_prometheus_rule(
        "mlops-alerts", "monitoring", AlertSettings(no_success_hours=window, retrain_relay=True)
    )
    assert rule.inputs["apiVersion"] == expected["apiVersion"]
    assert rule.inputs["metadata"]["namespace"] == "monitoring"
    assert rule.inputs["spec"] == expected["spec"]


def test_no_success_hours_from_settings_reach_the_rule(customised: Record) -> None:
    rule = custom_resource(customised, "PrometheusRule", "mlops-alerts")
    expected = render_prometheus_rule(
        "mlops-alerts",
        "monitoring",
        AlertSettings(no_success_hours=50, retrain_relay=True, runbook_base_url=RUNBOOKS),
    )
    assert rule.inputs["spec"] == expected["spec"]


def test_serving_alerts_only_on_stacks_that_serve() -> None:
    from monitoring.rules import SERVING_ALERTS

    options = mon.MonitoringOptions(retention="15d", storage_size_gib=20, replicas=1, no_success_hours=26)
    target: Any = None
    args = mon.MonitoringStackArgs(options=options, receivers=mon.AlertReceivers(), mlflow=target)
    assert mon.alert_settings(args).serving is True
    off = mon.alert_settings(
        mon.MonitoringStackArgs(options, mon.AlertReceivers(), target, serving_alerts=False)
    )
    rendered = render_prometheus_rule("mlops-alerts", "monitoring", off)
    names = {r["alert"] for g in rendered["spec"]["groups"] for r in g["rules"]}
    assert names and not names & set(SERVING_ALERTS)


def test_runbook_links_open_where_the_stack_says_the_runbooks_are(customised: Record) -> None:
    rule = custom_resource(customised, "PrometheusRule", "mlops-alerts")
    links = [a["annotations"]["runbook_url"] for g in rule.inputs["spec"]["groups"] for a in g["rules"]]
    assert links and all(link.startswith(RUNBOOKS + "/") and link.endswith(".md") for link in links), links
    assert f"{RUNBOOKS}/data-drift-detected.md" in links


@pytest.mark.parametrize("stack", STACKS)
def test_dashboards_ship_as_configmaps_labelled_for_grafanas_sidecar(stack: str) -> None:
    r = record(stack)
    sidecar = stack_release(r).inputs["values"]["grafana"]["sidecar"]["dashboards"]
    configmaps = {
        x.inputs["metadata"]["name"]: x
        for x in r.of_type("kubernetes:core/v1:ConfigMap")
        if x.inputs["metadata"].get("namespace") == "monitoring"
    }
    committed = sorted(DASHBOARD_DIR.glob("*.json"))
    assert {p.stem for p in committed} == {"mlops-platform", "mlops-training", "mlops-drift", "mlops-serving"}
    for path in committed:
        configmap = configmaps[f"dashboard-{path.stem}"]
        assert configmap.inputs["metadata"]["labels"][sidecar["label"]] == sidecar["labelValue"]
        assert configmap.inputs["data"] == {path.name: path.read_text(encoding="utf-8")}


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_is_scraped_as_job_mlflow_through_its_service_with_basic_auth(stack: str) -> None:
    r = record(stack)
    monitor = custom_resource(r, "ServiceMonitor", "mlflow").inputs
    service = k8s_named(r, "kubernetes:core/v1:Service", "mlflow", "mlflow").inputs
    auth = k8s_named(r, "kubernetes:core/v1:Secret", "mlflow", "mlflow-auth").inputs
    spec = monitor["spec"]
    assert monitor["metadata"]["namespace"] == "mlflow"
    assert spec["namespaceSelector"] == {"matchNames": ["mlflow"]}
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # MLflow's basic-auth app protects /metrics: without credentials the target is down and alerts.
    for part in ("username", "password"):
        ref = endpoint["basicAuth"][part]
        assert ref["name"] == "mlflow-auth" and ref["key"] in auth["stringData"]
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": m.MLFLOW_SCRAPE_JOB}
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_mlflow_lets_prometheus_in(stack: str) -> None:
    policy = k8s_named(
        r := record(stack), "kubernetes:networking.k8s.io/v1:NetworkPolicy", "mlflow", "mlflow-server"
    )
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in policy.inputs["spec"]["ingress"]
        for peer in rule["from"]
    }
    assert "monitoring" in sources, r.stack


@pytest.mark.parametrize("stack", STACKS)
def test_pushgateway_release_with_its_service_monitor_keeping_pushed_labels(stack: str) -> None:
    r = record(stack)
    inputs = pushgateway_release(r).inputs
    assert (inputs["chart"], inputs["version"]) == ("prometheus-pushgateway", "3.2.0")
    assert (inputs["name"], inputs["namespace"]) == ("pushgateway", "monitoring")
    values = inputs["values"]
    assert values["fullnameOverride"] == m.PUSHGATEWAY_SCRAPE_JOB
    assert values["serviceMonitor"]["enabled"] is True
    assert values["serviceMonitor"]["honorLabels"] is True
    assert values["serviceMonitor"]["namespace"] == "monitoring"
    assert r.exports["pushgateway_url"] == "http://pushgateway.monitoring.svc:9091"


@pytest.mark.parametrize("stack", STACKS)
def test_crd_dependent_objects_depend_on_the_kube_prometheus_stack_release(stack: str) -> None:
    r = record(stack)
    release = stack_release(r)
    dependents = [
        custom_resource(r, "PrometheusRule", "mlops-alerts"),
        custom_resource(r, "ServiceMonitor", "mlflow"),
        pushgateway_release(r),  # its chart renders a ServiceMonitor
    ]
    for dependent in dependents:
        assert release.urn in dependent.dependencies, dependent.name
    crd_kinds = [
        x for x in r.resources if x.inputs.get("apiVersion", "").startswith("monitoring.coreos.com/")
    ]
    assert {x.inputs["kind"] for x in crd_kinds} == CUSTOM
    assert all(release.urn in x.dependencies for x in crd_kinds)


def test_mlflow_service_monitor_waits_for_mlflow() -> None:
    r = record("dev")
    # Depending on a component means depending on its children: the auth Secret the scrape reads.
    auth = k8s_named(r, "kubernetes:core/v1:Secret", "mlflow", "mlflow-auth")
    assert auth.urn in custom_resource(r, "ServiceMonitor", "mlflow").dependencies


# --- namespaces and network ---------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_pss_restricted_monitoring_namespace_privileged_only_for_node_exporter(stack: str) -> None:
    r = record(stack)
    namespaces = {
        x.inputs["metadata"]["name"]: x.inputs["metadata"]["labels"]
        for x in r.children_of(component(r))
        if x.type == "kubernetes:core/v1:Namespace"
    }
    assert namespaces["monitoring"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespaces["monitoring-node-exporter"]["pod-security.kubernetes.io/enforce"] == "privileged"
    values = stack_release(r).inputs["values"]
    assert values["prometheus-node-exporter"]["namespaceOverride"] == "monitoring-node-exporter"
    release_dependencies = stack_release(r).dependencies
    assert all(
        x.urn in release_dependencies
        for x in r.of_type("kubernetes:core/v1:Namespace")
        if x.parent == component(r).urn
    )


@pytest.mark.parametrize("stack", STACKS)
def test_ckv2_k8s_6_default_deny_in_each_monitoring_namespace(stack: str) -> None:
    r = record(stack)
    for namespace in ("monitoring", "monitoring-node-exporter"):
        deny = k8s_named(r, "kubernetes:networking.k8s.io/v1:NetworkPolicy", namespace, "default-deny-all")
        assert deny.inputs["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_pipeline_steps_may_push_to_the_pushgateway_and_nothing_else_comes_in() -> None:
    r = record("dev")
    policy = k8s_named(
        r, "kubernetes:networking.k8s.io/v1:NetworkPolicy", "monitoring", "pushgateway-clients"
    )
    spec = policy.inputs["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "prometheus-pushgateway"}}
    assert spec["ingress"] == [
        {
            # The steps, and the live drift check next to the model server.
            "from": [
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}}},
                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "serving"}}},
            ],
            "ports": [{"protocol": "TCP", "port": 9091}],
        }
    ]
    ingress_sources = [
        peer
        for p in r.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if p.inputs["metadata"]["namespace"] == "monitoring"
        for rule in p.inputs["spec"].get("ingress", [])
        for peer in rule["from"]
    ]
    assert not [peer for peer in ingress_sources if "ipBlock" in peer], "no ingress from addresses outside"


def test_no_pod_may_reach_the_instance_metadata_endpoint() -> None:
    r = record("dev")
    for policy in r.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        if policy.inputs["metadata"]["namespace"] != "monitoring":
            continue
        for rule in policy.inputs["spec"].get("egress", []):
            for peer in rule.get("to", []):
                if "ipBlock" in peer:
                    assert "169.254.169.254/32" in peer["ipBlock"].get("except", []), policy.name


# --- notifications ----------------------------------------------------------------------------------------


# Every committed stack checks live drift, so confirmed drift also goes to the retraining relay.
RELAY = RelayReceiver(webhook_url("retrain-relay"), alertmanager_credentials_file())


def alertmanager_yaml(r: Record) -> dict[str, Any]:
    secret = k8s_named(r, "kubernetes:core/v1:Secret", "monitoring", "alertmanager-mlops")
    assert set(secret.inputs["stringData"]) == {"alertmanager.yaml"}
    return dict(yaml.safe_load(secret.inputs["stringData"]["alertmanager.yaml"]))


# dev with every receiver (secrets set with --secret), a stale-training window and runbooks of its own: one
# program run the tests below share.
SLACK = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
WEBHOOK = "https://alerts.example.com/hook-secret-token"
SMTP = "smtp-secret-password"
RUNBOOKS = "https://github.com/acme/mlops/blob/main/docs/runbooks"


@pytest.fixture(scope="module")
def customised() -> Record:
    config, secret_keys = fixture_config("dev")
    config[K + "alertSlackWebhookUrl"] = SLACK
    config[K + "alertWebhookUrl"] = WEBHOOK
    config[K + "alertSmtpPassword"] = SMTP
    config[K + "monitoring"] = json.dumps(
        {
            "retention": "7d",
            "storageSizeGib": 10,
            "alertEmailTo": ["oncall@example.com"],
            "alertEmailFrom": "alertmanager@example.com",
            "smtpSmarthost": "smtp.example.com:587",
            "noSuccessHours": 50,
            "runbookBaseUrl": RUNBOOKS,
        }
    )
    secret_names = [K + "alertSlackWebhookUrl", K + "alertWebhookUrl", K + "alertSmtpPassword"]
    return run_program("dev", config, [*secret_keys, *secret_names])


def test_alertmanager_secret_holds_receivers_configured_as_secrets(customised: Record) -> None:
    slack, webhook, smtp, r = SLACK, WEBHOOK, SMTP, customised
    assert alertmanager_yaml(r) == render_alertmanager_config(
        NotificationSettings(
            slack=SlackReceiver(slack),
            email=EmailReceiver(
                to=("oncall@example.com",),
                sender="alertmanager@example.com",
                smarthost="smtp.example.com:587",
                auth_password=smtp,
            ),
            webhook=WebhookReceiver(webhook),
            relay=RELAY,
        )
    )
    values = stack_release(r).inputs["values"]["alertmanager"]["alertmanagerSpec"]
    assert (values["useExistingSecret"], values["configSecret"]) == (True, "alertmanager-mlops")
    holders = [x.name for x in r.resources if any(s in json.dumps(x.inputs) for s in (slack, webhook, smtp))]
    assert holders == ["monitoring-alertmanager-config"], "receiver secrets must live only in that Secret"
    assert not any(s in json.dumps(r.exports) for s in (slack, webhook, smtp))
    secret = k8s_named(r, "kubernetes:core/v1:Secret", "monitoring", "alertmanager-mlops")
    assert secret.urn in stack_release(r).dependencies
    assert r.one("kubernetes:core/v1:Namespace", "monitoring-namespace").urn in secret.dependencies


def test_without_receivers_alerts_route_to_empty_receivers() -> None:
    assert alertmanager_yaml(record("local")) == render_alertmanager_config(NotificationSettings(relay=RELAY))


def test_smtp_password_without_recipients_is_refused_naming_the_keys() -> None:
    config, secret_keys = fixture_config("dev")
    config[K + "alertSmtpPassword"] = "smtp-secret-password"
    r = run_program("dev", config, [*secret_keys, K + "alertSmtpPassword"], expect_error=True)
    assert "alertSmtpPassword" in str(r.error) and "monitoring.alertEmailTo" in str(r.error)
    assert not [x for x in r.of_type(RELEASE) if x.name.startswith("monitoring-")]


# --- component shape and outputs ------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_children_are_named_after_the_component_and_parented_to_it(stack: str) -> None:
    r = record(stack)
    children = r.children_of(component(r))
    assert len(children) >= 15
    assert all(child.name.startswith("monitoring-") for child in children)
    # The cluster's own releases (Cluster Autoscaler, NVIDIA device plugin) are EksCluster's children.
    ours = {x.urn for x in r.of_type(RELEASE) if not x.name.startswith("platform-")}
    assert ours and ours <= {c.urn for c in children}


@pytest.mark.parametrize("stack", STACKS)
def test_port_forward_commands_name_the_services_the_release_creates(stack: str) -> None:
    exports = record(stack).exports
    assert (
        exports["grafana_port_forward"]
        == "kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80"
    )
    assert exports["alertmanager_port_forward"] == (
        "kubectl -n monitoring port-forward svc/kube-prometheus-stack-alertmanager 9093:9093"
    )


def test_release_name_keeps_service_names_short() -> None:
    # kube-prometheus-stack truncates its full name to 26 characters and drops the chart name when the
    # release name contains it: the documented Service names hold only while both stay true.
    assert versions.KUBE_PROMETHEUS_STACK_CHART.chart == mon.STACK_RELEASE and len(mon.STACK_RELEASE) <= 26


# --- harness charts -------------------------------------------------------------------------------------


def test_chart_values_are_the_recorded_release_inputs() -> None:
    releases = releases_in(record("dev"))
    # metrics-server: every stack installs it so the model server's CPU HPA can read `metrics.k8s.io`.
    assert set(releases) == {"kube-prometheus-stack", "pushgateway", "cluster-autoscaler", "metrics-server"}
    kps = releases["kube-prometheus-stack"]
    assert (kps.repo, kps.chart, kps.version, kps.namespace) == (
        versions.PROMETHEUS_COMMUNITY_REPO,
        "kube-prometheus-stack",
        versions.KUBE_PROMETHEUS_STACK_CHART.version,
        "monitoring",
    )
    assert kps.values == stack_release(record("dev")).inputs["values"]
    replicas = kps.values["prometheus"]["prometheusSpec"]["replicas"]
    assert type(replicas) is int, "helm wants integers, the wire format gave floats"


def test_charts_command_writes_values_and_an_index(tmp_path: Path) -> None:
    out = tmp_path / "charts"
    assert harness_main(["charts", "--stack", "prod", "--out", str(out)]) == 0
    index = json.loads((out / RELEASES_FILE).read_text())
    releases = chart_values("prod")
    assert [entry["name"] for entry in index] == sorted(releases)
    for entry in index:
        release = releases[entry["name"]]
        assert (entry["repo"], entry["chart"], entry["version"], entry["namespace"]) == (
            *release[:3],
            release.namespace,
        )
        assert yaml.safe_load((out / entry["values_file"]).read_text()) == release.values


LOOP_PROGRAM = """
import pulumi
from components.monitoring import (
    AlertReceivers, LoopAlerts, MlflowScrapeTarget, MonitoringStack, MonitoringStackArgs,
)
from components.retrain_relay import TOKEN_SECRET, alertmanager_credentials_file, webhook_url
from components.monitoring import MonitoringOptions

stack = MonitoringStack(
    "monitoring",
    MonitoringStackArgs(
        options=MonitoringOptions(retention="7d", storage_size_gib=20, replicas=1, no_success_hours=None),
        receivers=AlertReceivers(),
        mlflow=MlflowScrapeTarget("mlflow", {"app": "mlflow"}, "http", "mlflow-auth", "u", "p"),
        loop=LoopAlerts(
            no_success_hours=None,
            live_drift_confirm_for="45m",
            relay_url=webhook_url("retrain-relay"),
            relay_token_secret=TOKEN_SECRET,
            relay_credentials_file=alertmanager_credentials_file(),
        ),
    ),
)
pulumi.export("relay_token", stack.relay_token)
"""


def test_with_the_loop_alertmanager_mounts_a_generated_relay_token_created_before_the_release(
    tmp_path: Path,
) -> None:
    from components.retrain_relay import TOKEN_SECRET
    from monitoring import rules

    program = tmp_path / "__main__.py"
    program.write_text(LOOP_PROGRAM)
    r = run_program("dev", {}, program_file=program)
    password = r.one("random:index/randomPassword:RandomPassword", "monitoring-relay-token")
    secret = r.one("kubernetes:core/v1:Secret", "monitoring-relay-token")
    assert secret.inputs["metadata"]["name"] == TOKEN_SECRET
    assert secret.inputs["stringData"] == {"token": password.outputs["result"]}
    assert r.exports["relay_token"] == password.outputs["result"] and "relay_token" in r.secret_exports
    release = stack_release(r)
    assert secret.urn in release.dependencies
    assert release.inputs["values"]["alertmanager"]["alertmanagerSpec"]["secrets"] == [TOKEN_SECRET]
    rule = custom_resource(r, "PrometheusRule", "mlops-alerts")
    alerts = {x["alert"]: x for g in rule.inputs["spec"]["groups"] for x in g["rules"]}
    assert alerts[rules.LIVE_DRIFT_CONFIRMED]["for"] == "45m"
    assert rules.RETRAIN_RELAY_DOWN in alerts and rules.NO_RECENT_SUCCESSFUL_RUN not in alerts
