"""Inference capture: what the model saw and answered, as Parquet parts in the artifact store.

Layout (the live-drift job and the closed loop read it):
  {uri}/{model_name}/date=YYYY-MM-DD/hour=HH/part-<unix_ms>-<uuid>.parquet
with columns request_id (string), timestamp (timestamp[ms, UTC]), model_name (string), model_version
(int64), one float64 column per feature of `pipelines/schema.py`, prediction (int64). Rows of one request
share its id. `{uri}/{model_name}/labels/` is reserved for ground truth (written by the closed loop).

Off the request path: a request only samples (per request, at `sampleRate`) and puts its rows on a bounded
queue; a background thread writes a part once `flush_rows` rows wait or the oldest has waited
`flush_seconds`, and on shutdown. A full queue or a failed write drops rows and counts them
(`mlops_serving_capture_dropped_rows_total`); it never fails or slows a request. Parts are written whole
(a local part is renamed into place; an S3 object appears only complete), so a reader never sees half a
part. The store is a folder (`/path`, `file://`) or S3 (`s3://bucket/prefix`, through boto3: on AWS the Pod
Identity credential chain, on MinIO `AWS_ENDPOINT_URL_S3` and a key pair from a Secret).
"""

from __future__ import annotations

import io
import logging
import os
import queue
import random
import re
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import urlparse

from pipelines import schema
from serving.config import CaptureConfig

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from serving.telemetry import ServingTelemetry

log = logging.getLogger(__name__)

LABELS_PREFIX: Final = "labels"
# Requests waiting for the writer; beyond this the capture drops (and counts) instead of growing memory.
MAX_QUEUED_REQUESTS: Final = 10_000
_PART = re.compile(r"date=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/part-[^/]+\.parquet$")

REQUEST_ID: Final = "request_id"
TIMESTAMP: Final = "timestamp"
MODEL_NAME: Final = "model_name"
MODEL_VERSION: Final = "model_version"
PREDICTION: Final = "prediction"
COLUMNS: Final = (REQUEST_ID, TIMESTAMP, MODEL_NAME, MODEL_VERSION, *schema.FEATURE_NAMES, PREDICTION)


def arrow_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            (REQUEST_ID, pa.string()),
            (TIMESTAMP, pa.timestamp("ms", tz="UTC")),
            (MODEL_NAME, pa.string()),
            (MODEL_VERSION, pa.int64()),
            *((name, pa.float64()) for name in schema.FEATURE_NAMES),
            (PREDICTION, pa.int64()),
        ]
    )


def hour_prefix(model_name: str, moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{model_name}/date={utc:%Y-%m-%d}/hour={utc:%H}/"


def part_key(model_name: str, timestamp_ms: int, part_id: str) -> str:
    """Where a part whose rows fall in the hour of `timestamp_ms` goes (relative to the capture URI)."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return f"{hour_prefix(model_name, moment)}part-{timestamp_ms}-{part_id}.parquet"


def part_hour(key: str) -> datetime | None:
    """The UTC hour a part key belongs to; None for anything that is not a part (labels, stray files)."""
    match = _PART.search(key)
    if match is None:
        return None
    return datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def window_prefixes(model_name: str, end: datetime, hours: int) -> list[str]:
    """The hour partitions that hold rows of the `hours` hours before `end` (both partial ends included)."""
    start = end - timedelta(hours=hours)
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    prefixes = []
    moment = first
    while moment <= end:
        prefixes.append(hour_prefix(model_name, moment))
        moment += timedelta(hours=1)
    return prefixes


class CaptureStore(Protocol):
    """Where parts live: keys are paths relative to the capture URI."""

    def put(self, key: str, data: bytes) -> None: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, keys: list[str]) -> None: ...


class LocalStore:
    """A folder (a laptop, a test)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)

    def list_keys(self, prefix: str) -> list[str]:
        base = self.root / prefix
        folder = base if prefix.endswith("/") else base.parent
        if not folder.is_dir():
            return []
        keys = []
        for path in folder.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and not path.name.startswith(".") and key.startswith(prefix):
                keys.append(key)
        return sorted(keys)

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)


class S3Store:
    """A bucket prefix on S3 or MinIO (credentials and endpoint from boto3's own chain and variables)."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._client = client

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def list_keys(self, prefix: str) -> list[str]:
        keys = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys += [item["Key"][len(self.prefix) :] for item in page.get("Contents", [])]
        return sorted(keys)

    def get(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()
        return body

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # S3's limit per DeleteObjects call
            chunk = [{"Key": self.prefix + key} for key in keys[start : start + 1000]]
            self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": chunk, "Quiet": True})


def open_store(uri: str) -> CaptureStore:
    """A store for `s3://bucket/prefix`, `file:///path` or a plain path."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"capture URI {uri!r} has no bucket; expected s3://bucket/prefix")
        return S3Store(parsed.netloc, parsed.path)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise ValueError(f"capture URI {uri!r}: unsupported scheme; expected a path, file:// or s3://")
    return LocalStore(Path(uri))


@dataclass(frozen=True)
class CapturedRequest:
    """One answered request's rows, as captured."""

    request_id: str
    timestamp_ms: int
    model_version: int
    features: np.ndarray
    """rows x features, float64, in `pipelines.schema.FEATURE_NAMES` order."""
    predictions: np.ndarray
    """rows, int64."""

    @property
    def rows(self) -> int:
        return int(self.predictions.shape[0])


def to_table(model_name: str, requests: list[CapturedRequest]) -> pa.Table:
    import numpy as np
    import pyarrow as pa

    counts = [request.rows for request in requests]
    features = np.vstack([request.features for request in requests])
    columns: dict[str, Any] = {
        REQUEST_ID: np.repeat(np.array([r.request_id for r in requests], dtype=object), counts),
        TIMESTAMP: np.repeat(np.array([r.timestamp_ms for r in requests], dtype=np.int64), counts),
        MODEL_NAME: [model_name] * sum(counts),
        MODEL_VERSION: np.repeat(np.array([r.model_version for r in requests], dtype=np.int64), counts),
    }
    for index, name in enumerate(schema.FEATURE_NAMES):
        columns[name] = features[:, index]
    columns[PREDICTION] = np.concatenate([request.predictions for request in requests]).astype(np.int64)
    target = arrow_schema()
    arrays = [pa.array(columns[field.name], type=field.type) for field in target]
    return pa.Table.from_arrays(arrays, schema=target)


def table_bytes(table: pa.Table) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def read_parts(store: CaptureStore, keys: Iterable[str]) -> pd.DataFrame:
    """The rows of the given parts as one frame with the capture's columns (empty if there are none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = [pq.read_table(io.BytesIO(store.get(key))) for key in keys]
    if not tables:
        return arrow_schema().empty_table().to_pandas()
    return pa.concat_tables(tables).to_pandas()


def read_window(
    store: CaptureStore, model_name: str, end: datetime, hours: int, since: datetime | None = None
) -> pd.DataFrame:
    """Captured rows with a timestamp in the `hours` hours up to `end` (and not before `since`, if given)."""
    import pandas as pd

    keys = [key for prefix in window_prefixes(model_name, end, hours) for key in store.list_keys(prefix)]
    frame = read_parts(store, keys)
    start = pd.Timestamp(max(end - timedelta(hours=hours), since or end - timedelta(hours=hours)))
    stop = pd.Timestamp(end)
    in_window = (frame[TIMESTAMP] >= start) & (frame[TIMESTAMP] <= stop)
    return frame.loc[in_window].reset_index(drop=True)


def prune(store: CaptureStore, model_name: str, retention_days: int, now: datetime) -> int:
    """Delete the parts of hours that ended more than `retention_days` before `now`; returns how many.

    For stores without a lifecycle rule (a folder, MinIO); labels under the model's prefix are left alone."""
    cutoff = now - timedelta(days=retention_days)
    expired = []
    for key in store.list_keys(f"{model_name}/date="):
        hour = part_hour(key)
        if hour is not None and hour + timedelta(hours=1) <= cutoff:
            expired.append(key)
    store.delete(expired)
    return len(expired)


_STOP: Final = object()


class CaptureWriter:
    """Samples answered requests and writes them as Parquet parts from a background thread."""

    def __init__(
        self,
        model_name: str,
        config: CaptureConfig,
        telemetry: ServingTelemetry,
        store: CaptureStore | None = None,
        seed: int | None = None,
    ) -> None:
        self.model_name = model_name
        self.config = config
        self._telemetry = telemetry
        self._store = store if store is not None else open_store(config.uri)
        self._random = random.Random(seed)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=MAX_QUEUED_REQUESTS)
        self._thread = threading.Thread(target=self._run, name="inference-capture", daemon=True)
        self._closed = False
        self._thread.start()

    def offer(self, request: CapturedRequest) -> bool:
        """Sample the request and queue it; False if it was not sampled or had to be dropped."""
        if self._closed or self._random.random() >= self.config.sample_rate:
            return False
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            self._telemetry.dropped(request.rows)
            return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Write what is waiting and stop the thread (the server's shutdown)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("inference capture: the last part was not written within %.0f s", timeout)

    def _run(self) -> None:
        pending: list[CapturedRequest] = []
        rows = 0
        oldest = 0.0
        while True:
            if pending:
                wait = max(0.0, oldest + self.config.flush_seconds - time.monotonic())
            else:
                wait = self.config.flush_seconds
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                item = None
            if item is _STOP:
                self._write(pending)
                return
            if item is not None:
                if not pending:
                    oldest = time.monotonic()
                pending.append(item)
                rows += item.rows
            due = pending and time.monotonic() - oldest >= self.config.flush_seconds
            if pending and (rows >= self.config.flush_rows or due):
                self._write(pending)
                pending, rows = [], 0

    def _write(self, requests: list[CapturedRequest]) -> None:
        by_hour: dict[str, list[CapturedRequest]] = {}
        for request in requests:
            moment = datetime.fromtimestamp(request.timestamp_ms / 1000, tz=UTC)
            by_hour.setdefault(hour_prefix(self.model_name, moment), []).append(request)
        for group in by_hour.values():
            count = sum(request.rows for request in group)
            key = part_key(self.model_name, group[0].timestamp_ms, uuid.uuid4().hex)
            try:
                self._store.put(key, table_bytes(to_table(self.model_name, group)))
            except Exception as exc:
                # Any failure (credentials, network, a full disk) loses these rows, counted, not the server.
                log.warning("inference capture: %d row(s) not written to %s: %s", count, key, exc)
                self._telemetry.dropped(count)
            else:
                self._telemetry.captured(count)


def now_ms() -> int:
    return time.time_ns() // 1_000_000
