"""The training-flow benchmarks; prints a table of medians and whether each target is met.

  python -m benchmarks [--runs 3] [--skip-demo] [--skip-full-1m] [--skip-serving]

- demo: `python -m pipelines run --local --no-serve` wall time (median of --runs, fresh state each time,
  after setup) and its ratio to the same tasks in one process (pipelines/sequential.py). Targets: <= 60 s,
  <= 2x.
- drift 100k x 20 with the configured sampling limit: <= 10 s, <= 1 GiB peak.
- drift 1M x 20 sampled: <= 15 s, and the same verdict as the full (unsampled) 1M run on planted-drift
  and no-drift data. The full 1M runs take minutes each; --skip-full-1m leaves that comparison out.
- serving latency with inference capture on vs off, same run (benchmarks/bench_serving_latency.py):
  p50 on/off <= 1.10x, p99 on/off <= 1.25x, every answered request captured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
UNSAMPLED = 10**9


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_"))}
    return {**env, "PYTHONPATH": str(REPO_ROOT), **extra}


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(
            f"benchmark command failed: {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return elapsed


IN_PROCESS = """
import os, sys
from pathlib import Path
from pipelines.env import METRICS_DIR
from pipelines.tracking import local_tracking_env
state = Path(sys.argv[1])
os.environ.update(local_tracking_env(state))
os.environ[METRICS_DIR.name] = str(state / "metrics")
from pipelines.sequential import run_in_process
run_in_process(state / "work")
"""


def demo(runs: int) -> dict[str, float]:
    kfp_times, in_process_times = [], []
    # Prepare the data once, as `make demo` setup does; every run then starts from a fresh state folder.
    _timed([sys.executable, "-m", "pipelines", "prepare-data"], _clean_env())
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as state:
            kfp_times.append(
                # --no-serve: the ratio compares the same tasks; bench_fresh_clone times all of `make demo`
                # (serving included), bench_serving_latency the requests.
                _timed(
                    [sys.executable, "-m", "pipelines", "run", "--local", "--no-serve", "--state", state],
                    _clean_env(),
                )
            )
        with tempfile.TemporaryDirectory() as state:
            in_process_times.append(_timed([sys.executable, "-c", IN_PROCESS, state], _clean_env()))
    kfp, single = statistics.median(kfp_times), statistics.median(in_process_times)
    return {"kfp_local_s": round(kfp, 1), "in_process_s": round(single, 1), "ratio": round(kfp / single, 2)}


def drift_case(rows: int, kind: str, max_rows: int) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "benchmarks.drift_case",
        "--rows",
        str(rows),
        "--kind",
        kind,
        "--max-rows",
        str(max_rows),
    ]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=_clean_env(), capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def drift(runs: int, skip_full_1m: bool) -> list[dict[str, Any]]:
    from pipelines.params import load_params

    max_rows = load_params().drift.max_rows
    rows: list[dict[str, Any]] = []
    for size in (100_000, 1_000_000):
        for kind in ("planted", "none"):
            cases = [drift_case(size, kind, max_rows) for _ in range(runs)]
            row = {
                **cases[0],
                "seconds": statistics.median(c["seconds"] for c in cases),
                "peak_mib": statistics.median(c["peak_mib"] for c in cases),
            }
            if size == 1_000_000 and not skip_full_1m:
                full = drift_case(size, kind, UNSAMPLED)
                row["full_seconds"] = full["seconds"]
                row["full_drifted"] = full["drifted"]
                row["same_verdict_as_full"] = full["drifted"] == row["drifted"]
            rows.append(row)
    return rows


def serving_latency(runs: int) -> tuple[bool, str]:
    from benchmarks.bench_serving_latency import describe, target_met

    command = [sys.executable, "-m", "benchmarks.bench_serving_latency", "--rounds", str(max(runs, 3))]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=_clean_env(), capture_output=True, text=True, check=False
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    measured = json.loads(lines[-1])
    return target_met(measured), describe(measured)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-full-1m", action="store_true")
    parser.add_argument("--skip-serving", action="store_true")
    args = parser.parse_args()

    ok = True
    if not args.skip_demo:
        result = demo(args.runs)
        met = result["kfp_local_s"] <= 60 and result["ratio"] <= 2
        ok &= met
        print(
            f"demo pipeline (median of {args.runs}): kfp.local {result['kfp_local_s']} s, "
            f"in one process {result['in_process_s']} s, ratio {result['ratio']}x "
            f"[target <= 60 s, <= 2x: {'met' if met else 'MISSED'}]"
        )
    for row in drift(args.runs, args.skip_full_1m):
        limit = 10 if row["rows"] == 100_000 else 15
        met = row["seconds"] <= limit and (row["rows"] != 100_000 or row["peak_mib"] <= 1024)
        if "same_verdict_as_full" in row:
            met &= row["same_verdict_as_full"]
        ok &= met
        print(
            f"drift {row['rows']:>9,} x 20 {row['kind']:>7}: {row['seconds']} s, peak {row['peak_mib']} MiB, "
            f"sampled={row['sampled']}, drifted={row['drifted']} (share {row['share']})"
            + (
                f", full run {row['full_seconds']} s drifted={row['full_drifted']}"
                if "full_seconds" in row
                else ""
            )
            + f" [{'met' if met else 'MISSED'}]"
        )
    if not args.skip_serving:
        met, line = serving_latency(args.runs)
        ok &= met
        print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
