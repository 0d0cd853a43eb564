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
from dataclasses import dataclass
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


@dataclass(frozen=True)
class CronSchedule:
    """A parsed 5-field cron expression: the allowed values of each field."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]

    def kfp_expression(self) -> str:
        return kfp_cron(self.expression)


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


def _field_values(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{name} field {text!r}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise CronError(f"{name} field {text!r}: expected numbers in the range {base!r}")
            start, end = int(first), int(last)
        elif base.isdigit():
            start = int(base)
            end = high if step_text else start
        else:
            raise CronError(
                f"{name} field {text!r}: expected numbers {low}-{high}, '*', ranges, steps or lists "
                "(names such as MON or JAN are not accepted)"
            )
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise CronError(f"{name} field {text!r}: values must lie in {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> CronSchedule:
    """Parse a 5-field cron expression; the error names the field and what it accepts."""
    parts = expression.split()
    if len(parts) != len(FIELDS):
        raise CronError(
            f"cron {expression!r}: expected 5 fields (minute hour day-of-month month day-of-week), "
            f"got {len(parts)}"
        )
    values = [
        _field_values(part, name, low, high) for part, (name, low, high) in zip(parts, FIELDS, strict=True)
    ]
    schedule = CronSchedule(
        expression=" ".join(parts),
        minutes=values[0],
        hours=values[1],
        days_of_month=values[2],
        months=values[3],
        days_of_week=values[4],
    )
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
