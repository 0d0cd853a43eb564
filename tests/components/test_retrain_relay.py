"""RetrainRelay built from its own Args under the recording mocks: hardening, token, policies, scraping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from components import retrain_relay as rr
from harness.checkov import findings, run_checkov
from harness.mocks import Record, run_program
from harness.render import kubernetes_object, render_record, write
from monitoring import alertmanager as am
from monitoring import metrics as m
from relay import config as relay_config
from tests.support.tools import missing_tool

IMAGE = (
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-pipeline-steps:2.17.3-0123456789ab@sha256:" + "a" * 64
)
TOKEN = "t0ken" * 8
PROGRAM = f'''
import pulumi
from components.retrain_relay import RetrainRelay, RetrainRelayArgs

relay = RetrainRelay(
    "retrain-relay",
    RetrainRelayArgs(
        image="{IMAGE}",
        token=pulumi.Output.secret("{TOKEN}"),
        enabled=True,
        cooldown_seconds=21600,
        max_runs_per_day=2,
        pipeline_name="breast-cancer-training",
        capture_uri="s3://mlops-dvc-dev/inference-capture",
    ),
)
pulumi.export("webhook_url", relay.webhook_url)
'''


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    program = tmp_path_factory.mktemp("retrain_relay") / "__main__.py"
    program.write_text(PROGRAM)
    return run_program("dev", {}, program_file=Path(program))


def _object(record: Record, kind: str, name: str, namespace: str = "retrain-relay") -> dict[str, Any]:
    found = [
        o
        for o in render_record(record).objects
        if o["kind"] == kind and o["metadata"]["name"] == name and o["metadata"].get("namespace") == namespace
    ]
    assert len(found) == 1, f"{kind} {namespace}/{name}: found {len(found)}"
    return found[0]


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def test_every_object_is_schema_valid(record: Record) -> None:
    objects = render_record(record).objects
    assert {o["kind"] for o in objects} >= {"Namespace", "Deployment", "Service", "Secret", "NetworkPolicy"}
    for obj in objects:
        if obj["kind"] == "ServiceMonitor":
            continue
        kubernetes_validate.validate(obj, "1.31", strict=True)


def test_pss_restricted_namespace_and_hardened_pod_without_api_token(record: Record) -> None:
    namespace = _object(record, "Namespace", "retrain-relay", namespace=None)  # type: ignore[arg-type]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pod = _object(record, "Deployment", rr.APP)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == rr.APP
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False and context["runAsNonRoot"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert set(container["resources"]["limits"]) >= {"cpu", "memory"}
    assert container["image"] == IMAGE


def test_the_relay_runs_with_the_guardrails_and_the_token_file(record: Record) -> None:
    (container,) = _object(record, "Deployment", rr.APP)["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "relay"]
    env = _env(container)
    assert env[relay_config.RETRAIN_ENABLED_ENV] == "true"
    assert env[relay_config.COOLDOWN_ENV] == "21600"
    assert env[relay_config.MAX_RUNS_ENV] == "2"
    assert env[relay_config.KFP_HOST_ENV] == "http://ml-pipeline.kubeflow.svc:8888"
    assert env[relay_config.KFP_PIPELINE_ENV] == "breast-cancer-training"
    assert env[relay_config.CAPTURE_URI_ENV] == "s3://mlops-dvc-dev/inference-capture"
    token_mount = next(mnt for mnt in container["volumeMounts"] if mnt["name"] == "token")
    assert env[relay_config.TOKEN_FILE_ENV] == f"{token_mount['mountPath']}/{rr.TOKEN_KEY}"


def test_the_token_alertmanager_sends_is_the_relays_secret(record: Record) -> None:
    (secret,) = record.of_type("kubernetes:core/v1:Secret")
    assert secret.inputs["metadata"] == {
        "name": rr.TOKEN_SECRET,
        "namespace": "retrain-relay",
        "labels": secret.inputs["metadata"]["labels"],
    }
    assert secret.inputs["stringData"] == {rr.TOKEN_KEY: TOKEN}
    assert not record.of_type("random:index/randomPassword:RandomPassword")
    volume = next(
        v
        for v in _object(record, "Deployment", rr.APP)["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "token"
    )
    assert volume["secret"]["secretName"] == rr.TOKEN_SECRET


def test_alertmanager_reads_the_token_from_its_mounted_secret() -> None:
    receiver = am.RelayReceiver(rr.webhook_url("retrain-relay"), rr.alertmanager_credentials_file())
    assert receiver.url == "http://retrain-relay.retrain-relay.svc:8080/alertmanager"
    assert receiver.credentials_file == "/etc/alertmanager/secrets/retrain-relay-token/token"


def test_ckv2_k8s_6_ingress_only_from_alertmanager_and_prometheus_egress_only_dns_and_kfp(
    record: Record,
) -> None:
    assert _object(record, "NetworkPolicy", "default-deny-all")["spec"]["policyTypes"] == [
        "Ingress",
        "Egress",
    ]
    spec = _object(record, "NetworkPolicy", rr.APP)["spec"]
    sources = [peer for rule in spec["ingress"] for peer in rule["from"]]
    assert [s["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for s in sources] == [
        "alertmanager",
        "prometheus",
    ]
    assert {s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for s in sources} == {
        "monitoring"
    }
    assert all(rule["ports"] == [{"protocol": "TCP", "port": rr.PORT}] for rule in spec["ingress"])
    dns, kfp = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert kfp["to"][0]["podSelector"]["matchLabels"] == {"app": "ml-pipeline"}
    assert kfp["ports"] == [{"protocol": "TCP", "port": 8888}]
    api = _object(record, "NetworkPolicy", "kfp-api-server-from-retrain-relay", namespace="kubeflow")["spec"]
    assert api["podSelector"]["matchLabels"] == {"app": "ml-pipeline"}
    (peer,) = api["ingress"][0]["from"]
    assert peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "retrain-relay"


def test_service_monitor_scrapes_the_relay_as_its_alerts_expect(record: Record) -> None:
    monitor = record.one(
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "retrain-relay-service-monitor"
    )
    (endpoint,) = monitor.inputs["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"] == "http"
    assert endpoint["relabelings"] == [
        {"action": "replace", "targetLabel": "job", "replacement": m.RELAY_SCRAPE_JOB}
    ]
    service = kubernetes_object(record.one("kubernetes:core/v1:Service", "retrain-relay-service"))
    assert monitor.inputs["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_runs_per_day": 0}, "max_runs_per_day"),
        ({"cooldown_seconds": -5}, "cooldown_seconds"),
        ({"namespace": "monitoring"}, "its own namespace"),
        ({"pipeline_name": ""}, "pipeline_name"),
    ],
)
def test_bad_args_are_refused_before_any_resource(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "image": IMAGE,
        "token": TOKEN,
        "enabled": True,
        "cooldown_seconds": 0,
        "max_runs_per_day": 2,
        "pipeline_name": "p",
    }
    with pytest.raises(ValueError, match=message):
        rr.validate(rr.RetrainRelayArgs(**{**base, **changes}))


@pytest.mark.slow
def test_checkov_finds_nothing_on_the_relay(record: Record, tmp_path: Path) -> None:
    from harness.checkov import CHECKOV

    if not CHECKOV.exists():
        missing_tool(f"checkov is not installed at {CHECKOV} (make test installs it)")
    write(render_record(record), tmp_path)
    assert findings(run_checkov(tmp_path)) == []
