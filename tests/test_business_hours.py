"""Promised reply times count working hours only, across weekends, time zones and DST changes."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, select

from actions.services.business_hours import (
    InvalidWorkingHours,
    WorkingHours,
    by_when_phrase,
    clock_time,
    promised_reply_time,
    reply_target_hours,
    zone_label,
)
from actions.store import db
from actions.store.models import Policy, Staff

CHICAGO = ZoneInfo("America/Chicago")
UTC = dt.timezone.utc
WEEKDAYS_9_TO_5 = WorkingHours.parse("America/Chicago", "09:00", "17:00", "1,2,3,4,5")
ALWAYS = WorkingHours.parse("America/Chicago", "00:00", "24:00", "1,2,3,4,5,6,7")


def chicago(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    """A Chicago wall-clock time as an aware UTC instant (what callers pass in)."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=CHICAGO).astimezone(UTC)


def local(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(CHICAGO).replace(tzinfo=None)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        # Friday evening: nothing counts until Monday 09:00, so 4 working hours end at 13:00.
        (chicago(2026, 11, 27, 18, 30), dt.datetime(2026, 11, 30, 13, 0)),
        # Friday 15:00: two hours on Friday, two on Monday.
        (chicago(2026, 11, 27, 15, 0), dt.datetime(2026, 11, 30, 11, 0)),
        # The weekend, any time.
        (chicago(2026, 11, 28, 10, 0), dt.datetime(2026, 11, 30, 13, 0)),
        (chicago(2026, 11, 29, 23, 59), dt.datetime(2026, 11, 30, 13, 0)),
        # Inside hours, same day.
        (chicago(2026, 11, 23, 10, 0), dt.datetime(2026, 11, 23, 14, 0)),
        # Exactly the end of the window stays on that day.
        (chicago(2026, 11, 23, 13, 0), dt.datetime(2026, 11, 23, 17, 0)),
        # Spills over the night.
        (chicago(2026, 11, 23, 14, 30), dt.datetime(2026, 11, 24, 10, 30)),
        # Before opening: counting starts at 09:00.
        (chicago(2026, 11, 23, 7, 0), dt.datetime(2026, 11, 23, 13, 0)),
        # At closing time: nothing left today.
        (chicago(2026, 11, 23, 17, 0), dt.datetime(2026, 11, 24, 13, 0)),
    ],
)
def test_four_working_hours(requested: dt.datetime, expected: dt.datetime) -> None:
    promised = promised_reply_time(requested, WEEKDAYS_9_TO_5, 4)
    assert promised.tzinfo is not None and promised.utcoffset() == dt.timedelta(0)
    assert local(promised) == expected


def test_friday_evening_is_monday_1pm_in_utc_too() -> None:
    promised = promised_reply_time(chicago(2026, 11, 27, 18, 0), WEEKDAYS_9_TO_5, 4)
    assert promised == dt.datetime(2026, 11, 30, 19, 0, tzinfo=UTC)  # CST is UTC-6


def test_across_the_november_dst_change() -> None:
    # Friday Oct 30 2026 15:00 CDT (UTC-5); clocks fall back on Sunday Nov 1; Monday is CST (UTC-6).
    requested = chicago(2026, 10, 30, 15, 0)
    assert requested == dt.datetime(2026, 10, 30, 20, 0, tzinfo=UTC)
    promised = promised_reply_time(requested, WEEKDAYS_9_TO_5, 4)
    assert local(promised) == dt.datetime(2026, 11, 2, 11, 0)
    assert promised == dt.datetime(2026, 11, 2, 17, 0, tzinfo=UTC)


def test_the_repeated_hour_on_the_dst_night_counts_as_real_time() -> None:
    # A round-the-clock schedule on Sunday Nov 1 2026: 01:00–02:00 happens twice, so four real
    # hours after midnight is 03:00 on the wall clock, not 04:00.
    promised = promised_reply_time(chicago(2026, 11, 1, 0, 0), ALWAYS, 4)
    assert promised == dt.datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert local(promised) == dt.datetime(2026, 11, 1, 3, 0)


def test_the_missing_hour_in_spring_is_not_counted() -> None:
    # Sunday Mar 8 2026: 02:00 jumps to 03:00, so four real hours after midnight is 05:00.
    promised = promised_reply_time(chicago(2026, 3, 8, 0, 0), ALWAYS, 4)
    assert local(promised) == dt.datetime(2026, 3, 8, 5, 0)


def test_staff_in_another_time_zone_use_their_own_hours() -> None:
    new_york = WorkingHours.parse("America/New_York", "09:00", "17:00", "1,2,3,4,5")
    # Friday 15:00 Chicago is 16:00 in New York: one hour Friday, three on Monday → 12:00 NY = 11:00 Chicago.
    promised = promised_reply_time(chicago(2026, 11, 27, 15, 0), new_york, 4)
    assert local(promised) == dt.datetime(2026, 11, 30, 11, 0)


def test_custom_work_days_and_fractional_targets() -> None:
    saturdays = WorkingHours.parse("America/Chicago", "10:00", "14:00", "6")
    promised = promised_reply_time(chicago(2026, 11, 23, 9, 0), saturdays, 6)
    # 4 hours on Saturday Nov 28, 2 more on Saturday Dec 5.
    assert local(promised) == dt.datetime(2026, 12, 5, 12, 0)
    assert local(promised_reply_time(chicago(2026, 11, 23, 10, 0), WEEKDAYS_9_TO_5, 0.5)) == dt.datetime(
        2026, 11, 23, 10, 30
    )


def test_deadline_is_rounded_up_to_the_minute() -> None:
    promised = promised_reply_time(chicago(2026, 11, 23, 10, 7, 20), WEEKDAYS_9_TO_5, 4)
    assert local(promised) == dt.datetime(2026, 11, 23, 14, 8)


def test_naive_requests_and_bad_targets_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        promised_reply_time(dt.datetime(2026, 11, 23, 10, 0), WEEKDAYS_9_TO_5, 4)
    with pytest.raises(ValueError, match="positive"):
        promised_reply_time(chicago(2026, 11, 23, 10), WEEKDAYS_9_TO_5, 0)


def test_any_aware_zone_is_accepted() -> None:
    requested = dt.datetime(2026, 11, 27, 18, 30, tzinfo=CHICAGO)  # not converted to UTC by the caller
    assert local(promised_reply_time(requested, WEEKDAYS_9_TO_5, 4)) == dt.datetime(2026, 11, 30, 13, 0)


@pytest.mark.parametrize(
    ("timezone", "start", "end", "days", "problem"),
    [
        ("Mars/Olympus", "09:00", "17:00", "1,2,3,4,5", "time zone"),
        ("America/Chicago", "9am", "17:00", "1,2,3,4,5", "work start"),
        ("America/Chicago", "09:00", "24:30", "1,2,3,4,5", "work end"),
        ("America/Chicago", "17:00", "09:00", "1,2,3,4,5", "not before"),
        ("America/Chicago", "09:00", "17:00", "1,2,8", "weekdays"),
        ("America/Chicago", "09:00", "17:00", "", "weekdays"),
        ("America/Chicago", "09:00", "17:00", "mon,tue", "ISO weekday"),
    ],
)
def test_unusable_schedules_are_named(timezone: str, start: str, end: str, days: str, problem: str) -> None:
    with pytest.raises(InvalidWorkingHours, match=problem):
        WorkingHours.parse(timezone, start, end, days)


def test_seeded_staff_hours_and_reply_target(store: str) -> None:
    with db.session_scope(store) as session:
        priya = session.scalars(select(Staff).where(Staff.name == "Priya Shah")).one()
        hours = WorkingHours.of(priya)
        assert hours == WEEKDAYS_9_TO_5
        assert reply_target_hours(session, default=7) == 4  # the policy row wins over the default
        session.execute(delete(Policy).where(Policy.key == "reply_target"))
        assert reply_target_hours(session, default=7) == 7


def test_by_when_phrase_names_day_date_time_and_zone() -> None:
    now = chicago(2026, 11, 27, 18, 30)  # Friday evening
    deadline = promised_reply_time(now, WEEKDAYS_9_TO_5, 4)
    assert by_when_phrase(deadline, now, "America/Chicago") == "by Monday, November 30 at 1:00 PM Central Time"


def test_by_when_phrase_says_today_and_tomorrow() -> None:
    now = chicago(2026, 11, 23, 10, 0)
    today = promised_reply_time(now, WEEKDAYS_9_TO_5, 4)
    assert by_when_phrase(today, now, "America/Chicago") == "by 2:00 PM Central Time today"
    later = chicago(2026, 11, 23, 14, 30)
    tomorrow = promised_reply_time(later, WEEKDAYS_9_TO_5, 4)
    assert by_when_phrase(tomorrow, later, "America/Chicago") == (
        "by 10:30 AM Central Time tomorrow (Tuesday, November 24)"
    )


def test_by_when_phrase_uses_the_store_day_not_the_utc_day() -> None:
    # 20:00 Chicago on Monday is already Tuesday in UTC; "tomorrow" is still Tuesday for the customer.
    now = chicago(2026, 11, 23, 20, 0)
    deadline = promised_reply_time(now, WEEKDAYS_9_TO_5, 4)
    assert by_when_phrase(deadline, now, "America/Chicago") == (
        "by 1:00 PM Central Time tomorrow (Tuesday, November 24)"
    )


def test_by_when_phrase_adds_the_year_only_when_it_changes() -> None:
    now = chicago(2026, 12, 31, 18, 0)  # Thursday evening
    deadline = promised_reply_time(now, WEEKDAYS_9_TO_5, 4)
    # Jan 1 2027 is a Friday and a working day in this schedule (holidays are not modelled).
    assert by_when_phrase(deadline, now, "America/Chicago") == "by 1:00 PM Central Time tomorrow (Friday, January 1)"
    later = promised_reply_time(chicago(2027, 1, 1, 18, 0), WEEKDAYS_9_TO_5, 4)
    assert by_when_phrase(later, now, "America/Chicago") == "by Monday, January 4, 2027 at 1:00 PM Central Time"


def test_clock_and_zone_words() -> None:
    assert clock_time(dt.datetime(2026, 1, 1, 0, 5)) == "12:05 AM"
    assert clock_time(dt.datetime(2026, 1, 1, 12, 0)) == "12:00 PM"
    assert clock_time(dt.datetime(2026, 1, 1, 9, 30)) == "9:30 AM"
    assert zone_label("America/New_York") == "Eastern Time"
    assert zone_label("Europe/Berlin") == "Berlin time"
    assert zone_label("America/Los_Angeles") == "Pacific Time"
