"""The request tracking MLServer's app gets: ids in and out, outcome and latency per request."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.http import PREDICTION_PATH, RequestTracking, outcome_of, request_id_from
from serving.telemetry import ServingTelemetry

SEEN: list[str] = []


async def invocations(request: Request) -> JSONResponse:
    SEEN.append(request.headers["x-request-id"])
    if request.query_params.get("fail"):
        raise RuntimeError("model crashed")
    status = int(request.query_params.get("status", 200))
    return JSONResponse({"predictions": [1]}, status_code=status, headers={"X-Model-Version": "7"})


async def health(request: Request) -> PlainTextResponse:
    return PlainTextResponse("")


def client() -> tuple[TestClient, CollectorRegistry]:
    registry = CollectorRegistry()
    app = Starlette(
        routes=[Route("/invocations", invocations, methods=["POST"]), Route("/v2/health/ready", health)]
    )
    app.add_middleware(RequestTracking, telemetry=ServingTelemetry("clf", registry))
    return TestClient(app, raise_server_exceptions=False), registry


def requests_counted(registry: CollectorRegistry, outcome: str, version: str = "7") -> float | None:
    labels = {"model_name": "clf", "model_version": version, "outcome": outcome}
    return registry.get_sample_value("mlops_serving_requests_total", labels)


def test_a_clients_request_id_is_passed_to_the_model_and_returned():
    test, _ = client()
    response = test.post("/invocations", headers={"X-Request-Id": "order-42"})
    assert response.headers["x-request-id"] == "order-42"
    assert SEEN[-1] == "order-42"
    assert response.headers["x-model-version"] == "7"


def test_a_missing_or_malformed_id_is_replaced_by_a_fresh_one():
    test, _ = client()
    first = test.post("/invocations").headers["x-request-id"]
    second = test.post("/invocations", headers={"X-Request-Id": "a b\tc"}).headers["x-request-id"]
    assert len(first) == 32 and first != second
    assert SEEN[-1] == second


def test_outcomes_are_counted_by_status_with_the_answering_version():
    test, registry = client()
    test.post("/invocations")
    test.post("/invocations?status=400")
    test.post("/invocations?status=503")
    test.post("/invocations?fail=1")
    assert requests_counted(registry, "ok") == 1
    assert requests_counted(registry, "invalid") == 1
    assert requests_counted(registry, "error") == 1
    # An exception never sent a response: no version header, labelled with the served version (none yet).
    assert requests_counted(registry, "error", "none") == 1
    assert (
        registry.get_sample_value("mlops_serving_request_duration_seconds_count", {"model_name": "clf"}) == 4
    )


def test_health_checks_are_not_prediction_requests():
    test, registry = client()
    test.get("/v2/health/ready")
    assert (
        registry.get_sample_value("mlops_serving_request_duration_seconds_count", {"model_name": "clf"})
        is None
    )


def test_the_prediction_routes():
    assert PREDICTION_PATH.match("/invocations")
    assert PREDICTION_PATH.match("/v2/models/clf/infer")
    assert PREDICTION_PATH.match("/v2/models/clf/versions/3/infer")
    assert not PREDICTION_PATH.match("/v2/models/clf/ready")
    assert [outcome_of(s) for s in (200, 404, 413, 500)] == ["ok", "invalid", "invalid", "error"]
    assert request_id_from([(b"x-request-id", b"x" * 129)]) != "x" * 129
