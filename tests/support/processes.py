"""Processes tests start: a free loopback port, waiting until one answers, and stopping its whole group.

Every server a test starts runs in its own session (`start_new_session=True`), so `stop_group` reaches
its worker processes too, also when the test failed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import require_tool

LOOPBACK = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """SIGTERM the process group, SIGKILL it if it has not exited within 15 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def wait_for(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90, interval: float = 0.5
) -> None:
    """Until `url` answers 200; fails at once, with the log's tail, if the process exits first."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"{process.args!r} exited with {process.returncode}:\n{log.read_text()[-4000:]}"
            )
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise AssertionError(f"{url} not ready after {timeout}s:\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def moto_s3_server(log: Path) -> Iterator[str]:
    """An S3 endpoint (`moto_server`) on loopback; yields its URL, stopped even if the test fails."""
    server = require_tool("moto_server", str(VENV_BIN))
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [server, "-H", LOOPBACK, "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://{LOOPBACK}:{port}"
        wait_for(f"{url}/moto-api/", process, log, timeout=30)
        yield url
    finally:
        stop_group(process)
