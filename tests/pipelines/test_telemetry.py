"""How the training flow reports itself: per-stage groups, add semantics, never failing a run."""

from __future__ import annotations

import http.server
import logging
import socket
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitoring import metrics as m
from pipelines import telemetry


def _samples(path: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    families = text_string_to_metric_families(path.read_text())
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }


def test_stage_outcome_sets_success_and_duration_in_the_stage_group(tmp_path: Path) -> None:
    batch = telemetry.stage_outcome("p", "train", succeeded=False, duration_seconds=2.5)
    assert batch.grouping_key == {"pipeline": "p", "stage": "train"}
    assert telemetry.publish(batch, telemetry.MetricsTarget(textfile_dir=tmp_path))
    samples = _samples(tmp_path / "p-train.prom")
    labels = (("pipeline", "p"), ("stage", "train"))
    assert samples[(m.STAGE_SUCCESS.name, labels)] == 0.0
    assert samples[(m.STAGE_DURATION.name, labels)] == 2.5


def test_unknown_stage_and_wrong_labels_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown stage 'deploy'"):
        telemetry.stage_outcome("p", "deploy", succeeded=True, duration_seconds=1)
    batch = telemetry.MetricsBatch("p")
    with pytest.raises(
        ValueError, match="mlops_drift_share takes labels \\['dataset', 'source'\\], got \\['feature'\\]"
    ):
        batch.set(m.DRIFT_SHARE, 0.5, feature="x")


def test_a_failed_run_keeps_the_last_success_time_in_text_files(tmp_path: Path) -> None:
    target = telemetry.MetricsTarget(textfile_dir=tmp_path)
    telemetry.publish(telemetry.run_outcome("p", succeeded=True, ended_at=1000.0), target)
    telemetry.publish(telemetry.run_outcome("p", succeeded=False, ended_at=2000.0), target)

    samples = _samples(tmp_path / "p.prom")
    labels = (("pipeline", "p"),)
    assert samples[(m.RUN_SUCCESS.name, labels)] == 0.0
    assert samples[(m.RUN_TIMESTAMP.name, labels)] == 2000.0
    assert samples[(m.LAST_SUCCESS_TIMESTAMP.name, labels)] == 1000.0


def test_replace_rewrites_the_group_where_the_default_adds_to_it(tmp_path: Path) -> None:
    target = telemetry.MetricsTarget(textfile_dir=tmp_path)
    telemetry.publish(telemetry.run_outcome("p", succeeded=True, ended_at=1000.0), target)
    telemetry.publish(telemetry.run_outcome("p", succeeded=False, ended_at=2000.0), target, replace=True)

    samples = _samples(tmp_path / "p.prom")
    labels = (("pipeline", "p"),)
    assert samples[(m.RUN_TIMESTAMP.name, labels)] == 2000.0
    assert (m.LAST_SUCCESS_TIMESTAMP.name, labels) not in samples, "replace keeps nothing of the old group"


@pytest.mark.parametrize(("replace", "method"), [(False, "POST"), (True, "PUT")])
def test_the_pushgateway_gets_post_to_add_and_put_to_replace(replace: bool, method: str) -> None:
    seen: list[tuple[str, str]] = []

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._answer()

        def do_PUT(self) -> None:
            self._answer()

        def _answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append((self.command, self.path))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        target = telemetry.MetricsTarget(pushgateway_url=f"http://127.0.0.1:{server.server_port}")
        batch = telemetry.stage_outcome("p", "ingest", succeeded=True, duration_seconds=0.1)
        assert telemetry.publish(batch, target, replace=replace)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == [(method, f"/metrics/job/{m.PUSH_JOB}/pipeline/p/stage/ingest")]


def test_a_push_failure_is_a_warning_not_an_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = telemetry.MetricsTarget(pushgateway_url=f"http://127.0.0.1:{port}", textfile_dir=tmp_path)
    batch = telemetry.stage_outcome("p", "ingest", succeeded=True, duration_seconds=0.1)
    with caplog.at_level(logging.WARNING):
        assert telemetry.publish(batch, target) is False
    assert "could not push metrics" in caplog.text
    assert (tmp_path / "p-ingest.prom").exists(), "the other destination is still written"


def test_target_from_env() -> None:
    assert telemetry.target_from_env({"MLOPS_PUSHGATEWAY_URL": "http://pg:9091"}) == telemetry.MetricsTarget(
        pushgateway_url="http://pg:9091"
    )
    fallback = Path("/tmp/metrics")
    assert telemetry.target_from_env({}, fallback).textfile_dir == fallback
