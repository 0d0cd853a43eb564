"""pipelines/env.py names every MLOPS_* variable once: no literal elsewhere, typed values, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components import mlflow_users_sync
from pipelines import env

REPO = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bMLOPS_[A-Z0-9_]+\b")
# Files that cannot import pipelines/env.py keep the literal; test_standalone_copies_match checks them.
STANDALONE = {Path("components/mlflow_users_sync.py"), Path("scripts/ensure-system-tools.sh")}
SOURCE_DIRS = (
    "components",
    "pipelines",
    "monitoring",
    "harness",
    "upstream",
    "capacity",
    "cost_estimate",
    "serving",
    "relay",
    "loop",
    "benchmarks",
)


def _source_files() -> list[Path]:
    files = [REPO / "__main__.py", REPO / "settings.py", REPO / "pipelines" / "Dockerfile"]
    for folder in SOURCE_DIRS:
        files += sorted((REPO / folder).rglob("*.py"))
    return [f for f in files if f.relative_to(REPO) != Path("pipelines/env.py")]


def test_names_are_unique_and_registered() -> None:
    names = [v.name for v in env.REGISTRY]
    assert len(names) == len(set(names))
    assert {"MLOPS_PUSHGATEWAY_URL", "MLOPS_PARAMS_FILE", "MLOPS_STATE_DIR"} <= set(names)


def test_no_source_file_spells_a_name_outside_the_registry() -> None:
    """Docstrings and comments may mention a variable; code must go through pipelines/env.py."""
    offenders = []
    for path in _source_files():
        relative = path.relative_to(REPO)
        if relative in STANDALONE:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if re.search(r"[\"']" + NAME.pattern, code):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []


def test_every_name_mentioned_anywhere_is_registered() -> None:
    known = {v.name for v in env.REGISTRY}
    mentioned = {
        name
        for path in [*_source_files(), *(REPO / p for p in STANDALONE)]
        for name in NAME.findall(path.read_text())
    }
    assert mentioned - known == set()


def test_standalone_copies_match() -> None:
    assert env.MLFLOW_USERS.name == mlflow_users_sync.USERS_ENV
    assert env.MLFLOW_READY_TIMEOUT.name == mlflow_users_sync.READY_TIMEOUT_ENV
    assert env.MLFLOW_READY_TIMEOUT.default == float(
        re.search(r"READY_TIMEOUT_ENV, \"(\d+)\"", Path(mlflow_users_sync.__file__).read_text())[1]  # type: ignore[index]
    )
    script = (REPO / "scripts" / "ensure-system-tools.sh").read_text()
    assert f"${{{env.NO_APT.name}:-}}" in script


def test_values_are_parsed_into_their_types() -> None:
    environ = {"MLOPS_STATE_DIR": "/tmp/s", "MLOPS_MLFLOW_READY_TIMEOUT": "12.5", "MLOPS_NO_APT": "1"}
    assert env.STATE_DIR.get(environ) == Path("/tmp/s")
    assert env.MLFLOW_READY_TIMEOUT.get(environ) == 12.5
    assert env.NO_APT.get(environ) is True
    assert env.NO_APT.get({}) is False
    assert env.PUSHGATEWAY_URL.get({"MLOPS_PUSHGATEWAY_URL": ""}) is None  # empty reads as unset
    assert env.MLFLOW_READY_TIMEOUT.get({}) == 300.0


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        (env.MLFLOW_READY_TIMEOUT, "soon", "MLOPS_MLFLOW_READY_TIMEOUT='soon'"),
        (env.MLFLOW_READY_TIMEOUT, "-1", "positive number of seconds"),
        (env.NO_APT, "yes", "MLOPS_NO_APT='yes': expected 0 or 1"),
    ],
)
def test_a_bad_value_names_the_variable(variable: env.EnvVar[object], text: str, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        variable.get({variable.name: text})


def test_a_name_outside_the_project_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="start with MLOPS_"):
        env.EnvVar("PUSHGATEWAY", str, None, "no prefix")
