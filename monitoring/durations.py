"""The one duration grammar of the project: Prometheus's (`model.ParseDuration`), parsed into seconds.

Prometheus retention, scrape intervals, `for:` windows and the closed loop's confirm and cooldown windows are
all written this way (`90s`, `30m`, `1h30m`, `15d`, `2w`), so settings, Helm values and rules accept the same
text and mean the same time by it.
"""

from __future__ import annotations

import re

# Units from largest to smallest, each at most once, in this order (as Prometheus requires).
_UNITS: tuple[tuple[str, float], ...] = (
    ("y", 365 * 86400),
    ("w", 7 * 86400),
    ("d", 86400),
    ("h", 3600),
    ("m", 60),
    ("s", 1),
    ("ms", 0.001),
)
_PROMETHEUS_DURATION = re.compile("^" + "".join(rf"(?:(?P<{u}>[0-9]+){u})?" for u, _ in _UNITS) + "$")
EXAMPLES = "30s, 30m, 1h30m, 6h, 15d or 2w"


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration; ValueError for anything else (empty, `0`, `1.5h`, `10 m`, `h`)."""
    match = _PROMETHEUS_DURATION.match(text) if text else None
    if match is None or not any(match.groupdict().values()):
        raise ValueError(f"expected a Prometheus duration such as {EXAMPLES}, got {text!r}")
    return sum(int(count) * seconds for (unit, seconds) in _UNITS if (count := match[unit]) is not None)


def duration_seconds(text: str) -> int:
    """Whole seconds of a duration of at least one second (settings hold durations as int seconds)."""
    seconds = parse_duration(text)
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"expected whole seconds, at least 1s, got {text!r}")
    return int(seconds)


def format_duration(seconds: int) -> str:
    """A whole number of seconds as the shortest Prometheus duration (1800 -> '30m', 21600 -> '6h')."""
    if seconds < 0:
        raise ValueError(f"format_duration: expected seconds >= 0, got {seconds}")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
