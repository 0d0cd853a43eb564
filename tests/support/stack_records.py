"""Recorded runs of the committed stacks, shared by the infra tests (each stack runs once per session)."""

from __future__ import annotations

import json
from typing import Any

from harness.mocks import Record, Recorded
from tests.support.stacks import record

STACK = "mlops-infra"


committed = record  # the session-wide cache of the committed stacks


def provider_ref(provider: Recorded) -> str:
    """How resources refer to a provider: `<urn>::<id>`."""
    return f"{provider.urn}::{provider.id}"


def by_id(record: Record, type_token: str) -> dict[str, Recorded]:
    return {r.id: r for r in record.of_type(type_token)}


def depends_on(record: Record, resource: Recorded, other: Recorded) -> bool:
    return other.urn in resource.dependencies


def policy(text_or_dict: Any) -> dict[str, Any]:
    """Policy documents reach the mocks as JSON text; parse them for plain assertions."""
    return json.loads(text_or_dict) if isinstance(text_or_dict, str) else dict(text_or_dict)
