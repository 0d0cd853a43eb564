"""The committed stacks, each run once per test session under the recording mocks (a run takes seconds)."""

from __future__ import annotations

import functools

from harness.mocks import Record, run_stack


@functools.cache
def record(stack: str) -> Record:
    """The program run from the committed `Pulumi.<stack>.yaml`; treat it as read-only."""
    return run_stack(stack)
