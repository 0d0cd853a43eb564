"""`promtool test rules` on the production rendering: one firing and one non-firing case (at least) per alert.

The expected annotations are the rule's own templates with the case's labels and value filled in, so a
misspelt `$labels.x` in a template (which renders `<no value>`) fails here.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitoring import metrics as m
from monitoring import rules
from tests.support.tools import require_tool

P = 'pipeline="iris-training"'
JOB = f'job="{m.PUSH_JOB}"'


@dataclass(frozen=True)
class Case:
    """Input series, an evaluation time, and the alerts expected then (empty: must not fire)."""

    alert: str
    title: str
    series: list[tuple[str, str]]
    eval_time: str
    firing: list[dict[str, str]] = field(default_factory=list)
    # How `{{ $value ... }}` renders for this case (promtool formats the firing value).
    value_text: str = ""
    # Sample spacing and rule-evaluation step; day-long cases use a coarse one to stay fast.
    interval: str = "1m"


CASES = [
    Case(
        rules.DATA_DRIFT_DETECTED,
        "drifted batch fires",
        [
            (f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, stage="drift", dataset="iris", source="batch"}}', "1x10"),
            (f'{m.DRIFT_SHARE.name}{{{JOB}, {P}, stage="drift", dataset="iris", source="batch"}}', "0.5x10"),
        ],
        "2m",
        [{"pipeline": "iris-training", "dataset": "iris", "source": "batch", "severity": "warning"}],
    ),
    Case(
        rules.DATA_DRIFT_DETECTED,
        "clean batch stays quiet",
        [(f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, stage="drift", dataset="iris", source="batch"}}', "0x10")],
        "2m",
    ),
    Case(
        rules.DATA_DRIFT_DETECTED,
        "drift resolved by a newer clean batch",
        [
            (
                f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, stage="drift", dataset="iris", source="batch"}}',
                "1x3 0x6",
            )
        ],
        "8m",
    ),
    Case(
        rules.DRIFT_SHARE_CRITICAL,
        "share above critical fires",
        [(f'{m.DRIFT_SHARE.name}{{{JOB}, {P}, stage="drift", dataset="iris", source="batch"}}', "0.9x10")],
        "2m",
        [{"pipeline": "iris-training", "dataset": "iris", "source": "batch", "severity": "critical"}],
        value_text="90%",
    ),
    Case(
        rules.DRIFT_SHARE_CRITICAL,
        "share above the drift threshold but below critical does not page",
        [(f'{m.DRIFT_SHARE.name}{{{JOB}, {P}, stage="drift", dataset="iris", source="batch"}}', "0.5x10")],
        "2m",
    ),
    Case(
        rules.PIPELINE_STAGE_FAILED,
        "failed stage fires at once",
        [
            (f'{m.STAGE_SUCCESS.name}{{{JOB}, {P}, stage="ingest"}}', "1x10"),
            (f'{m.STAGE_SUCCESS.name}{{{JOB}, {P}, stage="train"}}', "0x10"),
        ],
        "0m",
        [{"pipeline": "iris-training", "stage": "train", "severity": "critical"}],
    ),
    Case(
        rules.PIPELINE_STAGE_FAILED,
        "all stages succeeded",
        [(f'{m.STAGE_SUCCESS.name}{{{JOB}, {P}, stage="{s}"}}', "1x10") for s in m.STAGES],
        "5m",
    ),
    Case(
        rules.NO_RECENT_SUCCESSFUL_RUN,
        "last success older than 26 h fires",
        [(f"{m.LAST_SUCCESS_TIMESTAMP.name}{{{JOB}, {P}}}", "0x60")],
        "26h30m",
        [{"pipeline": "iris-training", "severity": "warning"}],
        value_text="1d 2h 30m 0s",
        interval="30m",
    ),
    Case(
        rules.NO_RECENT_SUCCESSFUL_RUN,
        "last success younger than 26 h is fine",
        [(f"{m.LAST_SUCCESS_TIMESTAMP.name}{{{JOB}, {P}}}", "0x60")],
        "25h30m",
        interval="30m",
    ),
    Case(
        rules.NO_RECENT_SUCCESSFUL_RUN,
        "a pipeline that ran 27 h ago and never succeeded fires",
        [(f"{m.RUN_TIMESTAMP.name}{{{JOB}, {P}}}", "0x60")],
        "27h",
        [{"pipeline": "iris-training", "severity": "warning"}],
        value_text="1d 3h 0m 0s",
        interval="30m",
    ),
    Case(
        rules.NO_RECENT_SUCCESSFUL_RUN,
        "an old failed run after a recent success does not fire",
        [
            (f"{m.RUN_TIMESTAMP.name}{{{JOB}, {P}}}", "0x60"),
            (f"{m.LAST_SUCCESS_TIMESTAMP.name}{{{JOB}, {P}}}", "0+1800x60"),
        ],
        "27h",
        interval="30m",
    ),
    Case(
        rules.MODEL_METRIC_BELOW_THRESHOLD,
        "accuracy below the pipeline's threshold fires",
        [
            (
                f'{m.MODEL_METRIC.name}{{{JOB}, {P}, stage="evaluate", model_name="iris-clf", '
                'model_version="3", metric="accuracy"}',
                "0.7x10",
            ),
            (
                f'{m.MODEL_METRIC.name}{{{JOB}, {P}, stage="evaluate", model_name="iris-clf", '
                'model_version="3", metric="f1"}',
                "0.95x10",
            ),
            (
                f'{m.MODEL_METRIC_THRESHOLD.name}{{{JOB}, {P}, stage="evaluate", model_name="iris-clf", '
                'metric="accuracy"}',
                "0.8x10",
            ),
            (
                f'{m.MODEL_METRIC_THRESHOLD.name}{{{JOB}, {P}, stage="evaluate", model_name="iris-clf", '
                'metric="f1"}',
                "0.8x10",
            ),
        ],
        "1m",
        [
            {
                "pipeline": "iris-training",
                "model_name": "iris-clf",
                "model_version": "3",
                "metric": "accuracy",
                "severity": "warning",
            }
        ],
        value_text="0.7",
    ),
    Case(
        rules.MODEL_METRIC_BELOW_THRESHOLD,
        "metrics at or above their thresholds, or without one, are fine",
        [
            (
                f'{m.MODEL_METRIC.name}{{{JOB}, {P}, model_name="iris-clf", model_version="4", '
                'metric="accuracy"}',
                "0.8x10",
            ),
            (
                f'{m.MODEL_METRIC.name}{{{JOB}, {P}, model_name="iris-clf", model_version="4", '
                'metric="roc_auc"}',
                "0.1x10",
            ),
            (
                f'{m.MODEL_METRIC_THRESHOLD.name}{{{JOB}, {P}, model_name="iris-clf", metric="accuracy"}}',
                "0.8x10",
            ),
        ],
        "1m",
    ),
    Case(
        rules.MLFLOW_DOWN,
        "scrape failing for 6 minutes fires",
        [(f'up{{job="{m.MLFLOW_SCRAPE_JOB}", instance="mlflow:5000"}}', "0x10")],
        "6m",
        [{"job": m.MLFLOW_SCRAPE_JOB, "instance": "mlflow:5000", "severity": "critical"}],
    ),
    Case(
        rules.MLFLOW_DOWN,
        "a 3-minute blip stays pending",
        [(f'up{{job="{m.MLFLOW_SCRAPE_JOB}", instance="mlflow:5000"}}', "0x10")],
        "3m",
    ),
    Case(
        rules.MLFLOW_DOWN,
        "scrape job missing entirely fires",
        [(f'up{{job="{m.PUSHGATEWAY_SCRAPE_JOB}", instance="pushgateway:9091"}}', "1x10")],
        "6m",
        [{"job": m.MLFLOW_SCRAPE_JOB, "severity": "critical"}],
    ),
    Case(
        rules.MLFLOW_DOWN,
        "healthy",
        [(f'up{{job="{m.MLFLOW_SCRAPE_JOB}", instance="mlflow:5000"}}', "1x10")],
        "6m",
    ),
    Case(
        rules.PUSHGATEWAY_DOWN,
        "scrape failing for 6 minutes fires",
        [(f'up{{job="{m.PUSHGATEWAY_SCRAPE_JOB}", instance="pushgateway:9091"}}', "0x10")],
        "6m",
        [{"job": m.PUSHGATEWAY_SCRAPE_JOB, "instance": "pushgateway:9091", "severity": "critical"}],
    ),
    Case(
        rules.PUSHGATEWAY_DOWN,
        "healthy",
        [(f'up{{job="{m.PUSHGATEWAY_SCRAPE_JOB}", instance="pushgateway:9091"}}', "1x10")],
        "6m",
    ),
    Case(
        rules.LIVE_DRIFT_CONFIRMED,
        "live drift in every check for 35 minutes is confirmed",
        [(f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, dataset="iris", source="live"}}', "1x40")],
        "35m",
        [{"pipeline": "iris-training", "dataset": "iris", "source": "live", "severity": "warning"}],
    ),
    Case(
        rules.LIVE_DRIFT_CONFIRMED,
        "live drift for 20 minutes is not confirmed yet",
        [(f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, dataset="iris", source="live"}}', "1x40")],
        "20m",
    ),
    Case(
        rules.LIVE_DRIFT_CONFIRMED,
        "a clean live check in between restarts the wait",
        [(f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, dataset="iris", source="live"}}', "1x20 0 1x20")],
        "40m",
    ),
    Case(
        rules.LIVE_DRIFT_CONFIRMED,
        "batch drift never starts retraining",
        [(f'{m.DRIFT_DETECTED.name}{{{JOB}, {P}, dataset="iris", source="batch"}}', "1x40")],
        "35m",
    ),
    Case(
        rules.RETRAIN_RELAY_DOWN,
        "relay not scraped for 6 minutes fires",
        [(f'up{{job="{m.RELAY_SCRAPE_JOB}", instance="relay:8080"}}', "0x10")],
        "6m",
        [{"job": m.RELAY_SCRAPE_JOB, "instance": "relay:8080", "severity": "warning"}],
    ),
    Case(
        rules.RETRAIN_RELAY_DOWN,
        "relay scrape job missing fires",
        [(f'up{{job="{m.PUSHGATEWAY_SCRAPE_JOB}", instance="pushgateway:9091"}}', "1x10")],
        "6m",
        [{"job": m.RELAY_SCRAPE_JOB, "severity": "warning"}],
    ),
    Case(
        rules.RETRAIN_RELAY_DOWN,
        "healthy",
        [(f'up{{job="{m.RELAY_SCRAPE_JOB}", instance="relay:8080"}}', "1x10")],
        "6m",
    ),
    Case(
        rules.RETRAIN_RELAY_FAILING,
        "a failed start fires",
        [(f'{m.RELAY_START_FAILURES.name}{{job="{m.RELAY_SCRAPE_JOB}", instance="relay:8080"}}', "0 0 1x10")],
        "5m",
        [{"job": m.RELAY_SCRAPE_JOB, "instance": "relay:8080", "severity": "warning"}],
        value_text="1",
    ),
    Case(
        rules.RETRAIN_RELAY_FAILING,
        "no failures, and an old failure ages out",
        [(f'{m.RELAY_START_FAILURES.name}{{job="{m.RELAY_SCRAPE_JOB}", instance="relay:8080"}}', "0 1x40")],
        "30m",
    ),
]


def expand(template: str, labels: dict[str, str], value_text: str) -> str:
    """The few template forms our rules use, filled in by hand."""
    text = template
    for name, value in labels.items():
        text = text.replace("{{ $labels." + name + " }}", value)
    for form in ("{{ $value | humanizePercentage }}", "{{ $value | humanizeDuration }}", "{{ $value }}"):
        text = text.replace(form, value_text)
    return text


def _expected_alert(rule: dict[str, Any], labels: dict[str, str], value_text: str) -> dict[str, Any]:
    return {
        "exp_labels": labels,
        "exp_annotations": {k: expand(v, labels, value_text) for k, v in rule["annotations"].items()},
    }


def build_test_files(rule_file: str, cases: list[Case]) -> dict[str, dict[str, Any]]:
    """One promtool test file per evaluation interval (promtool sets it per file)."""
    rendered = {r["alert"]: r for g in rules.render_rule_groups()["groups"] for r in g["rules"]}
    files: dict[str, dict[str, Any]] = {}
    for case in cases:
        test_file = files.setdefault(
            case.interval, {"rule_files": [rule_file], "evaluation_interval": case.interval, "tests": []}
        )
        test_file["tests"].append(
            {
                "name": f"{case.alert}: {case.title}",
                "interval": case.interval,
                "input_series": [{"series": s, "values": v} for s, v in case.series],
                "alert_rule_test": [
                    {
                        "eval_time": case.eval_time,
                        "alertname": case.alert,
                        "exp_alerts": [
                            _expected_alert(rendered[case.alert], labels, case.value_text)
                            for labels in case.firing
                        ],
                    }
                ],
            }
        )
    return files


def test_every_alert_has_a_firing_and_a_non_firing_case() -> None:
    for rule in rules.alert_rules():
        cases = [c for c in CASES if c.alert == rule.name]
        assert any(c.firing for c in cases), f"{rule.name} has no firing case"
        assert any(not c.firing for c in cases), f"{rule.name} has no non-firing case"


def test_promtool_unit_tests_pass_on_the_production_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules.render_rule_groups(), sort_keys=False))
    paths = []
    for number, content in enumerate(build_test_files("rules.yaml", CASES).values()):
        path = tmp_path / f"rules_test_{number}.yaml"
        path.write_text(yaml.safe_dump(content, sort_keys=False))
        paths.append(str(path))
    result = subprocess.run(
        [promtool, "test", "rules", *paths], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(paths)
