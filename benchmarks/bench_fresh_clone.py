"""A newcomer's two steps, timed: fresh clone -> `make demo` summary, cold and warm.

Each round clones the committed HEAD into a temporary folder and points uv at an empty cache, so the cold
time includes every download (uv, the locked wheels, hash checks) exactly as on a new machine; the warm
time is a second `make demo` in the same clone (nothing to install, the dataset already matches its DVC
hash). Target: cold clone -> summary under 3 minutes on 2 cores. Needs network access to PyPI.

Run: `python -m benchmarks.bench_fresh_clone [--rounds N]` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COLD_TARGET_SECONDS = 180


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} failed in {cwd}:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return time.perf_counter() - started


def one_round() -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_", "VIRTUAL_ENV"))}
    with tempfile.TemporaryDirectory(prefix="mlops-fresh-") as tmp:
        clone, cache = Path(tmp) / "clone", Path(tmp) / "uv-cache"
        env["UV_CACHE_DIR"] = str(cache)
        started = time.perf_counter()
        subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
        install = _timed(["make", "venv"], clone, env)
        cold_demo = _timed(["make", "demo"], clone, env)
        cold_total = time.perf_counter() - started
        warm_demo = _timed(["make", "demo"], clone, env)
    return {
        "install_s": install,
        "cold_demo_s": cold_demo,
        "cold_total_s": cold_total,
        "warm_demo_s": warm_demo,
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_fresh_clone")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = [one_round() for _ in range(args.rounds)]
    median = {key: round(statistics.median(r[key] for r in rounds), 1) for key in rounds[0]}
    met = median["cold_total_s"] <= COLD_TARGET_SECONDS
    print(
        f"fresh clone -> demo summary (median of {args.rounds}): cold {median['cold_total_s']} s "
        f"(install {median['install_s']} s, demo {median['cold_demo_s']} s), "
        f"warm demo {median['warm_demo_s']} s "
        f"[target cold <= {COLD_TARGET_SECONDS} s: {'met' if met else 'MISSED'}]"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
