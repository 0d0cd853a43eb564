"""monitoring/cron.py: the five-field grammar Kubernetes CronJobs accept (robfig/cron's standard parser)."""

from __future__ import annotations

import pytest

from monitoring.cron import parse_cron


def test_fields_expand_to_the_values_they_name() -> None:
    schedule = parse_cron("*/20 1,5 1-10/3 jan-mar ?")
    assert sorted(schedule.minutes) == [0, 20, 40]
    assert sorted(schedule.hours) == [1, 5]
    assert sorted(schedule.days_of_month) == [1, 4, 7, 10]
    assert sorted(schedule.months) == [1, 2, 3]
    assert schedule.days_of_week == frozenset(range(7))
    assert sorted(parse_cron("0 3 * * MON-FRI").days_of_week) == [1, 2, 3, 4, 5]
    assert sorted(parse_cron("5/15 * * * *").minutes) == [5, 20, 35, 50]
    assert parse_cron(" 15  *  * * *").expression == "15 * * * *"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("@hourly", "macros are not accepted"),
        ("* * *", "expected five fields"),
        ("0 0 * * * *", "expected five fields"),
        ("60 * * * *", "minute 60: expected 0-59"),
        ("* 24 * * *", "hour 24: expected 0-23"),
        ("* * 0 * *", "day of month 0: expected 1-31"),
        ("* * * 13 *", "month 13: expected 1-12"),
        ("* * * * 7", "day of week 7: expected 0-6"),
        ("* * * * funday", "day of week 'funday': expected a number 0-6 or SUN-SAT"),
        ("5-1 * * * *", "the range runs backwards"),
        ("*/0 * * * *", "step 0 is out of range"),
        ("? * * * *", "only the day fields accept '?'"),
        ("1,,2 * * * *", "minute '': expected"),
        ("L * * * *", "minute 'L'"),
    ],
)
def test_what_a_cronjob_would_refuse_is_refused_with_the_field(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cron(expression)
