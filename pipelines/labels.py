"""Ground-truth labels for captured traffic, and the labelled rows a retraining run adds to its training data.

Captured traffic has no labels: the truth about a request arrives later (a biopsy result, a chargeback),
from outside the platform. Whoever learns it writes it under the capture's reserved prefix, keyed by the
request id the client sent (`X-Request-Id`):

  {capture_uri}/{model_name}/labels/date=YYYY-MM-DD/part-<unix_ms>-<uuid>.parquet
  columns: request_id (string), target (int64), timestamp (timestamp[ms, UTC], when the label was known)

A retraining run's Ingest joins them to the captured rows of the last `capture.window_days` days: a request
counts once it has a label (the newest label of a request wins, so a correction replaces a mistake), and
only single-row requests are joined (a label names a request, not a row of it); everything else is counted
and left out. The capture itself (layout, store) is `serving.capture`'s.
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from pipelines import schema

if TYPE_CHECKING:
    import pandas as pd

LABEL_COLUMNS: Final = ("request_id", schema.TARGET, "timestamp")


def labels_prefix(model_name: str) -> str:
    from serving.capture import LABELS_PREFIX

    return f"{model_name}/{LABELS_PREFIX}/"


def write_labels(capture_uri: str, model_name: str, labels: pd.DataFrame, now: dt.datetime) -> str:
    """Write one labels part (`request_id`, `target`; `timestamp` defaults to `now`); returns its key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving.capture import open_store

    missing = [c for c in ("request_id", schema.TARGET) if c not in labels.columns]
    if missing:
        raise ValueError(f"labels need the columns request_id and {schema.TARGET}; missing {missing}")
    unknown = sorted(set(labels[schema.TARGET].unique()) - set(schema.TARGET_CLASSES))
    if unknown:
        raise ValueError(
            f"labels: {schema.TARGET} values {unknown} are not classes {list(schema.TARGET_CLASSES)}"
        )
    moment = now.astimezone(dt.UTC)
    timestamps = labels["timestamp"] if "timestamp" in labels.columns else [moment] * len(labels)
    table = pa.table(
        {
            "request_id": pa.array(labels["request_id"].astype(str).tolist(), pa.string()),
            schema.TARGET: pa.array(labels[schema.TARGET].astype("int64").tolist(), pa.int64()),
            "timestamp": pa.array(list(timestamps), pa.timestamp("ms", tz="UTC")),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    part = f"part-{int(moment.timestamp() * 1000)}-{uuid.uuid4().hex}.parquet"
    key = f"{labels_prefix(model_name)}date={moment:%Y-%m-%d}/{part}"
    open_store(capture_uri).put(key, sink.getvalue())
    return key


@dataclass(frozen=True)
class LabelledCapture:
    frame: pd.DataFrame
    """The labelled rows with the schema's columns (features, then target), oldest first."""
    captured_rows: int
    """Captured rows in the window."""
    unlabelled_rows: int
    multi_row_requests: int
    """Requests of more than one row (left out: a label names a request)."""
    source: str
    """Where they came from, for lineage."""


def labelled_capture(
    capture_uri: str, model_name: str, window_days: int, end: dt.datetime
) -> LabelledCapture:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from serving import capture

    store = capture.open_store(capture_uri)
    rows = capture.read_window(store, model_name, end, window_days * 24)
    label_keys = [k for k in store.list_keys(labels_prefix(model_name)) if k.endswith(".parquet")]
    if label_keys:
        labels = pa.concat_tables([pq.read_table(io.BytesIO(store.get(k))) for k in label_keys]).to_pandas()
    else:
        labels = pd.DataFrame({c: pd.Series(dtype="object") for c in LABEL_COLUMNS})
    newest = labels.sort_values("timestamp").drop_duplicates("request_id", keep="last")
    sizes = rows.groupby(capture.REQUEST_ID)[capture.REQUEST_ID].transform("size")
    single = rows.loc[sizes == 1]
    joined = single.merge(newest[["request_id", schema.TARGET]], on="request_id", how="inner")
    joined = joined.sort_values(capture.TIMESTAMP, kind="stable")
    frame = joined.loc[:, list(schema.FEATURE_NAMES)].astype("float64")
    frame[schema.TARGET] = joined[schema.TARGET].astype("int64").to_numpy()
    start = end - dt.timedelta(days=window_days)
    return LabelledCapture(
        frame=frame.reset_index(drop=True),
        captured_rows=len(rows),
        unlabelled_rows=len(single) - len(joined),
        multi_row_requests=int(rows.loc[sizes > 1, capture.REQUEST_ID].nunique()),
        source=f"capture:{capture_uri}/{model_name} {start:%Y-%m-%d}..{end:%Y-%m-%d}",
    )
