"""How often the training flow is scheduled, and so how long "no successful run" may last before it alerts.

The schedule is a 5-field cron expression (minute hour day-of-month month day-of-week) read in an IANA time
zone. `no_success_window_hours` derives the `MlopsNoRecentSuccessfulRun` window from it: the longest gap
between two scheduled starts, plus the time a run may take, plus an hour where the zone has daylight saving
(a wall-clock schedule can be an hour further apart across the switch). No schedule, no window: the rule is
left out, because nothing promises a run.

The parser accepts what Vixie cron and Kubeflow Pipelines' scheduler (robfig/cron v1.2.0) agree on:
numbers, `*`, ranges `a-b`, steps `*/n` and `a-b/n`, lists; day-of-week 0-6 with 0 = Sunday. Month and day
names and `7` for Sunday are refused rather than guessed. When day-of-month and day-of-week are both
restricted (not `*` or `?`), a day matches either (as in both implementations). `longest_gap_hours` reads
only the expanded fields and the expression, so any parsed schedule with those attributes will do.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitoring import cron
from monitoring.cron import CronSchedule

# (name, lowest, highest) of the five fields, in order.
FIELDS: Final = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
# Eight years from a leap year: every schedule, even "29 February", runs at least twice in it.
_HORIZON_DAYS: Final = 8 * 366


class CronError(ValueError):
    """A cron expression or time zone that cannot be scheduled."""


class ParsedSchedule(Protocol):
    """What the gap computation reads of a parsed schedule (this module's or monitoring/cron.py's)."""

    @property
    def expression(self) -> str: ...
    @property
    def minutes(self) -> frozenset[int]: ...
    @property
    def hours(self) -> frozenset[int]: ...
    @property
    def days_of_month(self) -> frozenset[int]: ...
    @property
    def months(self) -> frozenset[int]: ...
    @property
    def days_of_week(self) -> frozenset[int]: ...


def kfp_cron(expression: str) -> str:
    """Kubeflow Pipelines' scheduler reads six fields, seconds first: a 5-field expression given to it as
    is would be read as seconds..month, i.e. run every hour. Prepend the seconds."""
    return f"0 {' '.join(expression.split())}"


def runs_on(schedule: ParsedSchedule, day: dt.date) -> bool:
    if day.month not in schedule.months:
        return False
    fields = schedule.expression.split()
    dom = day.day in schedule.days_of_month
    dow = (day.isoweekday() % 7) in schedule.days_of_week
    if fields[2] not in ("*", "?") and fields[4] not in ("*", "?"):
        return dom or dow
    return dom and dow


def parse_cron(expression: str) -> CronSchedule:
    """Parse with the project's one cron grammar (monitoring/cron.py, what settings validated), then refuse a
    schedule that never runs (e.g. 31 February); the error names the field and what it accepts."""
    try:
        schedule = cron.parse_cron(expression)
    except ValueError as exc:
        raise CronError(f"cron {exc}") from None
    start = dt.date(2024, 1, 1)
    if not any(runs_on(schedule, start + dt.timedelta(days=n)) for n in range(_HORIZON_DAYS)):
        raise CronError(f"cron {expression!r} never runs (e.g. 31 February)")
    return schedule


def time_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CronError(
            f"time zone {name!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin')"
        ) from exc


def _observes_daylight_saving(zone: ZoneInfo) -> bool:
    offsets = {dt.datetime(2024, month, 1, 12, tzinfo=zone).utcoffset() for month in (1, 7)}
    return len(offsets) > 1


def longest_gap_hours(schedule: ParsedSchedule) -> float:
    """The longest wall-clock time between two consecutive scheduled starts, in hours."""
    times = sorted(h * 60 + m for h in schedule.hours for m in schedule.minutes)
    longest = max((b - a for a, b in itertools.pairwise(times)), default=0)
    start = dt.date(2024, 1, 1)
    days = [d for d in (start + dt.timedelta(days=n) for n in range(_HORIZON_DAYS)) if runs_on(schedule, d)]
    day_minutes = 24 * 60
    for earlier, later in itertools.pairwise(days):
        between = (later - earlier).days * day_minutes - times[-1] + times[0]
        longest = max(longest, between)
    return longest / 60


def no_success_window_hours(
    cron: str | None, zone_name: str = "UTC", run_allowance_hours: float = 2.0
) -> float | None:
    """Hours without a successful run after which `MlopsNoRecentSuccessfulRun` fires; None without a
    schedule (the rule is then left out)."""
    if cron is None:
        return None
    if run_allowance_hours < 0:
        raise ValueError(f"run_allowance_hours must be >= 0, got {run_allowance_hours}")
    schedule = parse_cron(cron)
    daylight_saving = 1.0 if _observes_daylight_saving(time_zone(zone_name)) else 0.0
    return longest_gap_hours(schedule) + run_allowance_hours + daylight_saving
