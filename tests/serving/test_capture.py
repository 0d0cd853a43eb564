"""Inference capture: the layout and columns of the contract, flushing, sampling, drops, window, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from prometheus_client import CollectorRegistry

from pipelines import schema
from serving import capture as c
from serving.config import CaptureConfig
from serving.telemetry import ServingTelemetry

MODEL = "clf"
NOON = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def request(request_id: str, moment: datetime = NOON, rows: int = 1, version: int = 3) -> c.CapturedRequest:
    features = np.arange(rows * len(schema.FEATURE_NAMES), dtype=np.float64).reshape(rows, -1)
    return c.CapturedRequest(request_id, ms(moment), version, features, np.ones(rows, dtype=np.int64))


def writer(tmp_path: Path, **config: float) -> tuple[c.CaptureWriter, CollectorRegistry, c.LocalStore]:
    registry = CollectorRegistry()
    store = c.LocalStore(tmp_path)
    settings = CaptureConfig(
        uri=str(tmp_path),
        sample_rate=config.get("sample_rate", 1.0),
        flush_rows=int(config.get("flush_rows", 1000)),
        flush_seconds=config.get("flush_seconds", 60.0),
    )
    return c.CaptureWriter(MODEL, settings, ServingTelemetry(MODEL, registry), store, seed=1), registry, store


def counter(registry: CollectorRegistry, name: str) -> float | None:
    return registry.get_sample_value(name, {"model_name": MODEL})


def test_part_keys_follow_the_contract_layout():
    key = c.part_key(MODEL, ms(NOON), "abc")
    assert key == f"{MODEL}/date=2026-12-01/hour=12/part-{ms(NOON)}-abc.parquet"
    assert c.part_hour(key) == datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert c.part_hour(f"{MODEL}/labels/date=2026-12-01/x.parquet") is None


def test_a_part_has_exactly_the_contract_columns_and_types(tmp_path):
    capture, registry, store = writer(tmp_path)
    capture.offer(request("r1", rows=2))
    capture.offer(request("r2"))
    capture.close()
    [key] = store.list_keys(f"{MODEL}/")
    table = pq.read_table(tmp_path / key)
    assert table.schema.names == list(c.COLUMNS)
    assert str(table.schema.field("timestamp").type) == "timestamp[ms, tz=UTC]"
    assert str(table.schema.field("model_version").type) == "int64"
    assert str(table.schema.field("prediction").type) == "int64"
    assert str(table.schema.field("mean_radius").type) == "double"
    assert table.column("request_id").to_pylist() == ["r1", "r1", "r2"]
    assert table.column("model_name").to_pylist() == [MODEL] * 3
    assert counter(registry, "mlops_serving_captured_rows_total") == 3


def test_parts_are_written_every_n_rows_without_waiting_for_shutdown(tmp_path):
    capture, _, store = writer(tmp_path, flush_rows=2)
    for number in range(4):
        capture.offer(request(f"r{number}"))
    deadline = datetime.now() + timedelta(seconds=5)
    while len(store.list_keys(f"{MODEL}/")) < 2 and datetime.now() < deadline:
        pass
    assert len(store.list_keys(f"{MODEL}/")) == 2
    capture.close()


def test_rows_of_different_hours_go_to_their_own_partitions(tmp_path):
    capture, _, store = writer(tmp_path)
    capture.offer(request("a", NOON))
    capture.offer(request("b", NOON + timedelta(hours=1)))
    capture.close()
    hours = [c.part_hour(key) for key in store.list_keys(f"{MODEL}/")]
    assert sorted(hour.hour for hour in hours if hour) == [12, 13]


def test_sampling_keeps_about_the_configured_share(tmp_path):
    capture, registry, _ = writer(tmp_path, sample_rate=0.25)
    kept = sum(capture.offer(request(f"r{n}")) for n in range(2000))
    capture.close()
    assert 400 < kept < 600
    assert counter(registry, "mlops_serving_captured_rows_total") == kept


class FailingStore(c.LocalStore):
    def put(self, key: str, data: bytes) -> None:
        raise PermissionError("AccessDenied: s3:PutObject")


def test_a_failed_write_drops_and_counts_the_rows(tmp_path):
    registry = CollectorRegistry()
    settings = CaptureConfig(uri="s3://b/p", sample_rate=1.0, flush_rows=10, flush_seconds=60)
    capture = c.CaptureWriter(MODEL, settings, ServingTelemetry(MODEL, registry), FailingStore(tmp_path))
    capture.offer(request("r", rows=3))
    capture.close()
    assert counter(registry, "mlops_serving_capture_dropped_rows_total") == 3
    assert counter(registry, "mlops_serving_captured_rows_total") == 0


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path, monkeypatch):
    monkeypatch.setattr(c, "MAX_QUEUED_REQUESTS", 1)
    registry = CollectorRegistry()

    class SlowStore(c.LocalStore):
        def put(self, key: str, data: bytes) -> None:
            import time

            time.sleep(0.5)
            super().put(key, data)

    settings = CaptureConfig(uri=str(tmp_path), sample_rate=1.0, flush_rows=1, flush_seconds=60)
    capture = c.CaptureWriter(MODEL, settings, ServingTelemetry(MODEL, registry), SlowStore(tmp_path))
    results = [capture.offer(request(f"r{n}")) for n in range(5)]
    capture.close()
    assert not all(results)
    dropped = counter(registry, "mlops_serving_capture_dropped_rows_total")
    assert dropped == results.count(False)


def test_the_window_reads_only_rows_of_the_last_hours(tmp_path):
    capture, _, store = writer(tmp_path)
    capture.offer(request("old", NOON - timedelta(hours=30)))
    capture.offer(request("edge", NOON - timedelta(hours=23, minutes=59)))
    capture.offer(request("new", NOON - timedelta(minutes=5)))
    capture.close()
    frame = c.read_window(store, MODEL, NOON, hours=24)
    assert sorted(frame["request_id"]) == ["edge", "new"]
    assert list(frame.columns) == list(c.COLUMNS)


def test_an_empty_window_is_an_empty_frame_with_the_columns(tmp_path):
    frame = c.read_window(c.LocalStore(tmp_path), MODEL, NOON, hours=24)
    assert frame.empty
    assert list(frame.columns) == list(c.COLUMNS)


def test_prune_deletes_expired_hours_and_leaves_labels(tmp_path):
    capture, _, store = writer(tmp_path)
    capture.offer(request("expired", NOON - timedelta(days=31)))
    capture.offer(request("kept", NOON - timedelta(days=29)))
    capture.close()
    store.put(f"{MODEL}/labels/date=2026-10-01/part-1.parquet", b"labels")
    assert c.prune(store, MODEL, retention_days=30, now=NOON) == 1
    remaining = store.list_keys(f"{MODEL}/")
    assert any("labels" in key for key in remaining)
    assert len([key for key in remaining if c.part_hour(key)]) == 1


def test_open_store_understands_paths_file_urls_and_s3(tmp_path):
    assert isinstance(c.open_store(str(tmp_path)), c.LocalStore)
    local = c.open_store(tmp_path.as_uri())
    assert isinstance(local, c.LocalStore) and local.root == tmp_path
    s3 = c.S3Store("bucket", "/inference-capture/", client=object())
    assert s3.prefix == "inference-capture/"
    with pytest.raises(ValueError, match="unsupported scheme"):
        c.open_store("gs://bucket/x")


def test_the_s3_store_round_trips_parts_under_its_prefix():
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="dvc")
        store = c.S3Store("dvc", "inference-capture", client=client)
        keys = [c.part_key(MODEL, ms(NOON - timedelta(days=d)), str(d)) for d in (0, 40)]
        for key in keys:
            store.put(key, b"part")
        listed = client.list_objects_v2(Bucket="dvc")["Contents"]
        assert sorted(item["Key"] for item in listed) == sorted(f"inference-capture/{k}" for k in keys)
        assert store.list_keys(f"{MODEL}/") == sorted(keys)
        assert store.get(keys[0]) == b"part"
        assert c.prune(store, MODEL, retention_days=30, now=NOON) == 1
        assert store.list_keys(f"{MODEL}/") == [keys[0]]


def test_the_window_can_start_later_than_its_hours(tmp_path):
    capture, _, store = writer(tmp_path)
    capture.offer(request("before", NOON - timedelta(minutes=10)))
    capture.offer(request("after", NOON - timedelta(minutes=1)))
    capture.close()
    frame = c.read_window(store, MODEL, NOON, hours=24, since=NOON - timedelta(minutes=5))
    assert frame["request_id"].tolist() == ["after"]
