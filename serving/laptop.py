"""`make serve`: the champion of the demo's state folder, on localhost, until Ctrl-C.

The registry is the demo's (`.state/mlflow`, SQLite), the capture goes to `.state/capture`, and the server is
the same `python -m serving serve` the cluster runs, started through `serve_locally`.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Final

from pipelines import schema
from pipelines.local_run import StateLayout, state_layout
from pipelines.tasks import flow_params
from pipelines.tracking import TRACKING_URI_ENV, local_tracking_env
from serving.local import LocalServer, ServerStartError, serve_locally

CAPTURE_FOLDER: Final = "capture"
SERVER_LOG: Final = "serving.log"


def capture_dir(layout: StateLayout) -> Path:
    return layout.root / CAPTURE_FOLDER


def curl_example(server: LocalServer, example: dict[str, float]) -> str:
    """A ready-to-paste request scoring one row."""
    body = json.dumps({"dataframe_records": [example]})
    return (
        f"curl -s -X POST {server.invocations_url} -H 'Content-Type: application/json' "
        f"-H 'X-Request-Id: my-first-request' -d '{body}'"
    )


def example_row(layout: StateLayout) -> dict[str, float]:
    """The first row of the demo's training data (any row of the schema's features would do)."""
    import io

    import pandas as pd

    from pipelines import dataset

    frame = pd.read_csv(io.BytesIO(dataset.sample_dataset_bytes()), nrows=1)
    return {name: float(frame.loc[0, name]) for name in schema.FEATURE_NAMES}


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM (a process manager, `kill`) ends the wait like Ctrl-C, so the server is stopped too.
    raise KeyboardInterrupt


def serve_state_folder(state: str | None, port: int) -> int:
    layout = state_layout(state)
    if not layout.mlflow_db.is_file():
        print(
            f"serve: no registry in {layout.root} ({layout.mlflow_db} is missing): run `make demo` first",
            file=sys.stderr,
        )
        return 1
    params = flow_params()
    tracking_uri = local_tracking_env(layout.root)[TRACKING_URI_ENV]
    log_path = layout.root / SERVER_LOG
    print(f"Starting the model server for {params.registry.model_name}@{params.registry.champion_alias} ...")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with serve_locally(
            model_name=params.registry.model_name,
            alias=params.registry.champion_alias,
            tracking_uri=tracking_uri,
            capture_uri=str(capture_dir(layout)),
            log_path=log_path,
            http_port=port,
        ) as server:
            print(f"Serving on {server.url} (metrics {server.metrics_url}; log {log_path})")
            print(f"Captured requests go to {capture_dir(layout)}. Try:\n")
            print(f"  {curl_example(server, example_row(layout))}\n")
            print("Ctrl-C stops the server.")
            while server.exit_code() is None:
                time.sleep(0.5)
            print(
                f"serve: the model server exited with code {server.exit_code()}; see {log_path}",
                file=sys.stderr,
            )
            return 1
    except ServerStartError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped the model server.")
    return 0
