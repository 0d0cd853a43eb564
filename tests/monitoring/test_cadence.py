"""The schedule -> NoRecentSuccessfulRun window, and the cron parser it stands on."""

from __future__ import annotations

import pytest

from monitoring import cadence, rules


@pytest.mark.parametrize(
    ("cron", "gap_hours"),
    [
        ("0 3 * * *", 24),
        ("*/15 * * * *", 0.25),
        ("0 3 * * 1", 168),
        ("0 0,12 * * 1-5", 60),  # Friday noon to Monday midnight
        ("0 3 1 * *", 31 * 24),
        ("30 2 1,15 * *", 17 * 24),  # the 15th to the 1st of a 31-day month
        ("0 3 29 2 *", 1461 * 24),  # leap days only: four years apart
    ],
)
def test_longest_gap_between_scheduled_starts(cron: str, gap_hours: float) -> None:
    assert cadence.longest_gap_hours(cadence.parse_cron(cron)) == pytest.approx(gap_hours)


def test_day_of_month_or_day_of_week_when_both_are_restricted() -> None:
    # Vixie cron and KFP's scheduler: the 1st of the month OR any Monday.
    schedule = cadence.parse_cron("0 3 1 * 1")
    assert cadence.longest_gap_hours(schedule) == 7 * 24


def test_window_is_the_gap_plus_run_time_plus_an_hour_where_clocks_change() -> None:
    assert cadence.no_success_window_hours("0 3 * * *", "UTC") == 26
    assert cadence.no_success_window_hours("0 3 * * *", "Europe/Berlin") == 27
    assert cadence.no_success_window_hours("0 3 * * 1", "UTC", run_allowance_hours=4) == 172
    assert cadence.no_success_window_hours(None) is None


def test_the_default_window_is_the_daily_schedule_window() -> None:
    assert cadence.no_success_window_hours("0 3 * * *", "UTC") == rules.DEFAULT_NO_SUCCESS_HOURS


def test_kfp_gets_six_fields_seconds_first() -> None:
    assert cadence.kfp_cron(cadence.parse_cron("0 3 * * *").expression) == "0 0 3 * * *"


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 3 * *", "expected five fields"),
        ("61 3 * * *", "minute 61: expected 0-59"),
        ("0 3 * * 7", "day of week 7: expected 0-6"),
        ("0 3 * FOO *", "month"),
        ("*/0 * * * *", "step 0"),
        ("0 3 31 2 *", "never runs"),
        ("0 5-3 * * *", "hour '5-3': the range runs backwards"),
    ],
)
def test_bad_cron_names_the_field(cron: str, message: str) -> None:
    """The one grammar settings validates with (monitoring/cron.py), plus "never runs"."""
    with pytest.raises(cadence.CronError, match=message):
        cadence.parse_cron(cron)


def test_unknown_time_zone_is_named() -> None:
    with pytest.raises(cadence.CronError, match="'Mars/Olympus' is not an IANA time zone"):
        cadence.no_success_window_hours("0 3 * * *", "Mars/Olympus")
