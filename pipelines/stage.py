"""Running one stage: progress lines, its outcome metric on success and on failure, and a local summary.

Every stage publishes `stage_outcome` itself in a `finally`, so a failed stage raises an alert even though
later stages never run and the exit handler only knows the pipeline's overall status. Samples a stage
computes (model or drift metrics) go into the same batch when it succeeds: one Pushgateway group, one
text file per stage, so neither overwrites the other.

For local runs `MLOPS_STAGE_SUMMARY_DIR` names a folder where each stage leaves its summary `<stage>.json`
(outcome, duration, error message, result): the CLI prints the run's summary from these.

Telemetry never decides a stage's outcome: a failed push or summary write is a warning line, and the stage
ends as its own work did.
"""

from __future__ import annotations

import errno
import json
import logging
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
from pipelines.env import PUSHGATEWAY_URL, STAGE_SUMMARY_DIR

log = logging.getLogger(__name__)

PIPELINE_NAME = "breast-cancer-training"


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
        merged[PUSHGATEWAY_URL.name] = pushgateway_url
    return telemetry.target_from_env(merged)


def progress(message: str) -> None:
    print(f"[{PIPELINE_NAME}] {message}", file=sys.stdout, flush=True)


_OS_ERROR_HINTS = {
    errno.ENOSPC: "free some space on that disk and run again",
    errno.EDQUOT: "free some space (disk quota) and run again",
    errno.EROFS: "the file system is read-only: use a writable folder",
    errno.EACCES: "check the folder's permissions or use a writable folder",
    errno.EPERM: "check the folder's permissions or use a writable folder",
}


def describe_error(error: BaseException) -> str:
    """One line a user can act on; for a file-system fault: what, which file, what to do."""
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        hint = _OS_ERROR_HINTS.get(error.errno or 0)
        return f"{error.strerror}{where}" + (f": {hint}" if hint else "")
    return str(error) or type(error).__name__


def write_stage_summary(folder: Path, name: str, summary: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
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
    progress(f"stage {stage}: started")
    try:
        yield report
    except BaseException as exc:
        error = exc
        raise
    finally:
        duration = time.monotonic() - started
        succeeded = error is None
        message = describe_error(error) if error is not None else None
        try:
            batch = telemetry.stage_outcome(pipeline, stage, succeeded=succeeded, duration_seconds=duration)
            if succeeded:
                for spec, value, labels in report.samples:
                    batch.set(spec, value, **labels)
            telemetry.publish(batch, metrics_target(environment, pushgateway_url))
        except Exception as exc:
            log.warning("stage %s: its metrics were not published: %s", stage, exc)
        summary_dir = STAGE_SUMMARY_DIR.get(environment)
        if summary_dir:
            try:
                write_stage_summary(
                    Path(summary_dir),
                    stage,
                    {
                        "stage": stage,
                        "succeeded": succeeded,
                        "duration_seconds": round(duration, 3),
                        "error": message,
                        "result": report.result,
                    },
                )
            except OSError as exc:
                log.warning("stage %s: its summary was not written: %s", stage, describe_error(exc))
        if succeeded:
            progress(f"stage {stage}: succeeded in {duration:.1f} s")
        else:
            progress(f"stage {stage}: FAILED after {duration:.1f} s: {message}")
