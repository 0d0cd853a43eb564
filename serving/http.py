"""Request tracking for the prediction routes, as ASGI middleware on MLServer's app.

Every request to `/invocations` or `/v2/models/<name>[/versions/<v>]/infer` gets an `X-Request-Id` (the
client's, if it sent a well-formed one, else a fresh one), which the handler sees and the response carries;
it is counted by outcome (`ok` < 400 <= `invalid` < 500 <= `error`) with the version that answered (the
handler's `X-Model-Version` header, else the version being served) and timed, in
`monitoring.metrics.SERVING_METRICS`. Nothing here imports MLServer.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from monitoring import metrics as m
from serving.telemetry import ServingTelemetry

REQUEST_ID_HEADER: Final = "X-Request-Id"
MODEL_VERSION_HEADER: Final = "X-Model-Version"
PREDICTION_PATH: Final = re.compile(r"^/(invocations|v2/models/[^/]+(/versions/[^/]+)?/infer)$")
# A client's id is kept only if it is short and plain (it ends up in logs, headers and the capture).
WELL_FORMED_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = REQUEST_ID_HEADER.lower().encode()
_MODEL_VERSION = MODEL_VERSION_HEADER.lower().encode()


def outcome_of(status: int) -> str:
    if status < 400:
        return m.OUTCOME_OK
    if status < 500:
        return m.OUTCOME_INVALID
    return m.OUTCOME_ERROR


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key.lower() == _REQUEST_ID:
            given = value.decode("latin-1")
            if WELL_FORMED_REQUEST_ID.match(given):
                return given
    return uuid.uuid4().hex


class RequestTracking:
    """ASGI middleware on the prediction routes: request ids in and out, outcome and latency counted."""

    def __init__(self, app: ASGIApp, telemetry: ServingTelemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not PREDICTION_PATH.match(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope["headers"])
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != _REQUEST_ID]
        scope = {**scope, "headers": [*headers, (_REQUEST_ID, request_id.encode())]}
        # An exception that escapes the app becomes a 500 (Starlette's outermost error middleware).
        status, version = 500, ""

        async def send_with_id(message: Message) -> None:
            nonlocal status, version
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out = [(k, v) for k, v in message.get("headers", []) if k.lower() != _REQUEST_ID]
                for key, value in out:
                    if key.lower() == _MODEL_VERSION:
                        version = value.decode("latin-1")
                message = {**message, "headers": [*out, (_REQUEST_ID, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.telemetry.request(outcome_of(status), time.perf_counter() - started, version or None)
