"""Sending a frame to the model server as a client would: rows in MLflow scoring requests.

The demo, the closed loop and the screencast use it to put real traffic through the server (which is
what the capture records and live drift checks). Requests carry their own `X-Request-Id`, so a caller
can later join ground-truth labels to the captured rows.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipelines import schema

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrafficStats:
    """What happened to the requests sent."""

    requests: int
    ok: int
    invalid: int
    errors: int
    rows: int
    request_ids: list[str] = field(default_factory=list)
    """The id of every request sent, in order."""
    versions: dict[str, int] = field(default_factory=dict)
    """Answered requests per `X-Model-Version`."""
    predictions: list[int] = field(default_factory=list)
    """Every predicted label of the answered requests, in row order."""


def scoring_body(frame: pd.DataFrame) -> bytes:
    """A `dataframe_split` body of the schema's features (NaN as null)."""
    features = frame.loc[:, list(schema.FEATURE_NAMES)]
    data = [
        [None if math.isnan(value) else float(value) for value in row] for row in features.to_numpy().tolist()
    ]
    return json.dumps({"dataframe_split": {"columns": list(schema.FEATURE_NAMES), "data": data}}).encode()


def send_frame(
    url: str,
    frame: pd.DataFrame,
    *,
    rows_per_request: int = 1,
    request_id_prefix: str = "",
    timeout: float = 10.0,
) -> TrafficStats:
    """POST `frame` to `{url}/invocations`, `rows_per_request` rows per request, over one connection."""
    import requests

    if rows_per_request < 1:
        raise ValueError(f"rows_per_request is {rows_per_request}; expected at least 1")
    prefix = request_id_prefix or uuid.uuid4().hex[:12]
    ok = invalid = errors = 0
    ids: list[str] = []
    versions: dict[str, int] = {}
    predictions: list[int] = []
    with requests.Session() as session:
        for number, start in enumerate(range(0, len(frame), rows_per_request)):
            request_id = f"{prefix}-{number:06d}"
            ids.append(request_id)
            response = session.post(
                f"{url.rstrip('/')}/invocations",
                data=scoring_body(frame.iloc[start : start + rows_per_request]),
                headers={"Content-Type": "application/json", "X-Request-Id": request_id},
                timeout=timeout,
            )
            if response.status_code < 400:
                ok += 1
                version = response.headers.get("X-Model-Version", "?")
                versions[version] = versions.get(version, 0) + 1
                predictions += [int(p) for p in response.json()["predictions"]]
            elif response.status_code < 500:
                invalid += 1
            else:
                errors += 1
    return TrafficStats(
        requests=len(ids),
        ok=ok,
        invalid=invalid,
        errors=errors,
        rows=len(frame),
        request_ids=ids,
        versions=versions,
        predictions=predictions,
    )
