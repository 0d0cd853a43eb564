"""A real Prometheus + Pushgateway + Alertmanager on loopback, loaded with our rendered rules and routes,
and a local webhook that records every notification with its arrival time.

Used by the end-to-end test and by `benchmarks/bench_alert_latency.py`. Every process runs in its own
process group and `AlertingStack.stop()` kills each group, so nothing outlives a failed test.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from monitoring import alertmanager as am
from monitoring import metrics as m
from monitoring import rules
from tests.support.processes import LOOPBACK, free_port, stop_group, wait_for

TOOLS = ("prometheus", "prometheus-pushgateway", "prometheus-alertmanager")


@dataclass(frozen=True)
class Notification:
    received_at: float  # time.monotonic()
    payload: dict[str, Any]


class WebhookReceiver:
    """Collects Alertmanager webhook POSTs."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                notification = Notification(time.monotonic(), json.loads(body))
                with receiver._changed:
                    receiver.notifications.append(notification)
                    receiver._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, after: float = 0.0
    ) -> tuple[Notification, dict[str, Any]]:
        """The first alert (with its notification) received after `after` that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for notification in self.notifications:
                    if notification.received_at < after:
                        continue
                    for alert in notification.payload.get("alerts", []):
                        if predicate(alert):
                            return notification, alert
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [
                        (a["labels"].get("alertname"), a["status"])
                        for n in self.notifications
                        for a in n.payload.get("alerts", [])
                    ]
                    raise TimeoutError(f"no matching alert within {timeout}s; received: {seen}")
                self._changed.wait(remaining)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class AlertingStack:
    """Paths of the three binaries and a work folder; `start()` brings everything up."""

    binaries: dict[str, str]
    workdir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    webhook: WebhookReceiver | None = None
    pushgateway_url: str = ""
    prometheus_url: str = ""
    alertmanager_url: str = ""

    def _spawn(self, name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [self.binaries[name], *args], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        return process, log

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.webhook = WebhookReceiver()
        am_port, pg_port, prom_port = free_port(), free_port(), free_port()
        self.alertmanager_url = f"http://{LOOPBACK}:{am_port}"
        self.pushgateway_url = f"http://{LOOPBACK}:{pg_port}"
        self.prometheus_url = f"http://{LOOPBACK}:{prom_port}"

        # Our routes, with our webhook as the receiver and timings short enough for a test.
        notification_settings = am.NotificationSettings(
            webhook=am.WebhookReceiver(self.webhook.url),
            timing=am.RouteTiming(
                group_wait="0s",
                group_interval="1s",
                critical_repeat_interval="1h",
                warning_repeat_interval="1h",
            ),
        )
        am_config = self.workdir / "alertmanager.yaml"
        am_config.write_text(yaml.safe_dump(am.render_alertmanager_config(notification_settings)))
        process, log = self._spawn(
            "prometheus-alertmanager",
            [
                f"--config.file={am_config}",
                f"--storage.path={self.workdir / 'alertmanager-data'}",
                f"--web.listen-address={LOOPBACK}:{am_port}",
                "--cluster.listen-address=",
            ],
        )
        wait_for(f"{self.alertmanager_url}/-/ready", process, log, timeout=30, interval=0.1)

        process, log = self._spawn(
            "prometheus-pushgateway",
            # Debian's build persists to /var/lib/prometheus/pushgateway.data by default, shared by every
            # Pushgateway on the machine: another run's pushes would leak in.
            [f"--web.listen-address={LOOPBACK}:{pg_port}", "--web.enable-admin-api", "--persistence.file="],
        )
        wait_for(f"{self.pushgateway_url}/-/ready", process, log, timeout=30, interval=0.1)

        # Our rules, rendered with `for: 0s` so "down" alerts need not wait five minutes.
        rule_file = self.workdir / "rules.yaml"
        rule_file.write_text(yaml.safe_dump(rules.render_rule_groups(rules.AlertSettings(for_override="0s"))))
        prometheus_config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(rule_file)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{am_port}"]}]}]},
            "scrape_configs": [
                {
                    "job_name": m.PUSHGATEWAY_SCRAPE_JOB,
                    "honor_labels": True,
                    "static_configs": [{"targets": [f"{LOOPBACK}:{pg_port}"]}],
                },
                # A healthy stand-in for MLflow (Prometheus's own /metrics), so "MLflow down" stays quiet.
                {
                    "job_name": m.MLFLOW_SCRAPE_JOB,
                    "static_configs": [{"targets": [f"{LOOPBACK}:{prom_port}"]}],
                },
            ],
        }
        prometheus_file = self.workdir / "prometheus.yaml"
        prometheus_file.write_text(yaml.safe_dump(prometheus_config))
        process, log = self._spawn(
            "prometheus",
            [
                f"--config.file={prometheus_file}",
                f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                f"--web.listen-address={LOOPBACK}:{prom_port}",
            ],
        )
        wait_for(f"{self.prometheus_url}/-/ready", process, log, timeout=30, interval=0.1)
        self._wait_until_wired(log)

    def _wait_until_wired(self, log: Path, timeout: float = 30.0) -> None:
        """Ready is not enough: wait for the first Pushgateway scrape and for Prometheus to know its
        Alertmanager, so measured latencies are steady-state, not start-up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            scraped = self.query(f'up{{job="{m.PUSHGATEWAY_SCRAPE_JOB}"}} == 1')["data"]["result"]
            with urllib.request.urlopen(f"{self.prometheus_url}/api/v1/alertmanagers", timeout=5) as response:
                active = json.load(response)["data"]["activeAlertmanagers"]
            if scraped and active:
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"Prometheus did not scrape the Pushgateway or find Alertmanager:\n{log.read_text()[-3000:]}"
        )

    def query(self, expr: str) -> dict[str, Any]:
        url = f"{self.prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return dict(json.load(response))
        except urllib.error.HTTPError as error:
            return dict(json.load(error))

    def alertmanager_alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.alertmanager_url}/api/v2/alerts", timeout=5) as response:
            return list(json.load(response))

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_group(process)
        self.processes.clear()
        if self.webhook is not None:
            self.webhook.close()
            self.webhook = None
