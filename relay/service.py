"""The relay as an ASGI app: `POST /alertmanager` (bearer token), `GET /healthz`, `GET /metrics`.

Every notification is judged under one lock (two notifications arriving together cannot both start a run),
against the history the launcher reports, and counted by outcome. A decided start that the launcher cannot
carry out answers 503, so Alertmanager retries it; it is counted as a failure and does not count against
the cooldown or the daily maximum (there is no run).
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitoring import metrics as m
from relay.alerts import PayloadError, parse_notification
from relay.guardrails import Decision, Guardrails, StartedRun, decide
from relay.launchers import HISTORY_DAYS, Launcher, LaunchError

log = logging.getLogger("relay")

WEBHOOK_PATH = "/alertmanager"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"


class RelayMetrics:
    """The relay's own registry: exactly `monitoring.metrics.RELAY_METRICS`, every series present from 0."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            m.RELAY_DECISIONS.name, m.RELAY_DECISIONS.help, m.RELAY_DECISIONS.labels, registry=self.registry
        )
        for outcome in m.DECISIONS:
            self.decisions.labels(outcome)
        self.runs_started = Counter(
            m.RELAY_RUNS_STARTED.name, m.RELAY_RUNS_STARTED.help, registry=self.registry
        )
        self.last_start = Gauge(m.RELAY_LAST_START.name, m.RELAY_LAST_START.help, registry=self.registry)
        self.start_failures = Counter(
            m.RELAY_START_FAILURES.name, m.RELAY_START_FAILURES.help, registry=self.registry
        )
        self.unauthorized = Counter(
            m.RELAY_UNAUTHORIZED.name, m.RELAY_UNAUTHORIZED.help, registry=self.registry
        )


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    run: StartedRun | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"outcome": self.decision.outcome, "detail": self.decision.detail}
        if self.run is not None:
            body["run"] = {"id": self.run.run_id, "name": self.run.name, "started_at": self.run.started_at}
        if self.error is not None:
            body["outcome"] = m.DECISION_FAILED
            body["error"] = self.error
        return body


class Relay:
    """Judges notifications and starts runs through a launcher."""

    def __init__(
        self, launcher: Launcher, guardrails: Guardrails, clock: Callable[[], float] = time.time
    ) -> None:
        self.launcher = launcher
        self.guardrails = guardrails
        self.metrics = RelayMetrics()
        self._clock = clock
        self._lock = threading.Lock()

    def handle(self, body: bytes) -> Outcome:
        notification = parse_notification(body)
        with self._lock:
            now = self._clock()
            history = self.launcher.history(now - HISTORY_DAYS * 86400)
            decision = decide(notification, history, self.guardrails, now)
            if decision.trigger is None:
                self.metrics.decisions.labels(decision.outcome).inc()
                log.info("group %s: %s (%s)", notification.groupKey, decision.outcome, decision.detail)
                return Outcome(decision)
            try:
                run = self.launcher.start(decision.trigger)
            except LaunchError as exc:
                self.metrics.decisions.labels(m.DECISION_FAILED).inc()
                self.metrics.start_failures.inc()
                log.error(
                    "group %s: decided to retrain, but the run did not start: %s", notification.groupKey, exc
                )
                return Outcome(decision, error=str(exc))
            self.metrics.decisions.labels(decision.outcome).inc()
            self.metrics.runs_started.inc()
            self.metrics.last_start.set(run.started_at)
            log.info(
                "group %s: started run %s (%s): %s",
                notification.groupKey,
                run.run_id,
                run.name,
                decision.detail,
            )
            return Outcome(decision, run)


def _authorized(request: Request, token: bytes) -> bool:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    # Constant-time: the comparison must not tell a caller how much of the token it guessed.
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token)


def create_app(relay: Relay, token: str) -> Starlette:
    if not token:
        raise ValueError("the relay needs a non-empty bearer token (MLOPS_RELAY_TOKEN_FILE)")
    secret = token.encode()

    async def webhook(request: Request) -> Response:
        if not _authorized(request, secret):
            relay.metrics.unauthorized.inc()
            log.warning("refused a webhook call from %s: missing or wrong bearer token", request.client)
            return JSONResponse(
                {"error": "missing or wrong bearer token"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        body = await request.body()
        try:
            # The launcher calls block (KFP API, spawning a process): off the event loop.
            outcome = await run_in_threadpool(relay.handle, body)
        except PayloadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(outcome.as_json(), status_code=503 if outcome.error else 200)

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(relay.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route(WEBHOOK_PATH, webhook, methods=["POST"]),
            Route(HEALTH_PATH, health, methods=["GET"]),
            Route(METRICS_PATH, metrics, methods=["GET"]),
        ]
    )
