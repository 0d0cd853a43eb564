"""The one cron grammar of the project: the standard five fields Kubernetes CronJobs accept.

`parse_cron("15 * * * *")` returns the expanded schedule or raises ValueError naming the field and what it
allows. Settings validate `serving.liveDrift.schedule` and `training.schedule.cron` with it; code that
reasons about a schedule (how long between two runs) reads the expanded fields instead of parsing again.

Accepted, as in Kubernetes (robfig/cron's standard parser): `*`, `?` (day fields), numbers, `a-b` ranges,
`/n` steps on `*` or a range, comma lists, month names JAN-DEC and day names SUN-SAT (any case). Not
accepted: macros (`@hourly`: write `0 * * * *`), a seconds field, `CRON_TZ=` (time zones are their own
setting), `L`, `W`, `#`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    """Names for low, low+1, ... (months from 1, days from 0)."""


FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day of month", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day of week", 0, 6, _DAYS),
)
_PART = re.compile(r"^(?P<range>\*|\?|[0-9A-Za-z]+(?:-[0-9A-Za-z]+)?)(?:/(?P<step>[0-9]+))?$")


@dataclass(frozen=True)
class CronSchedule:
    """A validated five-field schedule and the values each field expands to."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    """0 is Sunday."""


def _value(text: str, field: _Field) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.low + field.names.index(upper)
    if not text.isdigit():
        names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise ValueError(f"{field.name} {text!r}: expected a number {field.low}-{field.high}{names}")
    value = int(text)
    if not field.low <= value <= field.high:
        raise ValueError(f"{field.name} {value}: expected {field.low}-{field.high}")
    return value


def _expand(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        match = _PART.match(part)
        if match is None:
            raise ValueError(f"{field.name} {part!r}: expected *, a value, a range a-b, a step */n or a-b/n")
        spec, step = match["range"], match["step"]
        if spec in ("*", "?"):
            if spec == "?" and field.name not in ("day of month", "day of week"):
                raise ValueError(f"{field.name} '?': only the day fields accept '?'")
            low, high = field.low, field.high
        elif "-" in spec:
            low, high = (_value(v, field) for v in spec.split("-"))
            if low > high:
                raise ValueError(f"{field.name} {part!r}: the range runs backwards")
        else:
            low = high = _value(spec, field)
            if step is not None:  # `5/15` is robfig's "from 5 to the end, every 15"
                high = field.high
        every = int(step) if step is not None else 1
        if every < 1 or every > field.high - field.low + 1:
            raise ValueError(f"{field.name} {part!r}: step {every} is out of range")
        values.update(range(low, high + 1, every))
    return frozenset(values)


def parse_cron(expression: str) -> CronSchedule:
    """The schedule of a five-field cron expression; ValueError names the field and what it allows."""
    if expression.strip().startswith("@"):
        raise ValueError(f"{expression!r}: macros are not accepted; write the five fields, e.g. '0 * * * *'")
    parts = expression.split()
    if len(parts) != len(FIELDS):
        raise ValueError(
            f"{expression!r}: expected five fields (minute hour day-of-month month day-of-week), "
            f"e.g. '15 * * * *'; got {len(parts)}"
        )
    minutes, hours, days, months, weekdays = (_expand(p, f) for p, f in zip(parts, FIELDS, strict=True))
    return CronSchedule(" ".join(parts), minutes, hours, days, months, weekdays)
