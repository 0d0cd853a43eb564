"""The model server's own metrics: `monitoring.metrics.SERVING_METRICS`, exposed on the metrics port.

Counters, a histogram and gauges on a prometheus_client registry (the process-wide default in the server,
which MLServer's metrics endpoint serves when inference runs in the main process; a private one in tests).
Names, help texts and labels come only from `monitoring/metrics.py`.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from monitoring import metrics as m

# Seconds. Scoring one row of a small scikit-learn model takes about a millisecond here; the upper buckets
# catch a slow model or a stalled event loop.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NO_VERSION: Final = "none"


def _base(spec: m.MetricSpec, suffix: str) -> str:
    # prometheus_client adds the suffix itself on exposition; the spec holds the exposed name.
    return spec.name.removesuffix(suffix)


class ServingTelemetry:
    """The serving metrics of one model name."""

    def __init__(self, model_name: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.model_name = model_name
        self._served_version: int | None = None
        self._requests = Counter(
            _base(m.SERVING_REQUESTS, "_total"),
            m.SERVING_REQUESTS.help,
            m.SERVING_REQUESTS.labels,
            registry=registry,
        )
        self._latency = Histogram(
            m.SERVING_LATENCY.name,
            m.SERVING_LATENCY.help,
            m.SERVING_LATENCY.labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._version = Gauge(
            m.SERVING_MODEL_VERSION.name,
            m.SERVING_MODEL_VERSION.help,
            m.SERVING_MODEL_VERSION.labels,
            registry=registry,
        )
        self._load_failures = Counter(
            _base(m.SERVING_MODEL_LOAD_FAILURES, "_total"),
            m.SERVING_MODEL_LOAD_FAILURES.help,
            m.SERVING_MODEL_LOAD_FAILURES.labels,
            registry=registry,
        )
        self._captured = Counter(
            _base(m.SERVING_CAPTURED_ROWS, "_total"),
            m.SERVING_CAPTURED_ROWS.help,
            m.SERVING_CAPTURED_ROWS.labels,
            registry=registry,
        )
        self._dropped = Counter(
            _base(m.SERVING_CAPTURE_DROPPED, "_total"),
            m.SERVING_CAPTURE_DROPPED.help,
            m.SERVING_CAPTURE_DROPPED.labels,
            registry=registry,
        )
        # Present from the start (at 0), so `increase()` and `rate()` see the first failure or drop.
        self._load_failures.labels(model_name)
        self._captured.labels(model_name)
        self._dropped.labels(model_name)

    @property
    def served_version(self) -> int | None:
        return self._served_version

    def version_label(self) -> str:
        return NO_VERSION if self._served_version is None else str(self._served_version)

    def request(self, outcome: str, seconds: float, model_version: str | None = None) -> None:
        if outcome not in m.OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {', '.join(m.OUTCOMES)}")
        version = model_version or self.version_label()
        self._requests.labels(self.model_name, version, outcome).inc()
        self._latency.labels(self.model_name).observe(seconds)

    def serving(self, version: int) -> None:
        self._served_version = version
        self._version.labels(self.model_name).set(version)

    def load_failed(self) -> None:
        self._load_failures.labels(self.model_name).inc()

    def captured(self, rows: int) -> None:
        self._captured.labels(self.model_name).inc(rows)

    def dropped(self, rows: int) -> None:
        self._dropped.labels(self.model_name).inc(rows)
