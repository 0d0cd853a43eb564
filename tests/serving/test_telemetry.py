"""The server exposes exactly the serving metrics `monitoring/metrics.py` declares."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from monitoring import metrics as m
from serving.telemetry import ServingTelemetry


def exposed_names(registry: CollectorRegistry) -> set[str]:
    names = set()
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            if name.endswith("_created"):
                continue
            for suffix in ("_bucket", "_count", "_sum"):
                name = name.removesuffix(suffix)
            names.add(name)
    return names


def test_every_serving_metric_is_exposed_under_its_declared_name_and_labels():
    registry = CollectorRegistry()
    telemetry = ServingTelemetry("clf", registry)
    telemetry.request(m.OUTCOME_OK, 0.002, "4")
    telemetry.serving(4)
    assert exposed_names(registry) == {spec.name for spec in m.SERVING_METRICS}
    labels = {"model_name": "clf", "model_version": "4", "outcome": "ok"}
    assert registry.get_sample_value(m.SERVING_REQUESTS.name, labels) == 1
    assert registry.get_sample_value(f"{m.SERVING_LATENCY.name}_count", {"model_name": "clf"}) == 1


def test_a_request_before_any_model_is_labelled_none():
    registry = CollectorRegistry()
    ServingTelemetry("clf", registry).request(m.OUTCOME_ERROR, 0.001)
    labels = {"model_name": "clf", "model_version": "none", "outcome": "error"}
    assert registry.get_sample_value(m.SERVING_REQUESTS.name, labels) == 1
