"""Shared fixtures. The recording-mock harness lives in harness/mocks.py."""

from __future__ import annotations

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
