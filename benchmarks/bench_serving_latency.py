"""Request latency of the model server with inference capture on vs off, in the same run.

Two real servers (`serve_locally`, the runtime the cluster runs) serve the same registered model at once:
one without capture, one capturing every request (`sampleRate` 1.0) to a local folder. Each round sends
`--requests` one-row MLflow scoring requests to each, interleaved (off, on, off, on, ...) so that whatever
else the machine does hits both alike, timing each request on the client (connection kept alive). The table
shows the median over rounds of each round's p50 and p99, and the on/off ratios.

Targets: capture must not slow the request path measurably: p50 on/off <= 1.10 and p99 on/off <= 1.25; and
the capturing server must have written every request it answered (else it measured nothing).

Run: `python -m benchmarks.bench_serving_latency [--rounds N] [--requests N]` from the repository root.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The path is set up above so `python benchmarks/bench_serving_latency.py` works too.
from serving import capture
from serving.local import LocalServer, serve_locally
from serving.traffic import scoring_body
from tests.serving.registry_fixture import MODEL_NAME, make_registry, sample_frame

P50_RATIO_TARGET = 1.10
P99_RATIO_TARGET = 1.25
WARM_UP_REQUESTS = 50


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _timed_post(session: Any, server: LocalServer, body: bytes) -> float:
    started = time.perf_counter()
    response = session.post(
        server.invocations_url, data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"benchmark request failed: {response.status_code} {response.text[:300]}")
    return elapsed


def measure(rounds: int, requests_per_round: int) -> dict[str, Any]:
    import requests

    frame = sample_frame()
    bodies = [scoring_body(frame.iloc[[i % len(frame)]]) for i in range(requests_per_round)]
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as scratch:
        folder = Path(scratch)
        registry = make_registry(folder / "registry")
        registry.set_champion(registry.train_and_register(frame))
        server = functools.partial(
            serve_locally, model_name=MODEL_NAME, tracking_uri=registry.tracking_uri, poll_seconds=60.0
        )
        with (
            server(log_path=folder / "off.log", capture_uri="") as off,
            server(log_path=folder / "on.log", capture_uri=str(folder / "capture"), flush_seconds=1.0) as on,
            requests.Session() as off_session,
            requests.Session() as on_session,
        ):
            for body in bodies[:WARM_UP_REQUESTS]:
                _timed_post(off_session, off, body)
                _timed_post(on_session, on, body)
            per_round: list[dict[str, float]] = []
            for _ in range(rounds):
                off_times, on_times = [], []
                for body in bodies:
                    off_times.append(_timed_post(off_session, off, body))
                    on_times.append(_timed_post(on_session, on, body))
                per_round.append(
                    {
                        "off_p50": percentile(off_times, 0.5),
                        "off_p99": percentile(off_times, 0.99),
                        "on_p50": percentile(on_times, 0.5),
                        "on_p99": percentile(on_times, 0.99),
                    }
                )
            answered = WARM_UP_REQUESTS + rounds * requests_per_round
        # Both servers are stopped now: the capturing one has written its last part.
        store = capture.LocalStore(folder / "capture")
        captured = len(capture.read_parts(store, store.list_keys(f"{MODEL_NAME}/")))
    medians = {key: statistics.median(r[key] for r in per_round) for key in per_round[0]}
    return {
        "rounds": rounds,
        "requests_per_round": requests_per_round,
        **{f"{key}_ms": round(value * 1000, 2) for key, value in medians.items()},
        "p50_ratio": round(medians["on_p50"] / medians["off_p50"], 3),
        "p99_ratio": round(medians["on_p99"] / medians["off_p99"], 3),
        "answered_with_capture": answered,
        "captured_rows": captured,
    }


def target_met(result: dict[str, Any]) -> bool:
    return (
        result["p50_ratio"] <= P50_RATIO_TARGET
        and result["p99_ratio"] <= P99_RATIO_TARGET
        and result["captured_rows"] == result["answered_with_capture"]
    )


def describe(result: dict[str, Any]) -> str:
    return (
        f"serving latency, capture off vs on (median of {result['rounds']} rounds x "
        f"{result['requests_per_round']} requests): p50 {result['off_p50_ms']} vs {result['on_p50_ms']} ms "
        f"({result['p50_ratio']}x), p99 {result['off_p99_ms']} vs {result['on_p99_ms']} ms "
        f"({result['p99_ratio']}x), captured {result['captured_rows']}/{result['answered_with_capture']} "
        "rows "
        f"[target p50 <= {P50_RATIO_TARGET}x, p99 <= {P99_RATIO_TARGET}x, all captured: "
        f"{'met' if target_met(result) else 'MISSED'}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_serving_latency")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=400, help="requests per server per round")
    args = parser.parse_args()
    result = measure(args.rounds, args.requests)
    print(json.dumps(result))
    print(describe(result))
    return 0 if target_met(result) else 1


if __name__ == "__main__":
    sys.exit(main())
