"""How the training flow reports itself to Prometheus.

Every stage publishes its own outcome and duration when it ends, failed or not, so a stage that fails
raises an alert even though later stages never run. The pipeline's exit handler publishes the run-level
status. Model and drift metrics are published by the stages that compute them.

Each publication goes to its own Pushgateway group (`job`, `pipeline`, and `stage` where there is one):
a push replaces only the values of its own group, so one stage's push never erases another's, and the
latest run's value for each stage is what alerts see.

Without a Pushgateway (the laptop demo) the same samples go to one Prometheus text file per group,
in the format node_exporter's textfile collector reads, with the Pushgateway's add semantics: metrics not
in the new batch keep their previous value (a failed run leaves the last-success time as it was).
Publishing is best effort: a failure is logged as a warning and never fails the run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    push_to_gateway,
    pushadd_to_gateway,
    write_to_textfile,
)

from monitoring import metrics as m
from pipelines.env import METRICS_DIR, PUSHGATEWAY_URL

log = logging.getLogger(__name__)

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class MetricsTarget:
    """Where metrics go: a Pushgateway URL, a folder of text files, or both (tests use both)."""

    pushgateway_url: str | None = None
    textfile_dir: Path | None = None
    timeout_seconds: float = 5.0


class MetricsBatch:
    """Samples for one Pushgateway group, built from the specs in `monitoring.metrics`."""

    def __init__(self, pipeline: str, stage: str | None = None) -> None:
        self.pipeline = pipeline
        self.stage = stage
        self.registry = CollectorRegistry()
        self._gauges: dict[str, Gauge] = {}

    @property
    def grouping_key(self) -> dict[str, str]:
        key = {m.LABEL_PIPELINE: self.pipeline}
        if self.stage is not None:
            key[m.LABEL_STAGE] = self.stage
        return key

    def set(self, spec: m.MetricSpec, value: float, **labels: str) -> None:
        """Set one sample; `pipeline` is filled in, every other label of the spec must be given."""
        expected = set(spec.labels) - {m.LABEL_PIPELINE}
        if set(labels) != expected:
            raise ValueError(f"metric {spec.name} takes labels {sorted(expected)}, got {sorted(labels)}")
        gauge = self._gauges.get(spec.name)
        if gauge is None:
            gauge = Gauge(spec.name, spec.help, spec.labels, registry=self.registry)
            self._gauges[spec.name] = gauge
        gauge.labels(**{m.LABEL_PIPELINE: self.pipeline, **labels}).set(value)


def stage_outcome(pipeline: str, stage: str, *, succeeded: bool, duration_seconds: float) -> MetricsBatch:
    """The batch a stage publishes when it ends."""
    if stage not in m.STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(m.STAGES)}")
    batch = MetricsBatch(pipeline, stage)
    batch.set(m.STAGE_SUCCESS, 1.0 if succeeded else 0.0, stage=stage)
    batch.set(m.STAGE_DURATION, duration_seconds, stage=stage)
    return batch


def run_outcome(pipeline: str, *, succeeded: bool, ended_at: float) -> MetricsBatch:
    """The batch the exit handler publishes. A failed run leaves the last-success time as it was,
    because Pushgateway's add (POST) only replaces metrics named in the push."""
    batch = MetricsBatch(pipeline)
    batch.set(m.RUN_SUCCESS, 1.0 if succeeded else 0.0)
    batch.set(m.RUN_TIMESTAMP, ended_at)
    if succeeded:
        batch.set(m.LAST_SUCCESS_TIMESTAMP, ended_at)
    return batch


def publish(batch: MetricsBatch, target: MetricsTarget, *, replace: bool = False) -> bool:
    """Send a batch to the target. Returns False (and logs a warning) if any destination failed.

    By default the batch is added to its group (Pushgateway POST; the group's text file keeps the metrics
    the batch does not set), so a stage's samples and its outcome never overwrite each other. With
    `replace` the group becomes exactly the batch (PUT; the file rewritten whole): a check whose verdict can
    be withdrawn (live drift with too little traffic) must not leave the last verdict behind."""
    ok = True
    if target.textfile_dir is not None:
        try:
            _write_textfile(batch, target.textfile_dir, merge=not replace)
        except OSError as exc:
            log.warning("could not write metrics to %s: %s", target.textfile_dir, exc)
            ok = False
    if target.pushgateway_url:
        send = push_to_gateway if replace else pushadd_to_gateway
        try:
            send(
                target.pushgateway_url,
                job=m.PUSH_JOB,
                registry=batch.registry,
                grouping_key=batch.grouping_key,
                timeout=target.timeout_seconds,
            )
        except Exception as exc:
            # Not only OSError: a malformed URL (`http://host:notaport`) raises ValueError from the parser.
            log.warning("could not push metrics to %s: %s", target.pushgateway_url, exc)
            ok = False
    return ok


def _metric_name(line: str) -> str:
    """The metric a text-format line belongs to (`# HELP name ...`, `# TYPE name ...` or a sample)."""
    if line.startswith("#"):
        parts = line.split()
        return parts[2] if len(parts) > 2 else ""
    return re.split(r"[{\s]", line, maxsplit=1)[0]


def _write_textfile(batch: MetricsBatch, folder: Path, *, merge: bool) -> None:
    """Write the batch's group file (atomically); with `merge`, keep the previous lines of metrics the batch
    does not set."""
    folder.mkdir(parents=True, exist_ok=True)
    name = "-".join(_UNSAFE_FILENAME.sub("_", v) for v in batch.grouping_key.values())
    path = folder / f"{name}.prom"
    fresh = folder / f".{name}.prom.new"
    write_to_textfile(str(fresh), batch.registry)
    if merge and path.exists():
        replaced = {_metric_name(line) for line in fresh.read_text().splitlines()}
        kept = [line for line in path.read_text().splitlines() if _metric_name(line) not in replaced]
        if kept:
            with fresh.open("a", encoding="utf-8") as out:
                out.write("\n".join(kept) + "\n")
    fresh.replace(path)


def publish_all(batches: list[MetricsBatch], target: MetricsTarget) -> bool:
    """Publish several batches; every one is attempted even if an earlier one failed."""
    results = [publish(batch, target) for batch in batches]
    return all(results)


def target_from_env(env: Mapping[str, str], default_textfile_dir: Path | None = None) -> MetricsTarget:
    """The target a pipeline step uses: `MLOPS_PUSHGATEWAY_URL` and/or `MLOPS_METRICS_DIR`."""
    url = PUSHGATEWAY_URL.get(env)
    folder = METRICS_DIR.get(env)
    textfile_dir = folder if folder is not None else (None if url else default_textfile_dir)
    return MetricsTarget(pushgateway_url=url, textfile_dir=textfile_dir)
