"""Alert rules: their shape, their runbooks, and `promtool check rules` on each rendered group."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from monitoring import rules
from tests.support.tools import REPO_ROOT, require_tool

REQUIRED_ALERTS = {
    rules.DATA_DRIFT_DETECTED,
    rules.DRIFT_SHARE_CRITICAL,
    rules.PIPELINE_STAGE_FAILED,
    rules.NO_RECENT_SUCCESSFUL_RUN,
    rules.MODEL_METRIC_BELOW_THRESHOLD,
    rules.MLFLOW_DOWN,
    rules.PUSHGATEWAY_DOWN,
    rules.LIVE_DRIFT_CONFIRMED,
    rules.RETRAIN_RELAY_DOWN,
    rules.RETRAIN_RELAY_FAILING,
}
RUNBOOK_SECTIONS = ("## What it means", "## Likely causes", "## How to check", "## How to fix")


def test_every_required_alert_is_rendered_once() -> None:
    names = [r["alert"] for g in rules.render_rule_groups()["groups"] for r in g["rules"]]
    assert sorted(names) == sorted(REQUIRED_ALERTS)


@pytest.mark.parametrize("rule", rules.alert_rules(), ids=lambda r: r.name)
def test_alert_has_severity_summary_description_and_runbook(rule: rules.AlertRule) -> None:
    rendered = next(
        r for g in rules.render_rule_groups()["groups"] for r in g["rules"] if r["alert"] == rule.name
    )
    assert rendered["labels"]["severity"] in {"critical", "warning"}
    assert set(rendered["annotations"]) == {"summary", "description", "runbook_url"}
    assert rendered["annotations"]["summary"].strip() and rendered["annotations"]["description"].strip()
    assert rendered["annotations"]["runbook_url"] == f"docs/runbooks/{rule.runbook_slug}.md"


@pytest.mark.parametrize("rule", rules.alert_rules(), ids=lambda r: r.name)
def test_runbook_exists_and_covers_meaning_causes_checks_and_fixes(rule: rules.AlertRule) -> None:
    runbook = REPO_ROOT / "docs" / "runbooks" / f"{rule.runbook_slug}.md"
    assert runbook.is_file(), f"missing runbook {runbook}"
    text = runbook.read_text(encoding="utf-8")
    assert rule.name in text, f"{runbook} should name the alert it belongs to"
    for section in RUNBOOK_SECTIONS:
        assert section in text, f"{runbook} lacks a '{section}' section"


def test_runbook_base_url_is_a_parameter() -> None:
    base = "https://github.com/example/mlops/blob/main/docs/runbooks/"
    rendered = rules.render_rule_groups(rules.AlertSettings(runbook_base_url=base))
    urls = {r["annotations"]["runbook_url"] for g in rendered["groups"] for r in g["rules"]}
    assert f"{base}pipeline-stage-failed.md" in urls
    assert all(url.startswith(base) and "//pipeline" not in url for url in urls)


def test_production_for_durations() -> None:
    by_name = {r.name: r for r in rules.alert_rules()}
    assert by_name[rules.PIPELINE_STAGE_FAILED].for_ == "0s"
    assert by_name[rules.DATA_DRIFT_DETECTED].for_ == by_name[rules.DRIFT_SHARE_CRITICAL].for_ == "0s"
    assert by_name[rules.MLFLOW_DOWN].for_ == by_name[rules.PUSHGATEWAY_DOWN].for_ == "5m"


def test_live_drift_is_confirmed_only_after_confirm_for() -> None:
    by_name = {r.name: r for r in rules.alert_rules(rules.AlertSettings(live_drift_confirm_for="45m"))}
    confirmed = by_name[rules.LIVE_DRIFT_CONFIRMED]
    assert confirmed.for_ == "45m"
    assert 'source="live"' in confirmed.expr
    assert rules.alert_rules()[0].for_ == "0s"
    assert {r.name: r for r in rules.alert_rules()}[rules.LIVE_DRIFT_CONFIRMED].for_ == "30m"


def test_no_schedule_means_no_stale_training_alert() -> None:
    """Nothing promises a run without a schedule: the alert would fire forever on a fresh platform."""
    names = {r.name for r in rules.alert_rules(rules.AlertSettings(no_success_hours=None))}
    assert rules.NO_RECENT_SUCCESSFUL_RUN not in names
    assert rules.PIPELINE_STAGE_FAILED in names
    windowed = {r.name: r for r in rules.alert_rules(rules.AlertSettings(no_success_hours=171))}
    assert "> 615600" in windowed[rules.NO_RECENT_SUCCESSFUL_RUN].expr


def test_relay_alerts_only_where_the_relay_runs() -> None:
    names = {r.name for r in rules.alert_rules(rules.AlertSettings(retrain_relay=False))}
    assert rules.LIVE_DRIFT_CONFIRMED in names
    assert not names & {rules.RETRAIN_RELAY_DOWN, rules.RETRAIN_RELAY_FAILING}


def test_for_override_replaces_every_for_and_nothing_else() -> None:
    production = rules.alert_rules()
    fast = rules.alert_rules(rules.AlertSettings(for_override="0s"))
    assert {r.for_ for r in fast} == {"0s"}
    assert [(r.name, r.expr, r.summary) for r in fast] == [(r.name, r.expr, r.summary) for r in production]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"for_override": "5 minutes"}, "for_override"),
        ({"service_down_for": ""}, "service_down_for"),
        ({"drift_share_critical": 1.5}, "drift_share_critical"),
        ({"no_success_hours": 0}, "no_success_hours"),
        ({"runbook_base_url": ""}, "runbook_base_url"),
        ({"live_drift_confirm_for": "half an hour"}, "live_drift_confirm_for"),
    ],
)
def test_bad_settings_are_rejected_naming_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rules.AlertSettings(**kwargs)  # type: ignore[arg-type]


def test_prometheus_rule_object_wraps_the_groups() -> None:
    obj = rules.render_prometheus_rule("mlops-alerts", "monitoring", labels={"app": "mlops"})
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["kind"] == "PrometheusRule"
    assert obj["metadata"] == {"name": "mlops-alerts", "namespace": "monitoring", "labels": {"app": "mlops"}}
    assert obj["spec"] == rules.render_rule_groups()
    with pytest.raises(ValueError, match="namespace"):
        rules.render_prometheus_rule("mlops-alerts", "")


@pytest.mark.parametrize(
    "settings", [rules.AlertSettings(), rules.AlertSettings(for_override="0s")], ids=["production", "e2e"]
)
def test_promtool_check_rules_accepts_each_rendered_group(
    settings: rules.AlertSettings, tmp_path: Path
) -> None:
    promtool = require_tool("promtool")
    spec = rules.render_prometheus_rule("mlops-alerts", "monitoring", settings)["spec"]
    assert len(spec["groups"]) >= 4
    for group in spec["groups"]:
        path = tmp_path / f"{group['name']}.yaml"
        path.write_text(yaml.safe_dump({"groups": [group]}, sort_keys=False), encoding="utf-8")
        result = subprocess.run(
            [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{group['name']}: {result.stdout}{result.stderr}"
        assert f"SUCCESS: {len(group['rules'])} rules found" in result.stdout
