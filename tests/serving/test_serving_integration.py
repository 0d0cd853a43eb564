"""The real server process (`python -m serving serve` through `serve_locally`) against a real registry:
good and bad requests, the capture read back, live drift on it, the alias followed, a broken champion
refused while the previous one keeps serving. The server is stopped by the fixture, also on failure."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pipelines import schema
from pipelines.telemetry import MetricsTarget
from serving import capture
from serving.live_drift import VERDICT_NO_DRIFT, check_live_drift
from serving.local import LocalServer, serve_locally
from serving.traffic import send_frame
from tests.serving.registry_fixture import MODEL_NAME, Registry, make_registry, sample_frame

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return make_registry(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module")
def versions(registry: Registry) -> dict[str, int]:
    frame = sample_frame()
    good = registry.train_and_register(frame, c=1.0)
    registry.set_champion(good)
    return {
        "first": good,
        "second": registry.train_and_register(frame, c=0.05),
        "broken": registry.register_broken(frame),
    }


@pytest.fixture(scope="module")
def server(
    registry: Registry, versions: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalServer]:
    folder = tmp_path_factory.mktemp("serving")
    with serve_locally(
        model_name=MODEL_NAME,
        tracking_uri=registry.tracking_uri,
        capture_uri=str(folder / "capture"),
        log_path=folder / "server.log",
        poll_seconds=1.0,
        flush_seconds=0.3,
    ) as running:
        yield running
    assert not _alive(running.pid), "the server's process is still running after the context exited"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _metric(server: LocalServer, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted({"model_name": MODEL_NAME, **labels}.items()))
    for line in requests.get(server.metrics_url, timeout=5).text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"not true within {timeout} s: {check}")


def _record(frame: Any, index: int = 0) -> dict[str, float]:
    return {name: float(frame.iloc[index][name]) for name in schema.FEATURE_NAMES}


def _post(server: LocalServer, payload: dict[str, Any]) -> requests.Response:
    return requests.post(server.invocations_url, json=payload, timeout=10)


def test_good_requests_are_answered_by_the_champion_and_captured(
    server: LocalServer, versions: dict[str, int]
) -> None:
    # A random sample of the training data: traffic that looks like what the model was trained on.
    frame = sample_frame().sample(n=60, random_state=3)
    stats = send_frame(server.url, frame, rows_per_request=2, request_id_prefix="clean")
    assert (stats.ok, stats.invalid, stats.errors) == (30, 0, 0)
    assert stats.versions == {str(versions["first"]): 30}
    assert len(stats.predictions) == 60 and set(stats.predictions) <= set(schema.TARGET_CLASSES)

    store = capture.LocalStore(Path(server.log_path).parent / "capture")

    def captured() -> Any:
        rows = capture.read_parts(store, store.list_keys(f"{MODEL_NAME}/"))
        return [rows] if len(rows) >= 60 else None

    [rows] = _eventually(captured)
    assert list(rows.columns) == list(capture.COLUMNS)
    assert sorted(set(rows["request_id"])) == sorted(stats.request_ids)
    assert set(rows["model_version"]) == {versions["first"]}
    assert rows["prediction"].tolist() == stats.predictions
    assert rows["mean_radius"].tolist() == frame["mean_radius"].tolist()
    assert _metric(server, "mlops_serving_captured_rows_total") >= 60


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("mean_area"), "mean_area"),
        (lambda r: r.update(patient_id=7.0), "patient_id"),
        (lambda r: r.update(worst_texture="high"), "worst_texture"),
    ],
)
def test_a_bad_request_gets_a_400_naming_the_field_and_is_not_captured(
    server: LocalServer, change: Callable[[dict[str, Any]], Any], field: str
) -> None:
    record = _record(sample_frame())
    change(record)
    before = _metric(server, "mlops_serving_captured_rows_total")
    invalid_before = sum(
        _metric(server, "mlops_serving_requests_total", model_version=v, outcome="invalid")
        for v in ("1", "2", "3")
    )
    response = requests.post(
        server.invocations_url,
        json={"dataframe_records": [record]},
        headers={"X-Request-Id": f"bad-{field}"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert field in response.json()["error"]
    assert response.headers["X-Request-Id"] == f"bad-{field}"
    invalid_after = sum(
        _metric(server, "mlops_serving_requests_total", model_version=v, outcome="invalid")
        for v in ("1", "2", "3")
    )
    assert invalid_after == invalid_before + 1
    time.sleep(0.6)  # longer than a flush: a captured row would be written by now
    assert _metric(server, "mlops_serving_captured_rows_total") == before
    assert requests.get(f"{server.url}/v2/health/live", timeout=5).status_code == 200


def test_the_open_inference_protocol_answers_and_names_a_bad_input(server: LocalServer) -> None:
    record = _record(sample_frame(), 3)
    inputs = [{"name": k, "shape": [1], "datatype": "FP64", "data": [v]} for k, v in record.items()]
    response = requests.post(
        server.infer_url, json={"inputs": inputs}, headers={"X-Request-Id": "oip-1"}, timeout=10
    )
    assert response.status_code == 200, response.text
    [output] = response.json()["outputs"]
    assert output["datatype"] == "INT64" and output["data"][0] in schema.TARGET_CLASSES
    assert response.headers["X-Request-Id"] == "oip-1"
    assert response.headers["X-Model-Version"] == response.json()["model_version"]
    inputs[0] = {"name": inputs[0]["name"], "shape": [1], "datatype": "BYTES", "data": ["x"]}
    refused = requests.post(server.infer_url, json={"inputs": inputs}, timeout=10)
    assert refused.status_code == 400
    assert "mean_radius" in refused.json()["error"]


def test_the_model_repository_api_is_not_exposed(server: LocalServer) -> None:
    unload = requests.post(f"{server.url}/v2/repository/models/{MODEL_NAME}/unload", timeout=5)
    assert unload.status_code == 404
    assert requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200


def test_live_drift_runs_on_the_captured_traffic(
    server: LocalServer, registry: Registry, tmp_path: Path
) -> None:
    outcome = check_live_drift(
        model_name=MODEL_NAME,
        tracking_uri=registry.tracking_uri,
        capture_uri=str(Path(server.log_path).parent / "capture"),
        min_rows=30,
        metrics_target=MetricsTarget(textfile_dir=tmp_path / "metrics"),
        report_dir=tmp_path / "reports",
    )
    assert outcome.rows >= 60
    assert outcome.verdict == VERDICT_NO_DRIFT  # the traffic is rows of the training data
    assert Path(outcome.report_path).read_text().lstrip().lower().startswith("<!doctype html")
    run = registry.client().get_run(outcome.run_id)
    assert run.data.tags["mlops.drift_source"] == "live"
    assert [a.path for a in registry.client().list_artifacts(outcome.run_id, "drift")] == [
        f"drift/{Path(outcome.report_path).name}"
    ]
    [metrics] = (tmp_path / "metrics").glob("*.prom")
    assert (
        'mlops_drift_detected{dataset="breast_cancer",pipeline="breast-cancer-training",source="live"} 0.0'
        in (metrics.read_text())
    )


def test_a_broken_champion_is_refused_and_the_previous_one_keeps_serving_then_the_alias_is_followed(
    server: LocalServer, registry: Registry, versions: dict[str, int]
) -> None:
    record = {"dataframe_records": [_record(sample_frame())]}
    first = str(versions["first"])
    assert _post(server, record).headers["X-Model-Version"] == first
    registry.set_champion(versions["broken"])
    _eventually(lambda: _metric(server, "mlops_serving_model_load_failures_total") >= 1)
    answer = _post(server, record)
    assert answer.status_code == 200
    assert answer.headers["X-Model-Version"] == first
    assert _metric(server, "mlops_serving_model_version") == versions["first"]
    assert "failed to load" in server.log_path.read_text() and "float64 values" in server.log_path.read_text()

    registry.set_champion(versions["second"])
    second = str(versions["second"])
    _eventually(lambda: _post(server, record).headers["X-Model-Version"] == second)
    assert _metric(server, "mlops_serving_model_version") == versions["second"]
    assert json.loads(_post(server, record).text)["predictions"][0] in schema.TARGET_CLASSES


def test_mlflow_scoring_server_endpoints_answer(server: LocalServer) -> None:
    assert requests.get(f"{server.url}/ping", timeout=5).status_code == 200
    assert requests.get(f"{server.url}/version", timeout=5).status_code == 200


def test_without_a_champion_the_server_is_live_not_ready_until_one_is_aliased(
    registry: Registry, versions: dict[str, int], tmp_path: Path
) -> None:
    client = registry.client()
    client.delete_registered_model_alias(MODEL_NAME, "champion")
    with serve_locally(
        model_name=MODEL_NAME,
        tracking_uri=registry.tracking_uri,
        log_path=tmp_path / "server.log",
        poll_seconds=1.0,
        wait_for_champion=False,
    ) as server:
        assert requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code != 200
        refused = _post(server, {"dataframe_records": [_record(sample_frame())]})
        assert refused.status_code == 503
        assert "waiting for the champion" in refused.json()["error"]
        registry.set_champion(versions["first"])
        _eventually(lambda: requests.get(f"{server.url}/v2/health/ready", timeout=5).status_code == 200)
        assert _post(server, {"dataframe_records": [_record(sample_frame())]}).headers[
            "X-Model-Version"
        ] == str(versions["first"])
