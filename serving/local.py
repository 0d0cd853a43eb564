"""The real model server on a laptop: `serve_locally` starts `python -m serving serve` and stops it.

The server runs in its own process group (so stopping it reaches anything it started), on loopback, with
free ports unless given; the context manager yields once `/v2/health/ready` answers 200 (a champion is
loaded and passed its smoke check) and stops the group on exit, also when the body raised: SIGTERM first
(the server writes its waiting capture rows), SIGKILL after `stop_timeout`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pipelines import env as registry
from pipelines.params import REPO_ROOT
from serving import config as env

LOOPBACK: Final = "127.0.0.1"


class ServerStartError(RuntimeError):
    """The server exited or did not become ready in time (the message holds its log's tail)."""


@dataclass(frozen=True)
class LocalServer:
    """A running server: where to send requests, where its metrics are, its process and log."""

    url: str
    metrics_url: str
    pid: int
    log_path: Path
    model_name: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    def exit_code(self) -> int | None:
        """None while the server runs."""
        return None if self.process is None else self.process.poll()

    @property
    def invocations_url(self) -> str:
        return f"{self.url}/invocations"

    @property
    def infer_url(self) -> str:
        return f"{self.url}/v2/models/{self.model_name}/infer"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-limit:]
    except OSError:
        return "(no log)"


def stop_process_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def wait_until_ready(
    url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float, probe: str = "ready"
) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"the model server exited with code {process.returncode}:\n{_tail(log_path)}"
            )
        try:
            if requests.get(f"{url}/v2/health/{probe}", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise ServerStartError(
        f"the model server at {url} was not {probe} after {timeout:.0f} s:\n{_tail(log_path)}"
    )


# The server's own settings: a caller's environment must not leak a different model, port or alias in.
SERVER_VARIABLES: Final = frozenset(
    v.name
    for v in (
        registry.SERVING_MODEL_NAME,
        registry.SERVING_MODEL_ALIAS,
        registry.SERVING_POLL_SECONDS,
        registry.SERVING_HOST,
        registry.SERVING_HTTP_PORT,
        registry.SERVING_METRICS_PORT,
    )
)


@contextlib.contextmanager
def serve_locally(
    *,
    model_name: str,
    tracking_uri: str,
    log_path: Path,
    capture_uri: str = "",
    sample_rate: float = 1.0,
    alias: str = env.DEFAULT_ALIAS,
    poll_seconds: float = 2.0,
    http_port: int = 0,
    metrics_port: int = 0,
    flush_rows: int = env.DEFAULT_FLUSH_ROWS,
    flush_seconds: float = 5.0,
    ready_timeout: float = 120.0,
    stop_timeout: float = 20.0,
    extra_env: Mapping[str, str] | None = None,
    wait_for_champion: bool = True,
) -> Iterator[LocalServer]:
    """Start the server on loopback, wait until it is ready, yield it, stop it (see the module docstring).

    With `wait_for_champion=False` it yields as soon as the server is live (answering, maybe not ready)."""
    http_port = http_port or free_port()
    metrics_port = metrics_port or free_port()
    variables = {
        **{k: v for k, v in os.environ.items() if k not in SERVER_VARIABLES},
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
        env.MODEL_NAME_ENV: model_name,
        env.MODEL_ALIAS_ENV: alias,
        env.POLL_SECONDS_ENV: str(poll_seconds),
        env.HOST_ENV: LOOPBACK,
        env.HTTP_PORT_ENV: str(http_port),
        env.METRICS_PORT_ENV: str(metrics_port),
        env.CAPTURE_URI_ENV: capture_uri,
        env.CAPTURE_SAMPLE_RATE_ENV: str(sample_rate),
        env.CAPTURE_FLUSH_ROWS_ENV: str(flush_rows),
        env.CAPTURE_FLUSH_SECONDS_ENV: str(flush_seconds),
        "MLFLOW_TRACKING_URI": tracking_uri,
        **(extra_env or {}),
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "serving", "serve"],
            cwd=REPO_ROOT,
            env=variables,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://{LOOPBACK}:{http_port}"
        wait_until_ready(url, process, log_path, ready_timeout, "ready" if wait_for_champion else "live")
        yield LocalServer(
            url=url,
            metrics_url=f"http://{LOOPBACK}:{metrics_port}/metrics",
            pid=process.pid,
            log_path=log_path,
            model_name=model_name,
            process=process,
        )
    finally:
        stop_process_group(process, stop_timeout)
