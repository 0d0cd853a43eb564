"""Running one stage: progress lines, its outcome metric on success and on failure, and a local record.

Every stage publishes `stage_outcome` itself in a `finally`, so a failed stage raises an alert even though
later stages never run and the exit handler only knows the pipeline's overall status. Samples a stage
computes (model or drift metrics) go into the same batch when it succeeds: one Pushgateway group, one
text file per stage, so neither overwrites the other.

For local runs `MLOPS_RUN_RECORD_DIR` names a folder where each stage leaves `<stage>.json` (outcome,
duration, error message, result): the CLI prints its summary from these records.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitoring.metrics import MetricSpec
from pipelines import telemetry

PIPELINE_NAME = "breast-cancer-training"
RUN_RECORD_DIR_ENV = "MLOPS_RUN_RECORD_DIR"


@dataclass
class StageReport:
    """What a running stage hands back to the wrapper: its result and the samples to publish."""

    stage: str
    result: dict[str, Any] = field(default_factory=dict)
    samples: list[tuple[MetricSpec, float, dict[str, str]]] = field(default_factory=list)

    def set_metric(self, spec: MetricSpec, value: float, **labels: str) -> None:
        self.samples.append((spec, float(value), labels))


def metrics_target(env: Mapping[str, str], pushgateway_url: str = "") -> telemetry.MetricsTarget:
    """The telemetry target from the environment; a pipeline parameter overrides the gateway URL."""
    merged = dict(env)
    if pushgateway_url:
        merged[telemetry.PUSHGATEWAY_URL_ENV] = pushgateway_url
    return telemetry.target_from_env(merged)


def _progress(message: str) -> None:
    print(f"[{PIPELINE_NAME}] {message}", file=sys.stdout, flush=True)


def write_record(folder: Path, name: str, record: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.json.tmp"
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    tmp.replace(folder / f"{name}.json")


@contextmanager
def run_stage(
    stage: str,
    pushgateway_url: str = "",
    env: Mapping[str, str] | None = None,
    pipeline: str = PIPELINE_NAME,
) -> Iterator[StageReport]:
    environment = os.environ if env is None else env
    report = StageReport(stage=stage)
    started = time.monotonic()
    error: BaseException | None = None
    _progress(f"stage {stage}: started")
    try:
        yield report
    except BaseException as exc:
        error = exc
        raise
    finally:
        duration = time.monotonic() - started
        succeeded = error is None
        batch = telemetry.stage_outcome(pipeline, stage, succeeded=succeeded, duration_seconds=duration)
        if succeeded:
            for spec, value, labels in report.samples:
                batch.set(spec, value, **labels)
        telemetry.publish(batch, metrics_target(environment, pushgateway_url))
        record_dir = environment.get(RUN_RECORD_DIR_ENV)
        if record_dir:
            write_record(
                Path(record_dir),
                stage,
                {
                    "stage": stage,
                    "succeeded": succeeded,
                    "duration_seconds": round(duration, 3),
                    "error": str(error) if error is not None else None,
                    "result": report.result,
                },
            )
        if succeeded:
            _progress(f"stage {stage}: succeeded in {duration:.1f} s")
        else:
            _progress(f"stage {stage}: FAILED after {duration:.1f} s: {error}")
