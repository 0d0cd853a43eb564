"""`python -m serving serve`: MLServer 1.7.1 with the champion runtime, as the cluster and a laptop run it.

This is `mlserver start` with its settings built from our environment (serving/config.py) instead of a
settings folder, and three changes to what MLServer exposes:
- inference runs in the server process (`parallel_workers=0`): one small scikit-learn model does not need
  a worker pool, our counters stay in one registry, and the capture thread lives next to the requests;
  the Deployment scales out with replicas instead;
- gRPC is not started and the model-repository API (`/v2/repository/...`, load/unload by anyone who can
  reach the port) is removed: the served model changes only through the registry alias;
- every prediction request gets an `X-Request-Id` (the client's, if it sent a well-formed one) and is
  counted and timed by outcome (`monitoring.metrics.SERVING_METRICS`, on the metrics port with MLServer's
  own metrics).
On SIGTERM or SIGINT MLServer stops its servers; the runtime then writes the capture rows still waiting.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Final

from mlserver import MLServer
from mlserver.batching import load_batching
from mlserver.registry import MultiModelRegistry
from mlserver.settings import ModelSettings, Settings

from serving.capture import CaptureWriter
from serving.champion import ChampionFollower, alias_version, load_served_model
from serving.config import ServerConfig
from serving.http import RequestTracking
from serving.runtime import ChampionRuntime, RuntimeContext
from serving.telemetry import ServingTelemetry

log = logging.getLogger(__name__)

# MLServer's load/unload/index API: removed, the registry alias is the only way to change what is served.
REPOSITORY_API_PREFIX: Final = "/v2/repository"


class _NotStarted:
    """Stands in for MLServer's gRPC server."""

    async def start(self) -> None:
        return None

    async def stop(self, sig: int | None = None) -> None:
        return None


class ChampionServer(MLServer):
    """MLServer with the champion runtime injected, no gRPC, no repository API, request tracking."""

    def __init__(
        self,
        settings: Settings,
        runtime_factory: Callable[[ModelSettings], ChampionRuntime],
        telemetry: ServingTelemetry,
    ) -> None:
        self._runtime_factory = runtime_factory
        self._telemetry = telemetry
        super().__init__(settings)

    def _create_model_registry(self) -> MultiModelRegistry:
        # MLServer's own hooks for in-process inference, with our factory: the runtime gets its context.
        return MultiModelRegistry(
            on_model_load=[self.add_custom_handlers, load_batching],
            on_model_reload=[self.reload_custom_handlers],
            on_model_unload=[self.remove_custom_handlers],
            model_initialiser=self._runtime_factory,
        )

    def _create_servers(self) -> None:
        super()._create_servers()
        self._grpc_server = _NotStarted()
        app = self._rest_server._app
        app.router.routes[:] = [
            route
            for route in app.router.routes
            if not getattr(route, "path", "").startswith(REPOSITORY_API_PREFIX)
        ]
        app.add_middleware(RequestTracking, telemetry=self._telemetry)


def mlserver_settings(config: ServerConfig, workdir: str) -> Settings:
    return Settings(
        debug=False,
        parallel_workers=0,
        host=config.host,
        http_port=config.http_port,
        metrics_port=config.metrics_port,
        metrics_endpoint="/metrics",
        load_models_at_startup=False,
        model_repository_root=workdir,
        environments_dir=os.path.join(workdir, "envs"),
        metrics_dir=os.path.join(workdir, "metrics"),
        gzip_enabled=False,
    )


def _prepare_mlflow_client() -> None:
    # A registry that does not answer must not hold a poll for minutes (MLflow's default: 7 retries).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


async def serve(config: ServerConfig) -> None:
    """Run until SIGTERM/SIGINT, then write the waiting capture rows."""
    _prepare_mlflow_client()
    telemetry = ServingTelemetry(config.model_name)
    capture = CaptureWriter(config.model_name, config.capture, telemetry) if config.capture.enabled else None
    follower = ChampionFollower(
        model_name=config.model_name,
        alias=config.alias,
        poll_seconds=config.poll_seconds,
        resolve=functools.partial(alias_version, config.model_name, config.alias, config.tracking_uri),
        load=functools.partial(load_served_model, config.model_name, tracking_uri=config.tracking_uri),
        telemetry=telemetry,
    )
    context = RuntimeContext(follower=follower, capture=capture)
    runtimes: list[ChampionRuntime] = []

    def build_runtime(model_settings: ModelSettings) -> ChampionRuntime:
        runtime = ChampionRuntime(model_settings, context)
        runtimes.append(runtime)
        return runtime

    capture_note = (
        f"capturing {config.capture.sample_rate:.0%} of requests to {config.capture.uri}"
        if capture
        else "capture off"
    )
    log.info(
        "serving %s@%s from %s on http://%s:%d (metrics :%d), %s",
        config.model_name,
        config.alias,
        config.tracking_uri,
        config.host,
        config.http_port,
        config.metrics_port,
        capture_note,
    )
    with tempfile.TemporaryDirectory(prefix="mlserver-") as workdir:
        server = ChampionServer(mlserver_settings(config, workdir), build_runtime, telemetry)
        model = ModelSettings(name=config.model_name, implementation=ChampionRuntime)
        try:
            await server.start([model])
        finally:
            for runtime in runtimes:
                await runtime.shutdown()
            if capture is not None:
                capture.close()


def _log_to_stderr() -> None:
    # MLServer configures its own loggers; ours get one handler of their own, not the root logger's.
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s [serving] %(levelname)s - %(message)s"))
    ours = logging.getLogger("serving")
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False


def run(config: ServerConfig) -> None:
    _log_to_stderr()
    asyncio.run(serve(config))
    # Everything is written and closed. Interpreter teardown would now run the garbage collector over what
    # MLServer, MLflow and scikit-learn allocated (about 3 s measured here, on every stop and every rolling
    # update); frozen objects are out of its reach, so the process exits in a fraction of a second.
    gc.freeze()
