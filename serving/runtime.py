"""The MLServer runtime that serves the champion: MLflow's scoring protocol and the Open Inference Protocol.

MLServer (`mlserver` 1.7.1) owns the HTTP server, the Open Inference Protocol routes, health and metrics;
this runtime is its model. It extends `mlserver_mlflow.MLflowRuntime` (what KServe's `kserve-mlserver` runs
for `modelFormat: mlflow`), keeping its MLflow scoring-server endpoints (`/ping`, `/health`, `/version`) and
its signature-to-metadata mapping (`GET /v2/models/<name>` lists the inputs), and replaces the parts that
assume one fixed model URI: it follows the registry alias (serving/champion.py), validates each request
against the schema (serving/validation.py) before the model sees it (MLflowRuntime would silently drop an
extra column), and hands answered requests to the capture (serving/capture.py). `/invocations` keeps
MLflow's request and response bodies (`{"predictions": [...]}`), so a client written for
`mlflow models serve` or KServe's MLflow runtime works unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from mlserver.codecs import NumpyCodec
from mlserver.errors import MLServerError
from mlserver.handlers import custom_handler
from mlserver.settings import ModelSettings
from mlserver.types import InferenceRequest, InferenceResponse, Parameters
from mlserver_mlflow import MLflowRuntime

from pipelines import schema
from serving import validation
from serving.capture import CapturedRequest, CaptureWriter, now_ms
from serving.champion import ChampionFollower, ServedModel, check_predictions
from serving.http import MODEL_VERSION_HEADER, REQUEST_ID_HEADER

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PREDICTION_OUTPUT: Final = "predict"
JSON_TYPE: Final = "application/json"


class RequestRefusedError(MLServerError):
    """A request the model cannot take (4xx); the message names the field."""


class NoModelLoadedError(MLServerError):
    def __init__(self, model_name: str) -> None:
        super().__init__(f"no version of {model_name} is loaded yet (waiting for the champion)", 503)


class ModelFailedError(MLServerError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"the model failed on a valid request: {detail}", 500)


@dataclass
class RuntimeContext:
    """What the server hands the runtime: the follower and the capture, built from its config."""

    follower: ChampionFollower
    capture: CaptureWriter | None


class ChampionRuntime(MLflowRuntime):
    """An MLServer model whose weights are whichever version the alias points at."""

    def __init__(self, settings: ModelSettings, context: RuntimeContext) -> None:
        super().__init__(settings)
        self._context = context
        self._poller: asyncio.Task[None] | None = None
        self._described: int | None = None

    @property
    def follower(self) -> ChampionFollower:
        return self._context.follower

    async def load(self) -> bool:
        await asyncio.to_thread(self.follower.poll_once)
        self._describe()
        self._poller = asyncio.create_task(self._follow(), name="follow-alias")
        # Not ready until a version passed its smoke check; the poller flips this when one does.
        return self.follower.current is not None

    async def _follow(self) -> None:
        while True:
            await asyncio.sleep(self.follower.poll_seconds)
            try:
                await asyncio.to_thread(self.follower.poll_once)
            except Exception:
                log.exception("following %s@%s failed", self.follower.model_name, self.follower.alias)
                continue
            self._describe()
            self.ready = self.follower.current is not None

    def _describe(self) -> None:
        """The model metadata endpoint shows the served version's signature (on the event loop, not the
        poller's thread, so a metadata request never sees it half updated)."""
        served = self.follower.current
        if served is None or served.version == self._described:
            return
        self._model = served.model
        self._input_schema = served.model.metadata.get_input_schema()
        self._signature = served.model.metadata.signature
        self._sync_metadata()
        self._described = served.version

    async def unload(self) -> bool:
        await self.shutdown()
        return True

    async def shutdown(self) -> None:
        """Stop following and write the captured rows still waiting (the server's last act)."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        if self._context.capture is not None:
            await asyncio.to_thread(self._context.capture.close)

    def _score(self, frame: pd.DataFrame, request_id: str) -> tuple[ServedModel, Any]:
        served = self.follower.current  # read once: the whole request is answered by this version
        if served is None:
            raise NoModelLoadedError(self.name)
        try:
            labels = check_predictions(served.model.predict(frame), len(frame))
        except Exception as exc:
            log.exception("v%d failed on request %s", served.version, request_id)
            raise ModelFailedError(f"{type(exc).__name__}: {exc}") from exc
        if self._context.capture is not None:
            self._context.capture.offer(
                CapturedRequest(
                    request_id=request_id,
                    timestamp_ms=now_ms(),
                    model_version=served.version,
                    features=frame.to_numpy(dtype="float64"),
                    predictions=labels,
                )
            )
        return served, labels

    @custom_handler(rest_path="/invocations")
    async def invocations(self, request: Request) -> Response:
        """MLflow's scoring protocol: `dataframe_split` or `dataframe_records` in, `predictions` out."""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON_TYPE:
            return JSONResponse(
                {"error": f"Content-Type {media_type or '(none)'} is not supported; send {JSON_TYPE}"},
                status_code=415,
            )
        try:
            frame = validation.frame_from_scoring_json(await request.body(), schema.FEATURE_NAMES)
        except validation.RequestValidationError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)
        request_id = request.headers.get(REQUEST_ID_HEADER, "")
        try:
            served, labels = self._score(frame, request_id)
        except MLServerError as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status_code)
        return JSONResponse(
            {"predictions": labels.tolist()}, headers={MODEL_VERSION_HEADER: served.version_label}
        )

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """The Open Inference Protocol: one input per feature, one `predict` output (INT64 class labels)."""
        inputs = [
            validation.TensorInput(
                name=item.name,
                shape=item.shape,
                datatype=str(getattr(item.datatype, "value", item.datatype)),
                data=item.data.root,
            )
            for item in payload.inputs
        ]
        try:
            frame = validation.frame_from_tensor_inputs(inputs, schema.FEATURE_NAMES)
        except validation.RequestValidationError as exc:
            raise RequestRefusedError(str(exc), exc.status) from None
        headers = (payload.parameters.headers if payload.parameters else None) or {}
        request_id = headers.get(REQUEST_ID_HEADER.lower()) or payload.id or ""
        served, labels = self._score(frame, request_id)
        return InferenceResponse(
            model_name=self.name,
            model_version=served.version_label,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(PREDICTION_OUTPUT, labels)],
            parameters=Parameters(headers={MODEL_VERSION_HEADER: served.version_label}),
        )
