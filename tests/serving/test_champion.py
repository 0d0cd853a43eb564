"""Following the alias: swap on success, keep the old model and count a failure, retry after a pause."""

from __future__ import annotations

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from pipelines import schema
from serving.champion import (
    ChampionFollower,
    ServedModel,
    SmokeCheckError,
    check_predictions,
    check_signature,
    retry_delay,
)
from serving.telemetry import ServingTelemetry


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Registry:
    """The alias and which versions load."""

    def __init__(self) -> None:
        self.alias: int | None = None
        self.broken: set[int] = set()
        self.loads: list[int] = []
        self.unreachable = False

    def resolve(self) -> int | None:
        if self.unreachable:
            raise ConnectionError("mlflow:5000 refused")
        return self.alias

    def load(self, version: int) -> ServedModel:
        self.loads.append(version)
        if version in self.broken:
            raise SmokeCheckError("the model returned float64 values; expected integer class labels")
        return ServedModel(version=version, model=object(), run_id=f"run-{version}")


@pytest.fixture
def setup():
    registry, clock = Registry(), Clock()
    metrics = CollectorRegistry()
    telemetry = ServingTelemetry("m", metrics)
    follower = ChampionFollower(
        model_name="m",
        alias="champion",
        poll_seconds=30,
        resolve=registry.resolve,
        load=registry.load,
        telemetry=telemetry,
        clock=clock,
    )
    return registry, clock, metrics, follower


def sample(metrics: CollectorRegistry, name: str) -> float | None:
    return metrics.get_sample_value(name, {"model_name": "m"})


def test_nothing_is_served_until_the_alias_exists(setup):
    registry, _, metrics, follower = setup
    assert "does not exist yet" in follower.poll_once()
    assert follower.current is None
    registry.alias = 1
    assert follower.poll_once() == "now serving m v1 (champion)"
    assert follower.current is not None and follower.current.version == 1
    assert sample(metrics, "mlops_serving_model_version") == 1


def test_an_unchanged_alias_loads_nothing(setup):
    registry, _, _, follower = setup
    registry.alias = 1
    follower.poll_once()
    follower.poll_once()
    assert registry.loads == [1]


def test_a_moved_alias_is_followed(setup):
    registry, _, metrics, follower = setup
    registry.alias = 1
    follower.poll_once()
    registry.alias = 2
    assert follower.poll_once() == "now serving m v2 (champion), was v1"
    assert follower.current is not None and follower.current.version == 2
    assert sample(metrics, "mlops_serving_model_version") == 2


def test_a_broken_version_keeps_the_old_one_and_is_counted(setup):
    registry, _, metrics, follower = setup
    registry.alias = 1
    follower.poll_once()
    registry.alias, registry.broken = 2, {2}
    message = follower.poll_once()
    assert "v2 (champion) failed to load" in message
    assert "still serving v1" in message
    assert follower.current is not None and follower.current.version == 1
    assert sample(metrics, "mlops_serving_model_load_failures_total") == 1
    assert sample(metrics, "mlops_serving_model_version") == 1  # what "served is not the champion" sees
    assert follower.champion_version == 2


def test_a_failed_version_is_retried_after_a_growing_pause(setup):
    registry, clock, metrics, follower = setup
    registry.alias, registry.broken = 3, {3}
    follower.poll_once()
    clock.now = 29.0
    follower.poll_once()
    assert registry.loads == [3]  # within the first pause: not retried
    clock.now = 31.0
    follower.poll_once()
    assert registry.loads == [3, 3]
    assert sample(metrics, "mlops_serving_model_load_failures_total") == 2
    registry.broken = set()  # e.g. the artifact store is back
    clock.now = 31.0 + 61.0
    assert follower.poll_once() == "now serving m v3 (champion)"


def test_an_unreachable_registry_keeps_serving(setup):
    registry, _, metrics, follower = setup
    registry.alias = 1
    follower.poll_once()
    registry.unreachable = True
    assert "could not look up m@champion" in follower.poll_once()
    assert follower.current is not None and follower.current.version == 1
    assert sample(metrics, "mlops_serving_model_load_failures_total") == 0


def test_retry_delay_doubles_up_to_an_hour():
    assert [retry_delay(n, 30) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay(20, 30) == 3600


def test_predictions_must_be_one_class_label_per_row():
    assert check_predictions(np.array([0, 1, 1]), 3).dtype == np.int64
    assert check_predictions(np.array([[0], [1]]), 2).tolist() == [0, 1]
    with pytest.raises(SmokeCheckError, match="float64 values"):
        check_predictions(np.array([0.2, 0.9]), 2)
    with pytest.raises(SmokeCheckError, match="shape"):
        check_predictions(np.array([0, 1]), 3)
    with pytest.raises(SmokeCheckError, match=r"class\(es\) \[7\]"):
        check_predictions(np.array([0, 7]), 2)


def test_the_signature_must_be_the_schema():
    check_signature(list(reversed(schema.FEATURE_NAMES)))
    with pytest.raises(SmokeCheckError, match="lacks mean_radius"):
        check_signature(list(schema.FEATURE_NAMES[1:]))
    with pytest.raises(SmokeCheckError, match="unknown input"):
        check_signature([*schema.FEATURE_NAMES, "age"])
