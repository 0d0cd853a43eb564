"""The committed screencast (docs/screencast/platform.cast) is what docs/screencast.py records: 2-3 minutes
of play, every scene's command, and a training summary with the lines the code prints today."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.tools import REPO_ROOT

CAST = REPO_ROOT / "docs" / "screencast" / "platform.cast"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("screencast", REPO_ROOT / "docs" / "screencast.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def screencast() -> ModuleType:
    return _script()


def _text(cast: Path) -> str:
    lines = cast.read_text(encoding="utf-8").splitlines()
    return ANSI.sub("", "".join(json.loads(line)[2] for line in lines[1:] if json.loads(line)[1] == "o"))


def test_played_time_caps_each_pause_at_the_idle_limit(screencast: ModuleType, tmp_path: Path) -> None:
    cast = tmp_path / "x.cast"
    events = [[0.5, "o", "a"], [10.5, "o", "b"], [11.0, "o", "c"]]
    cast.write_text("\n".join(json.dumps(e) for e in [{"version": 2, "idle_time_limit": 2.0}, *events]))
    assert screencast.played_seconds(cast) == pytest.approx(0.5 + 2.0 + 0.5)


def test_the_committed_recording_plays_two_to_three_minutes(screencast: ModuleType) -> None:
    header = json.loads(CAST.read_text(encoding="utf-8").splitlines()[0])
    assert header["idle_time_limit"] == screencast.IDLE_LIMIT_SECONDS
    assert (header["width"], header["height"]) == (screencast.COLUMNS, screencast.ROWS)
    assert 120 <= screencast.played_seconds(CAST) <= 180


def test_the_committed_recording_shows_every_scene(screencast: ModuleType) -> None:
    text = _text(CAST)
    for shown in ("$ make demo", "make serve", "$ curl -s -i ", "$ make demo-loop", "-m monitoring.preview"):
        assert shown in text, shown
    assert list(screencast.SCENES) == ["demo", "serve", "loop", "dashboards"]
    assert "x-model-version: 1" in text.lower()


def test_the_recorded_summary_has_the_lines_the_code_prints_today() -> None:
    text = _text(CAST)
    summary = text[text.index("Training flow finished") :].splitlines()[1:12]
    labels = [m.group(1) for line in summary if (m := re.match(r"^  ([A-Z][\w ]+):\s", line))]
    assert len(labels) >= 6
    source = (REPO_ROOT / "pipelines" / "local_run.py").read_text(encoding="utf-8")
    printed = re.findall(r'f?"  ([A-Z][\w ]+):\s', source)
    stale = [label for label in labels if label not in printed]
    assert not stale, f"the recording shows summary lines the code no longer prints: {stale}"
    assert labels == [label for label in printed if label in labels], "the recorded lines are out of order"
