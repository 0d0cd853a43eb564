"""Push-to-notification latency of the alert path, on real local services.

The pipeline's telemetry code pushes a failed stage to a Pushgateway; Prometheus (1 s scrape and
evaluation, our rendered rules with `for: 0s`) fires `MlopsPipelineStageFailed`; Alertmanager (our rendered
routes, `group_wait: 0s`) posts it to a local webhook. The recovery push measures the resolved notification
the same way. With 1 s intervals the expected latency is 0.5-2 s; in production it is dominated by the
scrape interval (30 s), the evaluation interval and `group_wait` (30 s).

Run: `python -m benchmarks.bench_alert_latency [--rounds N]` from the repository root.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The path is set up above so `python benchmarks/bench_alert_latency.py` works too.
from monitoring import rules
from pipelines import telemetry
from tests.monitoring.alerting_stack import TOOLS, AlertingStack

PIPELINE = "bench-alert-latency"


def _matches(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda a: (
        a["labels"].get("alertname") == rules.PIPELINE_STAGE_FAILED
        and a["labels"].get("pipeline") == PIPELINE
        and a["status"] == status
    )


def measure(rounds: int) -> dict[str, list[float]]:
    binaries = {}
    for name in TOOLS:
        path = shutil.which(name)
        if path is None:
            raise SystemExit(
                f"{name} is not installed (apt-get install prometheus prometheus-pushgateway "
                "prometheus-alertmanager)"
            )
        binaries[name] = path
    results: dict[str, list[float]] = {"firing": [], "resolved": []}
    with tempfile.TemporaryDirectory(prefix="bench-alert-") as workdir:
        stack = AlertingStack(binaries, Path(workdir))
        try:
            stack.start()
            assert stack.webhook is not None
            target = telemetry.MetricsTarget(pushgateway_url=stack.pushgateway_url)
            for _ in range(rounds):
                for succeeded, status in ((False, "firing"), (True, "resolved")):
                    pushed = time.monotonic()
                    batch = telemetry.stage_outcome(
                        PIPELINE, "train", succeeded=succeeded, duration_seconds=1.0
                    )
                    if not telemetry.publish(batch, target):
                        raise SystemExit("push to the Pushgateway failed")
                    notification, _ = stack.webhook.wait_for(_matches(status), 30.0, after=pushed)
                    results[status].append(notification.received_at - pushed)
        finally:
            stack.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="fail/recover cycles to measure")
    args = parser.parse_args(argv)
    results = measure(args.rounds)
    print("| alert path (1 s scrape/eval, group_wait 0s) | n | median s | max s |")
    print("|---|---|---|---|")
    for status, values in results.items():
        median, worst = statistics.median(values), max(values)
        print(f"| push -> {status} notification | {len(values)} | {median:.2f} | {worst:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
