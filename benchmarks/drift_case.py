"""One drift measurement in its own process, so peak memory is this case's alone.

  python -m benchmarks.drift_case --rows 100000 --features 20 --kind planted --max-rows 50000
prints one JSON line: seconds (the drift check, data already in memory), peak RSS, verdict.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd

# 12 of 20 features shifted by half a standard deviation: clearly drifted (share 0.6 >= 0.5).
PLANTED_SHARE = 0.6
PLANTED_SHIFT = 0.5


def make_frames(
    rows: int, features: int, kind: str, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    names = [f"feature_{i:02d}" for i in range(features)]
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(rng.normal(size=(rows, features)), columns=names)
    current = pd.DataFrame(rng.normal(size=(rows, features)), columns=names)
    if kind == "planted":
        for name in names[: int(features * PLANTED_SHARE)]:
            current[name] += PLANTED_SHIFT
    return reference, current, names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--kind", choices=["planted", "none"], required=True)
    parser.add_argument(
        "--max-rows", type=int, required=True, help="sampling limit (rows >= this: no sampling)"
    )
    args = parser.parse_args()

    from pipelines.steps.drift import detect_drift

    reference, current, names = make_frames(args.rows, args.features, args.kind)
    started = time.perf_counter()
    result = detect_drift(reference, current, names, share_threshold=0.5, max_rows=args.max_rows, seed=7)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": args.rows,
                "kind": args.kind,
                "max_rows": args.max_rows,
                "sampled": result.sampled,
                "seconds": round(seconds, 2),
                "peak_mib": round(peak_mib),
                "drifted": result.drifted,
                "share": round(result.share, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
