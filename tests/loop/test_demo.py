"""The closed loop end to end on real processes: drifted traffic through the real model server, the live
drift check, our rules and routes in real Prometheus and Alertmanager, the relay, a kfp.local retraining
run, the champion gate, recovered traffic and the resolution; and the relay's guardrails on the way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loop.demo import LoopDemo, LoopReport, summary
from loop.stack import BINARIES
from tests.support.tools import require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STEPS_IN_ORDER = (
    "stack up",
    "champion",
    "traffic sent",
    "labels arrived",
    "live drift detected",
    "people notified",
    "alert firing",
    "relay called",
    "training run started",
    "training run finished",
    "champion decision",
    "live drift gone",
    "alert resolved",
    "stopped",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> LoopReport:
    for name in BINARIES:
        require_tool(name)
    lines: list[str] = []
    result = LoopDemo(tmp_path_factory.mktemp("loop"), say=lines.append).run()
    print("\n".join(lines + summary(result)))
    return result


def test_every_step_happens_in_order(report: LoopReport) -> None:
    names = [s.name for s in report.steps]
    positions = [names.index(step) for step in STEPS_IN_ORDER]
    assert positions == sorted(positions), names
    times = [
        report.step(step).at
        for step in STEPS_IN_ORDER
        if step not in ("relay called", "training run started")
    ]
    assert times == sorted(times)
    # The relay answers the confirmed alert, not the first drift warning.
    assert report.step("alert firing").at <= report.step("relay called").at + 1.0
    assert report.step("relay called").at <= report.step("training run started").at


def test_live_drift_is_confirmed_before_the_relay_is_called(report: LoopReport) -> None:
    assert report.seconds("live drift detected", "alert firing") >= 4.0  # confirmFor is 5 s, 1 s evaluation
    assert "MlopsLiveDriftConfirmed" in report.step("alert firing").detail


def test_the_run_records_why_it_started_and_trains_on_the_labelled_traffic(report: LoopReport) -> None:
    started = report.step("training run started").detail
    assert "'alertname': 'MlopsLiveDriftConfirmed'" in started and "'source': 'live'" in started
    assert "succeeded" in report.step("training run finished").detail
    decision = report.step("champion decision").detail
    assert decision.startswith(("champion moved to", "champion stays at")), decision
    assert "300 labelled captured rows" in decision


def test_guardrails_start_nothing(report: LoopReport) -> None:
    g = report.guardrails
    assert g["bad token"].startswith("401")
    assert g["second alert inside the cooldown"].startswith("200 cooldown")
    assert g["kill switch"].startswith("200 disabled")
    assert g["the same alert again, after two relay restarts"].startswith("200 duplicate")
    assert g["runs started"] == "1"


def test_recovered_traffic_resolves_the_alert(report: LoopReport) -> None:
    assert "no drift" in report.step("live drift gone").detail
    assert report.step("alert resolved").at > report.step("live drift gone").at


def test_every_process_it_started_is_gone(report: LoopReport) -> None:
    assert len(report.pids) >= 7  # 3 tools, relay x3 (restarts), 2 model servers, 1 training run
    alive = []
    for pid in report.pids:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        alive.append(pid)
    assert alive == []


def test_the_demo_target_exists() -> None:
    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text()
    assert "demo-loop:" in makefile and "-m loop demo" in makefile
