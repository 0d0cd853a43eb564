"""`make serve` and the demo's serving summary, without a server."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from pipelines import schema
from serving.demo import DemoServing, summary_lines
from serving.laptop import curl_example, serve_state_folder
from serving.live_drift import VERDICT_NO_DRIFT, VERDICT_NOT_ENOUGH_TRAFFIC, LiveDriftOutcome
from serving.local import LocalServer
from serving.traffic import TrafficStats, scoring_body


def test_make_serve_without_a_demo_says_run_make_demo_first(tmp_path: Path, capsys) -> None:
    assert serve_state_folder(str(tmp_path), 8080) == 1
    assert "run `make demo` first" in capsys.readouterr().err


def test_the_printed_curl_is_a_complete_valid_request() -> None:
    server = LocalServer("http://127.0.0.1:8080", "http://127.0.0.1:8082/metrics", 1, Path("log"), "clf")
    words = shlex.split(curl_example(server, {name: 1.0 for name in schema.FEATURE_NAMES}))
    assert words[words.index("-X") + 2] == "http://127.0.0.1:8080/invocations"
    [record] = json.loads(words[words.index("-d") + 1])["dataframe_records"]
    assert list(record) == list(schema.FEATURE_NAMES)


def test_a_scoring_body_of_a_frame_with_an_empty_cell_sends_null() -> None:
    import pandas as pd

    frame = pd.DataFrame([dict.fromkeys(schema.FEATURE_NAMES, 1.5)])
    frame.loc[0, "mean_area"] = float("nan")
    split = json.loads(scoring_body(frame))["dataframe_split"]
    assert split["columns"] == list(schema.FEATURE_NAMES)
    assert split["data"][0][schema.FEATURE_NAMES.index("mean_area")] is None


def outcome(verdict: str) -> LiveDriftOutcome:
    return LiveDriftOutcome(
        verdict=verdict,
        rows=300,
        window_hours=24,
        min_rows=200,
        champion_version=2,
        window="since 10:00:00 UTC",
        share=0.1,
        drifted_count=3,
        share_threshold=0.5,
    )


def test_the_demo_summary_names_the_endpoint_the_requests_and_the_live_verdict(tmp_path: Path) -> None:
    traffic = TrafficStats(requests=300, ok=298, invalid=2, errors=0, rows=300, versions={"2": 298})
    result = DemoServing(
        "http://127.0.0.1:5555/invocations", traffic, outcome(VERDICT_NO_DRIFT), tmp_path, 12.0
    )
    text = "\n".join(summary_lines(result))
    assert "http://127.0.0.1:5555/invocations" in text
    assert "answered by v2" in text
    assert "300 sent with the newest batch, 298 answered, 2 refused" in text
    assert (
        "no drift: 3/30 features drifted (share 0.10, threshold 0.50) in 300 rows captured since 10:00"
        in text
    )
    quiet = DemoServing("u", traffic, outcome(VERDICT_NOT_ENOUGH_TRAFFIC), tmp_path, 1.0)
    assert "not enough traffic: 300 row(s) captured since 10:00:00 UTC, 200 needed" in "\n".join(
        summary_lines(quiet)
    )
