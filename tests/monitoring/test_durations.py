"""monitoring/durations.py: one duration grammar (Prometheus's) for settings, Helm values and rules."""

from __future__ import annotations

import pytest

from monitoring import durations
from monitoring.durations import duration_seconds, parse_duration


def test_prometheus_durations_parse_into_seconds() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("1h30m") == 5400
    assert parse_duration("15d") == 15 * 86400
    assert parse_duration("2w") == 14 * 86400
    assert parse_duration("1y") == 365 * 86400
    assert parse_duration("500ms") == 0.5
    assert parse_duration("0s") == 0  # `for: 0s` is valid in a rule
    assert duration_seconds("6h") == 21600


@pytest.mark.parametrize("text", ["", "0", "7", "1.5h", "10 m", "h", "30m1h", "1d1d", "15 days", "-5m"])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="Prometheus duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["0s", "500ms", "1500ms"])
def test_settings_durations_are_whole_seconds_of_at_least_one(text: str) -> None:
    with pytest.raises(ValueError, match="whole seconds"):
        duration_seconds(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(1800, "30m"), (21600, "6h"), (86400, "1d"), (90, "90s"), (5, "5s")]
)
def test_whole_seconds_format_as_the_shortest_duration_that_parses_back(seconds: int, text: str) -> None:
    assert durations.format_duration(seconds) == text
    assert durations.duration_seconds(text) == seconds
