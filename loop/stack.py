"""Prometheus, Pushgateway, Alertmanager and the retraining relay as local processes, with our rules and
routes at 1 s intervals, and a local webhook standing in for the people Alertmanager notifies.

`make demo-loop`, its integration test and `benchmarks/bench_loop.py` run the closed loop on it. Every
process runs in its own process group; `LoopStack.stop()` ends each group (SIGTERM, then SIGKILL), and the
stack is a context manager, so a failure or Ctrl-C leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import yaml

from monitoring import alertmanager as am
from monitoring import metrics as m
from monitoring import rules
from pipelines.params import REPO_ROOT
from relay.launchers import stop_running

LOOPBACK: Final = "127.0.0.1"
BINARIES: Final = ("prometheus", "prometheus-pushgateway", "prometheus-alertmanager")
# The laptop tracks runs in SQLite: there is no MLflow server whose "down" alert would mean anything here.
NOT_ON_A_LAPTOP: Final = frozenset({rules.MLFLOW_DOWN})


class StackError(RuntimeError):
    """A process of the stack did not start (the message holds its log's tail)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def find_binaries() -> dict[str, str]:
    """Absolute paths of the Debian tools; StackError naming the install command if one is missing."""
    found = {name: shutil.which(name) for name in BINARIES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise StackError(
            f"{', '.join(missing)} not installed: `make tools` (or apt-get install -y prometheus "
            "prometheus-pushgateway prometheus-alertmanager)"
        )
    return {name: str(path) for name, path in found.items()}


def stop_group(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


def _tail(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def wait_until(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{process.args!r} exited with {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise StackError(f"{url} not ready after {timeout:.0f} s:\n{_tail(log)}")


@dataclass(frozen=True)
class Notification:
    received_at: float
    """time.time() when it arrived."""
    payload: dict[str, Any]


class PeopleWebhook:
    """What people would get (Slack, e-mail): every notification Alertmanager sends them, with its time."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._changed:
                    receiver.notifications.append(Notification(time.time(), json.loads(body)))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}/people"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def first(self, alertname: str, status: str, after: float = 0.0) -> Notification | None:
        with self._changed:
            for notification in self.notifications:
                if notification.received_at >= after and any(
                    a["labels"].get("alertname") == alertname and a["status"] == status
                    for a in notification.payload.get("alerts", [])
                ):
                    return notification
        return None

    def wait_for(self, alertname: str, status: str, timeout: float, after: float = 0.0) -> Notification:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = self.first(alertname, status, after)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = sorted(
                        {
                            (a["labels"].get("alertname", "?"), a["status"])
                            for n in self.notifications
                            for a in n.payload["alerts"]
                        }
                    )
                    raise TimeoutError(f"no {status} {alertname} within {timeout:.0f} s; people got {seen}")
                self._changed.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class RelayOptions:
    """How the local relay runs: its guardrails and where its training runs go."""

    state_dir: Path
    capture_uri: str
    enabled: bool = True
    cooldown_seconds: int = 3600
    max_runs_per_day: int = 2


@dataclass(frozen=True)
class LoopTiming:
    """The production `for:` and routing durations, compressed so a laptop sees the loop in a minute."""

    confirm_for: str = "5s"
    service_down_for: str = "10s"
    relay_repeat_interval: str = "5s"


@dataclass
class LoopStack:
    workdir: Path
    relay: RelayOptions
    timing: LoopTiming = field(default_factory=LoopTiming)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    people: PeopleWebhook | None = None
    token: str = ""
    pushgateway_url: str = ""
    prometheus_url: str = ""
    alertmanager_url: str = ""
    relay_url: str = ""
    scrape_targets: dict[str, str] = field(default_factory=dict)
    """Extra Prometheus jobs: job name -> host:port (the model server's metrics)."""
    spawned: list[int] = field(default_factory=list)
    """Every process id the stack started (each also its process group), for checking nothing is left."""

    # --- lifecycle ---

    def __enter__(self) -> LoopStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env, cwd=REPO_ROOT
            )
        self.processes[name] = process
        self.spawned.append(process.pid)
        return process, log

    def start(self) -> None:
        binaries = find_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.people = PeopleWebhook()
        self.token = secrets.token_urlsafe(32)
        token_file = self.workdir / "relay-token"
        token_file.write_text(self.token + "\n", encoding="utf-8")
        token_file.chmod(0o600)
        am_port, pg_port, prom_port, relay_port = free_port(), free_port(), free_port(), free_port()
        self.alertmanager_url = f"http://{LOOPBACK}:{am_port}"
        self.pushgateway_url = f"http://{LOOPBACK}:{pg_port}"
        self.prometheus_url = f"http://{LOOPBACK}:{prom_port}"
        self.relay_url = f"http://{LOOPBACK}:{relay_port}"

        self.start_relay(token_file, relay_port, self.relay)

        config = self.workdir / "alertmanager.yaml"
        config.write_text(yaml.safe_dump(self.alertmanager_config(token_file), sort_keys=False))
        process, log = self._spawn(
            "alertmanager",
            [
                binaries["prometheus-alertmanager"],
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'alertmanager-data'}",
                f"--web.listen-address={LOOPBACK}:{am_port}",
                "--cluster.listen-address=",
            ],
        )
        wait_until(f"{self.alertmanager_url}/-/ready", process, log)

        # Debian's build persists to /var/lib/prometheus/pushgateway.data by default, shared by every
        # Pushgateway on the machine: an earlier run's verdicts would fire this run's alerts.
        process, log = self._spawn(
            "pushgateway",
            [
                binaries["prometheus-pushgateway"],
                f"--web.listen-address={LOOPBACK}:{pg_port}",
                "--persistence.file=",
            ],
        )
        wait_until(f"{self.pushgateway_url}/-/ready", process, log)

        rule_file = self.workdir / "rules.yaml"
        rule_file.write_text(yaml.safe_dump(self.rule_groups(), sort_keys=False))
        prometheus_file = self.workdir / "prometheus.yaml"
        prometheus_file.write_text(
            yaml.safe_dump(self.prometheus_config(rule_file, am_port, pg_port, relay_port))
        )
        process, log = self._spawn(
            "prometheus",
            [
                binaries["prometheus"],
                f"--config.file={prometheus_file}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address={LOOPBACK}:{prom_port}",
            ],
        )
        wait_until(f"{self.prometheus_url}/-/ready", process, log)
        self._wait_until_wired()

    def start_relay(self, token_file: Path, port: int, options: RelayOptions) -> None:
        """(Re)start the relay process; its guardrail state lives in its runs' files, not in the process."""
        if "relay" in self.processes:
            stop_group(self.processes.pop("relay"))
        self.relay = options
        command = [
            sys.executable,
            "-m",
            "relay",
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--token-file",
            str(token_file),
            "--launcher",
            "local",
            "--state",
            str(options.state_dir),
            "--capture-uri",
            options.capture_uri,
            "--retrain-enabled",
            "true" if options.enabled else "false",
            "--cooldown-seconds",
            str(options.cooldown_seconds),
            "--max-runs-per-day",
            str(options.max_runs_per_day),
            "--pushgateway-url",
            self.pushgateway_url,
        ]
        environment = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
        }
        process, log = self._spawn("relay", command, environment)
        wait_until(f"{self.relay_url}/healthz", process, log)

    def restart_relay(self, **changes: Any) -> None:
        """The same relay with other options (e.g. the kill switch), on the same port and token."""
        port = int(urllib.parse.urlparse(self.relay_url).port or 0)
        self.start_relay(self.workdir / "relay-token", port, replace(self.relay, **changes))

    def stop(self) -> None:
        # Training runs outlive a relay restart (as KFP runs do): stop them from their files.
        stop_running(self.relay.state_dir / "relay-runs")
        for process in reversed(list(self.processes.values())):
            stop_group(process)
        self.processes.clear()
        if self.people is not None:
            self.people.close()
            self.people = None

    # --- configuration (our real rules and routes, timings compressed) ---

    def rule_groups(self) -> dict[str, Any]:
        settings = rules.AlertSettings(
            no_success_hours=None,  # the local stack has no training schedule
            live_drift_confirm_for=self.timing.confirm_for,
            service_down_for=self.timing.service_down_for,
        )
        groups = rules.render_rule_groups(settings)
        for group in groups["groups"]:
            group["rules"] = [r for r in group["rules"] if r["alert"] not in NOT_ON_A_LAPTOP]
        return groups

    def alertmanager_config(self, token_file: Path) -> dict[str, Any]:
        assert self.people is not None
        settings = am.NotificationSettings(
            webhook=am.WebhookReceiver(self.people.url),
            relay=am.RelayReceiver(
                f"{self.relay_url}/alertmanager",
                credentials_file=str(token_file),
                repeat_interval=self.timing.relay_repeat_interval,
            ),
            timing=am.RouteTiming(
                group_wait="0s",
                group_interval="1s",
                critical_repeat_interval="1h",
                warning_repeat_interval="1h",
            ),
        )
        return am.render_alertmanager_config(settings)

    def prometheus_config(
        self, rule_file: Path, am_port: int, pg_port: int, relay_port: int
    ) -> dict[str, Any]:
        jobs = [
            {
                "job_name": m.PUSHGATEWAY_SCRAPE_JOB,
                "honor_labels": True,
                "static_configs": [{"targets": [f"{LOOPBACK}:{pg_port}"]}],
            },
            {"job_name": m.RELAY_SCRAPE_JOB, "static_configs": [{"targets": [f"{LOOPBACK}:{relay_port}"]}]},
        ]
        jobs += [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in self.scrape_targets.items()
        ]
        return {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rule_file)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{am_port}"]}]}]},
            "scrape_configs": jobs,
        }

    def _wait_until_wired(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            scraped = self.query(f'up{{job="{m.PUSHGATEWAY_SCRAPE_JOB}"}} == 1')
            relay = self.query(f'up{{job="{m.RELAY_SCRAPE_JOB}"}} == 1')
            with urllib.request.urlopen(f"{self.prometheus_url}/api/v1/alertmanagers", timeout=5) as response:
                active = json.load(response)["data"]["activeAlertmanagers"]
            if scraped and relay and active:
                return
            time.sleep(0.2)
        raise StackError(
            "Prometheus did not scrape the Pushgateway and relay or find Alertmanager:\n"
            + _tail(self.workdir / "prometheus.log")
        )

    # --- looking ---

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            return list(json.load(response)["data"]["result"])

    def alert_state(self, alertname: str) -> str:
        """`firing`, `pending` or `inactive`, as Prometheus evaluates the rule now."""
        with urllib.request.urlopen(f"{self.prometheus_url}/api/v1/alerts", timeout=5) as response:
            alerts = json.load(response)["data"]["alerts"]
        states = {a["state"] for a in alerts if a["labels"].get("alertname") == alertname}
        return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"

    def relay_metrics(self) -> dict[str, float]:
        """The relay's samples by name (and outcome for decisions), read from its /metrics."""
        from prometheus_client.parser import text_string_to_metric_families

        with urllib.request.urlopen(f"{self.relay_url}/metrics", timeout=5) as response:
            text = response.read().decode()
        samples: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                key = sample.name + (f"{{{sample.labels['outcome']}}}" if "outcome" in sample.labels else "")
                samples[key] = sample.value
        return samples

    def post_to_relay(self, payload: dict[str, Any], token: str | None) -> tuple[int, dict[str, Any]]:
        """Call the relay as Alertmanager would (or as an intruder would, with another token)."""
        request = urllib.request.Request(
            f"{self.relay_url}/alertmanager",
            data=json.dumps(payload).encode(),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(json.load(response))
        except urllib.error.HTTPError as error:
            return error.code, dict(json.load(error))


def wait(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.25) -> float:
    """Until `predicate()` holds; returns time.time() then, TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.time()
        time.sleep(interval)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")
