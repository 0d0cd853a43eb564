"""Alertmanager v4 webhook bodies as Alertmanager 0.25-0.28 sends them."""

from __future__ import annotations

import json
from typing import Any

from monitoring import rules

GROUP_KEY = (
    '{}/{alertname="MlopsLiveDriftConfirmed"}:{alertname="MlopsLiveDriftConfirmed", dataset="breast_cancer"}'
)


def alert(
    *,
    status: str = "firing",
    name: str = rules.LIVE_DRIFT_CONFIRMED,
    fingerprint: str = "4f1c2a9be0d37a11",
    starts_at: str = "2026-12-01T22:00:00.000Z",
    dataset: str = "breast_cancer",
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "dataset": dataset,
            "pipeline": "model-server",
            "source": "live",
            "severity": "warning",
        },
        "annotations": {
            "summary": "Live drift confirmed",
            "runbook_url": "docs/runbooks/live-drift-confirmed.md",
        },
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=...",
        "fingerprint": fingerprint,
    }


def notification(
    *alerts: dict[str, Any], status: str = "firing", group_key: str = GROUP_KEY
) -> dict[str, Any]:
    chosen = list(alerts) or [alert()]
    return {
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "retrain-relay",
        "groupLabels": {"alertname": rules.LIVE_DRIFT_CONFIRMED, "dataset": "breast_cancer"},
        "commonLabels": chosen[0]["labels"],
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": chosen,
    }


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()
