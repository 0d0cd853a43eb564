"""The end of `make demo`: serve the champion, score the newest batch over HTTP, check drift on that traffic.

After the training flow, the champion (moved or not) is served by the same runtime the cluster runs
(`serve_locally`: MLServer, `python -m serving serve`), the batch the drift stage checked is sent to it row by
row as a client would (`send_frame`), the server is stopped (which writes its last captured rows), and the
live-drift check runs on the traffic captured since serving began, against the champion's training
reference. The summary names the endpoint, the requests served, and the live verdict.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.local_run import StateLayout
from pipelines.tasks import flow_params
from pipelines.telemetry import MetricsTarget
from pipelines.tracking import TRACKING_URI_ENV, local_tracking_env
from serving.config import DEFAULT_MIN_ROWS, DEFAULT_WINDOW_HOURS, MIN_ROWS_FLOOR
from serving.laptop import SERVER_LOG, capture_dir
from serving.live_drift import QUIET_DOWNLOADS_ENV, LiveDriftOutcome, check_live_drift
from serving.local import serve_locally
from serving.traffic import TrafficStats, send_frame


@dataclass(frozen=True)
class DemoServing:
    endpoint: str
    traffic: TrafficStats
    live: LiveDriftOutcome
    capture_dir: Path
    seconds: float


def live_reports_dir(layout: StateLayout) -> Path:
    """Beside `drift-reports/` (one per training run): the demo's live-traffic reports."""
    return layout.root / "live-drift-reports"


def _preload_evidently() -> threading.Thread:
    # Evidently and MLflow take seconds to import; the live check needs them once the server is done, so
    # they load while the server starts instead of after.
    def load() -> None:
        import evidently  # noqa: F401
        import mlflow  # noqa: F401

    thread = threading.Thread(target=load, name="preload-evidently", daemon=True)
    thread.start()
    return thread


def serve_and_check(
    summaries: dict[str, dict[str, Any]], layout: StateLayout, tracking_uri: str = ""
) -> DemoServing:
    import pandas as pd

    started = time.monotonic()
    os.environ.setdefault(QUIET_DOWNLOADS_ENV, "false")
    params = flow_params()
    tracking_uri = tracking_uri or local_tracking_env(layout.root)[TRACKING_URI_ENV]
    batch = pd.read_csv(summaries["drift"]["result"]["batch_path"])
    preload = _preload_evidently()
    since = datetime.now(UTC)
    with serve_locally(
        model_name=params.registry.model_name,
        alias=params.registry.champion_alias,
        tracking_uri=tracking_uri,
        capture_uri=str(capture_dir(layout)),
        log_path=layout.root / SERVER_LOG,
    ) as server:
        traffic = send_frame(server.url, batch, request_id_prefix=f"demo-{time.strftime('%Y%m%d%H%M%S')}")
        endpoint = server.invocations_url
    preload.join()
    live = check_live_drift(
        model_name=params.registry.model_name,
        alias=params.registry.champion_alias,
        tracking_uri=tracking_uri,
        capture_uri=str(capture_dir(layout)),
        window_hours=DEFAULT_WINDOW_HOURS,
        # A small --data batch still gets a verdict (the floor is the job's own minimum, 30 rows).
        min_rows=max(MIN_ROWS_FLOOR, min(DEFAULT_MIN_ROWS, len(batch))),
        metrics_target=MetricsTarget(textfile_dir=layout.metrics),
        report_dir=live_reports_dir(layout),
        params=params,
        since=since,
    )
    return DemoServing(endpoint, traffic, live, capture_dir(layout), time.monotonic() - started)


def summary_lines(result: DemoServing) -> list[str]:
    traffic, live = result.traffic, result.live
    versions = ", ".join(f"v{version}" for version in sorted(traffic.versions)) or "none"
    lines = [
        f"  Served at:       {result.endpoint} (MLServer, the cluster's runtime; answered by {versions}, "
        "stopped now: `make serve` keeps it up)",
        f"  Requests:        {traffic.requests} sent with the newest batch, {traffic.ok} answered, "
        f"{traffic.invalid} refused, {traffic.errors} failed; captured to {result.capture_dir}",
        f"  Live drift:      {live.describe()}",
    ]
    if live.report_path and Path(live.report_path).is_file():
        lines.append(f"  Live report:     {live.report_path}")
    lines.append(
        f"  Serving took:    {result.seconds:.1f} s (start, {traffic.requests} requests, stop, check)"
    )
    return lines
