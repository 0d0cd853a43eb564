"""Shared fixtures. The recording-mock harness lives in harness/mocks.py."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_environment() -> Iterator[None]:
    """Code under test may set process-wide variables (a pipeline step configures MLflow through them);
    each test starts from the environment the session started with."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `upstream_checkout("VAR")` need a checkout of an upstream repository named by VAR;
    without it they are deselected, not skipped (the GitHub `upstream` job sets VAR and runs them)."""
    deselected = [
        item
        for item in items
        if (marker := item.get_closest_marker("upstream_checkout")) and not os.environ.get(marker.args[0])
    ]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def pytest_configure(config: pytest.Config) -> None:
    """Collect garbage less often. A test process holds a heap of millions of objects (mlflow, pandas, the
    Pulumi SDKs), and the Pulumi mock runs allocate enough to start hundreds of collections that walk it:
    at the default 700 allocations a young collection, the unit tier spends a fifth of its time there
    (31 s -> 25 s on 2 cores). Memory stays bounded: every generation is still collected."""
    gc.set_threshold(100_000, 20, 20)
