"""The closed loop on a laptop, for real: drifted traffic -> live drift -> alert -> relay -> training run ->
champion decision -> recovered traffic -> alert resolved.

What runs: Prometheus, Pushgateway and Alertmanager (Debian packages) with our rules and routes at 1 s
intervals, the relay (`python -m relay serve`, local launcher), the model server (`serving.local`), the
live drift check (`serving.live_drift.check_live_drift`) and the training flow (kfp.local, started by the
relay). Only time is compressed: `for:` durations are seconds instead of minutes, and the live check's
window starts when the traffic recovers (a fresh capture folder for the recovered traffic) instead of
waiting `windowHours` for the drifted requests to age out of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from loop.stack import LoopStack, LoopTiming, RelayOptions, free_port, wait
from monitoring import metrics as m
from monitoring import rules
from pipelines.params import REPO_ROOT

DRIFTED_ROWS: Final = 300
RECOVERED_ROWS: Final = 300
LIVE_WINDOW_HOURS: Final = 1
LIVE_MIN_ROWS: Final = 200
RUN_TIMEOUT: Final = 900.0
CHAMPION_LINE: Final = re.compile(r"^\s*Champion:\s+(.*)$")


@dataclass(frozen=True)
class Step:
    name: str
    at: float
    """time.time() when it was seen."""
    detail: str


@dataclass
class LoopReport:
    started_at: float
    steps: list[Step] = field(default_factory=list)
    guardrails: dict[str, str] = field(default_factory=dict)
    """Guardrail case -> what the relay answered."""
    pids: list[int] = field(default_factory=list)
    """Every process the demo started (stack, relay, model servers, training runs)."""

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def seconds(self, start: str, end: str) -> float:
        return self.step(end).at - self.step(start).at


class LoopDemo:
    def __init__(
        self,
        workdir: Path,
        *,
        say: Callable[[str], None] = print,
        timing: LoopTiming | None = None,
        guardrails: bool = True,
        until: str | None = None,
    ) -> None:
        self.workdir = workdir.resolve()
        self.state = self.workdir / "state"
        """The training flow's state folder; one holding a registry is used as it is (no first training)."""
        self.incident_capture = self.workdir / "capture" / "incident"
        self.recovered_capture = self.workdir / "capture" / "after-fix"
        self.say = say
        self.timing = timing or LoopTiming()
        self.check_guardrails = guardrails
        self.until = until
        """Stop after this step (the benchmark stops once the run started)."""
        self.report = LoopReport(started_at=time.time())
        self._params: Any = None

    # --- printing ---

    def note(self, name: str, detail: str, at: float | None = None) -> Step:
        step = Step(name, at or time.time(), detail)
        self.report.steps.append(step)
        elapsed = step.at - self.report.started_at
        clock = dt.datetime.fromtimestamp(step.at).strftime("%H:%M:%S")
        self.say(f"[{elapsed:6.1f} s  {clock}] {name}: {detail}")
        return step

    # --- the loop ---

    def run(self) -> LoopReport:
        import os

        from pipelines.tasks import flow_params

        # The live check downloads the champion's reference; MLflow's progress bar would garble the steps.
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        self._params = flow_params()
        metrics_port = free_port()
        stack = LoopStack(
            self.workdir / "stack",
            RelayOptions(state_dir=self.state, capture_uri=str(self.incident_capture)),
            timing=self.timing,
            scrape_targets={m.SERVING_SCRAPE_JOB: f"127.0.0.1:{metrics_port}"},
        )
        with stack:
            self.note(
                "stack up",
                f"Prometheus {stack.prometheus_url}, Alertmanager {stack.alertmanager_url}, "
                f"Pushgateway {stack.pushgateway_url}, relay {stack.relay_url} (1 s intervals, "
                f"confirmFor {self.timing.confirm_for})",
            )
            self._champion()
            with self._server(self.incident_capture, metrics_port) as server:
                sent_at = self._send(server, drifted=True)
                self._live_check(stack, self.incident_capture, expect_drift=True)
                self._alert_fires(stack, after=sent_at)
                started = self._relay_starts_a_run(stack)
                if self.until == "run started":
                    return self.report
                if self.check_guardrails:
                    self._guardrails(stack, started)
                finished = self._run_finishes(started)
                self._champion_decision(finished)
            with self._server(self.recovered_capture, metrics_port) as server:
                recovered_at = self._send(server, drifted=False)
                self._live_check(stack, self.recovered_capture, expect_drift=False)
                self._alert_resolves(stack, after=recovered_at)
        self.report.pids += stack.spawned
        for path in (self.state / "relay-runs").glob("*.json"):
            self.report.pids.append(int(json.loads(path.read_text())["pid"]))
        self.note("stopped", "every process the demo started has been stopped")
        return self.report

    def _champion(self) -> None:
        from pipelines.local_run import state_layout

        layout = state_layout(str(self.state))
        if layout.mlflow_db.exists():
            self.note("champion", f"using the registry in {layout.mlflow_db}")
            return
        self.say("Training a first champion (the same tasks, in one process) ...")
        command = [
            sys.executable,
            "-m",
            "pipelines",
            "run",
            "--local",
            "--in-process",
            "--state",
            str(self.state),
        ]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"the first training run failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        line = next(
            (CHAMPION_LINE.match(x) for x in result.stdout.splitlines() if CHAMPION_LINE.match(x)), None
        )
        self.note("champion", line.group(1) if line else "trained")

    @contextmanager
    def _server(self, capture: Path, metrics_port: int) -> Iterator[Any]:
        from pipelines.local_run import state_layout
        from pipelines.tracking import TRACKING_URI_ENV, local_tracking_env
        from serving.local import serve_locally

        tracking = local_tracking_env(state_layout(str(self.state)).root)[TRACKING_URI_ENV]
        with serve_locally(
            model_name=self._params.registry.model_name,
            alias=self._params.registry.champion_alias,
            tracking_uri=tracking,
            capture_uri=str(capture),
            log_path=self.workdir / f"model-server-{capture.name}.log",
            metrics_port=metrics_port,
            flush_seconds=1.0,
        ) as server:
            self.report.pids.append(server.pid)
            self.note("model server", f"serving the champion at {server.url}, capturing to {capture}")
            yield server

    def _send(self, server: Any, *, drifted: bool) -> float:
        import io

        import pandas as pd

        from pipelines import dataset, labels, schema
        from serving import capture
        from serving.traffic import send_frame

        reference = pd.read_csv(io.BytesIO(dataset.sample_dataset_bytes()))
        rows = DRIFTED_ROWS if drifted else RECOVERED_ROWS
        frame = dataset.simulate_batch(reference, rows, seed=11 if drifted else 12, drifted=drifted)
        sent_at = time.time()
        stats = send_frame(server.url, frame, request_id_prefix="incident-" if drifted else "recovered-")
        kind = "drifted (a recalibrated scanner: size features x1.3)" if drifted else "recovered"
        self.note("traffic sent", f"{stats.requests} {kind} requests, {stats.ok} answered", at=sent_at)
        root = self.incident_capture if drifted else self.recovered_capture
        store = capture.open_store(str(root))
        model = self._params.registry.model_name
        wait(
            lambda: (
                len(capture.read_window(store, model, dt.datetime.now(dt.UTC), LIVE_WINDOW_HOURS)) >= stats.ok
            ),
            60,
            "the model server's capture",
        )
        if drifted:
            # Ground truth for those requests arrives (here: at once) keyed by their request ids.
            truth = pd.DataFrame(
                {"request_id": stats.request_ids, schema.TARGET: frame[schema.TARGET].tolist()}
            )
            key = labels.write_labels(str(root), model, truth, dt.datetime.now(dt.UTC))
            self.note("labels arrived", f"{len(truth)} ground-truth labels for the captured requests ({key})")
        return sent_at

    def _live_check(self, stack: LoopStack, root: Path, *, expect_drift: bool) -> None:
        from pipelines.local_run import state_layout
        from pipelines.telemetry import MetricsTarget
        from pipelines.tracking import TRACKING_URI_ENV, local_tracking_env
        from serving.live_drift import VERDICT_DRIFT, check_live_drift

        tracking = local_tracking_env(state_layout(str(self.state)).root)[TRACKING_URI_ENV]
        outcome = check_live_drift(
            model_name=self._params.registry.model_name,
            tracking_uri=tracking,
            capture_uri=str(root),
            alias=self._params.registry.champion_alias,
            window_hours=LIVE_WINDOW_HOURS,
            min_rows=LIVE_MIN_ROWS,
            metrics_target=MetricsTarget(pushgateway_url=stack.pushgateway_url),
            report_dir=self.workdir,
        )
        detail = (
            f"{outcome.verdict} in {outcome.rows} captured rows vs the training reference of champion "
            f"v{outcome.champion_version} (share {outcome.share:.2f}, "
            f"threshold {outcome.share_threshold:.2f}); "
            f"report {outcome.report_path}"
        )
        if (outcome.verdict == VERDICT_DRIFT) != expect_drift:
            raise RuntimeError(
                f"live drift check: expected {'drift' if expect_drift else 'no drift'}, got {detail}"
            )
        self.note("live drift detected" if expect_drift else "live drift gone", detail)

    def _alert_fires(self, stack: LoopStack, after: float) -> None:
        assert stack.people is not None
        first = stack.people.wait_for(rules.DATA_DRIFT_DETECTED, "firing", timeout=60, after=after)
        self.note("people notified", f"{rules.DATA_DRIFT_DETECTED} (live) firing", at=first.received_at)
        confirmed = stack.people.wait_for(rules.LIVE_DRIFT_CONFIRMED, "firing", timeout=120, after=after)
        self.note(
            "alert firing",
            f"{rules.LIVE_DRIFT_CONFIRMED} firing after {self.timing.confirm_for} of live drift: "
            "Alertmanager calls the relay and notifies people",
            at=confirmed.received_at,
        )

    def _relay_starts_a_run(self, stack: LoopStack) -> dict[str, Any]:
        runs_dir = self.state / "relay-runs"
        called = wait(
            lambda: (
                sum(v for k, v in stack.relay_metrics().items() if k.startswith(m.RELAY_DECISIONS.name)) > 0
            ),
            60,
            "the relay's first decision",
        )
        wait(lambda: any(runs_dir.glob("*.json")), 30, "a training run started by the relay")
        run = json.loads(next(runs_dir.glob("*.json")).read_text())
        # The relay writes the run's file while it answers the call: the call came no later than that.
        self.note(
            "relay called",
            "Alertmanager's webhook, with the bearer token from its file",
            at=min(called, run["started_at"]),
        )
        alert = json.loads(run["trigger"])["alerts"][0]
        shown = {k: v for k, v in alert["labels"].items() if k in ("alertname", "dataset", "source")}
        self.note(
            "training run started",
            f"{run['name']} (alert {alert['fingerprint']}, labels {shown})",
            at=run["started_at"],
        )
        return dict(run)

    def _guardrails(self, stack: LoopStack, started: dict[str, Any]) -> None:
        from relay.guardrails import Trigger

        trigger = Trigger.from_json(started["trigger"])
        alert = trigger.alerts[0]
        later = (dt.datetime.fromisoformat(alert.starts_at) + dt.timedelta(minutes=1)).isoformat()
        payload: dict[str, Any] = {
            "version": "4",
            "groupKey": trigger.group_key,
            "status": "firing",
            "receiver": "retrain-relay",
            "alerts": [
                {
                    "status": "firing",
                    "labels": alert.labels,
                    "startsAt": later,
                    "fingerprint": alert.fingerprint,
                }
            ],
        }
        code, body = stack.post_to_relay(payload, "not-the-token")
        self.report.guardrails["bad token"] = f"{code} {body.get('error', '')}"
        code, body = stack.post_to_relay(payload, stack.token)
        self.report.guardrails["second alert inside the cooldown"] = (
            f"{code} {body['outcome']}: {body['detail']}"
        )
        stack.restart_relay(enabled=False)
        code, body = stack.post_to_relay(payload, stack.token)
        self.report.guardrails["kill switch"] = f"{code} {body['outcome']}: {body['detail']}"
        stack.restart_relay(enabled=True)
        original = {**payload, "alerts": [{**payload["alerts"][0], "startsAt": alert.starts_at}]}
        code, body = stack.post_to_relay(original, stack.token)
        self.report.guardrails["the same alert again, after two relay restarts"] = (
            f"{code} {body['outcome']}: {body['detail']}"
        )
        runs = len(list((self.state / "relay-runs").glob("*.json")))
        self.report.guardrails["runs started"] = str(runs)
        for case, answer in self.report.guardrails.items():
            self.note("guardrail", f"{case}: {answer}")

    def _run_finishes(self, started: dict[str, Any]) -> dict[str, Any]:
        path = self.state / "relay-runs" / f"{started['run_id']}.json"

        def ended() -> bool:
            return bool(json.loads(path.read_text())["status"] != "running")

        at = wait(ended, RUN_TIMEOUT, f"training run {started['name']}", interval=1.0)
        run = json.loads(path.read_text())
        took = (run["finished_at"] or at) - run["started_at"]
        self.note("training run finished", f"{run['name']} {run['status']} after {took:.0f} s", at=at)
        if run["status"] != "succeeded":
            tail = "\n".join(run["output_tail"])
            raise RuntimeError(f"the retraining run failed (exit {run['exit_code']}):\n{tail}")
        return dict(run)

    def _champion_decision(self, run: dict[str, Any]) -> None:
        output = (self.state / "relay-runs" / f"{run['run_id']}.log").read_text(errors="replace").splitlines()
        lines = [CHAMPION_LINE.match(x) for x in output]
        decision = next((match.group(1) for match in lines if match), "no champion line in the run's output")
        added = next((x for x in output if "labelled captured row(s) added" in x), "")
        rows = re.search(r"(\d+) labelled captured row", added)
        trained = f" (trained on the data plus {rows.group(1)} labelled captured rows)" if rows else ""
        self.note("champion decision", decision + trained)

    def _alert_resolves(self, stack: LoopStack, after: float) -> None:
        assert stack.people is not None
        resolved = stack.people.wait_for(rules.LIVE_DRIFT_CONFIRMED, "resolved", timeout=120, after=after)
        self.note("alert resolved", f"{rules.LIVE_DRIFT_CONFIRMED} resolved", at=resolved.received_at)


def summary(report: LoopReport) -> list[str]:
    def gap(start: str, end: str) -> str:
        try:
            return f"{report.seconds(start, end):.1f} s"
        except StopIteration:
            return "n/a"

    lines = [
        "",
        "Closed loop finished",
        f"  Drifted traffic -> live drift detected:  {gap('traffic sent', 'live drift detected')}",
        f"  Live drift -> alert firing (confirmed):  {gap('live drift detected', 'alert firing')}",
        f"  Alert -> relay called:                   {gap('alert firing', 'relay called')}",
        f"  Drifted traffic -> run started:          {gap('traffic sent', 'training run started')}",
        f"  Training run:                            {gap('training run started', 'training run finished')}",
    ]
    decision = next((s.detail for s in report.steps if s.name == "champion decision"), "n/a")
    lines.append(f"  Champion decision:                       {decision}")
    resolved = [s for s in report.steps if s.name == "alert resolved"]
    recovered = [s for s in report.steps if s.name == "traffic sent"]
    if resolved and len(recovered) > 1:
        lines.append(f"  Recovered traffic -> alert resolved:     {resolved[0].at - recovered[-1].at:.1f} s")
    for case, answer in report.guardrails.items():
        lines.append(f"  Guardrail, {case}: {answer}")
    lines.append(f"  Total:                                   {time.time() - report.started_at:.0f} s")
    return lines
