"""Regenerate the demo material in docs/screencast/: a terminal recording of `make demo` and screenshots.

    .venv/bin/python docs/screencast.py

Needs asciinema (requirements-dev.txt) and Debian's `chromium` (headless screenshots). It runs the
training flow twice in a fresh state folder (a clean batch, then a drifted one), records the first run,
starts the MLflow UI on that state, and photographs the run, the registered model and the Evidently
drift report of the drifted batch. Everything it starts is stopped at the end, also on failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "docs" / "screencast"
VENV_BIN = Path(sys.executable).parent
MODEL_NAME = "breast-cancer-classifier"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1440,1000",
    "--virtual-time-budget=20000",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def record_demo(state: Path, cast: Path) -> None:
    """`make demo` in a terminal recording (idle stretches capped at 2 s)."""
    env = {**os.environ, "MLOPS_STATE_DIR": str(state), "TERM": "xterm-256color"}
    subprocess.run(
        [
            str(VENV_BIN / "asciinema"),
            "rec",
            "--overwrite",
            "--quiet",
            "--cols",
            "110",
            "--rows",
            "34",
            "--idle-time-limit",
            "2",
            "--title",
            "mlops-infra: make demo",
            "--command",
            "make demo",
            str(cast),
        ],
        cwd=REPO,
        env=env,
        check=True,
        stdin=subprocess.DEVNULL,
    )


def run_drifted(state: Path) -> None:
    env = {**os.environ, "MLOPS_STATE_DIR": str(state)}
    subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "--local", "--drifted"], cwd=REPO, env=env, check=True
    )


@contextmanager
def mlflow_ui(state: Path) -> Iterator[str]:
    """The MLflow UI on the demo's SQLite store, in its own process group (stopped on exit)."""
    port = _free_port()
    database = state / "mlflow" / "mlflow.db"
    process = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{database}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=state,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the MLflow UI did not come up") from None
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def screenshot(url: str, target: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={target}", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"wrote {target.relative_to(REPO)}")


def _api(url: str, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{path}", timeout=10) as response:
        data: dict[str, object] = json.load(response)
        return data


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screencast-") as folder:
        state = Path(folder) / "state"
        profile = Path(folder) / "chromium"
        record_demo(state, OUT / "demo.cast")
        print(f"wrote {(OUT / 'demo.cast').relative_to(REPO)}")
        run_drifted(state)
        with mlflow_ui(state) as url:
            first = _api(url, f"model-versions/get?name={MODEL_NAME}&version=1")["model_version"]
            assert isinstance(first, dict)
            run = _api(url, f"runs/get?run_id={first['run_id']}")["run"]
            assert isinstance(run, dict)
            experiment = run["info"]["experiment_id"]
            run_page = f"{url}/#/experiments/{experiment}/runs/{first['run_id']}"
            screenshot(run_page, OUT / "mlflow-run.png", profile)
            screenshot(f"{url}/#/models/{MODEL_NAME}", OUT / "mlflow-model.png", profile)
        reports = sorted((state / "drift-reports").glob("*.html"))
        screenshot(reports[-1].as_uri(), OUT / "drift-report.png", profile)


if __name__ == "__main__":
    main()
