"""Regenerate docs/screencast/: a 2-3 minute recording of the platform on one machine, and screenshots.

    .venv/bin/python docs/screencast.py                     # everything (about 6-8 minutes on 2 cores)
    .venv/bin/python docs/screencast.py --scenes demo serve  # a shorter recording, for trying a scene out

Needs asciinema (requirements-dev.txt), Debian's chromium (headless screenshots) and the Debian Prometheus,
Pushgateway and Alertmanager the test suite uses (`make tools`). Everything runs in a fresh temporary state
folder against local processes; everything it starts is stopped at the end, also on failure or Ctrl-C.

The recording (`platform.cast`, asciinema v2, idle stretches capped at 2 s) is one terminal session, a
scene per function below, each running the real command a newcomer types:
  demo        `make demo`: the training flow; its metrics go to a local Pushgateway scraped by Prometheus
  serve       `make serve` and two `curl` requests: a prediction (with its model version) and a refused row
  loop        `make demo-loop`: drifted traffic -> live drift -> alert -> relay -> retraining -> resolved
  dashboards  `python -m monitoring.preview`: the committed dashboards' own queries against that Prometheus

Then, outside the recording, on the same state: a drifted batch through the training flow, real traffic
(clean, then drifted) through the model server while Prometheus scrapes its /metrics, the live drift check
on the captured rows, and screenshots: MLflow (the run, the model), the Evidently report, the alerts as
Alertmanager routes them, each dashboard's panels.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Run as a script: the repository's packages (monitoring, serving, loop) come from its root.
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from loop.stack import LoopStack, RelayOptions, StackError, free_port, stop_group  # noqa: E402
from monitoring import preview, rules  # noqa: E402
from pipelines import dataset, env  # noqa: E402
from pipelines.local_run import state_layout  # noqa: E402
from pipelines.telemetry import MetricsTarget  # noqa: E402
from serving.laptop import capture_dir, example_row  # noqa: E402
from serving.live_drift import LiveDriftOutcome, check_live_drift  # noqa: E402
from serving.local import serve_locally  # noqa: E402
from serving.traffic import send_frame  # noqa: E402

OUT = REPO / "docs" / "screencast"
CAST = OUT / "platform.cast"
VENV_BIN = Path(sys.executable).parent
MODEL_NAME = "breast-cancer-classifier"
COLUMNS, ROWS = 110, 34
IDLE_LIMIT_SECONDS = 5.0  # a minute-long retraining run plays as 5 s: short to watch, long enough to read
TYPING_SECONDS = 0.025  # per character of a shown command
SERVE_PORT = 8080  # what `make serve` listens on
SERVE_BANNER_END = "Ctrl-C stops the server."  # serving.laptop's last line before it waits
NODE_EXPORTER = "prometheus-node-exporter"  # Debian's name for node_exporter
MODEL_SERVER_JOB = "model-server"  # monitoring.metrics.SERVING_SCRAPE_JOB, the Service's name in the cluster
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
    "--virtual-time-budget=20000",
)


# --- the recorded session (runs inside asciinema) --------------------------------------------------------


@dataclass(frozen=True)
class Tour:
    """What every scene needs: the state folder and the local monitoring processes the demo reports to."""

    state: Path
    pushgateway_url: str
    prometheus_url: str
    alertmanager_url: str

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            env.STATE_DIR.name: str(self.state),
            env.PUSHGATEWAY_URL.name: self.pushgateway_url,
        }


def narrate(text: str) -> None:
    print(f"\n\x1b[1;36m# {text}\x1b[0m", flush=True)
    time.sleep(1.0)


def type_command(shown: str) -> None:
    print("\x1b[1;32m$\x1b[0m ", end="", flush=True)
    for character in shown:
        print(character, end="", flush=True)
        time.sleep(TYPING_SECONDS)
    print(flush=True)


def run_shown(shown: str, argv: list[str], tour: Tour, cwd: Path = REPO) -> None:
    """Type `shown`, run `argv` in the recorded terminal, fail the recording if it fails."""
    type_command(shown)
    result = subprocess.run(argv, cwd=cwd, env=tour.env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"screencast: `{shown}` exited with {result.returncode}; nothing was written")


def scene_demo(tour: Tour) -> None:
    narrate("1. The training flow on this machine: kfp.local, MLflow on SQLite, a local DVC remote")
    run_shown("make demo", ["make", "--no-print-directory", "demo"], tour)


def scene_serve(tour: Tour) -> None:
    narrate("2. Serve the champion (MLServer, the same server the cluster runs), then ask it")
    port = SERVE_PORT if _port_is_free(SERVE_PORT) else free_port()
    if port == SERVE_PORT:
        shown, argv = "make serve &", ["make", "--no-print-directory", "serve"]
    else:  # another program holds 8080 here: the command `make serve` runs, on a free port
        shown = f".venv/bin/python -m serving local --port {port} &   # make serve, with 8080 taken"
        argv = [sys.executable, "-m", "serving", "local", "--port", str(port)]
    type_command(shown)
    # Its output passes through us, so the next command is typed only after its banner ends.
    server = subprocess.Popen(
        argv,
        cwd=REPO,
        env={**tour.env, "PYTHONUNBUFFERED": "1"},  # line by line through the pipe, as on a terminal
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    banner_done = threading.Event()
    relay = threading.Thread(target=_relay_output, args=(server, SERVE_BANNER_END, banner_done), daemon=True)
    relay.start()
    try:
        _wait_until_ready(f"http://127.0.0.1:{port}", server, timeout=180)
        if not banner_done.wait(timeout=30):
            raise SystemExit("screencast: `make serve` never finished its banner")
        row = example_row(state_layout(str(tour.state)))
        (tour.state / "row.json").write_text(json.dumps({"dataframe_records": [row]}), encoding="utf-8")
        missing = {k: v for k, v in row.items() if k != "mean_radius"}
        (tour.state / "bad-row.json").write_text(
            json.dumps({"dataframe_records": [missing]}), encoding="utf-8"
        )
        url = f"http://127.0.0.1:{port}/invocations"
        for body, request_id in (("row.json", "screencast-1"), ("bad-row.json", "screencast-2")):
            time.sleep(1.0)
            headers = f"-H 'Content-Type: application/json' -H 'X-Request-Id: {request_id}'"
            run_shown(
                f"curl -s -i {url} {headers} -d @{body}",
                [
                    "curl",
                    "-s",
                    "-i",
                    url,
                    "-H",
                    "Content-Type: application/json",
                    "-H",
                    f"X-Request-Id: {request_id}",
                    "-d",
                    f"@{body}",
                ],
                tour,
                cwd=tour.state,
            )
            print(flush=True)
        time.sleep(1.0)
        type_command("kill %1")
    finally:
        # Ctrl-C as a person would: `make serve` stops the server and says so.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            stop_group(server)
        relay.join(timeout=5)  # its last lines ("Stopped the model server.")


def _relay_output(process: subprocess.Popen[bytes], marker: str, seen: threading.Event) -> None:
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()
        if marker in line.decode(errors="replace"):
            seen.set()


def scene_loop(tour: Tour) -> None:
    narrate(
        "3. The closed loop: drifted live traffic -> alert -> retraining -> champion decision -> resolved"
    )
    if "demo-loop:" not in (REPO / "Makefile").read_text(encoding="utf-8"):
        raise SystemExit("screencast: the Makefile has no demo-loop target (merge the closed loop first)")
    run_shown("make demo-loop", ["make", "--no-print-directory", "demo-loop"], tour)


def scene_dashboards(tour: Tour) -> None:
    narrate("4. The dashboards' own queries against the Prometheus the demo reported to (no Grafana here)")
    shown = "python -m monitoring.preview --prometheus $PROMETHEUS --out dashboards --minutes 10"
    run_shown(
        shown,
        [
            sys.executable,
            "-m",
            "monitoring.preview",
            "--prometheus",
            tour.prometheus_url,
            "--out",
            str(tour.state / "dashboards"),
            "--minutes",
            "10",
            "--scrape-interval",
            "1",
        ],
        tour,
    )


SCENES: dict[str, Callable[[Tour], None]] = {
    "demo": scene_demo,
    "serve": scene_serve,
    "loop": scene_loop,
    "dashboards": scene_dashboards,
}


def play_tour(tour: Tour, scenes: list[str]) -> None:
    for name in scenes:
        SCENES[name](tour)
    narrate("That was the platform on one machine. The same program deploys it to EKS: pulumi up.")


# --- orchestration (outside the recording) ---------------------------------------------------------------


def record(tour: Tour, scenes: list[str], cast: Path) -> None:
    """The tour in an asciinema recording of a fixed-size terminal."""
    inner = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--play",
        "--state",
        str(tour.state),
        "--pushgateway",
        tour.pushgateway_url,
        "--prometheus",
        tour.prometheus_url,
        "--alertmanager",
        tour.alertmanager_url,
        "--scenes",
        *scenes,
    ]
    recorder = subprocess.Popen(
        [
            str(VENV_BIN / "asciinema"),
            "rec",
            "--overwrite",
            "--quiet",
            "--cols",
            str(COLUMNS),
            "--rows",
            str(ROWS),
            "--idle-time-limit",
            str(IDLE_LIMIT_SECONDS),
            "--title",
            "mlops-infra: the platform on one machine",
            "--command",
            " ".join(_quote(part) for part in inner),
            str(cast),
        ],
        cwd=REPO,
        env={**os.environ, "TERM": "xterm-256color"},
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # so an interrupted recording takes the tour's processes with it
    )
    try:
        code = recorder.wait()
    finally:
        stop_group(recorder)
    if code != 0:
        raise SystemExit(f"screencast: the recording failed (asciinema exited with {code})")


def played_seconds(cast: Path) -> float:
    """How long the recording plays: each pause capped at the header's idle_time_limit, as players do."""
    lines = cast.read_text(encoding="utf-8").splitlines()
    limit = float(json.loads(lines[0]).get("idle_time_limit") or float("inf"))
    played, previous = 0.0, 0.0
    for line in lines[1:]:
        moment = float(json.loads(line)[0])
        played += min(moment - previous, limit)
        previous = moment
    return played


def run_drifted(tour: Tour) -> None:
    subprocess.run(
        [sys.executable, "-m", "pipelines", "run", "--local", "--drifted"],
        cwd=REPO,
        env=tour.env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def live_traffic(tour: Tour, metrics_port: int) -> list[LiveDriftOutcome]:
    """Clean, then drifted rows through the real model server (its /metrics scraped as `model-server`), the
    live drift check after each, reporting to the same Pushgateway: no drift, then drift."""
    reference = pd.read_csv(io.BytesIO(dataset.sample_dataset_bytes()))
    # A capture folder of its own: the window holds this traffic only, not the demo's earlier batches.
    capture = str(tour.state / "screencast-capture")
    outcomes = []
    with serve_locally(
        model_name=MODEL_NAME,
        tracking_uri=_tracking_uri(tour.state),
        capture_uri=capture,
        log_path=tour.state / "screencast-serving.log",
        metrics_port=metrics_port,
        flush_seconds=1.0,
    ) as server:
        for name, rows, drifted, seed in (("clean", 300, False, 1), ("drifted", 600, True, 2)):
            frame = dataset.simulate_batch(reference, rows=rows, seed=seed, drifted=drifted)
            stats = send_frame(server.url, frame, rows_per_request=5, request_id_prefix=f"screencast-{name}")
            print(f"[screencast] {name} traffic: {stats.ok}/{stats.requests} requests answered")
            time.sleep(3)  # the capture flushes every second; Prometheus scrapes the server's counters
            outcome = check_live_drift(
                model_name=MODEL_NAME,
                tracking_uri=_tracking_uri(tour.state),
                capture_uri=capture,
                window_hours=1,
                metrics_target=MetricsTarget(pushgateway_url=tour.pushgateway_url),
                report_dir=tour.state / "live-drift-reports",
            )
            print(f"[screencast] live drift check: {outcome.describe()}")
            outcomes.append(outcome)
    return outcomes


def _tracking_uri(state: Path) -> str:
    return f"sqlite:///{state / 'mlflow' / 'mlflow.db'}"


@contextlib.contextmanager
def monitoring_stack(workdir: Path, state: Path, metrics_port: int) -> Iterator[LoopStack]:
    """The closed loop's local stack (Prometheus with our rules, Pushgateway, Alertmanager with our routes,
    the retraining relay; 1 s intervals, live drift confirmed after 5 s), with the relay's kill switch on:
    the alert reaches it, the retraining itself is the recording's demo-loop scene. Prometheus also
    scrapes the model server's metrics port (chosen before the server starts) and this machine's node
    exporter, the exporter kube-prometheus-stack runs on every node."""
    exporter = shutil.which(NODE_EXPORTER)
    if exporter is None:
        raise SystemExit(
            "screencast: prometheus-node-exporter is missing (apt-get install prometheus-node-exporter)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    node_port = free_port()
    with (workdir / "node-exporter.log").open("wb") as log:
        node_exporter = subprocess.Popen(
            [exporter, f"--web.listen-address=127.0.0.1:{node_port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        relay = RelayOptions(
            state_dir=state, capture_uri=str(capture_dir(state_layout(str(state)))), enabled=False
        )
        targets = {MODEL_SERVER_JOB: f"127.0.0.1:{metrics_port}", "node-exporter": f"127.0.0.1:{node_port}"}
        with LoopStack(workdir, relay, scrape_targets=targets) as stack:
            yield stack
    except StackError as error:
        raise SystemExit(f"screencast: {error}") from None
    finally:
        stop_group(node_exporter)


@contextlib.contextmanager
def mlflow_ui(state: Path) -> Iterator[str]:
    """The MLflow UI on the demo's SQLite store, in its own process group (stopped on exit)."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(VENV_BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            _tracking_uri(state),
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
        _wait_until_ready(url, process, timeout=90, path="/health")
        yield url
    finally:
        stop_group(process)


def screenshot(url: str, target: Path, profile: Path, height: int = 1000) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("screencast: chromium is not installed (Debian: apt-get install chromium)")
    subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--window-size=1440,{height}",
            f"--user-data-dir={profile}",
            f"--screenshot={target}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    print(f"[screencast] wrote {target.relative_to(REPO)}")


def mlflow_screenshots(state: Path, profile: Path) -> None:
    with mlflow_ui(state) as url:
        first = _api(url, f"model-versions/get?name={MODEL_NAME}&version=1")["model_version"]
        run = _api(url, f"runs/get?run_id={first['run_id']}")["run"]
        experiment = run["info"]["experiment_id"]
        screenshot(
            f"{url}/#/experiments/{experiment}/runs/{first['run_id']}", OUT / "mlflow-run.png", profile
        )
        screenshot(f"{url}/#/models/{MODEL_NAME}", OUT / "mlflow-model.png", profile)


def drift_report_screenshot(state: Path, profile: Path) -> None:
    reports = sorted((state / "drift-reports").glob("*.html"), key=lambda p: p.stat().st_mtime)
    if not reports:
        raise SystemExit(f"screencast: no Evidently report in {state / 'drift-reports'}")
    screenshot(reports[-1].as_uri(), OUT / "drift-report.png", profile)


def wait_for_alert(stack: LoopStack, alertname: str, timeout: float) -> None:
    """Until Alertmanager holds `alertname` active (live drift must persist for confirmFor first)."""
    deadline = time.monotonic() + timeout
    while not any(
        alert["labels"].get("alertname") == alertname and alert["status"]["state"] == "active"
        for group in preview.alert_groups(stack.alertmanager_url)
        for alert in group["alerts"]
    ):
        if time.monotonic() > deadline:
            raise SystemExit(f"screencast: {alertname} did not reach Alertmanager within {timeout:.0f} s")
        time.sleep(0.5)


def alerts_screenshot(stack: LoopStack, folder: Path, profile: Path) -> None:
    groups = preview.alert_groups(stack.alertmanager_url)
    page = folder / "alerts.html"
    page.write_text(preview.render_alert_groups_html(groups, "Alertmanager /api/v2/alerts/groups"), "utf-8")
    names = sorted({a["labels"]["alertname"] for g in groups for a in g["alerts"]})
    print(f"[screencast] alerts firing: {', '.join(names) or 'none'}")
    alerts = sum(len(g["alerts"]) for g in groups)
    screenshot(page.as_uri(), OUT / "alertmanager.png", profile, height=160 + 40 * len(groups) + 80 * alerts)


def dashboard_screenshots(stack: LoopStack, folder: Path, profile: Path, minutes: float) -> list[str]:
    end = time.time()
    window = preview.Window(end - minutes * 60, end, max(1.0, minutes * 60 / 300), scrape_interval=1.0)
    problems: list[str] = []
    for page, result in preview.preview_all(preview.PrometheusApi(stack.prometheus_url), window, folder):
        screenshot(
            page.as_uri(), OUT / f"dashboard-{page.stem}.png", profile, height=preview.page_height(result)
        )
        problems += result.problems
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", nargs="+", choices=list(SCENES), default=list(SCENES))
    parser.add_argument(
        "--cast-only", action="store_true", help="record the terminal session, no screenshots"
    )
    parser.add_argument("--play", action="store_true", help=argparse.SUPPRESS)  # inside the recording
    for option in ("--state", "--pushgateway", "--prometheus", "--alertmanager"):
        parser.add_argument(option, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.play:
        play_tour(Tour(Path(args.state), args.pushgateway, args.prometheus, args.alertmanager), args.scenes)
        return 0

    OUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="screencast-") as name:
        folder = Path(name)
        profile = folder / "chromium"
        metrics_port = free_port()
        with monitoring_stack(folder / "monitoring", folder / "state", metrics_port) as stack:
            tour = Tour(folder / "state", stack.pushgateway_url, stack.prometheus_url, stack.alertmanager_url)
            print(f"[screencast] recording {', '.join(args.scenes)} ...")
            record(tour, args.scenes, CAST)
            print(f"[screencast] wrote {CAST.relative_to(REPO)}: plays {played_seconds(CAST):.0f} s")
            if args.cast_only:
                return 0
            print("[screencast] a drifted batch through the training flow ...")
            run_drifted(tour)
            print("[screencast] live traffic through the model server, then the live drift check ...")
            live_traffic(tour, metrics_port)
            wait_for_alert(stack, rules.LIVE_DRIFT_CONFIRMED, timeout=90)
            alerts_screenshot(stack, folder, profile)
            problems = dashboard_screenshots(
                stack, folder / "dashboards", profile, minutes=(time.monotonic() - started) / 60 + 1
            )
        mlflow_screenshots(tour.state, profile)
        drift_report_screenshot(tour.state, profile)
    for problem in problems:
        print(f"[screencast] not drawn from data: {problem}")
    print(f"[screencast] done in {time.monotonic() - started:.0f} s")
    return 0


# --- small helpers -----------------------------------------------------------------------------------------


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_until_ready(
    url: str, process: subprocess.Popen[bytes], timeout: float, path: str = "/v2/health/ready"
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}{path}", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"screencast: {process.args!r} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"screencast: {url} was not ready after {timeout:.0f} s")
        time.sleep(0.3)


def _api(url: str, path: str) -> dict[str, dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/2.0/mlflow/{path}", timeout=10) as response:
        data: dict[str, dict[str, Any]] = json.load(response)
        return data


def _quote(part: str) -> str:
    return shlex.quote(part)


if __name__ == "__main__":
    sys.exit(main())
