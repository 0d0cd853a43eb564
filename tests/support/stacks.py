"""The stacks the tests run: test-owned copies of the stack files (tests/support/stack_files/), each run once
per test session under the recording mocks, so changing a committed `Pulumi.<stack>.yaml` never breaks a
test that asserts on a stack's values. tests/test_settings.py checks the committed files are accepted."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from harness.mocks import Record, changed, load_stack_config, recorded_run, run_stack
from settings import StackSettings, settings_from_stack_config

STACK_FILES = Path(__file__).with_name("stack_files")


def stack_file(stack: str) -> Path:
    return STACK_FILES / f"Pulumi.{stack}.yaml"


def run_fixture(
    stack: str,
    *,
    set_values: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    expect_error: bool = False,
) -> Record:
    """The program run from the test-owned stack file, optionally changed for one test. Tests asking for
    the same change share one run (records are read-only)."""
    return _variant(stack, json.dumps(set_values or {}, sort_keys=True), remove, expect_error)


@functools.cache
def _variant(stack: str, changes: str, remove: tuple[str, ...], expect_error: bool) -> Record:
    return run_stack(
        stack,
        set_values=json.loads(changes),
        remove=remove,
        expect_error=expect_error,
        stack_file=stack_file(stack),
    )


# dev with a GPU group: one variant every GPU test shares (one mock run per worker, not one per test).
GPU_NODE_GROUPS: dict[str, Any] = {
    "system": {"instanceTypes": ["t3a.medium"], "minSize": 1, "desiredSize": 1, "maxSize": 2},
    "workloads": {
        "instanceTypes": ["t3a.medium", "t3.medium"],
        "capacityType": "SPOT",
        "minSize": 0,
        "desiredSize": 1,
        "maxSize": 3,
        "maxPods": 24,
    },
    "gpu": {"instanceTypes": ["g4dn.xlarge"], "minSize": 0, "desiredSize": 0, "maxSize": 1},
}


def gpu_record() -> Record:
    """dev with GPU_NODE_GROUPS, run once per session."""
    return run_fixture("dev", set_values={"mlops-infra:nodeGroups": GPU_NODE_GROUPS})


REMOVE = object()
"""A value for `config_set_path`: `pulumi config rm --path` instead of set."""


def config_set_path(stack: str, values: dict[str, Any]) -> dict[str, Any]:
    """`set_values` for `run_fixture` as `pulumi config set --path` would leave them: each dotted project key
    (`mlflow.replicas`) is set inside its object from the test-owned stack file, keeping its siblings; a key
    with a namespace (`aws:profile`, or a flat `mlops-infra:mlflow.replicas`) is set as it is."""
    config, _ = fixture_config(stack)
    changed: dict[str, Any] = {}
    for key, value in values.items():
        if ":" in key:
            changed[key] = value
            continue
        top, *rest = key.split(".")
        full = f"mlops-infra:{top}"
        if not rest:
            changed[full] = value
            continue
        if full not in changed:
            text = config.get(full)
            changed[full] = json.loads(text) if text and text.startswith("{") else {}
        node = changed[full]
        for part in rest[:-1]:
            node = node.setdefault(part, {})
        if value is REMOVE:
            node.pop(rest[-1], None)
        else:
            node[rest[-1]] = value
    return changed


def fixture_config(stack: str) -> tuple[dict[str, str], list[str]]:
    """The test-owned stack file's config as the language host hands it over, plus its secret keys."""
    return load_stack_config(stack, stack_file(stack))


def record(stack: str) -> Record:
    """The program run from the test-owned stack file, once per session (shared with the committed file's
    run while the two are equal); treat it as read-only."""
    return recorded_run(stack, stack_file(stack))


def resolve_fixture(
    stack: str, *, set_values: dict[str, Any] | None = None, name: str | None = None
) -> StackSettings:
    """The test-owned stack file's settings, resolved the way `load_settings` does (no program run), for
    stack `name` (default: `stack`) with `set_values` (full config keys, as for `run_fixture`). Raises
    SettingsError like the program would, before any resource."""
    config, _ = fixture_config(stack)
    return settings_from_stack_config(name or stack, changed(config, set_values))
